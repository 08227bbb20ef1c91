"""Retrieve-then-rank for a batch of requests, on one loaded export version.

For B requests at once (the micro-batcher merges concurrent requests):

1. Resolve raw history ids to catalog rows in one vectorised lookup; unknown
   ids are dropped and named in the answer's warnings.
2. Query model: the last ``history_length`` known ids -> interests ``[B, M, D]``.
3. Retrieval: one batched ScaNN search over all ``B * M`` interest vectors,
   ``[B * M, K]`` hits; the union of a request's hits is rescored against all
   its interests by IDW eq. 4 (:mod:`retrieval.interests`), duplicates and
   (optionally) history items removed, the best ``candidates`` kept.
4. Ranking: every candidate of every request in one ranking-model call,
   ``[sum_b C_b]`` click probabilities and logits; the best ``k`` per request
   (by logit) are returned.

A request whose history has no known item gets the most popular items instead,
flagged ``fallback``. The engine does no I/O and holds no mutable state, so a
hot reload swaps one engine for another atomically.
"""

from __future__ import annotations

import datetime
import logging
import time
from typing import Sequence

import numpy as np

from funnel import schema
from retrieval import candidates as candidates_lib
from retrieval import interests
from serving.api import Candidate, HistoryItem, Recommendation, RecommendedItem, RecommendRequest
from serving.bundle import ModelBundle, RankScores
from serving.item_search import ItemSearch
from serving.ranking_rows import ITEM_FEATURES
from serving.steps import ResolvedHistory, RetrievedCandidates, ScoredCandidates

log = logging.getLogger(__name__)

MAX_NAMED_UNKNOWN = 20
"""Unknown ids named in a warning; the rest are counted."""
STAGES = ("retrieval", "ranking")


def softmax(logits: np.ndarray) -> np.ndarray:
    """``exp(logits) / sum(exp(logits))`` over one request's candidates, in float64."""
    shifted = np.asarray(logits, np.float64) - np.max(logits)
    weights = np.exp(shifted)
    return weights / weights.sum()


def logits_of(probabilities: np.ndarray) -> np.ndarray:
    """The logits of the ranking signature's float32 ``sigmoid(logit)``.

    ``1 - p`` is exact in float64 for a float32 ``p``; a ``p`` rounded to 1.0
    (a logit above about 17) is read as half an ulp below 1, so such logits are capped there.
    """
    p = np.asarray(probabilities, np.float64)
    tail = np.maximum(1.0 - p, 2.0 ** -25)
    return np.log(np.maximum(p, 1e-300)) - np.log(tail)


def ranking_logits(scored: ScoredCandidates) -> np.ndarray:
    """The ranking model's logits ``[C]`` of one request's candidates (from :meth:`Engine.score`).

    The ranking signature's own float32 ``logit`` where the export has it; an
    export written before that output has only ``probability``, whose sigmoid
    is inverted instead (:func:`logits_of`: about 1% off near 11, capped above
    about 17, so a confident list ranker's top candidates can tie). Both
    order candidates as the probability does; the signature's logit also
    separates those whose float32 probabilities are equal.
    """
    if scored.logits is not None:
        return np.asarray(scored.logits, np.float64)
    return logits_of(scored.probabilities)


def _default(kind: schema.Kind):
    return 0.0 if kind is schema.Kind.NUMERIC else schema.UNKNOWN_VALUE


def _column(values: list, kind: schema.Kind) -> np.ndarray:
    return np.asarray(values, dtype=np.float64 if kind is schema.Kind.NUMERIC else object)


def filled_columns(history: np.ndarray) -> np.ndarray:
    """The left-padded ``[B, L]`` history without the leading columns no row fills.

    The user tower reads positions from the right and masks padding, so the
    interests do not change; a batch of short histories runs a short sequence
    (docs/benchmarks.md, "Serving").
    The ranking model still gets all L columns, the width it was trained on.
    """
    filled = np.flatnonzero((history != schema.UNKNOWN_VALUE).any(axis=0))
    return history[:, filled[0]:] if len(filled) else history[:, -1:]


class Engine:
    """Answers batches of :class:`RecommendRequest` from one :class:`ModelBundle`."""

    def __init__(self, bundle: ModelBundle, clock=None, warm_batch_sizes: Sequence[int] = (1, 8, 32)):
        self.bundle = bundle
        self._warm_batch_sizes = tuple(warm_batch_sizes)
        self._row_of = {str(item): row for row, item in enumerate(bundle.item_ids)}
        if len(self._row_of) != len(bundle.item_ids):
            raise ValueError("item_ids: the catalog lists an item id twice")
        self._num_items = len(bundle.item_ids)
        self._clock = clock or (lambda: datetime.datetime.now(datetime.timezone.utc))
        self._versions = {name: str(v) for name, v in bundle.model_versions.items()}  # the API's strings
        self._titles = bundle.titles
        retrieval = bundle.manifest.get("retrieval", {}) if bundle.manifest else {}
        self._retrieval_temperature = float(retrieval.get("config", {}).get("temperature", 1.0))
        self._default_candidates = bundle.default_candidates
        self._item_columns = self._catalog_columns(bundle)
        self.item_search = ItemSearch(bundle.item_ids, bundle.titles, bundle.popular_rows)
        if bundle.scoring not in interests.SCORINGS:
            raise ValueError(f"scoring: unknown value {bundle.scoring!r}; "
                             f"choose one of {sorted(interests.SCORINGS)}")

    # ------------------------------------------------------------ public API
    @property
    def model_versions(self) -> dict[str, str]:
        return dict(self._versions)

    def candidates(self, request: RecommendRequest) -> int:
        """Candidates ranked for ``request``: its own ``candidates``, else the export's default."""
        return self._default_candidates if request.candidates is None else request.candidates

    def recommend(self, requests: Sequence[RecommendRequest]) -> tuple[list[Recommendation], dict[str, float]]:
        """Answer ``requests`` together.

        Returns:
            One :class:`Recommendation` per request, and seconds spent per
            stage (``retrieval``, ``ranking``).
        """
        timings = dict.fromkeys(STAGES, 0.0)
        if not requests:
            return [], timings
        resolved = self._resolve(requests)
        scored, timings = self.score(requests, resolved)
        answers = []
        for request, r, candidates in zip(requests, resolved, scored):
            answers.append(self._fallback(request, r) if candidates is None
                           else self._answer(request, r, candidates))
        return answers, timings

    def score(self, requests: Sequence[RecommendRequest], resolved: Sequence[ResolvedHistory] | None = None
              ) -> tuple[list[ScoredCandidates | None], dict[str, float]]:
        """Retrieve and rank without choosing an order: what ``recommend`` and
        ``funnel evaluate funnel`` both read, so the evaluation sees what the service does.

        Returns:
            Per request ``None`` (no known history item: fallback) or its
            :class:`ScoredCandidates` in retrieval order; and seconds per stage.
        """
        timings = dict.fromkeys(STAGES, 0.0)
        resolved = resolved if resolved is not None else self._resolve(requests)
        scored: list[ScoredCandidates | None] = [None] * len(requests)
        active = [i for i, r in enumerate(resolved) if len(r.rows)]
        if active:
            start = time.perf_counter()
            candidates = self._retrieve([requests[i] for i in active], [resolved[i] for i in active])
            middle = time.perf_counter()
            ranked = self._rank([requests[i] for i in active], [resolved[i] for i in active], candidates)
            timings["retrieval"] = middle - start
            timings["ranking"] = time.perf_counter() - middle
            for slot, i in enumerate(active):
                scored[i] = ScoredCandidates.of(candidates[slot], ranked[slot])
        return scored, timings

    def warm(self, batch_sizes: Sequence[int] | None = None) -> float:
        """Run representative requests through every path; returns the milliseconds taken.

        Uses the most popular items as a history, so the query, search and
        ranking calls see real ids at each batch size the batcher will use.
        """
        start = time.perf_counter()
        history = [str(x) for x in self.bundle.item_ids[self.bundle.popular_rows[:5]]]
        if not history:
            history = [str(x) for x in self.bundle.item_ids[:5]]
        for size in batch_sizes or self._warm_batch_sizes:
            self.recommend([RecommendRequest(history=history)] * size)
        self.recommend([RecommendRequest(history=[])])
        return (time.perf_counter() - start) * 1000.0

    @staticmethod
    def _catalog_columns(bundle: ModelBundle) -> dict[str, np.ndarray]:
        """Each ``ITEM_FEATURES`` value of every catalog row ``[N]``, built once per version."""
        columns = {}
        for f in ITEM_FEATURES:
            if f.name == schema.ITEM_ID:
                columns[f.name] = np.asarray(bundle.item_ids).astype(str)
            elif f.name in bundle.item_attributes:
                values = np.asarray(bundle.item_attributes[f.name])
                columns[f.name] = values if f.kind is schema.Kind.NUMERIC else values.astype(str)
            else:
                columns[f.name] = np.full(len(bundle.item_ids), _default(f.kind))
        return columns

    # ------------------------------------------------------------- stages
    def _resolve(self, requests: Sequence[RecommendRequest]) -> list[ResolvedHistory]:
        """Map every request's raw history ids to catalog rows (-1: unknown)."""
        resolved = []
        for request in requests:
            part = np.fromiter((self._row_of.get(item, -1) for item in request.history), np.int64,
                               len(request.history))
            known = part >= 0
            unknown = [item for item, ok in zip(request.history, known) if not ok]
            warnings = []
            if unknown:
                unique = list(dict.fromkeys(unknown))
                named = ", ".join(repr(x) for x in unique[:MAX_NAMED_UNKNOWN])
                more = f" and {len(unique) - MAX_NAMED_UNKNOWN} more" if len(unique) > MAX_NAMED_UNKNOWN else ""
                warnings.append(f"history: {len(unknown)} unknown item id(s) ignored: {named}{more}")
            if request.user_id is not None and request.user_id not in self.bundle.user_attributes:
                warnings.append(f"user_id: unknown user {request.user_id!r}; profile features left empty")
            resolved.append(ResolvedHistory(part[known].astype(np.int64), known, tuple(warnings)))
        return resolved

    def _history_matrix(self, resolved: Sequence[ResolvedHistory]) -> np.ndarray:
        """``[B, L]`` raw ids of the last L known items, left-padded with ``""``."""
        length = self.bundle.history_length
        matrix = np.full((len(resolved), length), schema.UNKNOWN_VALUE, dtype=object)
        for b, r in enumerate(resolved):
            recent = r.rows[-length:]
            if len(recent):
                matrix[b, length - len(recent):] = self.bundle.item_ids[recent]
        return matrix

    def _retrieve(self, requests, resolved: Sequence[ResolvedHistory]) -> list[RetrievedCandidates]:
        """Steps 2-3: interests, one batched search, eq. 4 merge, for each request.

        ``retrieval.candidates`` does the search, merge and exclusion, and
        computes the candidates' ranking features, exactly as ``funnel
        candidates`` did for the lists the ranker trained on.
        """
        history = self._history_matrix(resolved)
        z = np.asarray(self.bundle.query(filled_columns(history)), dtype=np.float32)  # [B, M, D]
        wanted = [max(r.k, self.candidates(r)) for r in requests]
        exclude = [np.unique(res.rows) if req.exclude_history else np.zeros(0, np.int64)
                   for req, res in zip(requests, resolved)]
        found = candidates_lib.retrieve(z, self.bundle.item_embeddings, self.bundle.search, exclude,
                                        max(wanted), self.bundle.scoring)
        features = {}
        if self.bundle.candidate_features:  # only rankers of candidate lists read them
            last_rows = np.array([res.rows[-1] for res in resolved], dtype=np.int64)
            features = candidates_lib.candidate_features(found, self.bundle.item_embeddings, last_rows)
        out = []
        for b, want in enumerate(wanted):
            keep = np.flatnonzero(found.valid[b, :want])
            out.append(RetrievedCandidates(
                rows=found.rows[b, keep], scores=found.scores[b, keep], interest=found.interest[b, keep],
                history=history[b], features={name: values[b, keep] for name, values in features.items()}))
        return out

    def _rank(self, requests, resolved, candidates: Sequence[RetrievedCandidates]) -> list[RankScores]:
        """Step 4: one ranking call over every candidate of every request.

        Request features go once per request and item features once per
        candidate, tied by ``owner``; the ranking model expands them.
        """
        counts = np.array([len(c.rows) for c in candidates])
        if counts.sum() == 0:
            return [RankScores(np.zeros(0, np.float32)) for _ in candidates]
        owner = np.repeat(np.arange(len(candidates)), counts)
        rows = np.concatenate([c.rows for c in candidates])
        features = self._request_features(requests)
        features[schema.HISTORY] = np.stack([c.history for c in candidates])
        features.update({name: column[rows] for name, column in self._item_columns.items()})
        if self.bundle.candidate_features:
            features.update({name: np.concatenate([c.features[name] for c in candidates])
                             for name in schema.CANDIDATE_FEATURES})
        ranked = self.bundle.rank(features, owner)
        probabilities = np.asarray(ranked.probability, dtype=np.float32).reshape(-1)
        if probabilities.shape[0] != rows.shape[0]:
            raise ValueError(f"rank: {probabilities.shape[0]} scores for {rows.shape[0]} candidates")
        splits = np.cumsum(counts)[:-1]
        if ranked.logit is None:
            return [RankScores(p) for p in np.split(probabilities, splits)]
        logits = np.asarray(ranked.logit, dtype=np.float32).reshape(-1)
        return [RankScores(p, z) for p, z in zip(np.split(probabilities, splits), np.split(logits, splits))]

    def _request_features(self, requests) -> dict[str, np.ndarray]:
        """User and context features of each request ``{name: [B]}``."""
        now = self._clock()
        computed = {schema.HOUR: str(now.hour), schema.WEEKDAY: str(now.weekday())}
        columns: dict[str, list] = {}
        for f in schema.RANKING_FEATURES:
            if f.source is schema.Source.ITEM or f.name == schema.HISTORY:
                continue
            values = []
            for r in requests:
                if f.name == schema.USER_ID:
                    values.append(r.user_id or schema.UNKNOWN_VALUE)
                elif f.source is schema.Source.USER:
                    profile = self.bundle.user_attributes.get(r.user_id or "", {})
                    values.append(profile.get(f.name, _default(f.kind)))
                else:
                    given = getattr(r.context, f.name, None) if r.context is not None else None
                    values.append(str(given) if given is not None else computed.get(f.name, _default(f.kind)))
            columns[f.name] = _column(values, f.kind)
        return columns

    # ------------------------------------------------------------- answers
    def _title(self, row: int):
        return None if self._titles is None else str(self._titles[row])

    def _history_view(self, request: RecommendRequest, resolved: ResolvedHistory) -> list[HistoryItem]:
        rows = iter(resolved.rows)
        return [HistoryItem(item_id=item, known=bool(known), title=self._title(next(rows)) if known else None)
                for item, known in zip(request.history, resolved.known)]

    def _answer(self, request: RecommendRequest, resolved: ResolvedHistory,
                candidates: ScoredCandidates) -> Recommendation:
        """The top ``k`` in the bundle's order: by ranking score, or retrieval order when the
        export's gate (or ``funnel serve --order``) chose it; ``order`` says which."""
        if self.bundle.order == "retrieval":
            order = np.arange(min(request.k, len(candidates.rows)))
        else:
            order = np.argsort(-ranking_logits(candidates), kind="stable")[: request.k]
        scores = self._scores(candidates)
        items = [RecommendedItem(item_id=str(self.bundle.item_ids[candidates.rows[j]]), score=float(scores[j]),
                                 retrieval_score=float(candidates.scores[j]), rank=rank + 1,
                                 title=self._title(candidates.rows[j]))
                 for rank, j in enumerate(order)]
        explained = {}
        if request.explain:
            explained = {"history": self._history_view(request, resolved),
                         "candidates": [Candidate(item_id=str(self.bundle.item_ids[row]), retrieval_score=float(s),
                                                  title=self._title(row), interest=int(m), score=float(p))
                                        for row, s, m, p in zip(candidates.rows, candidates.scores,
                                                                candidates.interest, scores)]}
        return Recommendation(items=items, model_versions=dict(self._versions), warnings=list(resolved.warnings),
                              fallback=False, order=self.bundle.order, **explained)

    def _scores(self, candidates: ScoredCandidates) -> np.ndarray:
        """Each candidate's ``score`` (``serving.api.SCORE_MEANING``), under the model whose order the answer follows."""
        if len(candidates.rows) == 0:
            return np.zeros(0)
        if self.bundle.order == "retrieval":
            return softmax(np.asarray(candidates.scores, np.float64) / self._retrieval_temperature)
        if self.bundle.candidate_features:
            return softmax(ranking_logits(candidates))
        return np.asarray(candidates.probabilities, np.float64)

    def _fallback(self, request: RecommendRequest, resolved: ResolvedHistory) -> Recommendation:
        """Most popular items for a history with no known item (flagged ``fallback``)."""
        want = max(request.k, self.candidates(request))
        rows = self.bundle.popular_rows[:want]
        shares = self.bundle.popularity[:want]
        items = [RecommendedItem(item_id=str(self.bundle.item_ids[row]), score=float(share),
                                 retrieval_score=float(share), rank=rank + 1, title=self._title(row))
                 for rank, (row, share) in enumerate(zip(rows[: request.k], shares[: request.k]))]
        reason = "history is empty" if not request.history else "no history item is known"
        explained = {}
        if request.explain:
            explained = {"history": self._history_view(request, resolved),
                         "candidates": [Candidate(item_id=str(self.bundle.item_ids[row]), retrieval_score=float(s),
                                                  title=self._title(row)) for row, s in zip(rows, shares)]}
        return Recommendation(items=items, model_versions=dict(self._versions),
                              warnings=[*resolved.warnings, f"fallback: {reason}; most popular items returned"],
                              fallback=True, order="popularity", **explained)
