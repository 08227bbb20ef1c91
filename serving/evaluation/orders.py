"""``funnel evaluate funnel``: does ranking order beat retrieval order, as the service answers?

Every example of the split (validation or test; one per user, leave-one-out)
becomes a recommend request with the user's history before the target (see
:func:`split_requests`); the export is
loaded as the service loads it and the request goes through the service's
own :class:`serving.engine.Engine` (query model, ScaNN, eq.-4 merge, history
excluded, candidate features, ranking model), so evaluation and service
agree by construction. The target is looked for over the full catalog (no
sampled negatives) in two orders of the same ``candidates`` items:

- ``retrieval``: the order retrieval returns them in;
- ``funnel``: the same items ordered by the ranking model.

Reported per order: HR@5/10/20, NDCG@10/20, MRR, over all examples and over
the examples whose target was retrieved (``*_retrieved``);
``candidate_recall`` (the share of targets among the candidates: the ceiling
of both orders); ``bootstrap``: the paired bootstrap 95% interval of
(funnel - retrieval) for HR@10 and NDCG@10 (examples resampled together).

With ``ranks_out`` the per-example ranks of both orders are written with the
examples' user ids (:mod:`funnel.ranks`; a target outside the candidates gets
``funnel.ranks.MISSED``), to be compared with any other ranker's ranks on the
same split (``benchmarks/compare_ranks.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from funnel import dataset, metrics, schema
from funnel import ranks as ranks_lib
from retrieval.evaluate import items_seen_before
from serving.api import RecommendRequest
from serving.backends.embedded import load_bundle
from serving.engine import Engine, ranking_logits
from serving.export import build as export_lib
from serving.settings import MAX_HISTORY

logger = logging.getLogger(__name__)

BOOTSTRAP_AT = 10
ORDERS = ("retrieval", "funnel")


def _raw_ids(ids: np.ndarray, vocabulary: np.ndarray, empty: str = schema.UNKNOWN_VALUE) -> np.ndarray:
    """Vocabulary ids -> raw values; padding and OOV -> ``empty``."""
    index = np.asarray(ids) - schema.FIRST_VALUE_ID
    valid = (index >= 0) & (index < len(vocabulary))
    return np.where(valid, vocabulary[np.clip(index, 0, len(vocabulary) - 1)], empty).astype(object)


def split_requests(data_dir, split: str, candidates: int, max_examples: int | None = None
                   ) -> tuple[list[RecommendRequest], np.ndarray, np.ndarray]:
    """Recommend requests for a split's examples, their raw target ids ``[E]`` and user ids ``[E]``
    (vocabulary ids, as ``funnel evaluate retrieval`` reports them).

    Each request carries the user's whole history before the target, as a
    client of the service would send it: every item the user interacted with
    in the earlier splits (``retrieval.evaluate.items_seen_before``, the rule
    of ``funnel evaluate retrieval``'s full-catalog metrics), then the
    example's own history, most recent last. The engine reads the last 30 for
    the query model and excludes all of them from the candidates.
    """
    item_vocabulary = np.array(dataset.read_vocabulary(data_dir, schema.ITEM_ID), dtype=object)
    user_file = schema.Layout(data_dir).vocab_file(schema.USER_ID)
    user_vocabulary = (np.array(dataset.read_vocabulary(data_dir, schema.USER_ID), dtype=object)
                       if user_file.exists() else np.array([], dtype=object))
    examples = dataset.load_arrays(dataset.retrieval_dataset(data_dir, split, batch_size=4096))
    if max_examples:
        examples = {name: value[:max_examples] for name, value in examples.items()}
    seen = items_seen_before(data_dir, split, schema.FeatureMap.load(data_dir).num_items)
    targets = _raw_ids(examples[schema.TARGET_ITEM], item_vocabulary, empty="<oov>")
    users = _raw_ids(examples[schema.USER_ID], user_vocabulary)
    requests = []
    for user_id, user, history in zip(examples[schema.USER_ID], users, examples[schema.HISTORY]):
        recent = history[history >= schema.FIRST_VALUE_ID]
        earlier = np.setdiff1d(seen[user_id].indices, recent)
        earlier = earlier[max(0, len(earlier) + len(recent) - MAX_HISTORY):]
        ids = _raw_ids(np.concatenate([earlier, recent]), item_vocabulary)
        requests.append(RecommendRequest(history=[str(i) for i in ids if i != schema.UNKNOWN_VALUE],
                                         user_id=str(user) if user != schema.UNKNOWN_VALUE else None,
                                         k=candidates, candidates=candidates))
    return requests, targets.astype(str), examples[schema.USER_ID].astype(np.int64)


def order_ranks(engine: Engine, requests: list[RecommendRequest], targets: np.ndarray,
                batch_size: int = 256) -> dict[str, np.ndarray]:
    """0-based rank of each target in retrieval order and in ranking order (-1: not retrieved)."""
    ranks = {order: np.full(len(targets), -1, dtype=np.int64) for order in ORDERS}
    item_ids = np.asarray(engine.bundle.item_ids).astype(str)
    for start in range(0, len(requests), batch_size):
        scored, _ = engine.score(requests[start:start + batch_size])
        for offset, found in enumerate(scored):
            if found is None:
                continue
            ids = item_ids[found.rows]
            hits = np.flatnonzero(ids == targets[start + offset])
            if not len(hits):
                continue
            position = hits[0]
            ranks["retrieval"][start + offset] = position
            logits = ranking_logits(found)  # the key the service orders by
            better = logits > logits[position]
            ties_before = (logits == logits[position])[:position]
            ranks["funnel"][start + offset] = int(better.sum() + ties_before.sum())
    return ranks


def summarise(ranks: dict[str, np.ndarray], samples: int = 2000, seed: int = 0) -> dict:
    """The report described in the module docstring, from each order's ranks."""
    retrieved = ranks["retrieval"] >= 0
    result = {}
    for order in ORDERS:
        result[order] = metrics.rank_metrics(ranks[order])
        result[order].update({f"{name}_retrieved": value for name, value in
                              metrics.rank_metrics(ranks[order][retrieved]).items()})
    result["candidate_recall"] = float(retrieved.mean()) if len(retrieved) else 0.0
    first = metrics.per_example(ranks["retrieval"], BOOTSTRAP_AT)
    second = metrics.per_example(ranks["funnel"], BOOTSTRAP_AT)
    result["bootstrap"] = {name: metrics.paired_bootstrap(first[name], second[name], samples, seed)
                           for name in first}
    return result


def evaluate_funnel(export_dir: str | Path, data_dir: str | Path, candidates: int | None = None,
                    split: str = schema.TEST, version: int | None = None,
                    max_examples: int | None = None, batch_size: int = 256,
                    ranks_out: str | Path | None = None) -> dict:
    """Both orders on ``split``'s examples (see the module docstring), plus counts; with
    ``ranks_out``, each example's user id and rank in both orders are saved there. ``candidates``
    defaults to the export's (``manifest.json`` ``candidates.default``)."""
    if split not in (schema.VALIDATION, schema.TEST):
        raise ValueError(f"split: unknown value {split!r}; choose validation or test")
    schema.FeatureMap.load(data_dir)  # a `funnel preprocess` output, or one line saying it is not
    bundle = load_bundle(export_dir, version)
    expected = bundle.manifest["vocabularies"][schema.ITEM_ID]["sha256"]
    vocab_file = schema.Layout(data_dir).vocab_file(schema.ITEM_ID)
    if export_lib.sha256_file(vocab_file) != expected:
        raise ValueError(f"{vocab_file} differs from the item vocabulary the export was trained on; "
                         "evaluate on the same `funnel preprocess` output")
    engine = Engine(bundle, clock=_unknown_time)
    if candidates is None:
        candidates = engine.bundle.default_candidates
    requests, targets, user_ids = split_requests(data_dir, split, candidates, max_examples)
    ranks = order_ranks(engine, requests, targets, batch_size)
    if ranks_out is not None:
        ranks_lib.save(ranks_out, user_ids, **ranks)
    result = summarise(ranks)
    result.update({"split": split, "examples": int(len(targets)), "candidates": int(candidates),
                   "export_version": bundle.version})
    logger.info("funnel evaluation on %d %s examples: %s", len(targets), split, result)
    return result


class _UnknownTime:
    """A clock whose hour and weekday are the empty (OOV) value: the examples carry no event time."""

    hour = schema.UNKNOWN_VALUE

    def weekday(self):
        return schema.UNKNOWN_VALUE


def _unknown_time():
    return _UnknownTime()
