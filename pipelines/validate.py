"""Row validation: every input row is kept or dead-lettered with a reason.

Nothing is dropped silently: ``rows read = rows kept + rows dead-lettered``
holds per shard (:func:`validate`) and per user bucket
(:func:`drop_duplicates`), hence for the whole input. A row gets the *first*
reason that applies, in the order of :data:`REASONS`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from funnel import schema
from pipelines import rows as R

FIELD_COUNT = "field_count"
MISSING_FIELD = "missing_field"
UNPARSEABLE = "unparseable"
UNKNOWN_USER = "unknown_user"
UNKNOWN_ITEM = "unknown_item"
BEFORE_1970 = "timestamp_before_1970"
IN_FUTURE = "timestamp_in_future"
DUPLICATE = "duplicate"
DUPLICATE_USER = "duplicate_user"

REASONS = {
    FIELD_COUNT: "the row has the wrong number of fields (or is not a JSON object)",
    MISSING_FIELD: "a required field is absent or empty",
    UNPARSEABLE: "a field is not a number / timestamp / 0-1 flag where one is expected",
    UNKNOWN_USER: "the user id is not in the dataset's users file",
    UNKNOWN_ITEM: "the item id is not in the dataset's items file",
    BEFORE_1970: "the timestamp is before 1970-01-01 UTC",
    IN_FUTURE: "the timestamp is more than a day after the pipeline started",
    DUPLICATE: "the row is an exact copy of an earlier row of the same file",
    DUPLICATE_USER: "the users table lists this user id on an earlier row",
}
"""Dead-letter reason codes, in the order they are checked."""

FUTURE_TOLERANCE_SECONDS = 86_400


@dataclasses.dataclass(frozen=True)
class Rules:
    """What a valid row must satisfy beyond its own fields.

    Attributes:
        now: unix seconds the pipeline treats as the present (injectable so
            tests are reproducible); later than ``now + 1 day`` is invalid.
        known_users: raw user ids of the users reference file, or ``None``
            when the dataset has none (then any id is accepted).
        known_items: the same for items.
    """

    now: int
    known_users: frozenset | None = None
    known_items: frozenset | None = None


def assign(reason: np.ndarray, detail: np.ndarray, bad: np.ndarray, code: str, messages) -> None:
    """Give ``code`` to rows that are ``bad`` and have no reason yet."""
    target = bad & pd.isna(reason)
    if not target.any():
        return
    indices = np.flatnonzero(target)
    reason[indices] = code
    detail[indices] = messages(indices)


def _parse_timestamps(text: pd.Series) -> np.ndarray:
    """Unix seconds (float, NaN when unparseable) from numbers or ISO-8601 text."""
    seconds = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    needs_date = np.isnan(seconds) & text.notna().to_numpy()
    if needs_date.any():
        parsed = pd.to_datetime(text[needs_date], utc=True, errors="coerce", format="ISO8601")
        as_seconds = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        seconds[needs_date] = as_seconds.to_numpy(dtype=np.float64, na_value=np.nan)
    return seconds


def validate(raw: R.RawRows, rules: Rules) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a shard's raw rows into a rows frame and a dead-letter frame.

    Returns:
        ``(rows, dead)`` with ``len(rows) + len(dead) == len(raw)``; columns
        ``rows.ROWS_COLUMNS`` and ``rows.DEAD_COLUMNS``.
    """
    count = len(raw)
    if count == 0:
        return R.empty_rows(), R.empty_dead()
    spec = raw.source
    reason, detail = raw.reason.copy(), raw.detail.copy()
    text = {name: pd.Series(raw.fields[name], dtype=object).str.strip() for name in spec.columns}

    for name in spec.columns:
        values = text[name]
        missing = (values.isna() | (values == "")).to_numpy()
        assign(reason, detail, missing, MISSING_FIELD,
                lambda idx, name=name: [f"{name} is empty"] * len(idx))

    def unparseable(name, bad, expected):
        values = text[name].to_numpy()
        assign(reason, detail, bad, UNPARSEABLE,
                lambda idx: [f"{name} {values[i]!r} is not {expected}" for i in idx])

    seconds = _parse_timestamps(text[schema.TIMESTAMP])
    unparseable(schema.TIMESTAMP, ~np.isfinite(seconds), "unix seconds or an ISO-8601 time")
    label = np.ones(count, dtype=np.float32)
    click = None
    if schema.RATING in spec.columns:
        rating = pd.to_numeric(text[schema.RATING], errors="coerce").to_numpy(dtype=np.float64)
        unparseable(schema.RATING, ~np.isfinite(rating), "a number")
        label = (rating >= schema.POSITIVE_RATING).astype(np.float32)
    if schema.CLICK in spec.columns:
        click = pd.to_numeric(text[schema.CLICK], errors="coerce").to_numpy(dtype=np.float64)
        unparseable(schema.CLICK, ~np.isin(click, (0.0, 1.0)), "0 or 1")
        if schema.RATING not in spec.columns:
            label = (click == 1.0).astype(np.float32)

    users = text[schema.USER_ID].to_numpy()
    items = text[schema.ITEM_ID].to_numpy()
    if rules.known_users is not None:
        unknown = ~text[schema.USER_ID].isin(rules.known_users).to_numpy()
        assign(reason, detail, unknown, UNKNOWN_USER,
                lambda idx: [f"{schema.USER_ID} {users[i]!r} is not in the users file" for i in idx])
    if rules.known_items is not None:
        unknown = ~text[schema.ITEM_ID].isin(rules.known_items).to_numpy()
        assign(reason, detail, unknown, UNKNOWN_ITEM,
                lambda idx: [f"{schema.ITEM_ID} {items[i]!r} is not in the items file" for i in idx])
    with np.errstate(invalid="ignore"):
        early = seconds < 0
        late = seconds > rules.now + FUTURE_TOLERANCE_SECONDS
    assign(reason, detail, early, BEFORE_1970,
            lambda idx: [f"{schema.TIMESTAMP} {seconds[i]:.0f} is before 1970" for i in idx])
    assign(reason, detail, late, IN_FUTURE,
            lambda idx: [f"{schema.TIMESTAMP} {seconds[i]:.0f} is after now ({rules.now}) + 1 day"
                         for i in idx])

    bad = pd.notna(reason)
    good = ~bad
    raw_text = np.asarray(raw.raw, dtype=object)
    dead = pd.DataFrame({
        R.SOURCE: np.full(int(bad.sum()), spec.name, dtype=object), R.LINE: raw.lines[bad],
        R.ROW: raw_text[bad], R.REASON: reason[bad], R.DETAIL: detail[bad]})
    if spec.retrieval == R.RETRIEVAL_ALL:
        in_retrieval = np.ones(count, dtype=bool)
    elif spec.retrieval == R.RETRIEVAL_CLICKED:
        in_retrieval = click == 1.0
    else:
        in_retrieval = np.zeros(count, dtype=bool)
    requests = (text[schema.REQUEST_ID].to_numpy() if schema.REQUEST_ID in spec.columns
                else np.full(count, "", dtype=object))
    kept = pd.DataFrame({
        R.SOURCE: np.full(int(good.sum()), spec.name, dtype=object),
        R.LINE: raw.lines[good],
        R.RAW: raw_text[good],
        schema.USER_ID: users[good],
        schema.ITEM_ID: items[good],
        schema.TIMESTAMP: np.floor(seconds[good]).astype(np.int64),
        schema.LABEL: label[good],
        schema.REQUEST_ID: requests[good],
        R.IN_RETRIEVAL: in_retrieval[good],
        R.IN_RANKING: np.full(int(good.sum()), spec.ranking, dtype=bool),
    })
    return kept, dead


def drop_duplicates(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dead-letter rows whose raw text equals an earlier line of the same file.

    Exact duplicates share their user id, so calling this per user bucket sees
    every copy. Returns ``(kept sorted by source and line, dead)``.
    """
    rows = rows.sort_values([R.SOURCE, R.LINE], kind="stable", ignore_index=True)
    duplicated = rows.duplicated([R.SOURCE, R.RAW], keep="first").to_numpy()
    if not duplicated.any():
        return rows, R.empty_dead()
    first_line = rows.groupby([R.SOURCE, R.RAW], sort=False)[R.LINE].transform("min").to_numpy()
    copies = rows[duplicated]
    dead = pd.DataFrame({
        R.SOURCE: copies[R.SOURCE].to_numpy(), R.LINE: copies[R.LINE].to_numpy(),
        R.ROW: copies[R.RAW].to_numpy(), R.REASON: DUPLICATE,
        R.DETAIL: [f"same as line {line}" for line in first_line[duplicated]]})
    return rows[~duplicated].reset_index(drop=True), dead
