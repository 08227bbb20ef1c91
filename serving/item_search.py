"""Find catalog items by title or id (``GET /v1/items``, the demo page's search box).

A case-insensitive substring match: the lowercase titles and ids ``[N]`` are
built once per loaded export version, so a query costs two vectorised string
searches over them and a sort of the matches, with no per-request copy of the
catalog.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


class ItemSearch:
    """Substring search over one catalog's titles and ids.

    Args:
        item_ids: raw item id of each catalog row ``[N]``.
        titles: display title of each row ``[N]``, or None (ids only).
        popular_rows: rows of the most popular items, most popular first ``[P]``;
            they break ties between equally good matches.
    """

    def __init__(self, item_ids: np.ndarray, titles: Optional[np.ndarray], popular_rows: np.ndarray):
        self._ids = np.asarray(item_ids).astype(str)
        self._titles = None if titles is None else np.asarray(titles).astype(str)
        self._lower_ids = np.char.lower(self._ids)
        self._lower_titles = None if self._titles is None else np.char.lower(self._titles)
        popular_rows = np.asarray(popular_rows, dtype=np.int64)
        self._popularity_rank = np.full(len(self._ids), len(popular_rows), dtype=np.int64)
        self._popularity_rank[popular_rows] = np.arange(len(popular_rows))

    def find(self, query: str, limit: int) -> tuple[list[dict], int]:
        """Items whose title or id contains ``query``, whatever the case.

        Best first: an exact title or id, then those starting with the query,
        then the rest; the most popular first within each group, then by row.
        A blank query matches nothing.

        Returns:
            Up to ``limit`` dicts ``{"item_id", "title"}`` and the number of matches.
        """
        needle = query.strip().lower()
        if not needle:
            return [], 0
        at_id = np.char.find(self._lower_ids, needle)
        at_title = (np.full(len(self._ids), -1) if self._lower_titles is None
                    else np.char.find(self._lower_titles, needle))
        rows = np.flatnonzero((at_id >= 0) | (at_title >= 0))
        exact = self._lower_ids[rows] == needle
        if self._lower_titles is not None:
            exact |= self._lower_titles[rows] == needle
        prefix = (at_id[rows] == 0) | (at_title[rows] == 0)
        group = np.where(exact, 0, np.where(prefix, 1, 2))
        best = rows[np.lexsort((rows, self._popularity_rank[rows], group))[:limit]]
        found = [{"item_id": str(self._ids[row]),
                  "title": None if self._titles is None else str(self._titles[row])} for row in best]
        return found, int(len(rows))
