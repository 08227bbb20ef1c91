"""Top-k metrics of one relevant item per example, from its 0-based rank (-1: not found).

One definition for every evaluation that ranks a target among candidates:
``funnel evaluate funnel`` and the candidate-list training of the ranker. Also
the silhouette of item embeddings against known clusters, which both the
retrieval evaluator and IDW's round history report.
"""

from __future__ import annotations

import numpy as np

HR_AT = (5, 10, 20)
NDCG_AT = (10, 20)


def rank_metrics(ranks: np.ndarray, hr_at=HR_AT, ndcg_at=NDCG_AT) -> dict[str, float]:
    """HR@k (target in the top k), NDCG@k (``1 / log2(rank + 2)`` inside the top k) and
    MRR (``1 / (rank + 1)``, 0 when not found), averaged over examples."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return {**{f"hr@{k}": 0.0 for k in hr_at}, **{f"ndcg@{k}": 0.0 for k in ndcg_at}, "mrr": 0.0}
    found = ranks >= 0
    gains = np.where(found, 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)
    metrics = {f"hr@{k}": float(np.mean(found & (ranks < k))) for k in hr_at}
    metrics.update({f"ndcg@{k}": float(np.mean(np.where(ranks < k, gains, 0.0))) for k in ndcg_at})
    metrics["mrr"] = float(np.mean(np.where(found, 1.0 / (np.maximum(ranks, 0) + 1.0), 0.0)))
    return metrics


def target_ranks(ranked_ids: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based position of ``targets[b]`` in ``ranked_ids[b]``, -1 when absent."""
    hits = np.asarray(ranked_ids) == np.asarray(targets)[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), -1)


def per_example(ranks: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-example HR@k and NDCG@k ``[E]`` (for paired bootstrap intervals)."""
    ranks = np.asarray(ranks)
    inside = (ranks >= 0) & (ranks < k)
    return {f"hr@{k}": inside.astype(np.float64),
            f"ndcg@{k}": np.where(inside, 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)}


def paired_bootstrap(first: np.ndarray, second: np.ndarray, samples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> dict[str, float]:
    """Mean of ``second - first`` over examples and its percentile bootstrap interval
    (examples resampled with replacement, the same draw for both, so the pairing is kept)."""
    difference = np.asarray(second, np.float64) - np.asarray(first, np.float64)
    if difference.size == 0:
        return {"mean": 0.0, "low": 0.0, "high": 0.0}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, difference.size, size=(samples, difference.size))
    means = difference[draws].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return {"mean": float(difference.mean()), "low": float(np.quantile(means, tail)),
            "high": float(np.quantile(means, 1.0 - tail))}


SILHOUETTE_SAMPLE = 10_000
"""Above this many items the silhouette is computed on a sample of them."""


def mean_silhouette(embeddings: np.ndarray, clusters: np.ndarray, seed: int = 0) -> float | None:
    """Silhouette (Rousseeuw 1987) of item embeddings ``[N, D]`` vs true clusters ``[N]`` (-1 skipped)."""
    from sklearn.metrics import silhouette_score

    known = np.asarray(clusters) >= 0
    if len(np.unique(clusters[known])) < 2 or known.sum() < 3:
        return None
    sample = SILHOUETTE_SAMPLE if known.sum() > SILHOUETTE_SAMPLE else None
    return float(silhouette_score(embeddings[known], clusters[known], sample_size=sample, random_state=seed))
