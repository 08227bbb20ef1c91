"""The one configuration of a retrieval run (towers, scoring, loss, weighting, training).

``funnel train retrieval`` turns its flags into a :class:`RetrievalConfig`; the
trainer saves it as ``RUN/config.json`` and :func:`retrieval.run.load_trained`
rebuilds the same model from it. The defaults are the product's, chosen on the
validation users of MovieLens 100K and amazon-games (docs/quality.md, "Choosing
retrieval's defaults"): MUR (M = 5) with two self-attention layers of four
heads as in the IDW paper (Mehta et al. 2023, §4.4), but 64-wide embeddings
instead of 16 and no item MLP: the item representation is the item-id
embedding the user tower reads (one table, tied as in SASRec), the last
position's state added to every interest, dropout 0.2, in-batch negatives
with the logQ correction, batches of 1,024 at learning rate 0.001.
``--item-hidden N`` puts an MLP back on the item side (needed for item
features such as the category). ``--preset idw-paper`` restores the paper's
settings (embedding 16, item MLP 16-16, a table per tower, no dropout,
learning rate 0.01, batch 256) for its Table-1 comparison; IDW keeps
momentum 0.9 and eta = 4e-4.
"""

from __future__ import annotations

import dataclasses

MODELS = {"sur": 1, "mur": 5, "sasrec": 1}
"""Model name -> default number of user representations M (IDW §4.3; SASRec: the last position's state)."""
NEGATIVES = ("in-batch", "full", "mixed", "sampled")
"""Which items a training example's softmax contrasts its target with (``retrieval.negatives``):
the batch's other targets (logQ-corrected), every item of the catalog, the batch's targets plus
``sampled_negatives`` items drawn uniformly (Yang et al. 2020, mixed negative sampling), or the
``sampled_negatives`` uniform items alone."""
AUTO = "auto"
"""An option left to the model: the first entry of its ``MODEL_NEGATIVES`` or ``MODEL_TRAIN_ON``."""
MODEL_NEGATIVES = {"sur": NEGATIVES, "mur": NEGATIVES, "sasrec": ("full", "sampled")}
"""Model -> the negatives it trains with, its default first: in-batch for the two towers, the
full softmax for SASRec (Klenitskiy & Vasilev 2023: full cross-entropy beats SASRec's sampled
BCE). SASRec scores every position of a sequence, so it has no batch of single targets to
contrast."""
MODEL_WEIGHTINGS = {"sasrec": ("none",)}
"""Models that support only some weighting schemes (absent: every scheme)."""
LOSSES = ("softmax", "bce")
"""``softmax``: cross-entropy over the target and its negatives; ``bce``: binary cross-entropy
on the target and each sampled negative (SASRec's original loss, Kang & McAuley 2018, eq. 7)."""
SCORINGS = ("mixture", "max")
"""How M interests score one item: eq. 4's candidate-dependent mixture, or the max."""
RECENCIES = ("none", "last-state")
"""``retrieval.towers.RECENCIES``: how the user tower weighs the most recent item."""
TRAIN_ON = ("examples", "sequences")
"""What one training row is: a (history, next item) example of the training split, scored at its
last position by a bidirectional encoder; or a user's whole sequence, every position scored at once
against its next item by a causal encoder (Kang & McAuley 2018, §III-E; ``retrieval.sequence_batches``)."""
MODEL_TRAIN_ON = {"sur": TRAIN_ON, "mur": TRAIN_ON, "sasrec": ("sequences",)}
"""Model -> the rows it can train on, its default first (``train_on="auto"`` resolves to it)."""
IDW_UPDATES = ("paper", "official")
"""Sleep-phase rules of ``retrieval.weighting.idw.DENSITY_UPDATES`` (eq. 8, or the authors' code)."""

PRESETS: dict[str, dict] = {
    "idw-paper": {
        "embedding_dim": 16, "item_hidden": (16, 16), "recency": "none", "dropout": 0.0,
        "learning_rate": 0.01,
        "batch_size": 256, "epochs": 20, "bucket_by_length": False, "share_item_embedding": False,
    },
    "idw-official": {
        "weighting": "idw", "idw_update": "official", "idw_momentum": 0.8, "idw_eta": 2e-4,
        "idw_max_rounds": 5,
    },
    "idw-movielens": {
        "num_interests": 3, "embedding_dim": 4, "item_hidden": (4,), "encoder_layers": 1,
        "encoder_heads": 1, "dropout": 0.0, "learning_rate": 0.001, "batch_size": 512, "epochs": 10,
        "temperature": 0.01,
    },
    "idw-synthetic": {
        "model": "mur", "num_interests": 3, "embedding_dim": 2, "item_hidden": (),
        "encoder_layers": 0, "dropout": 0.0, "learning_rate": 0.1, "batch_size": 128, "epochs": 10,
        "temperature": 1.0,
    },
    "sasrec": {
        "model": "sasrec", "embedding_dim": 64, "encoder_layers": 2, "encoder_heads": 1,
        "encoder_ffn_multiplier": 1, "dropout": 0.2, "learning_rate": 0.001, "batch_size": 128,
        "epochs": 50, "patience": 5,
    },
}
"""Named groups of settings for ``--preset``; flags given next to it win.

``idw-paper``: the IDW paper's towers and training (§4.4): 16-wide embeddings, an item
MLP of 16-16, a table per tower, no recency term, no dropout, Adam 0.01, batches of 256 drawn at random; the
two towers' defaults before they were chosen by measurement.
``idw-official``: the authors' IDW loop (``density_smoothed_retrieval.py``,
``train.py``): their density update, m = 0.8, max-norm stop at 2e-4, 5 rounds.
``idw-movielens``: their ``configs/movielens_experiment.yaml``: 4-D
embeddings, one-layer item MLP, one single-head encoder layer, M = 3,
learning rate 0.001, batch 512, 10 epochs, softmax temperature 0.01.
``idw-synthetic``: their ``configs/synthetic_experiment.yaml`` (Figures 3-4):
2-D item embeddings used as they are (identity item tower), parametric
attention straight over the history (no encoder), M = 3, learning rate 0.1,
batch 128, 10 epochs. Pair it with ``funnel preprocess --split windows`` on
sequences of at most 30 items: one training target per sequence.
``sasrec``: SASRec with the paper's MovieLens settings (Kang & McAuley 2018, §IV-B: 2 blocks,
1 head, FFN of width d, dropout 0.2, Adam 0.001, batch 128) but d = 64 and the full softmax,
at most 50 epochs with patience 5. Chosen on MovieLens 100K (test, full catalog, seed 0):
recall@20 0.313, NDCG@20 0.131, HR@10 0.200 in 33 epochs (markov baseline: 0.226, 0.097,
0.145); patience 10 (45 epochs) gave 0.311, 0.137, 0.208, no better; sampled BCE with one
negative per position (the original loss, patience 10) 0.256, 0.111, 0.162.
"""


SAVED_BEFORE_THE_OPTION = {"recency": "none", "share_item_embedding": False,
                           "bucket_by_length": False}
"""What a run's ``config.json`` that lacks one of these keys was trained with: these options
came with defaults other than the behaviour before them (``load``)."""


def load(path, command: str | None = None) -> "RetrievalConfig":
    """The config a run saved at ``path``, keys it predates read as ``SAVED_BEFORE_THE_OPTION``
    (``train_on`` as what the run's model trained on before the option existed)."""
    import json
    from pathlib import Path

    from funnel import config as config_lib

    model = json.loads(Path(path).read_text()).get("model", RetrievalConfig.model)
    absent = {**SAVED_BEFORE_THE_OPTION, "train_on": "sequences" if model == "sasrec" else "examples"}
    return config_lib.load(RetrievalConfig, path, command=command, absent=absent)


MODEL_DEFAULTS: dict[str, dict] = {
    "sasrec": {key: value for key, value in PRESETS["sasrec"].items() if key != "model"},
}
"""Settings a model trains with unless a flag or preset says otherwise: ``RetrievalConfig``'s
field defaults are the recommended two-tower model's; SASRec keeps its own (``PRESETS["sasrec"]``)."""


def build(values: dict) -> "RetrievalConfig":
    """The config of explicitly chosen ``values`` on top of their model's ``MODEL_DEFAULTS``.

    Raises:
        ValueError: an unknown key or a bad value (``funnel.config.from_dict``).
    """
    from funnel import config as config_lib

    model = values.get("model", RetrievalConfig.model)
    return config_lib.from_dict(RetrievalConfig, {**MODEL_DEFAULTS.get(model, {}), **values})


@dataclasses.dataclass(frozen=True)
class RetrievalConfig:
    """Every option of a retrieval run. Unknown keys are rejected by ``funnel.config``.

    Attributes:
        model: ``"sur"`` (M = 1) or ``"mur"`` (M = ``num_interests``).
        num_interests: M for MUR; 0 means the model's default (5). SUR ignores it.
        embedding_dim: Size of item-id embeddings inside both towers.
        item_hidden: Output sizes of the item MLP; the last one is the shared
            user/item representation size D. Empty (the default): no MLP, the
            item-id embedding is the representation (D = ``embedding_dim``).
        encoder_layers, encoder_heads: Transformer encoder of the user tower
            (0 layers: parametric attention over the item embeddings directly).
        encoder_ffn_multiplier: Feed-forward width of each encoder layer, as a
            multiple of ``embedding_dim``.
        dropout: Dropout on the user tower's input embeddings and inside the encoder.
        recency: One of ``RECENCIES``: ``"last-state"`` adds the encoder's state at the
            most recent position to every user representation.
        share_item_embedding: One item-id embedding table for both towers (the user
            tower's input and the item tower's), as SASRec shares its item table.
        use_item_category: Feed the item's category embedding to the item tower.
        scoring: ``"mixture"`` (eq. 4) or ``"max"`` (the authors' public code).
        weighting: A key of ``retrieval.weighting.WEIGHTINGS``.
        logq_correction: Subtract log p(y) from in-batch logits (eq. 2).
        remove_accidental_hits: Mask in-batch negatives equal to the positive.
        temperature: Softmax temperature tau of the training loss: in-batch
            scores are divided by tau before the logQ correction (the authors'
            MovieLens config uses 0.01; 1 is eq. 1 as written).
        negatives: One of ``NEGATIVES``, or ``"auto"``: the model's default
            (``MODEL_NEGATIVES``; read the resolved value from ``negatives_for_model``).
        sampled_negatives: Uniformly drawn negatives per batch of ``mixed`` and ``sampled``.
        loss: One of ``LOSSES`` (``bce`` only with ``sampled`` negatives).
        idw_update: Sleep-phase rule, one of ``IDW_UPDATES``.
        train_on: One of ``TRAIN_ON``: ``"sequences"`` trains every position of a
            sequence at once through a causal encoder (``UserTower.every_prefix``).
            ``"auto"`` becomes the model's default (``MODEL_TRAIN_ON``) on construction,
            so a saved config always names what the run trained on.
        bucket_by_length: Batch training examples of similar history length and cut
            their common padding (same outputs, less work per step; examples only).
    """

    model: str = "mur"
    num_interests: int = 0
    embedding_dim: int = 64
    item_hidden: tuple[int, ...] = ()
    encoder_layers: int = 2
    encoder_heads: int = 4
    encoder_ffn_multiplier: int = 2
    dropout: float = 0.2
    recency: str = "last-state"
    share_item_embedding: bool = True
    use_item_category: bool = False
    scoring: str = "mixture"
    weighting: str = "none"
    logq_correction: bool = True
    remove_accidental_hits: bool = True
    temperature: float = 1.0
    negatives: str = AUTO
    sampled_negatives: int = 256
    loss: str = "softmax"
    # training
    train_on: str = AUTO
    bucket_by_length: bool = True
    learning_rate: float = 0.001
    batch_size: int = 1024
    epochs: int = 12
    patience: int = 2
    seed: int = 0
    mixed_precision: bool = False
    verbose: int = 1
    # focal balance (Lin et al.)
    focal_gamma: float = 2.0
    # Qmargin (Cao et al. LDAM): delta_y = qmargin_max * (n_min / n_y)^(1/4)
    qmargin_max: float = 1.0
    # IDW (Mehta et al. 2023, Algorithms 1-2)
    idw_momentum: float = 0.9
    idw_initial_weights: str = "frequency"
    """w^(0): "frequency" (n_k/|U|, Algorithm 1) or "uniform" (1/K, starts from the unweighted loss)."""
    idw_update: str = "paper"
    """Algorithm 2's density update: "paper" (h = 1 - p', eq. 8) or "official" (the authors' 1/(p + 1e-4))."""
    idw_eta: float = 4e-4
    idw_max_rounds: int = 5
    idw_wake_epochs: int = 2
    idw_calibration_epochs: int = 5
    idw_calibration_lr_scale: float = 0.1
    kde_batch_elements: int = 8_000_000
    kde_centres: int = 0
    """n > 0: n kernel centres drawn by weight; 0: ``idw.default_centres`` (exact up to
    10,000 items, then 10,000 down to 2,000 centres, so the sleep phase grows linearly)."""
    # dynamic per-domain weights
    domain_alpha: float = 1.0
    domain_min_weight: float = 0.25
    domain_max_weight: float = 4.0
    domain_momentum: float = 0.5

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model: unknown value {self.model!r}; choose one of {sorted(MODELS)}")
        if self.negatives != AUTO and self.negatives not in NEGATIVES:
            raise ValueError(f"negatives: unknown value {self.negatives!r}; choose one of "
                             f"{[AUTO, *NEGATIVES]}")
        if self.negatives_for_model not in MODEL_NEGATIVES[self.model]:
            raise ValueError(f"negatives: model {self.model} trains with one of "
                             f"{list(MODEL_NEGATIVES[self.model])} (default "
                             f"{MODEL_NEGATIVES[self.model][0]}), got {self.negatives!r}")
        if self.model in MODEL_WEIGHTINGS and self.weighting not in MODEL_WEIGHTINGS[self.model]:
            raise ValueError(f"weighting: model {self.model} supports only "
                             f"{list(MODEL_WEIGHTINGS[self.model])}, got {self.weighting!r}")
        if self.model == "sasrec":
            if self.use_item_category:
                raise ValueError("use_item_category: sasrec scores items by its item-id embedding "
                                 "table alone; drop --item-category")
            # SASRec's item representation is its input table: no item MLP, whatever the
            # two towers' default, so a run is the same config before and after it changes.
            object.__setattr__(self, "item_hidden", ())
        if self.use_item_category and not self.item_hidden:
            raise ValueError("use_item_category: the category embedding is merged into the item "
                             "representation by the item MLP; give --item-hidden N")
        if self.train_on == AUTO:
            object.__setattr__(self, "train_on", MODEL_TRAIN_ON[self.model][0])
        if self.train_on not in MODEL_TRAIN_ON[self.model]:
            raise ValueError(f"train_on: model {self.model} trains on one of "
                             f"{list(MODEL_TRAIN_ON[self.model])}, got {self.train_on!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss: unknown value {self.loss!r}; choose one of {list(LOSSES)}")
        if self.loss == "bce" and self.negatives_for_model != "sampled":
            raise ValueError(f"loss: bce needs --negatives sampled (it scores the target against "
                             f"sampled items), got negatives {self.negatives_for_model!r}")
        if self.sampled_negatives < 1:
            raise ValueError(f"sampled_negatives: must be >= 1, got {self.sampled_negatives}")
        if self.recency not in RECENCIES:
            raise ValueError(f"recency: unknown value {self.recency!r}; choose one of {list(RECENCIES)}")
        if self.scoring not in SCORINGS:
            raise ValueError(f"scoring: unknown value {self.scoring!r}; choose one of {list(SCORINGS)}")
        if self.num_interests < 0:
            raise ValueError(f"num_interests: must be >= 0, got {self.num_interests}")
        for name in ("embedding_dim", "encoder_heads", "batch_size", "epochs",
                     "encoder_ffn_multiplier", "idw_max_rounds", "idw_wake_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.encoder_layers < 0:
            raise ValueError(f"encoder_layers: must be >= 0, got {self.encoder_layers}")
        if self.item_hidden and min(self.item_hidden) < 1:
            raise ValueError(f"item_hidden: sizes must be positive (or none for the identity tower), "
                             f"got {self.item_hidden}")
        if self.idw_update not in IDW_UPDATES:
            raise ValueError(f"idw_update: unknown value {self.idw_update!r}; choose one of {list(IDW_UPDATES)}")
        if not self.temperature > 0:
            raise ValueError(f"temperature: must be > 0, got {self.temperature}")
        if not 0.0 <= self.idw_momentum <= 1.0:
            raise ValueError(f"idw_momentum: must be in [0, 1], got {self.idw_momentum}")
        if not 0.0 < self.domain_min_weight <= 1.0 <= self.domain_max_weight:
            raise ValueError("domain_min_weight <= 1 <= domain_max_weight must hold, got "
                             f"{self.domain_min_weight} and {self.domain_max_weight}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate: must be > 0, got {self.learning_rate}")

    @property
    def negatives_for_model(self) -> str:
        """The negatives training uses: ``negatives``, or the model's default when ``"auto"``."""
        return MODEL_NEGATIVES[self.model][0] if self.negatives == AUTO else self.negatives

    @property
    def interests(self) -> int:
        """M, the number of user representations the user tower outputs."""
        if self.model != "mur":
            return MODELS[self.model]
        return self.num_interests or MODELS[self.model]

    @property
    def output_dim(self) -> int:
        """D, the size of user and item representations (SASRec: ``embedding_dim``, its
        item table is both the input embedding and the item representation)."""
        if self.model == "sasrec":
            return self.embedding_dim
        return self.item_hidden[-1] if self.item_hidden else self.embedding_dim
