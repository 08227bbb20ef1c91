"""Retrieval's candidates for a batch of users, and what the ranker reads from them.

One function for each step, shared by the service (``serving.engine``) and by
``funnel candidates`` (the lists the ranker trains on), so a candidate carries
the same features in training and at request time:

- :func:`retrieve`: one batched search over all ``B * M`` interest vectors, the
  union of each user's hits rescored against all of the user's interests by
  IDW eq. 4 (:mod:`retrieval.interests`), duplicates and excluded items
  (the history) removed, the best ``count`` kept in retrieval order;
- :func:`candidate_features`: per candidate the eq.-4 score, its rank, the
  interest that nominated it with that interest's score, and its similarity
  to the user's last item.

Rows are positions in ``item_embeddings`` (the catalog the search runs over);
numpy only, so neither caller runs TensorFlow here.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from funnel import schema
from retrieval import interests

SearchFn = Callable[[np.ndarray, int], "tuple[np.ndarray, np.ndarray]"]
"""Queries ``[Q, D]`` and k -> (catalog rows ``[Q, k]``, scores ``[Q, k]``), best first."""


@dataclasses.dataclass(frozen=True)
class CandidateSet:
    """The candidates of B users, best first; a user with fewer has ``rows == -1`` after them.

    Attributes:
        rows: ``[B, C]`` catalog rows (int64).
        scores: ``[B, C]`` eq.-4 scores (``-inf`` on empty slots).
        interest: ``[B, C]`` index m of the interest with the largest dot product.
        interest_score: ``[B, C]`` that dot product, ``max_m z_m . g(y)``.
    """

    rows: np.ndarray
    scores: np.ndarray
    interest: np.ndarray
    interest_score: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """``[B, C]`` True on real candidates."""
        return self.rows >= 0

    def of(self, b: int) -> "CandidateSet":
        """User ``b``'s real candidates only, as a batch of one."""
        keep = self.valid[b]
        return CandidateSet(*(field[b:b + 1, keep] for field in
                              (self.rows, self.scores, self.interest, self.interest_score)))


def retrieve(user_interests: np.ndarray, item_embeddings: np.ndarray, search: SearchFn,
             exclude: Sequence[np.ndarray], count: int, scoring: str = "mixture") -> CandidateSet:
    """The ``count`` best candidates of each user, in retrieval order.

    Args:
        user_interests: ``[B, M, D]`` interest embeddings ``z_u^(m)``.
        item_embeddings: ``[N, D]`` candidate-tower embeddings of the searched catalog.
        search: the index's search over that catalog (ScaNN, or exact).
        exclude: per user, catalog rows never to return (the history), ``[E_b]``.
        count: candidates per user; fewer when the catalog runs out.
        scoring: a :data:`retrieval.interests.SCORINGS` key (eq. 4 by default).

    Returns:
        A :class:`CandidateSet` of width ``min(count, N)``.
    """
    batch, num_interests, dim = user_interests.shape
    num_items = item_embeddings.shape[0]
    count = min(count, num_items)
    per_interest = min(num_items, count + max((len(e) for e in exclude), default=0))
    rows, _ = search(user_interests.reshape(batch * num_interests, dim).astype(np.float32), per_interest)
    rows = np.asarray(rows, dtype=np.int64).reshape(batch, -1)             # [B, M * K]
    valid = (rows >= 0) & (rows < num_items)
    safe = np.where(valid, rows, 0)
    embedded = np.take(item_embeddings, safe, axis=0)                     # [B, M * K, D]
    logits = np.matmul(user_interests, np.swapaxes(embedded, 1, 2))       # [B, M, M * K]
    scores = interests.SCORINGS[scoring](logits, axis=1)
    keep = valid & interests.first_occurrence(safe) & ~interests.excluded(safe, exclude, num_items)
    scores = np.where(keep, scores, -np.inf)
    order = interests.top_k(scores, count)                                # [B, count]
    best = np.take_along_axis(scores, order, axis=1)
    found = np.isfinite(best)
    chosen_logits = np.take_along_axis(logits, order[:, None, :], axis=2)  # [B, M, count]
    return CandidateSet(
        rows=np.where(found, np.take_along_axis(safe, order, axis=1), -1),
        scores=best.astype(np.float32),
        interest=np.where(found, chosen_logits.argmax(axis=1), 0).astype(np.int64),
        interest_score=np.where(found, chosen_logits.max(axis=1), 0.0).astype(np.float32))


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def candidate_features(candidates: CandidateSet, item_embeddings: np.ndarray,
                       last_rows: np.ndarray) -> dict[str, np.ndarray]:
    """Every ``schema.CANDIDATE_FEATURES`` entry, ``[B, C]`` float32 (0 on empty slots).

    Args:
        candidates: what :func:`retrieve` returned (or one user's part of it).
        item_embeddings: ``[N, D]`` the same catalog's embeddings.
        last_rows: ``[B]`` catalog row of each user's most recent history item,
            -1 when the user has none (similarity 0).
    """
    valid = candidates.valid
    safe = np.where(valid, candidates.rows, 0)
    last_rows = np.asarray(last_rows, dtype=np.int64)
    last = _unit(np.take(item_embeddings, np.maximum(last_rows, 0), axis=0))        # [B, D]
    similarity = np.einsum("bcd,bd->bc", _unit(np.take(item_embeddings, safe, axis=0)), last)
    similarity = np.where(last_rows[:, None] >= 0, similarity, 0.0)
    rank = np.broadcast_to(np.arange(valid.shape[1], dtype=np.float32), valid.shape)
    values = {
        schema.RETRIEVAL_SCORE: candidates.scores,
        schema.RETRIEVAL_RANK: rank,
        schema.INTEREST: candidates.interest,
        schema.INTEREST_SCORE: candidates.interest_score,
        schema.LAST_ITEM_SIMILARITY: similarity,
    }
    return {name: np.where(valid, values[name], 0.0).astype(np.float32) for name in schema.CANDIDATE_FEATURES}
