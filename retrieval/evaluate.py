"""Evaluate a retrieval run: the IDW paper's sampled protocol plus full-catalog metrics.

Sampled (Mehta et al. 2023, §4.2; leave-one-out): each test example's target
is ranked against its 99 sampled negatives (items the user never saw);
``hr@k`` is 1 when fewer than k negatives outscore the target, ``ndcg@k`` is
``1 / log2(rank + 2)`` then. Each metric is reported overall and with
``_head`` / ``_tail`` suffixes over the examples whose target is a head item
(the 20% most frequent, ``funnel.dataset.head_items``) or not.

Full catalog: the target is ranked against every real item (padding and OOV
ids excluded, as is every item the user interacted with before the target:
the example's history and all items of the user's examples in the earlier
splits, training and, for the test split, validation; not only the last
``max_len`` items): ``hr@10_full``, ``recall@20_full``, ``recall@100_full``,
``recall@200_full`` (one target: recall = hit), ``ndcg@10_full`` and
``ndcg@20_full``, also with ``_head`` / ``_tail`` suffixes
(``recall@20_full_tail``). Sampled metrics alone flatter a model.
:func:`evaluate_examples` also returns each example's 0-based full-catalog
rank with its user id (:mod:`funnel.ranks`), for paired comparisons.

On data with ground-truth clusters (synthetic), ``mean_silhouette``
(:func:`funnel.metrics.mean_silhouette`) is the silhouette score of the item embeddings against the true clusters (IDW §3.2).

Ties (the popularity baseline has many) take the mid rank:
``rank = #(higher) + #(equal) // 2``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from funnel import dataset, schema
from funnel.metrics import mean_silhouette
from retrieval.baselines import Scorer, popularity_scorer  # noqa: F401  (popularity_scorer: re-exported)
from retrieval.run import item_clusters, load_trained

logger = logging.getLogger(__name__)

SAMPLED_KS = (5, 20)
FULL_HR_KS = (10,)
FULL_RECALL_KS = (20, 100, 200)
FULL_NDCG_KS = (10, 20)
SCORE_BUDGET = 1 << 25
"""Largest ``B * M * N`` scored at once (bounds memory on big catalogs)."""



@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Metrics of one split, and each example's user id and 0-based full-catalog rank ``[E]``
    (in the split's file order, which is stable across evaluations of the same data)."""

    metrics: dict[str, float]
    user_ids: np.ndarray
    ranks: np.ndarray


def tied_ranks(scores: np.ndarray, target_scores: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of each row's target among ``scores`` ``[B, C]`` (target not included)."""
    higher = np.sum(scores > target_scores[:, None], axis=1)
    equal = np.sum(scores == target_scores[:, None], axis=1)
    return higher + equal // 2


def hits_and_ndcg(ranks: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-example HR@k (0/1) and NDCG@k for one relevant item at 0-based ``ranks``."""
    hit = ranks < k
    return hit.astype(np.float64), np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0)


def sampled_ranks(scores: np.ndarray, targets: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """Rank of the target among its sampled negatives: ``[B, N]``, ``[B]``, ``[B, 99]`` -> ``[B]``."""
    target_scores = np.take_along_axis(scores, targets[:, None], axis=1)[:, 0]
    return tied_ranks(np.take_along_axis(scores, negatives, axis=1), target_scores)


def full_ranks(scores: np.ndarray, targets: np.ndarray, histories: np.ndarray,
               seen=None) -> np.ndarray:
    """Rank of the target among every real item except itself and the items seen before it.

    ``scores`` ``[B, N]``, ``targets`` ``[B]``, ``histories`` ``[B, L]`` -> ``[B]``;
    ``seen``: optional sparse ``[B, N]`` matrix of further items each row's user
    interacted with before the target (:func:`items_seen_before`).
    """
    rows = np.arange(len(scores))
    target_scores = scores[rows, targets].astype(np.float64)
    competitors = scores.astype(np.float64, copy=True)
    competitors[:, :schema.FIRST_VALUE_ID] = -np.inf   # padding and OOV are never candidates
    competitors[rows[:, None], histories] = -np.inf    # already seen
    if seen is not None:
        competitors[seen.nonzero()] = -np.inf
    competitors[rows, targets] = -np.inf
    return tied_ranks(competitors, target_scores)


EARLIER_SPLITS = {schema.VALIDATION: (schema.TRAIN,), schema.TEST: (schema.TRAIN, schema.VALIDATION)}
"""The splits whose examples precede a split's targets in time (the default and windows splits)."""


def items_seen_before(data_dir: str | Path, split: str, num_items: int):
    """Sparse bool ``[user vocabulary size, num_items]``: items in the user's examples of the splits before ``split``.

    Histories and targets of every training example and, for the test split,
    the validation example. Under ``--split-per-sequence`` the earlier splits
    also hold later interactions, so this over-excludes there.
    """
    from scipy import sparse

    users, items = [], []
    for earlier in EARLIER_SPLITS.get(split, ()):
        for batch in dataset.retrieval_dataset(data_dir, earlier, 8192).as_numpy_iterator():
            history = batch[schema.HISTORY]
            rows, columns = np.nonzero(history)
            users += [batch[schema.USER_ID][rows], batch[schema.USER_ID]]
            items += [history[rows, columns], batch[schema.TARGET_ITEM]]
    users = np.concatenate(users) if users else np.zeros(0, np.int64)
    items = np.concatenate(items) if items else np.zeros(0, np.int64)
    num_users = schema.FeatureMap.load(data_dir).vocab_sizes[schema.USER_ID]
    matrix = sparse.csr_matrix((np.ones(len(users), dtype=bool), (users, items)),
                               shape=(num_users, num_items))
    matrix.sum_duplicates()
    return matrix


def model_scorer(model) -> Scorer:
    """Scores of a trained two-tower model: user tower, then eq. 4 (or max) over all items."""
    import tensorflow as tf

    from retrieval.model import interest_scores

    items = tf.constant(model.item_embeddings())
    scoring = model.config.scoring

    @tf.function(reduce_retracing=True)
    def score(history):
        return interest_scores(model.user_tower(history), items, scoring)

    return lambda history: score(tf.constant(history, tf.int64)).numpy()


def evaluate(scorer: Scorer, data_dir: str | Path, split: str = schema.TEST,
             num_interests: int = 1, item_embeddings: np.ndarray | None = None,
             clusters: np.ndarray | None = None) -> dict[str, float]:
    """Every metric of the module docstring for ``scorer`` on ``split`` of ``data_dir``."""
    return evaluate_examples(scorer, data_dir, split, num_interests, item_embeddings, clusters).metrics


def evaluate_examples(scorer: Scorer, data_dir: str | Path, split: str = schema.TEST,
                      num_interests: int = 1, item_embeddings: np.ndarray | None = None,
                      clusters: np.ndarray | None = None) -> Evaluation:
    """:func:`evaluate`'s metrics, with every example's user id and full-catalog rank."""
    start = time.perf_counter()
    all_users, all_ranks = [], []
    head = dataset.head_items(data_dir)
    num_items = len(head)
    seen_before = items_seen_before(data_dir, split, num_items)
    batch_size = max(1, SCORE_BUDGET // (max(1, num_interests) * num_items))
    sums: dict[str, float] = {}
    counts = {"": 0, "_head": 0, "_tail": 0}
    for batch in dataset.retrieval_dataset(data_dir, split, batch_size).as_numpy_iterator():
        histories, targets = batch[schema.HISTORY], batch[schema.TARGET_ITEM]
        scores = np.asarray(scorer(histories))
        if scores.shape != (len(targets), num_items):
            raise ValueError(f"scorer: returned shape {scores.shape}, expected {(len(targets), num_items)}")
        groups = {"": np.ones(len(targets), bool), "_head": head[targets], "_tail": ~head[targets]}
        ranks = sampled_ranks(scores, targets, batch[schema.NEGATIVES])
        for k in SAMPLED_KS:
            hit, ndcg = hits_and_ndcg(ranks, k)
            for suffix, mask in groups.items():
                _add(sums, f"hr@{k}{suffix}", hit[mask].sum())
                _add(sums, f"ndcg@{k}{suffix}", ndcg[mask].sum())
        ranks = full_ranks(scores, targets, histories, seen_before[batch[schema.USER_ID]])
        all_users.append(batch[schema.USER_ID])
        all_ranks.append(ranks)
        for suffix, mask in groups.items():
            for k in FULL_HR_KS:
                _add(sums, f"hr@{k}_full{suffix}", hits_and_ndcg(ranks[mask], k)[0].sum())
            for k in FULL_RECALL_KS:
                _add(sums, f"recall@{k}_full{suffix}", hits_and_ndcg(ranks[mask], k)[0].sum())
            for k in FULL_NDCG_KS:
                _add(sums, f"ndcg@{k}_full{suffix}", hits_and_ndcg(ranks[mask], k)[1].sum())
        for suffix, mask in groups.items():
            counts[suffix] += int(mask.sum())
    if counts[""] == 0:
        raise ValueError(f"split {split!r} of {data_dir} has no examples")
    metrics = {}
    for name, total in sums.items():
        suffix = next((s for s in ("_head", "_tail") if name.endswith(s)), "")
        metrics[name] = total / counts[suffix] if counts[suffix] else float("nan")
    metrics["examples"] = counts[""]
    metrics["examples_head"] = counts["_head"]
    if item_embeddings is not None and clusters is not None:
        metrics["mean_silhouette"] = mean_silhouette(item_embeddings, clusters)
    metrics["seconds"] = round(time.perf_counter() - start, 3)
    return Evaluation(metrics, np.concatenate(all_users).astype(np.int64),
                      np.concatenate(all_ranks).astype(np.int64))


def _add(sums: dict[str, float], name: str, value: float) -> None:
    sums[name] = sums.get(name, 0.0) + float(value)


def evaluate_run(run_dir: str | Path, data_dir: str | Path, split: str = schema.TEST) -> dict[str, float]:
    """Load a run (``retrieval.run.load_trained``) and evaluate it on ``data_dir``."""
    return evaluate_run_examples(run_dir, data_dir, split).metrics


def evaluate_run_examples(run_dir: str | Path, data_dir: str | Path, split: str = schema.TEST) -> Evaluation:
    """:func:`evaluate_run` with every example's user id and full-catalog rank."""
    model, config = load_trained(run_dir)
    expected = schema.FeatureMap.load(data_dir).num_items
    if model.sampling_probability.shape[0] != expected:
        raise ValueError(f"data: {data_dir} has {expected} item ids but run {run_dir} was trained "
                         f"with {model.sampling_probability.shape[0]}; use the run's own data folder")
    clusters = item_clusters(data_dir)
    embeddings = model.item_embeddings() if clusters is not None else None
    return evaluate_examples(model_scorer(model), data_dir, split, config.interests, embeddings, clusters)
