"""The users table of an ``events`` folder: the ranking's user attributes.

Beside its event files, an ``events`` folder may hold one file named ``users``
(``users.csv``/``.tsv``, ``users.jsonl``/``.json``/``.ndjson`` or
``users.parquet``): one row per user, a ``user_id`` column and any of the
attribute columns of ``schema.USER_ATTRIBUTES`` (``user_gender``,
``user_occupation``, ``user_region``: categories as text; ``user_age``: years,
a number). ``--column-mapping`` renames them as it renames event columns
(``user_id=uid,user_gender=sex``). An empty attribute is unknown (OOV).

The table is small, so it is read and validated in the driver. Every row is
kept or dead-lettered with a reason (``pipelines.validate.REASONS``): wrong
field count, no user id, an age that is not a number >= 0, a user id already
on an earlier row. Events of a user the table does not list are kept, with
unknown attributes: a partial profile table loses no interaction.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd

from funnel import schema
from pipelines import rows as R
from pipelines import validate
from pipelines.readers import base

STEM = "users"
"""File name (without extension) of the users table in an events folder."""


def find_users_file(files: list[Path]) -> Path | None:
    """The one file named ``users.<ext>`` among an events folder's files, or ``None``.

    Raises:
        ValueError: the folder holds more than one users table.
    """
    found = [f for f in files if f.stem.lower() == STEM]
    if len(found) > 1:
        raise ValueError(f"--input: {len(found)} users tables ({', '.join(f.name for f in found)}); "
                         f"keep one")
    return found[0] if found else None


def _records(path: Path, separator: str | None) -> tuple[list[str], list[int], list[str], list[dict | str]]:
    """``(header, line numbers, raw rows, records)``: a record is a column -> text dict,
    or a string saying why the row could not be split into fields."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        rows = [{k: None if v is None else str(v) for k, v in r.items()} for r in table.to_pylist()]
        return table.column_names, list(range(1, len(rows) + 1)), [json.dumps(r) for r in rows], rows
    lines = path.read_text(encoding="utf-8").splitlines()
    numbers = list(range(1, len(lines) + 1))
    if separator is None:  # JSON lines
        records: list[dict | str] = []
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                records.append(f"not JSON: {error.msg}")
                continue
            records.append({k: None if v is None else str(v) for k, v in record.items()}
                           if isinstance(record, dict) else "not a JSON object")
        header = sorted({k for r in records if isinstance(r, dict) for k in r})
        return header, numbers, lines, records
    parts = base.split_delimited(lines, separator, quoted=True)
    header = [h.strip() for h in parts[0]] if parts else []
    records = [dict(zip(header, p)) if len(p) == len(header) else
               f"expected {len(header)} fields separated by {separator!r}, found {len(p)}"
               for p in parts[1:]]
    return header, numbers[1:], lines[1:], records


def _columns(path: Path, header: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """Schema name -> the file's column, for ``USER_ID`` and the attributes present."""
    columns = {schema.USER_ID: mapping.get(schema.USER_ID, schema.USER_ID)}
    for name in schema.USER_ATTRIBUTES:
        column = mapping.get(name, name)
        if name in mapping or column in header:
            columns[name] = column
    if missing := [f"{n} (column {c!r})" for n, c in columns.items() if c not in header]:
        raise ValueError(f"{path.name}: column(s) {missing} not found in {header}; "
                         f"use --column-mapping NAME=COLUMN")
    if len(columns) == 1:
        raise ValueError(f"{path.name}: no user attribute column; expected any of "
                         f"{list(schema.USER_ATTRIBUTES)} (or mapped with --column-mapping)")
    return columns


def read_users(path: Path, mapping: dict[str, str], separator: str | None,
               ) -> tuple[pd.DataFrame, base.ReferenceRows]:
    """Read and validate a users table.

    Args:
        path: the users file.
        mapping: ``--column-mapping`` (schema name -> column).
        separator: ``","`` or ``"\\t"`` for delimited text, ``None`` for JSON
            lines or Parquet (told apart by the extension).

    Returns:
        ``(users, report)``: the kept rows as :func:`base.users_frame` (indexed
        by raw user id) and every row's accounting with the dead letters.
    """
    header, numbers, raw, records = _records(path, separator)
    columns = _columns(path, header, mapping)
    count = len(records)
    reason = np.array([validate.FIELD_COUNT if isinstance(r, str) else None for r in records], dtype=object)
    detail = np.array([r if isinstance(r, str) else None for r in records], dtype=object)
    text = {name: pd.Series([r.get(column) if isinstance(r, dict) else None for r in records],
                            dtype=object).str.strip() for name, column in columns.items()}

    users = text[schema.USER_ID]
    validate.assign(reason, detail, (users.isna() | (users == "")).to_numpy(), validate.MISSING_FIELD,
                    lambda idx: [f"{schema.USER_ID} is empty"] * len(idx))
    if schema.USER_AGE in text:
        age = text[schema.USER_AGE]
        years = pd.to_numeric(age, errors="coerce").to_numpy(dtype=np.float64)
        given = (age.notna() & (age != "")).to_numpy()
        values = age.to_numpy()
        validate.assign(reason, detail, given & ~(years >= 0), validate.UNPARSEABLE,
                        lambda idx: [f"{schema.USER_AGE} {values[i]!r} is not a number >= 0"
                                     for i in idx])
    line = np.asarray(numbers, dtype=np.int64)
    still_good = pd.isna(reason)
    repeated = np.zeros(count, dtype=bool)
    repeated[still_good] = users[still_good].duplicated(keep="first").to_numpy()
    first_line = pd.Series(line[still_good]).groupby(users[still_good].to_numpy()).transform("min")
    earlier = np.zeros(count, dtype=np.int64)
    earlier[still_good] = first_line.to_numpy()
    ids = users.to_numpy()
    validate.assign(reason, detail, repeated, validate.DUPLICATE_USER,
                    lambda idx: [f"{schema.USER_ID} {ids[i]!r} is already on line {earlier[i]}"
                                 for i in idx])

    good = pd.isna(reason)
    bad = ~good
    dead = pd.DataFrame({R.SOURCE: np.full(int(bad.sum()), path.name, dtype=object), R.LINE: line[bad],
                         R.ROW: np.asarray(raw, dtype=object)[bad], R.REASON: reason[bad],
                         R.DETAIL: detail[bad]})
    kept = base.users_frame(ids[good].tolist(), {name: values.to_numpy()[good].tolist()
                                                 for name, values in text.items() if name != schema.USER_ID})
    return kept, base.ReferenceRows(path.name, count, dead)
