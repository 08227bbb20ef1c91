"""The ranking model registry: ``MODELS[name]`` builds a model from a config.

Adding a model is one module with ``build(config, feature_map, loss)`` and one
line here (with its default loss).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from funnel import config as funnel_config
from ranking import losses
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
    """The loss a run uses: ``config.loss`` or the model's default."""
    return config.loss or funnel_config.choice("model", config.model, MODELS).default_loss


def build_model(config, feature_map):
    """The model ``config.model`` with its loss, variables not yet created.

    Raises:
        ValueError: unknown model or loss, or a loss the model cannot feed.
    """
    spec = funnel_config.choice("model", config.model, MODELS)
    loss = losses.build_loss(loss_name(config), config.loss_options)
    return spec.build(config, feature_map, loss)
