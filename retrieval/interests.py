"""Multi-interest candidate scores in numpy, for the request path.

Retrieval searches the ScaNN index once per interest vector; the engine then
rescores the union of the hits against all of the user's interests. The
formulas match ``retrieval.model.interest_scores`` (tested against it), but run
on the few hundred retrieved candidates of each request in numpy instead of
TensorFlow, so no eager TensorFlow runs per request.
"""

from __future__ import annotations

import numpy as np


def mixture(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """IDW eq. 4: ``s = sum_m w_m (z_m . e)`` with ``w = softmax_m(z_m . e)``.

    Args:
        logits: dot products ``z_m . e`` of a candidate with each interest; the
            interests run along ``axis`` (``[..., M]`` by default, ``[B, M, C]``
            with ``axis=1`` as :func:`candidate_scores` passes them).
        axis: the interest axis ``m`` that is reduced.

    Returns:
        ``logits`` without ``axis``: the softmax-weighted mixture score.
    """
    weights = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return (weights * logits).sum(axis=axis) / weights.sum(axis=axis)


def max_interest(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Best single interest: ``s = max_m (z_m . e)``, reducing the interest ``axis``."""
    return logits.max(axis=axis)


SCORINGS = {"mixture": mixture, "max": max_interest}


def candidate_scores(interests: np.ndarray, candidates: np.ndarray, scoring: str = "mixture") -> np.ndarray:
    """Score each request's own candidates against its interests.

    The logits are one batched BLAS product laid out ``[B, M, C]``, so the
    eq. 4 reduction runs over the short interest axis of contiguous rows.

    Args:
        interests: ``[B, M, D]`` user interest embeddings ``z_u^(m)``.
        candidates: ``[B, C, D]`` candidate item embeddings ``g(y)``.
        scoring: a :data:`SCORINGS` key.

    Returns:
        ``[B, C]`` scores.
    """
    if scoring not in SCORINGS:
        raise ValueError(f"scoring: unknown value {scoring!r}; choose one of {sorted(SCORINGS)}")
    logits = np.matmul(interests, np.swapaxes(candidates, 1, 2))  # [B, M, C]
    return SCORINGS[scoring](logits, axis=1)


def _sort_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row of ``[B, C]`` integer keys, remembering where each came from.

    Equal keys keep their column order. Instead of a stable ``argsort`` each key
    is packed with its column as ``(key - row min) * C + column`` (all distinct)
    and the packed values go through numpy's much faster plain ``sort``; the
    stable argsort remains for key spans too wide to pack into int64.

    Returns:
        ``([B, C] sorted keys, [B, C] their original columns)``.
    """
    width = keys.shape[1]
    keys = keys.astype(np.int64, copy=False)
    if keys.size == 0:
        return keys.copy(), np.zeros(keys.shape, dtype=np.int64)
    low = keys.min(axis=1, keepdims=True)
    span = (keys.max(axis=1, keepdims=True).astype(np.uint64) - low.astype(np.uint64)).max()  # no int64 wrap
    if int(span) >= np.iinfo(np.int64).max // width:
        columns = np.argsort(keys, axis=1, kind="stable")
        return np.take_along_axis(keys, columns, axis=1), columns
    packed = (keys - low) * width + np.arange(width)
    packed.sort(axis=1)
    offsets, columns = np.divmod(packed, width)
    return offsets + low, columns


def _unsort(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_sort_rows`' order: ``out[b, columns[b, j]] = values[b, j]``."""
    out = np.empty(values.shape, dtype=values.dtype)
    if values.size == 0:
        return out
    starts = np.arange(0, values.size, values.shape[1])[:, None]
    out.reshape(-1)[columns + starts] = values
    return out


def first_occurrence(rows: np.ndarray) -> np.ndarray:
    """``[B, C]`` bool: True where ``rows[b, c]`` did not occur earlier in row b.

    Vectorised (sort each row, compare neighbours): the union of per-interest
    hits keeps one copy of each item without a Python loop.
    """
    ordered, columns = _sort_rows(rows)
    new = np.ones(ordered.shape, dtype=bool)
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=new[:, 1:])
    return _unsort(new, columns)


def excluded(rows: np.ndarray, history_rows: list[np.ndarray], num_items: int) -> np.ndarray:
    """``[B, C]`` bool: True where ``rows[b, c]`` is in request b's history.

    Rows (``0 <= row < num_items``) are offset by ``b * num_items``, so the
    sorted rows of all requests form one ascending array; each history key
    then needs two binary searches for the span of equal candidates, instead
    of one search per candidate.
    """
    batch = rows.shape[0]
    history_keys = [h.astype(np.int64) + b * num_items for b, h in enumerate(history_rows) if len(h)]
    if not history_keys or rows.size == 0:
        return np.zeros(rows.shape, dtype=bool)
    keys = rows.astype(np.int64) + np.arange(batch, dtype=np.int64)[:, None] * num_items
    ordered, columns = _sort_rows(keys)
    flat = ordered.reshape(-1)
    history = np.concatenate(history_keys)
    start = np.searchsorted(flat, history, side="left")
    stop = np.searchsorted(flat, history, side="right")
    size = flat.size
    inside = np.cumsum(np.bincount(start, minlength=size + 1)[:size] - np.bincount(stop, minlength=size + 1)[:size])
    return _unsort(inside.reshape(rows.shape) > 0, columns)


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
