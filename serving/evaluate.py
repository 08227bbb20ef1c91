"""``funnel evaluate funnel``: the whole exported funnel, offline, on the test split.

Every test example's history goes through the exported query model; its
target is looked for in the full catalog (no sampled negatives) by

- ``retrieval_bruteforce``: the ``retrieval`` SavedModel (exact eq.-4 top-k);
- ``retrieval_scann``: the native ScaNN index, one search per interest vector
  in one batched call, candidates merged by the exact eq.-4 score;
- ``funnel``: the ScaNN candidates (``--candidates``, 100) re-ordered by the
  ``ranking`` SavedModel, fed with the user's and items' attributes from the
  export's tables (the retrieval test split has no event time, so the hour
  and weekday are unknown, i.e. OOV).

Metrics: HR@10, HR@20 and NDCG@20 (one relevant item: ``1 / log2(rank + 2)``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from funnel import dataset, schema
from serving import artifacts, modules
from serving import export as export_lib

logger = logging.getLogger(__name__)

CUTOFFS = (10, 20)
NDCG_AT = 20


def ranking_metrics(ranks: np.ndarray) -> dict:
    """HR@10, HR@20, NDCG@20 from each example's 0-based target rank (-1 = not found)."""
    ranks = np.asarray(ranks)
    found = ranks >= 0
    metrics = {f"hr@{k}": float(np.mean(found & (ranks < k))) for k in CUTOFFS}
    gains = np.where(found & (ranks < NDCG_AT), 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)
    metrics[f"ndcg@{NDCG_AT}"] = float(np.mean(gains))
    return metrics


def target_ranks(ranked_ids: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based position of ``targets[b]`` in ``ranked_ids[b]``, -1 when absent."""
    hits = np.asarray(ranked_ids) == np.asarray(targets)[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), -1)


def _raw_ids(ids: np.ndarray, vocabulary: np.ndarray, empty: str = schema.UNKNOWN_VALUE) -> np.ndarray:
    """Vocabulary ids -> raw values; padding and OOV -> ``empty``."""
    index = np.asarray(ids) - schema.FIRST_VALUE_ID
    valid = (index >= 0) & (index < len(vocabulary))
    return np.where(valid, vocabulary[np.clip(index, 0, len(vocabulary) - 1)], empty).astype(object)


def ranking_features(loaded: artifacts.LoadedExport, users: np.ndarray, histories: np.ndarray,
                     candidates: np.ndarray) -> dict[str, np.ndarray]:
    """Raw ranking rows for every (user b, candidate c): ``[B * C]`` (history ``[B * C, L]``)."""
    per_user = candidates.shape[1]
    item_ids = candidates.reshape(-1)
    features = {}
    for f in schema.RANKING_FEATURES:
        if f.kind is schema.Kind.SEQUENCE:
            features[f.name] = np.repeat(histories, per_user, axis=0)
        elif f.name == schema.USER_ID:
            features[f.name] = np.repeat(users, per_user)
        elif f.source is schema.Source.USER:
            column = (loaded.users[f.name] if f.name in loaded.users.columns else None)
            values = (column.reindex(users).fillna(schema.UNKNOWN_VALUE).to_numpy(dtype=object)
                      if column is not None else np.full(len(users), schema.UNKNOWN_VALUE, object))
            features[f.name] = np.repeat(values, per_user)
        elif f.source is schema.Source.ITEM and f.name in loaded.items.columns:
            features[f.name] = loaded.items[f.name].reindex(item_ids).to_numpy(dtype=object)
        else:
            features[f.name] = np.full(len(item_ids), schema.UNKNOWN_VALUE, dtype=object)
        if f.kind is schema.Kind.NUMERIC:
            values = features[f.name]
            features[f.name] = np.array([float(v) if v not in (schema.UNKNOWN_VALUE, None)
                                         else np.nan for v in values], dtype=np.float64)
    return features


def evaluate_funnel(export_dir: str | Path, data_dir: str | Path, candidates: int = 100,
                    batch_size: int = 256, version: int | None = None,
                    max_examples: int | None = None) -> dict:
    """The three metric groups (see the module docstring) plus counts."""
    import tensorflow as tf

    loaded = artifacts.load_export(export_dir, version, load_models=(
        export_lib.QUERY, export_lib.RETRIEVAL, export_lib.RANKING))
    expected = loaded.manifest["vocabularies"][schema.ITEM_ID]["sha256"]
    vocab_file = schema.Layout(data_dir).vocab_file(schema.ITEM_ID)
    if export_lib.sha256_file(vocab_file) != expected:
        raise ValueError(f"{vocab_file} differs from the item vocabulary the export was trained on; "
                         "evaluate on the same `funnel preprocess` output")
    item_vocabulary = np.array(dataset.read_vocabulary(data_dir, schema.ITEM_ID), dtype=object)
    user_file = schema.Layout(data_dir).vocab_file(schema.USER_ID)
    user_vocabulary = (np.array(dataset.read_vocabulary(data_dir, schema.USER_ID), dtype=object)
                       if user_file.exists() else np.array([], dtype=object))
    examples = dataset.load_arrays(dataset.retrieval_dataset(data_dir, schema.TEST, batch_size=4096))
    if max_examples:
        examples = {name: value[:max_examples] for name, value in examples.items()}
    histories = _raw_ids(examples[schema.HISTORY], item_vocabulary)
    targets = _raw_ids(examples[schema.TARGET_ITEM], item_vocabulary, empty="<oov>")
    users = _raw_ids(examples[schema.USER_ID], user_vocabulary)
    retrieval = loaded.savedmodel(export_lib.RETRIEVAL).signatures[modules.SERVING_DEFAULT]
    depth = max(max(CUTOFFS), NDCG_AT)
    candidates = min(max(candidates, depth), loaded.index.num_items)
    ranks = {"retrieval_bruteforce": [], "retrieval_scann": [], "funnel": []}
    for start in range(0, len(targets), batch_size):
        h = histories[start:start + batch_size]
        t = targets[start:start + batch_size]
        n = len(h)
        exact = retrieval(**{schema.HISTORY: tf.constant(h.astype(str)),
                             modules.K: tf.fill([n], depth)})[modules.ITEM_IDS].numpy().astype(str)
        ranks["retrieval_bruteforce"].append(target_ranks(exact, t))
        interests = loaded.query(h)                                              # [n, M, D]
        rows, _ = loaded.search(interests.reshape(-1, interests.shape[-1]), candidates)
        rows, _ = modules.merge_candidates(
            interests, rows.reshape(n, -1), loaded.item_embeddings, candidates, loaded.scoring)
        candidate_ids = loaded.item_ids[rows.numpy()]                            # [n, C]
        ranks["retrieval_scann"].append(target_ranks(candidate_ids[:, :depth], t))
        probability = loaded.rank(ranking_features(loaded, users[start:start + n], h,
                                                   candidate_ids)).reshape(n, -1)
        order = np.argsort(-probability, axis=1, kind="stable")[:, :depth]
        ranks["funnel"].append(target_ranks(np.take_along_axis(candidate_ids, order, axis=1), t))
    result = {name: ranking_metrics(np.concatenate(parts)) for name, parts in ranks.items()}
    result["examples"] = int(len(targets))
    result["candidates"] = int(candidates)
    result["export_version"] = loaded.version
    logger.info("funnel evaluation on %d test examples: %s", len(targets), result)
    return result
