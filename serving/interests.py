"""Multi-interest candidate scores in numpy, for the request path.

Retrieval searches the ScaNN index once per interest vector; the engine then
rescores the union of the hits against all of the user's interests. The
formulas match ``retrieval.model.interest_scores`` (tested against it), but run
on the few hundred retrieved candidates of each request in numpy instead of
TensorFlow, so no eager TensorFlow runs per request.
"""

from __future__ import annotations

import numpy as np


def mixture(logits: np.ndarray) -> np.ndarray:
    """IDW eq. 4: ``s = sum_m w_m (z_m . e)`` with ``w = softmax_m(z_m . e)``.

    Args:
        logits: ``[..., M]`` dot products ``z_m . e`` of one candidate with each interest.

    Returns:
        ``[...]`` the softmax-weighted mixture score.
    """
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    weights /= weights.sum(axis=-1, keepdims=True)
    return (weights * logits).sum(axis=-1)


def max_interest(logits: np.ndarray) -> np.ndarray:
    """Best single interest: ``s = max_m (z_m . e)``, ``[..., M] -> [...]``."""
    return logits.max(axis=-1)


SCORINGS = {"mixture": mixture, "max": max_interest}


def candidate_scores(interests: np.ndarray, candidates: np.ndarray, scoring: str = "mixture") -> np.ndarray:
    """Score each request's own candidates against its interests.

    Args:
        interests: ``[B, M, D]`` user interest embeddings ``z_u^(m)``.
        candidates: ``[B, C, D]`` candidate item embeddings ``g(y)``.
        scoring: a :data:`SCORINGS` key.

    Returns:
        ``[B, C]`` scores.
    """
    if scoring not in SCORINGS:
        raise ValueError(f"scoring: unknown value {scoring!r}; choose one of {sorted(SCORINGS)}")
    logits = np.einsum("bcd,bmd->bcm", candidates, interests)
    return SCORINGS[scoring](logits)


def first_occurrence(rows: np.ndarray) -> np.ndarray:
    """``[B, C]`` bool: True where ``rows[b, c]`` did not occur earlier in row b.

    Vectorised (stable sort, compare neighbours): the union of per-interest hits
    keeps one copy of each item without a Python loop.
    """
    order = np.argsort(rows, axis=1, kind="stable")
    ordered = np.take_along_axis(rows, order, axis=1)
    repeat = np.zeros(rows.shape, dtype=bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    first = np.empty(rows.shape, dtype=bool)
    np.put_along_axis(first, order, ~repeat, axis=1)
    return first


def excluded(rows: np.ndarray, history_rows: list[np.ndarray], num_items: int) -> np.ndarray:
    """``[B, C]`` bool: True where ``rows[b, c]`` is in request b's history.

    Rows are offset by ``b * num_items`` so one ``np.isin`` checks every request.
    """
    batch = rows.shape[0]
    offsets = np.arange(batch, dtype=np.int64)[:, None] * num_items
    keys = rows.astype(np.int64) + offsets
    history_keys = [h.astype(np.int64) + b * num_items for b, h in enumerate(history_rows) if len(h)]
    if not history_keys:
        return np.zeros(rows.shape, dtype=bool)
    return np.isin(keys, np.concatenate(history_keys))


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k best scores of each row, best first ``[B, min(k, C)]``."""
    k = min(k, scores.shape[1])
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
