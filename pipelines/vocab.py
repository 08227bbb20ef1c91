"""Vocabularies of every categorical feature, with a min-count threshold.

Counts are taken over the kept interaction rows (every row counts its user,
item, the user's and the item's attributes, and its hour and weekday), per
user bucket, then summed. A vocabulary lists values most frequent first (ties
by value, so it is deterministic); line ``i`` has id ``schema.FIRST_VALUE_ID +
i``, ``schema.PADDING_ID`` and ``schema.OOV_ID`` are reserved, and a value
counted fewer than ``--min-count`` times is left out, so it maps to OOV.
``schema.UNKNOWN_VALUE`` (an attribute the dataset does not give) is never a
vocabulary value.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from funnel import schema
from pipelines.readers.base import Catalog

SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86_400
EPOCH_WEEKDAY = 3
"""1970-01-01 was a Thursday (Monday = 0)."""


def hours(timestamps: np.ndarray) -> np.ndarray:
    """UTC hour 0..23 of unix-second timestamps ``[N]``."""
    return (timestamps // SECONDS_PER_HOUR) % 24


def weekdays(timestamps: np.ndarray) -> np.ndarray:
    """UTC weekday 0..6 (Monday = 0) of unix-second timestamps ``[N]``."""
    return (timestamps // SECONDS_PER_DAY + EPOCH_WEEKDAY) % 7


_HOUR_TEXT = np.array([str(h) for h in range(24)], dtype=object)
_WEEKDAY_TEXT = np.array([str(d) for d in range(7)], dtype=object)


def raw_categoricals(rows: pd.DataFrame, catalog: Catalog) -> dict[str, np.ndarray]:
    """Raw value of every ``schema.CATEGORICAL_VOCABULARIES`` feature per row ``[N]``."""
    users = rows[schema.USER_ID].to_numpy(dtype=object)
    items = rows[schema.ITEM_ID].to_numpy(dtype=object)
    timestamps = rows[schema.TIMESTAMP].to_numpy(dtype=np.int64)
    values = {schema.USER_ID: users, schema.ITEM_ID: items,
              schema.HOUR: _HOUR_TEXT[hours(timestamps)],
              schema.WEEKDAY: _WEEKDAY_TEXT[weekdays(timestamps)]}
    user_attributes = catalog.users.reindex(pd.Index(users, dtype=object))
    for name in schema.USER_ATTRIBUTES:
        values[name] = user_attributes[name].fillna(schema.UNKNOWN_VALUE).to_numpy(dtype=object)
    item_attributes = catalog.items.reindex(pd.Index(items, dtype=object))
    for name in schema.ITEM_ATTRIBUTES:
        values[name] = item_attributes[name].fillna(schema.UNKNOWN_VALUE).to_numpy(dtype=object)
    return {name: values[name] for name in schema.CATEGORICAL_VOCABULARIES}


def count_values(rows: pd.DataFrame, catalog: Catalog) -> dict[str, pd.Series]:
    """Per feature, how many kept rows carry each raw value (unknown values left out)."""
    counts = {}
    for name, values in raw_categoricals(rows, catalog).items():
        series = pd.Series(values, dtype=object)
        counts[name] = series[series != schema.UNKNOWN_VALUE].value_counts(sort=False)
    return counts


def merge_counts(parts: Iterable[Mapping[str, pd.Series]]) -> dict[str, pd.Series]:
    """Sum per-bucket counts feature by feature."""
    merged: dict[str, list[pd.Series]] = {name: [] for name in schema.CATEGORICAL_VOCABULARIES}
    for part in parts:
        for name, series in part.items():
            if len(series):
                merged[name].append(series)
    return {name: (pd.concat(series).groupby(level=0).sum() if series
                   else pd.Series([], dtype=np.int64))
            for name, series in merged.items()}


@dataclasses.dataclass
class Vocabularies:
    """Every categorical vocabulary of one dataset.

    Attributes:
        values: feature -> raw values, most frequent first (id = index + 2).
        distinct: feature -> number of distinct values before ``min_count``.
        min_count: the threshold used.
        counts: feature -> kept rows carrying each value, aligned with ``values``
            (popularity-proportional evaluation negatives read the item counts).
    """

    values: dict[str, list[str]]
    distinct: dict[str, int]
    min_count: int
    counts: dict[str, list[int]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self._index = {name: pd.Index(values, dtype=object) for name, values in self.values.items()}

    def __getstate__(self):
        return {"values": self.values, "distinct": self.distinct, "min_count": self.min_count,
                "counts": self.counts}

    def __setstate__(self, state):
        self.__init__(**state)

    @classmethod
    def build(cls, counts: Mapping[str, pd.Series], min_count: int) -> "Vocabularies":
        if min_count < 1:
            raise ValueError(f"--min-count must be >= 1, got {min_count}")
        values, distinct, kept_counts = {}, {}, {}
        for name in schema.CATEGORICAL_VOCABULARIES:
            series = counts.get(name, pd.Series([], dtype=np.int64))
            distinct[name] = int(len(series))
            frame = pd.DataFrame({"value": series.index.astype(str), "count": series.to_numpy()})
            frame = frame[frame["count"] >= min_count]
            frame = frame.sort_values(["count", "value"], ascending=[False, True], kind="stable")
            values[name] = frame["value"].tolist()
            kept_counts[name] = frame["count"].astype(np.int64).tolist()
        return cls(values, distinct, min_count, kept_counts)

    def size(self, name: str) -> int:
        """Rows of an embedding table for ``name``: values + padding + OOV."""
        return len(self.values[name]) + schema.FIRST_VALUE_ID

    def frequencies(self, name: str) -> np.ndarray:
        """``[size(name)]`` int64 count of each id's value (0 for padding and OOV)."""
        if len(self.counts.get(name, ())) != len(self.values[name]):
            raise ValueError(f"vocabulary {name!r}: no counts kept for its {len(self.values[name])} values; "
                             "build it with Vocabularies.build")
        return np.r_[np.zeros(schema.FIRST_VALUE_ID, np.int64), np.asarray(self.counts[name], np.int64)]

    def lookup(self, name: str, raw: Iterable) -> np.ndarray:
        """Vocabulary ids ``[N]`` (int64) of raw values; unknown -> ``schema.OOV_ID``."""
        positions = self._index[name].get_indexer(pd.Index(np.asarray(raw, dtype=object), dtype=object))
        return np.where(positions < 0, schema.OOV_ID, positions + schema.FIRST_VALUE_ID).astype(np.int64)


def bucketize(values: np.ndarray) -> np.ndarray:
    """``schema.log_square_bucket`` of each value ``[N]``, clipped to ``MAX_NUMERIC_BUCKET``.

    Applied through the schema's own scalar function on the distinct values, so
    the pipeline and the service bucket a number identically.
    """
    values = np.asarray(values, dtype=np.float64)
    unique, inverse = np.unique(values, return_inverse=True)
    buckets = np.array([min(schema.log_square_bucket(float(v)), schema.MAX_NUMERIC_BUCKET)
                        for v in unique], dtype=np.int64)
    return buckets[inverse.reshape(-1)] if len(values) else np.zeros(0, dtype=np.int64)
