"""``funnel candidates``: retrieval's own candidate lists, the data the ranker trains on.

The ranker is asked at serving time "which of these close candidates comes
next"; it learns exactly that from these lists. One list per (user,
position): the history up to the position, the top-N candidates retrieval
returns for it (``retrieval.candidates``, the service's own search, eq.-4
merge, history exclusion and features) and labels:

- the true next item: 1;
- every other candidate: 0, except items the user interacts with at another
  position (later ones are not negatives; earlier ones beyond the 30-item
  history window are dropped too, since the service would not exclude them
  only because the client sent a short history), which are dropped;
- a target retrieval missed: the list is dropped (``missing_target="drop"``,
  default) or the target replaces the last candidate with its own features
  (``"add"``; it then always sits at the last rank, which the ranker can learn,
  so it is not the default). Both are counted in ``stats.json``.

Training lists come from out-of-fold models (:mod:`retrieval.folds`),
validation and test lists from the run itself. ``stats.json`` records the
candidate recall@N of each split: similar values on training and validation
lists are the check that no target leaked.

This module builds the lists of a batch of requests, without Beam;
:mod:`retrieval.candidate_pipeline` runs it over the dataset as a Beam
transform and :mod:`retrieval.candidate_job` is the job's driver.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from funnel import dataset, schema, tfrecord
from funnel.runs import RunLayout

logger = logging.getLogger(__name__)

MAIN_MODEL = -1
"""Model key of the run itself (validation and test lists)."""
MISSING_TARGET = ("drop", "add")
EXACT_SEARCH_ITEMS = 20_000
"""Catalogs up to this size are searched exactly (a matmul is faster than ScaNN there)."""


@dataclasses.dataclass(frozen=True)
class ListOptions:
    """What ``funnel candidates`` builds.

    Attributes:
        candidates: N, candidates per list.
        folds: K out-of-fold retrieval models for training lists (1: the run itself; leaks).
        positions_per_user: training positions per user, drawn with a seeded
            generator (0: every position).
        missing_target: ``drop`` or ``add`` (see the module docstring).
        seed: fold assignment and position sampling.
        batch_size: lists per query-model call.
    """

    candidates: int = schema.DEFAULT_LIST_CANDIDATES
    folds: int = 2
    positions_per_user: int = 0
    missing_target: str = "drop"
    seed: int = 0
    batch_size: int = 256

    def __post_init__(self):
        for name in ("candidates", "folds", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.positions_per_user < 0:
            raise ValueError(f"positions_per_user: must be >= 0, got {self.positions_per_user}")
        if self.missing_target not in MISSING_TARGET:
            raise ValueError(f"missing_target: unknown value {self.missing_target!r}; "
                             f"choose one of {list(MISSING_TARGET)}")


# ------------------------------------------------------------------ reading
def parse_example(record: bytes, split: str) -> tuple[int, dict]:
    """A serialized retrieval example -> ``(user id, {split, history, target})``."""
    from tensorflow.core.example import example_pb2

    features = example_pb2.Example.FromString(record).features.feature
    history = np.array(features[schema.HISTORY].int64_list.value, dtype=np.int64)
    return int(features[schema.USER_ID].int64_list.value[0]), {
        "split": split, "history": history,
        "target": int(features[schema.TARGET_ITEM].int64_list.value[0])}


def user_requests(user: int, examples: Iterable[dict], options: ListOptions) -> list[dict]:
    """The lists to build for one user: sampled training positions, every validation/test one.

    Each request carries the user's interacted items (every history and
    target), so labels can drop the user's other interactions.
    """
    from retrieval.folds import fold_of

    examples = sorted(examples, key=lambda e: (e["split"], e["target"], e["history"].tobytes()))
    items = np.unique(np.concatenate([np.append(e["history"], e["target"]) for e in examples]))
    items = items[items >= schema.FIRST_VALUE_ID]
    train = [e for e in examples if e["split"] == schema.TRAIN]
    if options.positions_per_user and len(train) > options.positions_per_user:
        rng = np.random.default_rng([options.seed, user])
        chosen = rng.choice(len(train), options.positions_per_user, replace=False)
        train = [train[i] for i in sorted(chosen)]
    fold = int(fold_of(np.array([user]), options.folds, options.seed)[0]) if options.folds > 1 else MAIN_MODEL
    requests = []
    for e in train + [e for e in examples if e["split"] != schema.TRAIN]:
        model = fold if e["split"] == schema.TRAIN else MAIN_MODEL
        requests.append({**e, "user": user, "model": model, "items": items})
    return requests


def batches(requests: Sequence[dict], batch_size: int) -> Iterator[tuple[int, list[dict]]]:
    """``(model key, requests)``: the requests of each model, in their order, ``batch_size`` at a time."""
    by_model: dict[int, list[dict]] = {}
    for request in requests:
        by_model.setdefault(request["model"], []).append(request)
    for key in sorted(by_model):
        chosen = by_model[key]
        for start in range(0, len(chosen), batch_size):
            yield key, chosen[start:start + batch_size]


# ----------------------------------------------------------------- building
@dataclasses.dataclass
class Retriever:
    """One retrieval model ready to propose candidates: user tower, catalog, search."""

    user_tower: object
    item_embeddings: np.ndarray
    """``[N, D]``: row r is item id ``r + FIRST_VALUE_ID``."""
    search: object
    scoring: str


def load_retriever(run_dir: str | Path) -> Retriever:
    """Load a retrieval run and index its catalog (exact search below ``EXACT_SEARCH_ITEMS``)."""
    from retrieval.run import load_trained
    from retrieval import index as index_lib

    model, config = load_trained(run_dir)
    num_items = schema.FeatureMap.load(RunLayout(run_dir).dataset).num_items
    ids = np.arange(schema.FIRST_VALUE_ID, num_items, dtype=np.int64)
    embeddings = np.asarray(model.item_tower(ids, training=False), dtype=np.float32)
    if len(ids) <= EXACT_SEARCH_ITEMS:
        def search(queries, k):
            return index_lib.exact_top_k(queries, embeddings, k)
    else:
        searcher = index_lib.build_searcher(embeddings, index_lib.params_for_catalog(len(ids)))
        scann = index_lib.ScannIndex(searcher, ids.astype(str).astype(object), embeddings,
                                     index_lib.params_for_catalog(len(ids)))
        search = scann.search
    return Retriever(model.user_tower, embeddings, search, config.scoring)


@dataclasses.dataclass
class ListModels:
    """What building lists reads: a retriever per model key and the list features' attributes."""

    retrievers: dict[int, Retriever]
    attributes: ListAttributes

    @classmethod
    def load(cls, data_dir: str | Path, runs: dict[int, str]) -> ListModels:
        """Load every run of ``runs`` (model key -> run folder) and the attributes of ``data_dir``."""
        return cls({key: load_retriever(run) for key, run in runs.items()}, ListAttributes.load(data_dir))


@dataclasses.dataclass(frozen=True)
class ListAttributes:
    """Vocabulary ids of user attributes and item categories, for the lists' features."""

    users: dict
    """user id -> {attribute: id}."""
    item_categories: np.ndarray
    """``[num_items]`` category id of each item id."""

    @classmethod
    def load(cls, data_dir) -> "ListAttributes":
        from retrieval.run import item_statistics

        users = {}
        layout = schema.Layout(data_dir)
        if layout.users.exists() and layout.vocab_file(schema.USER_ID).exists():
            table = dataset.user_table(data_dir)
            vocabularies = {name: {v: schema.FIRST_VALUE_ID + i for i, v in
                                   enumerate(dataset.read_vocabulary(data_dir, name))}
                            for name in schema.USER_ATTRIBUTES
                            if name in table.columns and layout.vocab_file(name).exists()}
            for user, row in table.iterrows():
                users[int(user)] = {name: (schema.log_square_bucket(float(row[name]))
                                           if schema.feature(name).kind is schema.Kind.NUMERIC
                                           and row[name] not in ("", None) else
                                           vocabularies.get(name, {}).get(str(row[name]), schema.OOV_ID))
                                    for name in vocabularies}
        return cls(users, item_statistics(data_dir).categories)


def _target_features(retriever: Retriever, z: np.ndarray, target_row: int, last_row: int,
                     slot: int) -> dict[str, float]:
    """``candidate_features`` of one item for one user (``z`` ``[M, D]``), ranked at ``slot``."""
    from retrieval import candidates as candidates_lib
    from retrieval import interests

    logits = z @ retriever.item_embeddings[target_row]                        # [M]
    one = candidates_lib.CandidateSet(
        rows=np.array([[target_row]]),
        scores=interests.SCORINGS[retriever.scoring](logits[:, None], axis=0)[None].astype(np.float32),
        interest=np.array([[logits.argmax()]]), interest_score=np.array([[logits.max()]], np.float32))
    values = candidates_lib.candidate_features(one, retriever.item_embeddings, np.array([last_row]))
    values[schema.RETRIEVAL_RANK][0, 0] = slot
    return {name: float(value[0, 0]) for name, value in values.items()}


@dataclasses.dataclass
class BuiltLists:
    """The lists of a batch of requests."""

    records: dict[str, list[bytes]]
    """split -> serialized lists (:func:`funnel.schema.candidate_list_spec`), in request order."""
    counts: dict[str, int]
    """``<split>/<count>`` -> value, summed over the batch (:func:`summarise` reads them)."""


def build_lists(retriever: Retriever, attributes: ListAttributes, requests: Sequence[dict],
                options: ListOptions) -> BuiltLists:
    """Retrieve, label and encode the lists of ``requests`` (all for one model).

    The batch's lists are encoded together (:mod:`funnel.tfrecord`); a dropped
    list is only counted.
    """
    from retrieval import candidates as candidates_lib

    histories = np.stack([r["history"] for r in requests])                   # [B, L] item ids
    z = np.asarray(retriever.user_tower(histories, training=False), dtype=np.float32)
    exclude = [np.unique(h[h >= schema.FIRST_VALUE_ID]) - schema.FIRST_VALUE_ID for h in histories]
    found = candidates_lib.retrieve(z, retriever.item_embeddings, retriever.search, exclude,
                                    options.candidates, retriever.scoring)
    last = histories[:, -1]
    last_rows = np.where(last >= schema.FIRST_VALUE_ID, last - schema.FIRST_VALUE_ID, -1)
    features = candidates_lib.candidate_features(found, retriever.item_embeddings, last_rows)
    splits, records, totals = [], [], {}
    for b, request in enumerate(requests):
        split, target = request["split"], request["target"]
        counts = {f"{split}/lists": 1}
        item_ids = np.where(found.valid[b], found.rows[b] + schema.FIRST_VALUE_ID, schema.PADDING_ID)
        values = {name: column[b].copy() for name, column in features.items()}
        hit = item_ids == target
        if hit.any():
            counts[f"{split}/target_retrieved"] = 1
        elif options.missing_target == "drop" or target < schema.FIRST_VALUE_ID:
            counts[f"{split}/dropped_target_missing"] = 1
            add_counts(totals, counts)
            continue
        else:
            counts[f"{split}/added_target"] = 1
            slot = int(np.flatnonzero(found.valid[b])[-1]) if found.valid[b].any() else 0
            item_ids[slot] = target
            added = _target_features(retriever, z[b], target - schema.FIRST_VALUE_ID, last_rows[b], slot)
            for name, value in added.items():
                values[name][slot] = value
        other = np.isin(item_ids, request["items"]) & (item_ids != target)
        counts[f"{split}/dropped_other_interactions"] = int(other.sum())
        keep = np.flatnonzero((item_ids != schema.PADDING_ID) & ~other)
        counts[f"{split}/written"] = 1
        counts[f"{split}/candidates"] = len(keep)
        splits.append(split)
        records.append(list_record(request, attributes, item_ids[keep],
                                   {name: v[keep] for name, v in values.items()}, options.candidates))
        add_counts(totals, counts)
    by_split: dict[str, list[bytes]] = {}
    for split, record in zip(splits, tfrecord.encode_examples(records)):
        by_split.setdefault(split, []).append(record)
    return BuiltLists(by_split, totals)


def list_record(request: dict, attributes: ListAttributes, item_ids: np.ndarray,
                values: dict[str, np.ndarray], width: int) -> dict[str, np.ndarray]:
    """One list's features by :func:`funnel.schema.candidate_list_spec` (width N), padded."""
    def pad(array, fill=0):
        out = np.full(width, fill, dtype=np.asarray(array).dtype)
        out[:len(array)] = array
        return out

    history = request["history"]
    record = {schema.USER_ID: request["user"],
              schema.HISTORY: history,
              schema.HISTORY_LENGTH: int((history != schema.PADDING_ID).sum()),
              schema.TARGET_ITEM: request["target"],
              schema.CANDIDATES: pad(item_ids, schema.PADDING_ID),
              schema.LABEL: pad((item_ids == request["target"]).astype(np.float32)),
              schema.ITEM_CATEGORY: pad(attributes.item_categories[item_ids], schema.PADDING_ID),
              schema.ITEM_AGE: pad(np.ones(len(item_ids), np.int64), schema.PADDING_ID)}
    profile = attributes.users.get(request["user"], {})
    for name in schema.USER_ATTRIBUTES:
        record[name] = int(profile.get(name, schema.OOV_ID))
    record[schema.HOUR] = schema.OOV_ID
    record[schema.WEEKDAY] = schema.OOV_ID
    for name in schema.CANDIDATE_FEATURES:
        record[name] = pad(values[name].astype(np.float32))
    return record


# ------------------------------------------------------------------ counting
def add_counts(total: dict[str, int], part: dict[str, int]) -> dict[str, int]:
    """Add ``part``'s counts into ``total`` (keys ``<split>/<count>``; zeros kept); returns ``total``."""
    for key, value in part.items():
        total[key] = total.get(key, 0) + value
    return total


def summarise(counts: dict, options: ListOptions) -> dict:
    """``stats.json``: counts per split and candidate recall@N (target retrieved / lists)."""
    splits = {}
    for split in schema.SPLITS:
        lists = counts.get(f"{split}/lists", 0)
        part = {key.split("/", 1)[1]: value for key, value in counts.items() if key.startswith(f"{split}/")}
        part["recall_at_n"] = part.get("target_retrieved", 0) / lists if lists else None
        splits[split] = part
    return {"candidates": options.candidates, "options": dataclasses.asdict(options), "splits": splits}
