"""What the engine serves from: one loaded export version, backend-neutral.

A backend (``serving.backends``) turns an export version into a
:class:`ModelBundle`: the query and ranking models as plain callables on numpy
arrays (in-process SavedModel signatures, or TF Serving over REST), the native
ScaNN search, and the tables the engine needs to build ranking inputs. Tests
build bundles from small numpy models, so the engine is tested without
TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Optional

import numpy as np

from funnel import schema
from serving.contract import FEATURES, QUERY, RANKING, SCANN, default_candidates

QueryFn = Callable[[np.ndarray], np.ndarray]
"""Raw item-id history ``[B, L]`` (str, left-padded with ``""``) -> interests ``[B, M, D]``."""
SearchFn = Callable[[np.ndarray, int], "tuple[np.ndarray, np.ndarray]"]
"""Queries ``[Q, D]`` and k -> (item rows ``[Q, k]`` int, scores ``[Q, k]``)."""


@dataclasses.dataclass(frozen=True)
class RankScores:
    """What the ranking model answers for N candidates.

    Attributes:
        probability: click probability ``[N]`` float32 (``sigmoid(logit)``).
        logit: the ranking signature's ``logit`` ``[N]`` float32, or None for an
            export written before the signature had that output.
    """

    probability: np.ndarray
    logit: Optional[np.ndarray] = None

    def __post_init__(self):
        if self.logit is not None and np.shape(self.logit) != np.shape(self.probability):
            raise ValueError(f"logit: shape {np.shape(self.logit)} != probability's {np.shape(self.probability)}")


RankFn = Callable[[Mapping[str, np.ndarray], np.ndarray], RankScores]
"""Raw ranking features of B requests and their N candidates, and ``owner [N]``
(the request row of each candidate) -> :class:`RankScores` of the N candidates.
``serving.ranking_rows.REQUEST_FEATURES`` have one row per request (``HISTORY`` ``[B, L]``),
``ITEM_FEATURES`` one per candidate ``[N]``."""

SERVED_MODELS = (QUERY, RANKING, SCANN, FEATURES)
"""Models an answer's ``model_versions`` reports: the ones a recommendation used."""
ORDERS = ("ranking", "retrieval")
"""How an answer's items are ordered."""


@dataclasses.dataclass(frozen=True)
class SampleUser:
    """A ready-made request for the demo page."""

    label: str
    history: tuple[str, ...]
    user_id: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class ModelBundle:
    """One export version, ready to answer.

    Attributes:
        version: the export version (``EXPORT/<model>/<version>``).
        manifest: the export's ``manifest.json``; ``model_versions`` and
            ``scoring`` are read from it.
        item_ids: raw item id of each ScaNN row, ``[N]``.
        item_embeddings: candidate-tower embedding of each row, ``[N, D]``; the
            engine rescores retrieved rows with them (IDW eq. 4).
        query, search, rank: see :data:`QueryFn`, :data:`SearchFn`, :data:`RankFn`.
        item_attributes: item feature name -> raw values aligned with rows ``[N]``
            (``ITEM_CATEGORY`` and, where known, ``ITEM_AGE``).
        user_attributes: raw user id -> {user feature name: raw value}.
        popular_rows: rows of the most popular items, most popular first ``[P]``.
        popularity: share of interactions of each ``popular_rows`` entry ``[P]``.
        titles: display title of each row ``[N]`` (MovieLens) or None.
        history_length: history slots the query and ranking models read.
        samples: ready-made requests for the demo page.
        close: releases resources (HTTP sessions, ...) when the version retires.
        candidate_features: the ranking model reads ``schema.CANDIDATE_FEATURES``
            (a ranker trained on retrieval's candidate lists).
        order: ``ranking`` or ``retrieval``: how answers are ordered (the
            export's gate, or ``funnel serve --order``).
    """

    version: int
    manifest: Mapping
    item_ids: np.ndarray
    item_embeddings: np.ndarray
    query: QueryFn
    search: SearchFn
    rank: RankFn
    item_attributes: Mapping[str, np.ndarray]
    user_attributes: Mapping[str, Mapping[str, object]]
    popular_rows: np.ndarray
    popularity: np.ndarray
    titles: Optional[np.ndarray] = None
    history_length: int = schema.MAX_SEQUENCE_LENGTH
    samples: tuple[SampleUser, ...] = ()
    close: Optional[Callable[[], None]] = None
    candidate_features: bool = False
    order: str = "ranking"

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ValueError(f"order: unknown value {self.order!r}; choose one of {list(ORDERS)}")
        n = len(self.item_ids)
        if self.item_embeddings.shape[0] != n:
            raise ValueError(f"item_embeddings: {self.item_embeddings.shape[0]} rows for {n} item ids")
        for name, values in self.item_attributes.items():
            if len(values) != n:
                raise ValueError(f"item_attributes[{name!r}]: {len(values)} values for {n} items")
        if self.titles is not None and len(self.titles) != n:
            raise ValueError(f"titles: {len(self.titles)} values for {n} items")
        if len(self.popular_rows) != len(self.popularity):
            raise ValueError("popularity: one share per popular row expected")

    @property
    def model_versions(self) -> dict[str, int]:
        """Version of each model an answer used (``SERVED_MODELS`` the manifest lists)."""
        models = self.manifest.get("models", {})
        return {name: int(models[name]["version"]) for name in SERVED_MODELS if name in models}

    @property
    def scoring(self) -> str:
        """How interests combine: ``mixture`` (IDW eq. 4) or ``max`` (the manifest's catalog)."""
        return self.manifest["catalog"]["scoring"]

    @property
    def default_candidates(self) -> int:
        """Candidates ranked for a request that names none (the manifest's ``candidates.default``)."""
        return default_candidates(self.manifest)
