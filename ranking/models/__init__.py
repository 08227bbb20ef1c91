"""The ranking model registry: ``MODELS[name]`` builds a model from a config.

Adding a model is one module with ``build(config, feature_map, loss)`` and one
line here (with its default loss).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from funnel import config as funnel_config
from ranking import list_losses, losses
from ranking.models import dcnv2, deepfm, dnn, dualmlp, eain, lafam, tf4ctr


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    build: Callable
    """``build(config, feature_map, loss) -> RankingModel``."""
    default_loss: str


MODELS = {
    "dnn": ModelSpec(dnn.build, "logloss"),
    "dualmlp": ModelSpec(dualmlp.build, "logloss"),
    "dcnv2": ModelSpec(dcnv2.build, "logloss"),
    "deepfm": ModelSpec(deepfm.build, "logloss"),
    "tf4ctr": ModelSpec(tf4ctr.build, "tf"),
    "lafam": ModelSpec(lafam.build, "suppression"),
    "eain": ModelSpec(eain.build, "logloss"),
}


def loss_name(config) -> str:
    """The loss a run uses: ``config.loss`` or the default (the model's; softmax for lists)."""
    if config.loss:
        return config.loss
    if config.lists:
        return list_losses.DEFAULT_LIST_LOSS
    return funnel_config.choice("model", config.model, MODELS).default_loss


def build_model(config, feature_map):
    """The model ``config.model`` with its loss, variables not yet created.

    With ``config.lists`` it is a ``CandidateRanker`` around that model: a
    list loss (``ranking.list_losses``) trains the wrapper, any other loss is
    the backbone's own, applied to every candidate row.

    Raises:
        ValueError: unknown model or loss, or a loss the model cannot feed.
    """
    from ranking.listwise import CandidateRanker

    spec = funnel_config.choice("model", config.model, MODELS)
    name = loss_name(config)
    if name in list_losses.LIST_LOSSES and not config.lists:
        raise ValueError(f"loss: {name!r} is a list loss; it needs candidate lists (--candidates)")
    if not config.lists:
        return spec.build(config, feature_map, losses.build_loss(name, config.loss_options))
    list_loss = list_losses.LIST_LOSSES[name]() if name in list_losses.LIST_LOSSES else None
    backbone_loss = spec.default_loss if list_loss is not None else name
    backbone = spec.build(config, feature_map, losses.build_loss(backbone_loss, config.loss_options
                                                                 if list_loss is None else ()))
    return CandidateRanker(backbone, feature_map, list_loss, dim=config.embedding_dim,
                           attention_units=config.attention_units, attention_history=config.attention_history,
                           units=config.correction_units,
                           name=f"candidate_ranker_{config.model}")
