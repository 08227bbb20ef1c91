"""The feature contract shared by every stage of funnel.

The pipeline writes by this module, the trainers parse by it, the exporter builds
signatures from it and the service validates requests by it. No other module
spells a feature name as a string literal: import the constants below.

Dataset-specific facts (vocabulary sizes, which optional fields a dataset has)
are written by the pipeline into ``feature_map.json`` (see :class:`FeatureMap`);
the rules that produce them (ids, padding, OOV, bucketing, head/tail) live here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from enum import Enum
from pathlib import Path
from typing import Mapping

SCHEMA_VERSION = 1

# ---------------------------------------------------------------- vocabularies
PADDING_ID = 0
"""Id of an empty history slot; never a real value."""
OOV_ID = 1
"""Id of a value not in the vocabulary (unseen, or below ``--min-count``)."""
FIRST_VALUE_ID = 2
"""Line ``i`` (0-based) of a vocabulary file has id ``FIRST_VALUE_ID + i``."""
UNKNOWN_VALUE = ""
"""Raw value used when a dataset has no value for an attribute; maps to OOV."""

# ------------------------------------------------------------------ sequences
MAX_SEQUENCE_LENGTH = 30
"""Longest item history (IDW paper §4.1); longer histories are split."""
MIN_INTERACTIONS_FOR_TEST = 3
"""A user needs train, validation and test interactions to be evaluated."""
EVAL_NEGATIVES = 99
"""Sampled negatives per validation/test example (IDW paper §4.1)."""

# ----------------------------------------------------------------- head/tail
HEAD_FRACTION = 0.2
"""Pareto rule of IDW §4.1: the 20% most frequent items are head items."""


def head_item_count(num_items: int) -> int:
    """Number of head items among ``num_items`` distinct items (at least one)."""
    if num_items <= 0:
        return 0
    return max(1, int(math.ceil(HEAD_FRACTION * num_items)))


# ------------------------------------------------------------------- splits
TRAIN, VALIDATION, TEST = "train", "validation", "test"
SPLITS = (TRAIN, VALIDATION, TEST)
RANKING_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
"""Per-user chronological split of ranking examples (train, validation, test).

Each user's labelled interactions are ordered by time; the earliest 80% train,
the next 10% validate and the latest 10% test, so no future leaks into
training. Rows of one impression request always fall in the same split."""

POSITIVE_RATING = 4
"""MovieLens: a rating of 4 or more is a click (label 1)."""


def log_square_bucket(value: float) -> int:
    """TF4CTR §4.1 numeric rule: ``floor(log(x)^2)`` for x > 2, else 1.

    For 2 < x < e the rule gives 0, the padding id; those values join bucket 1,
    the rule's own bucket for x <= 2, so a bucket is never mistaken for padding.
    """
    if value is None or not math.isfinite(value) or value <= 2:
        return 1
    return max(1, int(math.floor(math.log(value) ** 2)))


# ------------------------------------------------------------------ features
class Kind(str, Enum):
    CATEGORICAL = "categorical"
    """A string value looked up in its vocabulary file."""
    NUMERIC = "numeric"
    """A number bucketised by :func:`log_square_bucket`; the bucket is an id."""
    SEQUENCE = "sequence"
    """A padded list of item ids (most recent last), length ``MAX_SEQUENCE_LENGTH``."""


class Source(str, Enum):
    USER = "user"
    ITEM = "item"
    CONTEXT = "context"


# Raw input columns (what readers produce, before vocabularies).
USER_ID = "user_id"
ITEM_ID = "item_id"
TIMESTAMP = "timestamp"
RATING = "rating"
CLICK = "click"
REQUEST_ID = "request_id"
TITLE = "title"
CLUSTER = "cluster"
"""Synthetic ground truth: the item's true interest cluster (for silhouette)."""

# Attributes (raw columns of the user and item tables, and ranking features).
USER_GENDER = "user_gender"
USER_OCCUPATION = "user_occupation"
USER_REGION = "user_region"
USER_AGE = "user_age"
ITEM_CATEGORY = "item_category"
"""The item's category; also its domain for per-domain loss weights."""
ITEM_AGE = "item_age"
"""Years between the item's release and the interaction (synthetic: an attribute)."""
HOUR = "hour"
WEEKDAY = "weekday"

# Example features written by the pipeline.
HISTORY = "history"
HISTORY_LENGTH = "history_length"
TARGET_ITEM = "target_item"
NEGATIVES = "negatives"
LABEL = "label"
ITEM_FREQUENCY = "frequency"
IS_HEAD = "is_head"


@dataclasses.dataclass(frozen=True)
class Feature:
    name: str
    kind: Kind
    source: Source


RANKING_FEATURES: tuple[Feature, ...] = (
    Feature(USER_ID, Kind.CATEGORICAL, Source.USER),
    Feature(USER_GENDER, Kind.CATEGORICAL, Source.USER),
    Feature(USER_OCCUPATION, Kind.CATEGORICAL, Source.USER),
    Feature(USER_REGION, Kind.CATEGORICAL, Source.USER),
    Feature(USER_AGE, Kind.NUMERIC, Source.USER),
    Feature(ITEM_ID, Kind.CATEGORICAL, Source.ITEM),
    Feature(ITEM_CATEGORY, Kind.CATEGORICAL, Source.ITEM),
    Feature(ITEM_AGE, Kind.NUMERIC, Source.ITEM),
    Feature(HOUR, Kind.CATEGORICAL, Source.CONTEXT),
    Feature(WEEKDAY, Kind.CATEGORICAL, Source.CONTEXT),
    Feature(HISTORY, Kind.SEQUENCE, Source.USER),
)
"""Every ranking example carries all of these; missing attributes are OOV."""

USER_ATTRIBUTES = tuple(f.name for f in RANKING_FEATURES if f.source is Source.USER
                        and f.name not in (USER_ID, HISTORY))
ITEM_ATTRIBUTES = (ITEM_CATEGORY,)
"""Item attributes kept in the item table (``ITEM_AGE`` depends on the event time)."""
CATEGORICAL_VOCABULARIES = tuple(f.name for f in RANKING_FEATURES if f.kind is Kind.CATEGORICAL)
"""Features with a vocabulary file ``vocab/<name>.txt``. ``HISTORY``, ``TARGET_ITEM``
and ``NEGATIVES`` use the ``ITEM_ID`` vocabulary."""

# ------------------------------------------------- retrieval's candidates
RETRIEVAL_SCORE = "retrieval_score"
"""The candidate's eq.-4 score against the user's interests (IDW eq. 4, or the max)."""
RETRIEVAL_RANK = "retrieval_rank"
"""0-based position of the candidate in retrieval order."""
INTEREST = "interest"
"""Which of the M interests nominated the candidate: ``argmax_m z_m . g(y)``."""
INTEREST_SCORE = "interest_score"
"""That interest's dot product ``max_m z_m . g(y)``."""
LAST_ITEM_SIMILARITY = "last_item_similarity"
"""Cosine of the candidate's and the last history item's retrieval embeddings (0 without history)."""
CANDIDATE_FEATURES = (RETRIEVAL_SCORE, RETRIEVAL_RANK, INTEREST, INTEREST_SCORE, LAST_ITEM_SIMILARITY)
"""Per-candidate float32 features computed from retrieval's output, by
``retrieval.candidates.candidate_features`` in both the candidates pipeline and
the service, so training and serving see the same values."""
CANDIDATES = "candidates"
"""A candidate list's item ids ``[N]`` (``ITEM_ID`` vocabulary; ``PADDING_ID`` pads short lists)."""
DEFAULT_LIST_CANDIDATES = 100
"""Candidates per list of ``funnel candidates``. Everything that ranks retrieval's candidates
(``funnel evaluate funnel``, the export's gate, the service's ``candidates``) defaults to the
width the ranker trained on, recorded in the export's manifest, and to this where none is
recorded (a pointwise ranker, an older export). Ranking 200 instead ranks no
better (docs/quality.md, "The funnel") and costs twice the ranking model's time."""


def candidate_list_spec(num_candidates: int) -> dict:
    """Parse spec of one candidate list (one record per (user, position)).

    Per list: ``USER_ID`` and the user attributes, ``HOUR``/``WEEKDAY`` (OOV:
    retrieval examples carry no event time), ``HISTORY`` ``[MAX_SEQUENCE_LENGTH]``
    and ``HISTORY_LENGTH``, all int64 ids as in :func:`ranking_example_spec`;
    ``TARGET_ITEM`` (the true next item). Per candidate, ``[num_candidates]``:
    ``CANDIDATES`` (item ids, ``PADDING_ID`` on empty slots), ``ITEM_CATEGORY``
    and ``ITEM_AGE`` ids, every ``CANDIDATE_FEATURES`` entry (float32) and
    ``LABEL`` (float32: 1 for the target, 0 otherwise).
    """
    shape = (num_candidates,)
    spec = {}
    for f in RANKING_FEATURES:
        if f.kind is Kind.SEQUENCE:
            spec[f.name] = ("int64", (MAX_SEQUENCE_LENGTH,))
        elif f.source is Source.ITEM and f.name != ITEM_ID:
            spec[f.name] = ("int64", shape)
        elif f.name != ITEM_ID:
            spec[f.name] = ("int64", ())
    spec[HISTORY_LENGTH] = ("int64", ())
    spec[TARGET_ITEM] = ("int64", ())
    spec[CANDIDATES] = ("int64", shape)
    for name in CANDIDATE_FEATURES:
        spec[name] = ("float32", shape)
    spec[LABEL] = ("float32", shape)
    return spec


# Numeric buckets are ids too; bucket values above this are clipped to it.
MAX_NUMERIC_BUCKET = 63


def feature(name: str) -> Feature:
    for f in RANKING_FEATURES:
        if f.name == name:
            return f
    raise KeyError(f"unknown feature {name!r}; known: {[f.name for f in RANKING_FEATURES]}")


# ------------------------------------------------------------- file layout
class Layout:
    """Where the pipeline writes each output below its ``--out`` folder."""

    STATS = "stats.json"
    FEATURE_MAP = "feature_map.json"
    VOCAB_DIR = "vocab"
    ITEMS = "items.csv"
    """Item table: ``item_index, item_id, frequency, is_head, item_category[, cluster, title]``."""
    USERS = "users.csv"
    """User table: ``user_index, user_id`` and the raw ``USER_ATTRIBUTES``."""
    RETRIEVAL_DIR = "retrieval"
    RANKING_DIR = "ranking"
    DEADLETTER_DIR = "deadletter"
    LISTS_DIR = "lists"
    """Below a ``funnel candidates --out`` folder: ``<split>-*.tfrecord`` candidate lists."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def vocab_file(self, feature_name: str) -> Path:
        return self.root / self.VOCAB_DIR / f"{feature_name}.txt"

    def retrieval_files(self, split: str) -> list[Path]:
        return sorted((self.root / self.RETRIEVAL_DIR).glob(f"{split}-*.tfrecord"))

    def ranking_files(self, split: str) -> list[Path]:
        return sorted((self.root / self.RANKING_DIR).glob(f"{split}-*.tfrecord"))

    def list_files(self, split: str) -> list[Path]:
        return sorted((self.root / self.LISTS_DIR).glob(f"{split}-*.tfrecord"))

    @property
    def stats(self) -> Path:
        return self.root / self.STATS

    @property
    def feature_map(self) -> Path:
        return self.root / self.FEATURE_MAP

    @property
    def items(self) -> Path:
        return self.root / self.ITEMS

    @property
    def users(self) -> Path:
        return self.root / self.USERS


# ------------------------------------------------------ tf.train.Example specs
def retrieval_example_spec(split: str, num_negatives: int = EVAL_NEGATIVES) -> dict:
    """Parse spec of a retrieval example, as a mapping name -> (dtype, shape).

    Every split has ``USER_ID`` (user vocabulary id), ``HISTORY`` ([MAX_SEQUENCE_LENGTH]
    item ids, left-padded with ``PADDING_ID`` so the most recent item is last),
    ``HISTORY_LENGTH`` and ``TARGET_ITEM`` (item id). Validation and test
    examples add ``NEGATIVES`` ([num_negatives] item ids the user never saw).
    Dtypes are strings so this module does not import TensorFlow.
    """
    spec = {
        USER_ID: ("int64", ()),
        HISTORY: ("int64", (MAX_SEQUENCE_LENGTH,)),
        HISTORY_LENGTH: ("int64", ()),
        TARGET_ITEM: ("int64", ()),
    }
    if split != TRAIN:
        spec[NEGATIVES] = ("int64", (num_negatives,))
    return spec


def ranking_example_spec() -> dict:
    """Parse spec of a ranking example: every ``RANKING_FEATURES`` entry as int64
    ids (categorical ids, numeric buckets, padded ``HISTORY``), plus
    ``HISTORY_LENGTH`` (int64) and ``LABEL`` (float32, 0 or 1)."""
    spec = {}
    for f in RANKING_FEATURES:
        shape = (MAX_SEQUENCE_LENGTH,) if f.kind is Kind.SEQUENCE else ()
        spec[f.name] = ("int64", shape)
    spec[HISTORY_LENGTH] = ("int64", ())
    spec[LABEL] = ("float32", ())
    return spec


# ----------------------------------------------------------- the feature map
@dataclasses.dataclass(frozen=True)
class FeatureMap:
    """What the pipeline found: vocabulary sizes and options of one dataset.

    ``vocab_sizes[name]`` counts every id of the feature including padding and
    OOV (an embedding table needs that many rows). For numeric features it is
    ``MAX_NUMERIC_BUCKET + 1``.
    """

    schema_version: int
    vocab_sizes: Mapping[str, int]
    max_sequence_length: int
    eval_negatives: int
    min_count: int
    dataset_format: str
    has_clusters: bool

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "FeatureMap":
        raw = json.loads(text)
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"feature_map.json: unknown keys {sorted(unknown)}")
        if raw.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"feature_map.json: schema_version {raw.get('schema_version')!r}, "
                f"this funnel reads version {SCHEMA_VERSION}; rerun `funnel preprocess`")
        return cls(**raw)

    @classmethod
    def load(cls, data_dir: str | Path) -> "FeatureMap":
        path = Layout(data_dir).feature_map
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: is {data_dir} the --out of `funnel preprocess`?")
        return cls.from_json(path.read_text())

    @property
    def num_items(self) -> int:
        """Rows of an item embedding table (real items + padding + OOV)."""
        return self.vocab_sizes[ITEM_ID]


def fingerprint() -> str:
    """Hash of the contract above; exports carry it so models of different
    schema versions are never served together."""
    contract = {
        "version": SCHEMA_VERSION,
        "ids": [PADDING_ID, OOV_ID, FIRST_VALUE_ID],
        "max_len": MAX_SEQUENCE_LENGTH,
        "features": [(f.name, f.kind.value, f.source.value) for f in RANKING_FEATURES],
        "retrieval": sorted(retrieval_example_spec(TEST)),
        "max_bucket": MAX_NUMERIC_BUCKET,
        "candidate_features": list(CANDIDATE_FEATURES),
    }
    return hashlib.sha256(json.dumps(contract, sort_keys=True).encode()).hexdigest()[:16]
