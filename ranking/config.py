"""The ranking stage's one config: CLI flags become a frozen :class:`RankingConfig`.

The trainer saves it as ``RUN/config.json``; ``load_trained`` rebuilds the very
same model from it. Defaults follow the papers: TF4CTR §4.1 (embedding 16, MLP
400-400-400, Adam 1e-3, early stopping patience 2, c=0.8, gamma=2, alpha=0.25,
SER + WSF), LAFAM §4.2 and Table 4 (DCN with 3 deep and 2 cross layers, 2-layer
GRU of 64 units, lambda=0.6, mu=0.25, eta=0.35).
"""

from __future__ import annotations

import dataclasses
import types
from typing import Optional

from funnel import config as funnel_config


LIST_DEFAULTS = types.MappingProxyType({"hidden_units": (128, 64), "simple_hidden_units": (64, 32),
                                        "attention_history": 10})
"""Fields whose default differs for a ranker of candidate lists (``--candidates``).

Smaller encoders than TF4CTR's 400-400-400, and DIN over the last 10 history items
instead of all 30: each ranked MovieLens 100K's lists better over 3 seeds and cut the
service's ranking CPU (docs/quality.md, "The funnel"; docs/benchmarks.md, "Serving").
A run's config records the value, so runs trained before keep their whole history."""


@dataclasses.dataclass(frozen=True)
class RankingConfig:
    """Everything that decides what a ranking run trains.

    ``loss=None`` means the model's own default (``models.DEFAULT_LOSS``).
    ``loss_options`` overrides keyword arguments of the loss class, e.g.
    ``(("gamma", 3.0),)``; an option the loss does not take is an error.
    """

    model: str = "tf4ctr"
    loss: Optional[str] = None
    loss_options: tuple = ()
    seed: int = 0
    negative_ratio: Optional[float] = None
    epochs: int = 20
    batch_size: int = 1024
    learning_rate: float = 1e-3
    patience: int = 2
    embedding_dim: int = 16
    hidden_units: tuple = (400, 400, 400)
    """MLP of the DNN and complex encoders (TF4CTR MLP_c, eq. 6)."""
    simple_hidden_units: tuple = (400, 400)
    """TF4CTR's simple encoder MLP_s (eq. 6; structure D of Fig. 9)."""
    cross_layers: int = 3
    """Cross layers of DCNv2 (``tfrs.layers.dcn.Cross``)."""
    # TF4CTR (model-agnostic wrapper).
    backbone: str = "dnn"
    ssem: str = "ser"
    dfm: str = "wsf"
    gumbel_temperature: float = 0.8
    # LAFAM.
    lafam_groups: tuple = ("user", "item+context")
    """Attribute groups, each a '+'-joined list of ``schema.Source`` values; one MLP each."""
    lafam_cross_layers: int = 2
    lafam_deep_units: tuple = (400, 400, 400)
    lafam_group_units: tuple = (64, 64, 64)
    gru_units: int = 64
    gru_layers: int = 2
    lafam_lambda: float = 0.60
    lafam_mu: float = 0.25
    lafam_eta: float = 0.35
    lafam_temperature: float = 1.0
    # EAIN.
    din_units: tuple = (64, 32)
    maskblocks: int = 2
    paim_layers: int = 2
    l2: float = 1e-6
    # Lists of retrieval's candidates (``funnel train ranking --candidates``).
    lists: bool = False
    """Trained on candidate lists: the model is a ``ranking.listwise.CandidateRanker`` around ``model``."""
    attention_units: tuple = (36,)
    """The candidate ranker's DIN activation unit: one hidden layer of 36, as drawn in
    DIN's Fig. 2 (Zhou et al. 2018; the authors' code uses 80-40). On MovieLens 100K's
    lists it ranked better than 64-32 over 3 seeds at less ranking CPU a request
    (docs/quality.md, "The funnel"; docs/benchmarks.md, "Serving")."""
    attention_history: int = 0
    """The candidate ranker's DIN attends over the last this many history items (0: all
    ``schema.MAX_SEQUENCE_LENGTH``). Its arithmetic grows with candidates x slots, so this
    sets most of a served batch's ranking cost (docs/benchmarks.md, "Serving"). New list
    rankers get 10 (:data:`LIST_DEFAULTS`); 0 here keeps configs saved without the field
    (runs trained before it existed) attending over their whole history."""
    correction_units: tuple = (64, 32)
    """The candidate ranker's correction MLP ``h``."""
    list_negatives: int = 20
    """Candidates sampled per training list besides the target (0: the whole list)."""
    list_batch_size: int = 128
    """Lists per training step (``batch_size`` counts rows of pointwise training)."""

    def __post_init__(self):
        for name in ("epochs", "batch_size", "embedding_dim", "patience", "list_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.ssem == "ser" and self.embedding_dim < 2:
            raise ValueError("embedding_dim: SER needs >= 2 (its simple embedding has d/2)")
        if self.attention_history < 0:
            raise ValueError(f"attention_history: must be >= 0 (0: the whole history), got {self.attention_history}")
        if self.list_negatives < 0:
            raise ValueError(f"list_negatives: must be >= 0, got {self.list_negatives}")
        if self.negative_ratio is not None and self.negative_ratio <= 0:
            raise ValueError(f"negative_ratio: must be > 0, got {self.negative_ratio}")
        if self.gumbel_temperature <= 0:
            raise ValueError(f"gumbel_temperature: must be > 0, got {self.gumbel_temperature}")
        if self.lafam_temperature <= 0:
            raise ValueError(f"lafam_temperature: must be > 0, got {self.lafam_temperature}")

    def to_dict(self) -> dict:
        return funnel_config.to_dict(self)

    @classmethod
    def from_dict(cls, values) -> "RankingConfig":
        values = dict(values)
        tuple_fields = {f.name for f in dataclasses.fields(cls) if f.type == "tuple"}
        for name in tuple_fields & set(values):
            value = values[name]
            if name == "loss_options":
                values[name] = tuple(tuple(pair) for pair in value)
            elif isinstance(value, list):
                values[name] = tuple(value)
        return funnel_config.from_dict(cls, values)
