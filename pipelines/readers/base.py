"""What every reader shares: the plan it makes, shard IO and delimited parsing.

A reader runs in two places. In the driver, :meth:`Reader.plan` reads the small
reference files (users, items) into a :class:`Catalog`, checksums every input
file and cuts the interaction files into :class:`~pipelines.rows.Shard` s at
line boundaries. In the workers, :meth:`Reader.read_shard` reads one shard
into :class:`~pipelines.rows.RawRows`. Shards are plain byte ranges, read with
Beam's ``FileSystems``, so any runner (DirectRunner, DaskRunner) can read them
from a ``Create`` + ``FlatMap``, which is what the DaskRunner supports.
"""

from __future__ import annotations

import abc
import csv
import dataclasses
import hashlib
import mmap
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from funnel import schema
from pipelines import rows as R

DEFAULT_SHARD_BYTES = 8 << 20
HASH_BLOCK = 16 << 20

RELEASE_YEAR = "release_year"
"""Item-table column (MovieLens): year of release, for ``ITEM_AGE`` at event time."""


@dataclasses.dataclass
class Catalog:
    """Reference tables of one dataset, read in the driver and shipped to workers.

    Attributes:
        users: indexed by raw user id; columns ``schema.USER_ATTRIBUTES`` as raw
            strings (``schema.UNKNOWN_VALUE`` when unknown).
        items: indexed by raw item id; column ``ITEM_CATEGORY`` (raw string),
            ``ITEM_AGE`` (float years, NaN unless the dataset gives a static
            age), ``RELEASE_YEAR`` (float, NaN when unknown) and optionally
            ``TITLE`` / ``CLUSTER``.
        check_users / check_items: whether an interaction with an id missing
            from the table is invalid (only when a reference file exists).
    """

    users: pd.DataFrame
    items: pd.DataFrame
    check_users: bool
    check_items: bool

    @classmethod
    def empty(cls) -> "Catalog":
        return cls(users_frame([], {}), items_frame([], {}), False, False)

    @property
    def optional_item_columns(self) -> tuple[str, ...]:
        return tuple(c for c in (schema.CLUSTER, schema.TITLE) if c in self.items.columns)


def users_frame(ids: Sequence[str], attributes: dict[str, Sequence]) -> pd.DataFrame:
    """A users table with every ``USER_ATTRIBUTES`` column (missing -> unknown)."""
    frame = pd.DataFrame(index=pd.Index(list(ids), dtype=object, name=schema.USER_ID))
    for name in schema.USER_ATTRIBUTES:
        values = attributes.get(name)
        frame[name] = (pd.Series(list(values), index=frame.index, dtype=object).fillna(schema.UNKNOWN_VALUE)
                       .astype(str) if values is not None else schema.UNKNOWN_VALUE)
    return frame


def items_frame(ids: Sequence[str], columns: dict[str, Sequence]) -> pd.DataFrame:
    """An items table with ``ITEM_CATEGORY``, ``ITEM_AGE``, ``RELEASE_YEAR`` and extras."""
    frame = pd.DataFrame(index=pd.Index(list(ids), dtype=object, name=schema.ITEM_ID))
    category = columns.get(schema.ITEM_CATEGORY)
    frame[schema.ITEM_CATEGORY] = (pd.Series(list(category), index=frame.index, dtype=object)
                                   .fillna(schema.UNKNOWN_VALUE).astype(str)
                                   if category is not None else schema.UNKNOWN_VALUE)
    for name in (schema.ITEM_AGE, RELEASE_YEAR):
        values = columns.get(name)
        frame[name] = (pd.to_numeric(pd.Series(list(values), index=frame.index), errors="coerce")
                       .astype(np.float64) if values is not None else np.nan)
    for name in (schema.TITLE, schema.CLUSTER):
        if columns.get(name) is not None:
            frame[name] = list(columns[name])
    if frame.index.has_duplicates:
        duplicate = frame.index[frame.index.duplicated()][0]
        raise ValueError(f"items file: {schema.ITEM_ID} {duplicate!r} appears more than once")
    return frame


@dataclasses.dataclass
class ReferenceRows:
    """The accounting of a reference file validated row by row in the driver.

    Attributes:
        file: the file's name.
        rows_read: rows read (a header is not a row).
        dead: its dead-lettered rows (``rows.DEAD_COLUMNS``); the others were kept.
    """

    file: str
    rows_read: int
    dead: pd.DataFrame

    def stats(self) -> dict:
        """``stats.json``'s record of the file: rows read, kept and dead-lettered by reason."""
        reasons = self.dead[R.REASON].value_counts().sort_index()
        return {"rows_read": self.rows_read, "rows_kept": self.rows_read - len(self.dead),
                "rows_deadlettered": {str(k): int(v) for k, v in reasons.items()}}


@dataclasses.dataclass
class Plan:
    """Shards to read in the workers, and what the driver read itself.

    Attributes:
        reference_rows: reference files whose rows are validated one by one
            (an events folder's users table); their dead letters and counts
            go to ``deadletter/<file stem>/`` and ``stats.json``.
    """

    shards: list[R.Shard]
    catalog: Catalog
    checksum: str
    files: list[str]
    reference_rows: list[ReferenceRows] = dataclasses.field(default_factory=list)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def combined_checksum(paths: Sequence[str | Path]) -> str:
    """``sha256:`` of the (file name, file sha256) list, sorted by name."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: Path(p).name):
        digest.update(f"{Path(path).name}\0{file_sha256(path)}\n".encode())
    return "sha256:" + digest.hexdigest()


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} not found")
    return path


def plan_text(path: str | Path, source: R.SourceSpec, first_index: int, header: bool,
              shard_bytes: int = DEFAULT_SHARD_BYTES) -> list[R.Shard]:
    """Cut a text file into shards of about ``shard_bytes`` at line boundaries.

    With ``header`` the first line is skipped (it is not a row). Line numbers
    are physical (the header is line 1).
    """
    path = str(require(Path(path), "input file"))
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        if size == 0:
            return []
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            start, line = 0, 1
            if header:
                newline = data.find(b"\n")
                start = size if newline < 0 else newline + 1
                line = 2
            shards = []
            while start < size:
                newline = data.find(b"\n", min(start + shard_bytes, size) - 1)
                end = size if newline < 0 else newline + 1
                shards.append(R.Shard(first_index + len(shards), path, source, start, end, line))
                line += data[start:end].count(b"\n")
                start = end
    return shards


def read_lines(shard: R.Shard, encoding: str) -> list[str]:
    """The lines of a text shard, without line terminators (CRLF or LF)."""
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(shard.path, compression_type="uncompressed") as handle:
        handle.seek(shard.start)
        data = handle.read(shard.end - shard.start)
    text = data.decode(encoding)
    if text.endswith("\n"):
        text = text[:-1]
    lines = text.split("\n")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def split_delimited(lines: list[str], separator: str, quoted: bool) -> list[list[str]]:
    """Fields of each line: ``csv`` rules when ``quoted`` (commas in quotes), else a plain split."""
    if quoted:
        return list(csv.reader(lines, delimiter=separator))
    return [line.split(separator) for line in lines]


def parse_delimited(shard: R.Shard, lines: list[str], separator: str, positions: dict[str, int],
                    width: int, quoted: bool = False) -> R.RawRows:
    """Raw rows of a delimited shard.

    Args:
        positions: schema name -> 0-based field index.
        width: the number of fields a valid row has; other rows are marked
            ``field_count``.
    """
    from pipelines import validate

    parts = split_delimited(lines, separator, quoted)
    counts = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    wrong = counts != width
    padded = parts
    if wrong.any():
        padded = [p if len(p) == width else [None] * width for p in parts]
    columns = list(zip(*padded)) if padded else [()] * width
    fields = {name: np.asarray(columns[index], dtype=object) for name, index in positions.items()}
    reason = np.where(wrong, validate.FIELD_COUNT, None).astype(object)
    detail = np.full(len(lines), None, dtype=object)
    for i in np.flatnonzero(wrong):
        detail[i] = f"expected {width} fields separated by {separator!r}, found {counts[i]}"
    numbers = shard.first_line + np.arange(len(lines), dtype=np.int64)
    return R.RawRows.build(shard.source, numbers, lines, fields, reason, detail)


def header_positions(path: Path, separator: str, wanted: dict[str, str], encoding: str = "utf-8",
                     ) -> tuple[dict[str, int], int]:
    """Field index of each wanted column in a CSV header, and the header's width.

    Args:
        wanted: schema name -> column name in the file.
    """
    with open(path, encoding=encoding, newline="") as handle:
        header = next(csv.reader([handle.readline().rstrip("\r\n")], delimiter=separator), [])
    names = [h.strip() for h in header]
    positions = {}
    for name, column in wanted.items():
        if column not in names:
            raise ValueError(f"{path.name}: column {column!r} (for {name}) not in header {names}")
        positions[name] = names.index(column)
    return positions, len(names)


class Reader(abc.ABC):
    """A dataset format: plans shards in the driver, reads them in workers."""

    format_name: str = ""
    folder_files: tuple[str, ...] = ()
    """Files a folder format reads from ``--input``; empty when a file is read as given."""
    files_help: str = ""
    """What ``--input`` must hold, for ``--help`` and the README."""

    def __init__(self, input_path: str | Path, column_mapping: dict[str, str] | None = None,
                 shard_bytes: int = DEFAULT_SHARD_BYTES):
        self.input_path = self.resolve_input(Path(input_path))
        self.column_mapping = dict(column_mapping or {})
        self.shard_bytes = shard_bytes

    @classmethod
    def resolve_input(cls, path: Path) -> Path:
        """The folder to read: ``path`` itself, or the folder of one of the format's files.

        Passing ``ratings.csv`` for ``movielens-latest`` reads its folder; any
        other file is refused with a message naming the files the folder needs.
        """
        if not path.exists():
            raise FileNotFoundError(f"--input {path} not found")
        if not cls.folder_files or path.is_dir():
            return path
        if path.name in cls.folder_files:
            return path.parent
        raise ValueError(f"--input {path}: --format {cls.format_name} reads a folder holding "
                         f"{', '.join(cls.folder_files)}; pass that folder, not a file")

    @abc.abstractmethod
    def plan(self) -> Plan:
        """Read reference files, checksum the inputs, cut interaction files into shards."""

    @abc.abstractmethod
    def read_shard(self, shard: R.Shard) -> R.RawRows:
        """Raw rows of one shard (runs in a worker)."""
