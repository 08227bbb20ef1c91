"""What one step of the engine hands the next, for one request.

:class:`ResolvedHistory` (raw ids matched to catalog rows) feeds retrieval,
whose :class:`RetrievedCandidates` feed ranking; :class:`ScoredCandidates` adds
the ranking model's scores and is what ``Engine.score`` returns, so ``funnel
evaluate funnel`` reads the same values the service orders by.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional

import numpy as np

from serving.bundle import RankScores


@dataclasses.dataclass(frozen=True)
class ResolvedHistory:
    """A request's raw history ids matched to catalog rows.

    Attributes:
        rows: catalog row of each known id, in history order ``[H_known]`` int64.
        known: whether each raw id of the request is in the catalog ``[H]`` bool.
        warnings: what the answer tells the client (ignored ids, an unknown user).
    """

    rows: np.ndarray
    known: np.ndarray
    warnings: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class RetrievedCandidates:
    """A request's candidates in retrieval order, best eq.-4 score first.

    Attributes:
        rows: catalog row of each candidate ``[C]`` int64.
        scores: retrieval score of each candidate (IDW eq. 4, or the best interest's) ``[C]``.
        interest: which of the M interests nominated each candidate ``[C]``.
        history: the raw ids the query and ranking models read ``[L]``, left-padded with ``""``.
        features: ``schema.CANDIDATE_FEATURES`` name -> ``[C]``; empty unless the ranker reads them.
    """

    rows: np.ndarray
    scores: np.ndarray
    interest: np.ndarray
    history: np.ndarray
    features: Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class ScoredCandidates(RetrievedCandidates):
    """Retrieved candidates with the ranking model's answer for each.

    Attributes:
        probabilities: click probability ``[C]`` float32.
        logits: the ranking signature's logit ``[C]`` float32, or None from an
            export without that output (``engine.ranking_logits`` inverts the probability then).
    """

    probabilities: np.ndarray
    logits: Optional[np.ndarray]

    @classmethod
    def of(cls, retrieved: RetrievedCandidates, ranked: RankScores) -> ScoredCandidates:
        return cls(rows=retrieved.rows, scores=retrieved.scores, interest=retrieved.interest,
                   history=retrieved.history, features=retrieved.features,
                   probabilities=ranked.probability, logits=ranked.logit)
