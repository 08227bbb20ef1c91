"""The ScaNN recall an export is widened for and ``verify`` checks: one definition for both.

Queries are what the service sends: real user-tower outputs, all M interests,
of held-out histories (the test split of ``--data``, else histories sampled by
training item frequency). The exporter stores those histories as raw ids in
the version's samples (:data:`HISTORY_SAMPLE`), so ``verify`` feeds the very
same histories through the exported query model. Both measures compare with
exact (brute-force) search and are held to the manifest's ``min_recall``:

- :data:`INDEX`: :func:`retrieval.index.measure_recall`, recall@k of the native ScaNN index (``scann/<v>``, what the
  service searches) over all Q x M interest vectors;
- :data:`LAYER`: overlap of ``retrieval_scann``'s top-k (the tfrs ScaNN layer,
  eq. 4 merge) with ``retrieval``'s brute-force top-k, per history.
"""

from __future__ import annotations

import numpy as np

from funnel import schema
from retrieval.index import EXACT_BLOCK_ELEMENTS, recall_at_k

HISTORY_SAMPLE = "recall/history"
INDEX, LAYER = "index", "retrieval_scann"
OOV_PLACEHOLDER = "<oov>"
"""Raw stand-in for an OOV id of a held-out history (any id outside the catalog maps to OOV)."""


def raw_histories(id_histories: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
    """Vocabulary-id histories ``[Q, L]`` -> raw id strings ``[Q, L]`` ("" = padding).

    Args:
        id_histories: int64, ``PADDING_ID``/``OOV_ID``/``FIRST_VALUE_ID + row``.
        item_ids: raw id of each catalog row, ``[N]``.
    """
    if OOV_PLACEHOLDER in set(item_ids):
        raise ValueError(f"item_ids: the catalog holds {OOV_PLACEHOLDER!r}, the OOV stand-in")
    ids = np.asarray(id_histories, np.int64)
    table = np.concatenate([np.array([schema.UNKNOWN_VALUE, OOV_PLACEHOLDER], dtype=object),
                            np.asarray(item_ids, dtype=object)])
    if (schema.PADDING_ID, schema.OOV_ID, schema.FIRST_VALUE_ID) != (0, 1, 2):
        raise ValueError("schema ids: this table expects PADDING_ID 0, OOV_ID 1, FIRST_VALUE_ID 2")
    return table[ids].astype(str).astype(object)


def top_k_overlap(found_ids: np.ndarray, exact_ids: np.ndarray) -> float:
    """Mean share of each history's exact top-k item ids that ``found_ids`` [Q, k] holds."""
    return recall_at_k(np.asarray(found_ids).astype(str), np.asarray(exact_ids).astype(str))


def histories_per_call(items: int, interests: int, max_elements: int = EXACT_BLOCK_ELEMENTS) -> int:
    """Histories per brute-force ``retrieval`` call whose ``[histories x interests, items]`` scores
    stay within ``max_elements`` floats (500 histories x 5 interests x 1M items would be 10 GB)."""
    return max(1, max_elements // (items * interests))


def call_in_blocks(call, inputs: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """``call`` on ``size`` rows of every input at a time; outputs joined along their first axis."""
    rows = len(next(iter(inputs.values())))
    parts = [call({name: value[start:start + size] for name, value in inputs.items()})
             for start in range(0, rows, size)]
    return {name: np.concatenate([np.asarray(part[name]) for part in parts]) for name in parts[0]}
