"""Reading retrieval's candidate lists (``funnel candidates``) for training and evaluating a ranker."""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

from funnel import dataset, metrics, schema
from ranking.listwise import list_rows


def list_width(candidates_dir) -> int:
    """N, the candidates per list, from ``CANDS/stats.json``."""
    path = schema.Layout(candidates_dir).stats
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {candidates_dir} the --out of `funnel candidates`?")
    stats = json.loads(path.read_text())
    if "candidates" not in stats:
        raise ValueError(f"{path} has no candidates count: is {candidates_dir} the --out of "
                         f"`funnel candidates`?")
    return int(stats["candidates"])


def count_lists(candidates_dir, split: str) -> int:
    files = [str(f) for f in schema.Layout(candidates_dir).list_files(split)]
    return int(sum(1 for _ in tf.data.TFRecordDataset(files))) if files else 0


def sample_negatives(lists: dict, negatives: int, seed: int | None = None) -> dict:
    """Keep each list's relevant candidates and ``negatives`` others drawn uniformly, per batch.

    Every per-candidate field ``[B, N]`` becomes ``[B, negatives + 1]`` (a list
    with fewer candidates keeps its padding). A softmax over the target and a
    uniform sample of the other candidates is a sampled estimate of the full
    list's softmax, at a fraction of the rows.
    """
    labels = lists[schema.LABEL]
    width = labels.shape[1]
    keep = min(negatives + 1, width)
    valid = tf.not_equal(lists[schema.CANDIDATES], schema.PADDING_ID)
    noise = tf.random.uniform(tf.shape(labels), seed=seed)
    priority = tf.where(labels > 0, 2.0, tf.where(valid, noise, -1.0))
    _, chosen = tf.math.top_k(priority, k=keep)
    return {name: (tf.gather(value, chosen, batch_dims=1) if value.shape.rank == 2 and value.shape[1] == width
                   and name != schema.HISTORY else value)
            for name, value in lists.items()}


def list_dataset(candidates_dir, split: str, batch_size: int, width: int | None = None,
                 shuffle: bool = False, seed: int | None = None, negatives: int = 0):
    """Batched lists of ``split`` (``schema.candidate_list_spec``) as a ``tf.data.Dataset``.

    ``negatives`` > 0 keeps the target and that many sampled candidates per
    list (:func:`sample_negatives`; training only: evaluation reads whole lists).

    Raises:
        ValueError: the split has no lists (a ranker cannot train or stop early on nothing).
    """
    width = width or list_width(candidates_dir)
    files = schema.Layout(candidates_dir).list_files(split)
    if not files or count_lists(candidates_dir, split) == 0:
        raise ValueError(f"{candidates_dir}: no {split} candidate lists; rerun `funnel candidates` "
                         "(more positions per user, or --missing-target add)")
    spec = dataset._tf_spec(schema.candidate_list_spec(width))
    data = tf.data.TFRecordDataset([str(f) for f in files])
    if shuffle:
        data = data.shuffle(50_000, seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size).map(lambda records: tf.io.parse_example(records, spec),
                                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if negatives:
        data = data.map(lambda lists: sample_negatives(lists, negatives, seed))
    return data.prefetch(tf.data.AUTOTUNE)


def _ranks(scores: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """0-based rank of each list's target under ``scores`` (ties count against it), -1 without one."""
    scores = np.where(mask, scores, -np.inf)
    has_target = (labels * mask).sum(axis=1) > 0
    target = np.where(labels > 0, scores, 0.0).sum(axis=1)
    rank = ((scores > target[:, None]) & mask).sum(axis=1)
    return np.where(has_target, rank, -1)


def _list_metrics(data, scores_of) -> dict:
    """HR/NDCG/MRR of the target within each list ordered by ``scores_of(lists) -> [B, N]``."""
    ranks = []
    for lists in data:
        labels = lists[schema.LABEL].numpy()
        mask = lists[schema.CANDIDATES].numpy() != schema.PADDING_ID
        ranks.append(_ranks(scores_of(lists, labels.shape), labels, mask))
    ranks = np.concatenate(ranks)
    return {**metrics.rank_metrics(ranks[ranks >= 0]), "lists": int((ranks >= 0).sum())}


def evaluate_lists(model, data) -> dict:
    """HR/NDCG/MRR of the target within each list, ordered by ``model``."""
    return _list_metrics(data, lambda lists, shape: model.row_logits(
        list_rows(lists, shape[1]))[0].numpy().reshape(shape))


def retrieval_order_metrics(data) -> dict:
    """The same metrics with the lists in retrieval order (the baseline the ranker must beat)."""
    return _list_metrics(data, lambda lists, shape: -lists[schema.RETRIEVAL_RANK].numpy())
