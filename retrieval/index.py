"""The native ScaNN index over item embeddings: parameters, build, recall check, save, load.

ScaNN (Guo et al. 2020) answers a maximum-inner-product query in three phases:
a k-means tree picks ``num_leaves_to_search`` of ``num_leaves`` partitions,
anisotropic hashing (AH, ``dimensions_per_block`` dimensions per 4-bit code)
scores their items approximately, and the best ``reordering_candidates`` are
rescored exactly. :func:`params_for_catalog` derives those from the catalog
size; :func:`build_checked` measures recall@k against exact search on
held-out queries and widens the search until the target recall is met, or
fails with :class:`RecallTooLowError`.

The saved folder holds ScaNN's own assets (serialized with relative paths so
the folder can be renamed into place), ``item_ids.txt`` (row -> raw item id)
and ``embeddings.npy`` (row -> item embedding, for exact rescoring).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

logger = logging.getLogger(__name__)

ITEM_IDS_FILE = "item_ids.txt"
EMBEDDINGS_FILE = "embeddings.npy"
PARAMS_FILE = "funnel_scann_params.json"

DEFAULT_RECALL_K = 100
DEFAULT_MIN_RECALL = 0.95
PARTITION_THRESHOLD = 20_000
"""Below this many items a k-means tree does not pay: AH scores every item."""
MAX_LEAVES = 2_000
EXACT_BLOCK_ELEMENTS = 32 << 20
"""Largest [queries, items] score block of the exact search (128 MiB of float32)."""


class RecallTooLowError(ValueError):
    """The index misses too many of the exact top-k neighbours."""


@dataclasses.dataclass(frozen=True)
class ScannParams:
    """Everything that shapes a ScaNN index; recorded in ``manifest.json``.

    ``num_leaves == 1`` means no partitioning (every item is scored by AH).
    """

    num_leaves: int
    num_leaves_to_search: int
    reordering_candidates: int
    dimensions_per_block: int = 2
    anisotropic_quantization_threshold: float = 0.2
    training_sample_size: int = 100_000

    def __post_init__(self):
        if self.num_leaves < 1:
            raise ValueError(f"num_leaves: {self.num_leaves} must be >= 1")
        if not 1 <= self.num_leaves_to_search <= self.num_leaves:
            raise ValueError(f"num_leaves_to_search: {self.num_leaves_to_search} must be in "
                             f"[1, num_leaves={self.num_leaves}]")
        if self.reordering_candidates < 1:
            raise ValueError(f"reordering_candidates: {self.reordering_candidates} must be >= 1")
        if self.dimensions_per_block < 1:
            raise ValueError(f"dimensions_per_block: {self.dimensions_per_block} must be >= 1")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def params_for_catalog(num_items: int, k: int = DEFAULT_RECALL_K) -> ScannParams:
    """ScaNN parameters for a catalog of ``num_items`` items queried for top ``k``.

    No tree below :data:`PARTITION_THRESHOLD` items; above it about
    ``sqrt(N)`` leaves (at most 2,000) of which a tenth are searched. Exact
    reordering of ``max(4k, 400, sqrt(N))`` candidates (never more than the
    catalog): the depth must grow with N, because the items that AH scores
    within a small gap of the k-th grow with the catalog: at 1M clustered
    items a fixed shallow reordering caps recall whatever the leaves searched
    (``benchmarks/scale.py``, docs/benchmarks.md, "Scale"); isotropic items
    need the wider searches :func:`build_checked` then tries.
    """
    if num_items < 1:
        raise ValueError(f"num_items: {num_items}; an index needs at least one item")
    if num_items < PARTITION_THRESHOLD:
        leaves, searched = 1, 1
    else:
        leaves = min(MAX_LEAVES, int(round(math.sqrt(num_items))))
        searched = max(1, int(math.ceil(leaves / 10)))
    reorder = min(num_items, max(4 * k, 400, int(round(math.sqrt(num_items)))))
    return ScannParams(num_leaves=leaves, num_leaves_to_search=searched,
                       reordering_candidates=reorder,
                       training_sample_size=min(num_items, 100_000))


def widen(params: ScannParams, num_items: int) -> ScannParams | None:
    """The next, more exhaustive search: twice the leaves searched and reordered.

    Returns ``None`` once everything is already searched and reordered (the
    index is then exact up to AH ties).
    """
    searched = min(params.num_leaves, params.num_leaves_to_search * 2)
    reorder = min(num_items, params.reordering_candidates * 2)
    if searched == params.num_leaves_to_search and reorder == params.reordering_candidates:
        return None
    return dataclasses.replace(params, num_leaves_to_search=searched, reordering_candidates=reorder)


def half_steps(params: ScannParams, num_items: int) -> list[ScannParams]:
    """The searches between ``params`` and :func:`widen`'s: only the leaves searched
    doubled, then only the reordering depth (each where it can still grow).

    Tried before the full widening, because the two knobs bind on different
    catalogs: on isotropic vectors the partitions cap recall until about 30% of
    the leaves are searched, and reordering deeper only costs time
    (docs/benchmarks.md, Scale, the query-time grid).
    """
    wider = widen(params, num_items)
    if wider is None:
        return []
    steps = [dataclasses.replace(params, num_leaves_to_search=wider.num_leaves_to_search),
             dataclasses.replace(params, reordering_candidates=wider.reordering_candidates)]
    return [step for step in steps if step != params and step != wider]


def build_searcher(embeddings: np.ndarray, params: ScannParams, k: int = DEFAULT_RECALL_K):
    """Build a ``scann_ops_pybind`` searcher over ``embeddings`` [N, D] (dot product)."""
    from scann import scann_ops_pybind

    embeddings = _as_matrix(embeddings, "embeddings")
    num_items = embeddings.shape[0]
    builder = scann_ops_pybind.builder(embeddings, min(k, num_items), "dot_product")
    if params.num_leaves > 1:
        builder = builder.tree(num_leaves=params.num_leaves,
                               num_leaves_to_search=params.num_leaves_to_search,
                               training_sample_size=params.training_sample_size)
    builder = builder.score_ah(
        params.dimensions_per_block,
        anisotropic_quantization_threshold=params.anisotropic_quantization_threshold,
        training_sample_size=params.training_sample_size)
    builder = builder.reorder(params.reordering_candidates)
    return builder.build()


def exact_top_k(queries: np.ndarray, embeddings: np.ndarray, k: int,
                max_elements: int = EXACT_BLOCK_ELEMENTS) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force maximum inner product: rows [Q, k] and scores [Q, k], best first.

    Queries are scored ``max_elements // N`` at a time, so the score matrix
    never exceeds ``max_elements`` floats (2,500 queries of 5 interests against
    1M items would otherwise need 50 GB).
    """
    queries = _as_matrix(queries, "queries")
    embeddings = _as_matrix(embeddings, "embeddings")
    k = min(k, embeddings.shape[0])
    chunk = max(1, max_elements // embeddings.shape[0])
    rows = np.empty((queries.shape[0], k), np.int64)
    top = np.empty((queries.shape[0], k), np.float32)
    for start in range(0, queries.shape[0], chunk):
        scores = queries[start:start + chunk] @ embeddings.T
        best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(scores, best, axis=1)
        order = np.argsort(-best_scores, axis=1, kind="stable")
        rows[start:start + chunk] = np.take_along_axis(best, order, axis=1)
        top[start:start + chunk] = np.take_along_axis(best_scores, order, axis=1)
    return rows, top


def recall_at_k(approximate_rows: np.ndarray, exact_rows: np.ndarray) -> float:
    """Mean fraction of each query's exact top-k found by the approximate top-k."""
    approximate_rows = np.asarray(approximate_rows)
    exact_rows = np.asarray(exact_rows)
    if approximate_rows.shape[0] != exact_rows.shape[0]:
        raise ValueError(f"recall: {approximate_rows.shape[0]} approximate vs "
                         f"{exact_rows.shape[0]} exact queries")
    hits = [len(np.intersect1d(a, e)) / len(e) for a, e in zip(approximate_rows, exact_rows)]
    return float(np.mean(hits))


def measure_recall(search: Callable[[np.ndarray, int], tuple], embeddings: np.ndarray,
                   user_embeddings: np.ndarray, k: int) -> float:
    """Recall@k of ``search`` against exact search, over every interest of every query.

    The one measure of an index: ``verify`` checks the saved index with it, and
    :func:`build_checked` measures each attempt the same way (:func:`searcher_recall`,
    with the exact top-k computed once per build).

    Args:
        search: ``(queries [P, D], k) -> (rows [P, k], scores)``, the index under test.
        embeddings: item embeddings ``[N, D]``.
        user_embeddings: ``[Q, M, D]`` (all M interests) or ``[Q, D]``.
        k: capped at ``N``.
    """
    embeddings = _as_matrix(embeddings, "embeddings")
    queries = _as_matrix(np.reshape(user_embeddings, (-1, embeddings.shape[1])), "user_embeddings")
    if queries.shape[0] == 0:
        raise ValueError("user_embeddings: empty; the recall check needs at least one query")
    k = min(k, embeddings.shape[0])
    exact, _ = exact_top_k(queries, embeddings, k)
    rows, _ = search(queries, k)
    return recall_at_k(rows, exact)


@dataclasses.dataclass(frozen=True)
class RecallReport:
    """What :func:`build_checked` measured, for ``manifest.json``."""

    params: ScannParams
    recall: float
    k: int
    min_recall: float
    num_queries: int
    attempts: tuple[dict, ...]
    also: dict | None = None
    """What ``build_checked``'s ``also`` measured with the final parameters."""

    def to_dict(self) -> dict:
        return {"params": self.params.to_dict(), f"recall_at_{self.k}": self.recall,
                "recall_k": self.k, "min_recall": self.min_recall,
                "held_out_queries": self.num_queries, "attempts": list(self.attempts),
                **({"also": self.also} if self.also else {})}


def build_checked(embeddings: np.ndarray, held_out_queries: np.ndarray,
                  k: int = DEFAULT_RECALL_K, min_recall: float = DEFAULT_MIN_RECALL,
                  params: ScannParams | None = None, max_widenings: int = 3,
                  also: Callable[[ScannParams], dict[str, float]] | None = None):
    """Build an index whose recall@k against brute force reaches ``min_recall``.

    Starts from ``params`` (default :func:`params_for_catalog`) and widens the
    search up to ``max_widenings`` times while the recall on
    ``held_out_queries`` [Q, D] is below the bar; before each widening it
    tries the :func:`half_steps` (one knob doubled), and keeps the first
    search that reaches the bar. ``also(params)``, when given,
    measures other searchers built with the same parameters (the exporter's
    tfrs ScaNN layer) as ``{name: recall}``; each is held to the same bar.

    The index is built (tree and codebooks trained) once; a widening changes
    only query-time knobs, so each attempt is measured on the same searcher,
    and the report's ``params`` are the knobs :class:`ScannIndex` searches with
    (retraining would move the recall: ScaNN's training is not deterministic).

    Returns:
        ``(searcher, RecallReport)``.

    Raises:
        RecallTooLowError: the recall stayed below ``min_recall``.
    """
    embeddings = _as_matrix(embeddings, "embeddings")
    held_out_queries = _as_matrix(held_out_queries, "held_out_queries")
    if held_out_queries.shape[0] == 0:
        raise ValueError("held_out_queries: empty; the recall check needs at least one query")
    num_items = embeddings.shape[0]
    k_eff = min(k, num_items)
    params = params or params_for_catalog(num_items, k)
    attempts = []
    searcher = build_searcher(embeddings, params, k_eff)
    exact, _ = exact_top_k(held_out_queries, embeddings, k_eff)

    def attempt(candidate: ScannParams) -> RecallReport | None:
        # Widening changes only query-time knobs (leaves searched, reordering
        # depth): measure it on the tree and codebooks already trained.
        recall = searcher_recall(searcher, candidate, held_out_queries, exact)
        others = also(candidate) if also is not None and recall >= min_recall else {}
        attempts.append({**candidate.to_dict(), "recall": recall, **others})
        logger.info("ScaNN %s: recall@%d = %.4f %s", candidate, k_eff, recall, others)
        if recall >= min_recall and all(v >= min_recall for v in others.values()):
            return RecallReport(candidate, recall, k_eff, min_recall,
                                held_out_queries.shape[0], tuple(attempts), others or None)
        return None

    report = attempt(params)
    for _ in range(max_widenings):
        if report is not None or (wider := widen(params, num_items)) is None:  # reached the bar, or nothing to widen
            break
        for candidate in half_steps(params, num_items) + [wider]:
            if (report := attempt(candidate)) is not None:
                break
        params = wider
    if report is not None:
        return searcher, report
    recall = attempts[-1]["recall"]
    raise RecallTooLowError(
        f"ScaNN recall@{k_eff} = {recall:.4f} on {held_out_queries.shape[0]} held-out queries is "
        f"below the required {min_recall} after {len(attempts)} attempt(s) {attempts}; "
        f"lower the bar with --min-recall (recorded in the manifest) or pass wider parameters")


def searcher_recall(searcher, params: ScannParams, queries: np.ndarray, exact_rows: np.ndarray) -> float:
    """Recall of ``searcher`` searched with ``params``' knobs against the exact top-k ``exact_rows``."""
    rows, _ = _searching_with(searcher, params)(queries, exact_rows.shape[1])
    return recall_at_k(rows, exact_rows)


def _searching_with(searcher, params: ScannParams) -> Callable[[np.ndarray, int], tuple]:
    """``search(queries, k)`` of ``searcher`` with ``params``' leaves searched and reordering depth."""
    knobs = {"leaves_to_search": params.num_leaves_to_search} if params.num_leaves > 1 else {}
    return lambda queries, k: searcher.search_batched(
        queries, final_num_neighbors=k,
        pre_reorder_num_neighbors=max(k, params.reordering_candidates), **knobs)


def save(searcher, folder: str | Path, item_ids: Sequence[str], embeddings: np.ndarray,
         params: ScannParams) -> None:
    """Write the searcher, the row -> item id mapping and the embeddings to ``folder``."""
    folder = Path(folder)
    embeddings = _as_matrix(embeddings, "embeddings")
    if len(item_ids) != embeddings.shape[0]:
        raise ValueError(f"item_ids: {len(item_ids)} ids for {embeddings.shape[0]} embeddings")
    for item_id in item_ids:
        if not item_id or "\n" in item_id:
            raise ValueError(f"item_ids: {item_id!r} cannot be written one per line")
    folder.mkdir(parents=True, exist_ok=True)  # ScaNN's serialize needs the folder to exist
    searcher.serialize(str(folder), relative_path=True)
    (folder / ITEM_IDS_FILE).write_text("".join(f"{i}\n" for i in item_ids), encoding="utf-8")
    np.save(folder / EMBEDDINGS_FILE, embeddings)
    (folder / PARAMS_FILE).write_text(json.dumps(params.to_dict(), indent=2, sort_keys=True))


class ScannIndex:
    """A loaded ScaNN index: ``search`` plus the row -> item id/embedding tables.

    Attributes:
        item_ids: raw item ids, ``[N]`` (object array of str).
        item_embeddings: ``[N, D]`` float32.
        params: the :class:`ScannParams` it was built with.
    """

    def __init__(self, searcher, item_ids: np.ndarray, item_embeddings: np.ndarray,
                 params: ScannParams):
        self.searcher = searcher
        self.item_ids = item_ids
        self.item_embeddings = item_embeddings
        self.params = params
        self._search = _searching_with(searcher, params)

    @classmethod
    def load(cls, folder: str | Path) -> "ScannIndex":
        from scann import scann_ops_pybind

        folder = Path(folder)
        for name in (ITEM_IDS_FILE, EMBEDDINGS_FILE, PARAMS_FILE, "scann_assets.pbtxt"):
            if not (folder / name).exists():
                raise FileNotFoundError(f"{folder / name} missing: not a funnel ScaNN index folder")
        item_ids = np.array((folder / ITEM_IDS_FILE).read_text(encoding="utf-8").splitlines(),
                            dtype=object)
        embeddings = np.load(folder / EMBEDDINGS_FILE)
        params = ScannParams(**json.loads((folder / PARAMS_FILE).read_text()))
        searcher = scann_ops_pybind.load_searcher(str(folder))
        if searcher.size() != len(item_ids):
            raise ValueError(f"{folder}: index holds {searcher.size()} items but "
                             f"{ITEM_IDS_FILE} lists {len(item_ids)}")
        return cls(searcher, item_ids, embeddings, params)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top-``k`` rows [Q, k] (int64) and dot-product scores [Q, k], best first.

        ``k`` is capped at the catalog size. Queries are searched in one
        batched call.
        """
        queries = _as_matrix(queries, "queries")
        if queries.shape[1] != self.item_embeddings.shape[1]:
            raise ValueError(f"queries: dimension {queries.shape[1]}, the index has "
                             f"{self.item_embeddings.shape[1]}")
        if k < 1:
            raise ValueError(f"k: {k} must be >= 1")
        k = min(k, self.num_items)
        if queries.shape[0] == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        rows, scores = self._search(queries, k)
        return rows.astype(np.int64), scores.astype(np.float32)


def _as_matrix(values, name: str) -> np.ndarray:
    values = np.ascontiguousarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"{name}: expected a [rows, dim] matrix, got shape {values.shape}")
    return values
