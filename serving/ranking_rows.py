"""How a batch's ranking features are laid out: per request, or per candidate.

The exporter builds and verifies the ranking signatures with these layouts and
the service feeds them in the same layouts, so both import them from here
rather than from each other; nothing here imports TensorFlow.

Two layouts of the features of B requests and their N candidates:

- grouped (the ``candidates`` signature's input): ``REQUEST_FEATURES`` one row
  per request (``HISTORY`` ``[B, L]``), ``ITEM_FEATURES`` one row per candidate
  ``[N]``, and ``owner [N]``, the request row of each candidate;
- expanded (the ``serving_default`` signature's input): every feature one row
  per candidate (``HISTORY`` ``[N, L]``).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from funnel import schema
from serving.contract import OWNER

REQUEST_FEATURES = tuple(f for f in schema.RANKING_FEATURES if f.source is not schema.Source.ITEM)
"""Ranking features shared by every candidate of one request: profile, context, history."""
ITEM_FEATURES = tuple(f for f in schema.RANKING_FEATURES if f.source is schema.Source.ITEM)
"""Ranking features of the candidate item itself."""


def expand_candidates(features: Mapping[str, np.ndarray], owner: np.ndarray) -> dict[str, np.ndarray]:
    """One row per candidate: each request's ``REQUEST_FEATURES`` repeated for its candidates.

    Turns grouped features and ``owner [N]`` into per-row ranking features
    (every ``schema.RANKING_FEATURES`` name ``[N]``, ``HISTORY`` ``[N, L]``,
    and the ``schema.CANDIDATE_FEATURES`` where given), for ranking models
    that score rows one by one.
    """
    owner = np.asarray(owner, dtype=np.int64)
    rows = {f.name: np.asarray(features[f.name])[owner] for f in REQUEST_FEATURES}
    rows.update({f.name: np.asarray(features[f.name]) for f in ITEM_FEATURES})
    rows.update({name: np.asarray(features[name]) for name in schema.CANDIDATE_FEATURES if name in features})
    return rows


def candidate_inputs(rows: dict[str, np.ndarray], requests: int) -> dict[str, np.ndarray]:
    """Raw ranking rows regrouped for the ``candidates`` signature.

    The first ``requests`` rows give the request features; every row gives a
    candidate, owned by request ``row % requests``.
    """
    count = len(rows[schema.ITEM_ID])
    inputs = {f.name: rows[f.name][:requests] for f in REQUEST_FEATURES}
    inputs.update({f.name: rows[f.name] for f in ITEM_FEATURES})
    inputs.update({name: rows[name] for name in schema.CANDIDATE_FEATURES if name in rows})
    inputs[OWNER] = np.arange(count, dtype=np.int64) % requests
    return inputs
