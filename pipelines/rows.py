"""The in-flight shapes of the pipeline: parsed rows, dead letters, shards.

Readers turn a shard of an input file into :class:`RawRows` (strings as they
appeared, one entry per physical line); :mod:`pipelines.validate` turns those
into a *rows frame* (typed, valid interactions) and a *dead-letter frame*.
Elements flowing through Beam are these frames, one per shard or per user
bucket, never single rows: every step is vectorised over a batch.

Column names of the frames below are internal to the pipeline; feature names
come from :mod:`funnel.schema`.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np
import pandas as pd

from funnel import schema

# Columns of a rows frame besides the schema ones (USER_ID, ITEM_ID, TIMESTAMP,
# LABEL, REQUEST_ID).
SOURCE = "source"
"""Input file name the row came from."""
LINE = "line"
"""1-based physical line number (Parquet: 1-based row number) in ``SOURCE``."""
RAW = "raw"
"""The row as read, for dead letters and exact-duplicate detection."""
IN_RETRIEVAL = "in_retrieval"
"""The row is a positive interaction of the user's retrieval sequence."""
IN_RANKING = "in_ranking"
"""The row is a labelled ranking example (before Skive-Above filtering)."""

ROWS_COLUMNS = (SOURCE, LINE, RAW, schema.USER_ID, schema.ITEM_ID, schema.TIMESTAMP,
                schema.LABEL, schema.REQUEST_ID, IN_RETRIEVAL, IN_RANKING)

# Columns of a dead-letter frame (and keys of each ``deadletter/*.jsonl`` object).
REASON = "reason"
DETAIL = "detail"
ROW = "row"
DEAD_COLUMNS = (SOURCE, LINE, ROW, REASON, DETAIL)

# How a source's rows feed the two example families.
RETRIEVAL_ALL = "all"
"""Every row is an interaction (ratings, plain event logs)."""
RETRIEVAL_CLICKED = "clicked"
"""Only rows with click = 1 are interactions (impression logs)."""
RETRIEVAL_NONE = "none"
"""No row is an interaction (an impressions file beside a separate events file)."""


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """One input file of interactions and what its rows mean.

    Attributes:
        name: the file name written into dead letters and ``stats.json``.
        columns: schema names of the fields this source carries, among
            ``USER_ID, ITEM_ID, TIMESTAMP, RATING, CLICK, REQUEST_ID``.
        retrieval: one of ``RETRIEVAL_ALL / RETRIEVAL_CLICKED / RETRIEVAL_NONE``.
        ranking: whether rows become ranking examples. Labels: ``RATING >=
            schema.POSITIVE_RATING`` when there is a rating, else the click flag,
            else 1 (every logged event is a positive).
    """

    name: str
    columns: tuple[str, ...]
    retrieval: str = RETRIEVAL_ALL
    ranking: bool = True

    def __post_init__(self):
        required = {schema.USER_ID, schema.ITEM_ID, schema.TIMESTAMP}
        if missing := required - set(self.columns):
            raise ValueError(f"source {self.name}: columns {sorted(missing)} are required")
        if self.retrieval not in (RETRIEVAL_ALL, RETRIEVAL_CLICKED, RETRIEVAL_NONE):
            raise ValueError(f"source {self.name}: retrieval {self.retrieval!r} is not one of "
                             f"{[RETRIEVAL_ALL, RETRIEVAL_CLICKED, RETRIEVAL_NONE]}")
        if self.retrieval == RETRIEVAL_CLICKED and schema.CLICK not in self.columns:
            raise ValueError(f"source {self.name}: retrieval 'clicked' needs a {schema.CLICK} column")


@dataclasses.dataclass(frozen=True)
class Shard:
    """A piece of one input file that one worker reads.

    Text files are cut at line boundaries by the planner (``start``/``end`` are
    byte offsets, ``first_line`` the 1-based number of the line at ``start``);
    Parquet files are cut by row group (``start`` = row group index,
    ``first_line`` = 1-based number of its first row).
    """

    index: int
    path: str
    source: SourceSpec
    start: int
    end: int
    first_line: int


@dataclasses.dataclass
class RawRows:
    """Fields of a shard's rows as strings, before validation.

    ``fields[name][i]`` is the text of field ``name`` on row ``i`` or ``None``
    when the row has no such field; ``reason[i]``/``detail[i]`` are set when the
    reader already knows the row is bad (wrong field count, not JSON).
    """

    source: SourceSpec
    lines: np.ndarray
    raw: list[str]
    fields: Mapping[str, np.ndarray]
    reason: np.ndarray
    detail: np.ndarray

    @classmethod
    def build(cls, source: SourceSpec, lines, raw, fields, reason=None, detail=None) -> "RawRows":
        count = len(raw)
        empty = np.full(count, None, dtype=object)
        return cls(source, np.asarray(lines, dtype=np.int64), list(raw),
                   {name: np.asarray(values, dtype=object) for name, values in fields.items()},
                   empty.copy() if reason is None else np.asarray(reason, dtype=object),
                   empty.copy() if detail is None else np.asarray(detail, dtype=object))

    def __len__(self) -> int:
        return len(self.raw)


def empty_rows() -> pd.DataFrame:
    return pd.DataFrame({
        SOURCE: pd.Series([], dtype=object), LINE: pd.Series([], dtype=np.int64),
        RAW: pd.Series([], dtype=object), schema.USER_ID: pd.Series([], dtype=object),
        schema.ITEM_ID: pd.Series([], dtype=object),
        schema.TIMESTAMP: pd.Series([], dtype=np.int64),
        schema.LABEL: pd.Series([], dtype=np.float32),
        schema.REQUEST_ID: pd.Series([], dtype=object),
        IN_RETRIEVAL: pd.Series([], dtype=bool), IN_RANKING: pd.Series([], dtype=bool),
    })


def empty_dead() -> pd.DataFrame:
    return pd.DataFrame({SOURCE: pd.Series([], dtype=object), LINE: pd.Series([], dtype=np.int64),
                         ROW: pd.Series([], dtype=object), REASON: pd.Series([], dtype=object),
                         DETAIL: pd.Series([], dtype=object)})


def concat(frames, empty) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else empty()
