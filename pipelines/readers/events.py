"""Generic event logs: CSV, JSON lines or Parquet, with a column mapping.

``--column-mapping user_id=uid,item_id=iid,timestamp=ts`` names the file's
column for each schema field (unmapped fields are looked up under their schema
name). ``USER_ID``, ``ITEM_ID`` and ``TIMESTAMP`` are required; ``RATING``,
``CLICK`` and ``REQUEST_ID`` are used when present. With a click column the
file is an impression log: clicked rows are the retrieval interactions, every
row a ranking example (Skive-Above applies when there is a request id).

A folder may also hold a users table, ``users.csv`` (or ``.tsv``, ``.jsonl``,
``.parquet``, ...): user ids with the ranking's user attributes
(:mod:`pipelines.readers.users`). Without one, user attributes are unknown
(OOV). There is no items file, so ids are not checked and item attributes are
unknown.

The format follows the extension: ``.csv``/``.tsv``, ``.jsonl``/``.json``/
``.ndjson``, ``.parquet``. Text files are cut into byte-range shards, Parquet
files into row groups.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from funnel import schema
from pipelines import rows as R
from pipelines import validate
from pipelines.readers import base, users

REQUIRED = (schema.USER_ID, schema.ITEM_ID, schema.TIMESTAMP)
OPTIONAL = (schema.RATING, schema.CLICK, schema.REQUEST_ID)
KNOWN = REQUIRED + OPTIONAL + schema.USER_ATTRIBUTES
"""Fields ``--column-mapping`` may rename; the user attributes are the users table's."""

CSV_EXTENSIONS = {".csv": ",", ".tsv": "\t"}
JSON_EXTENSIONS = (".jsonl", ".json", ".ndjson")
PARQUET_EXTENSIONS = (".parquet", ".pq")


def parse_mapping(text: str | None) -> dict[str, str]:
    """``"user_id=uid,item_id=iid"`` -> ``{"user_id": "uid", "item_id": "iid"}``."""
    mapping = {}
    for pair in filter(None, (p.strip() for p in (text or "").split(","))):
        name, sep, column = pair.partition("=")
        if not sep or not column.strip():
            raise ValueError(f"--column-mapping: {pair!r} is not NAME=COLUMN")
        if name.strip() not in KNOWN:
            raise ValueError(f"--column-mapping: unknown field {name.strip()!r}; known: {list(KNOWN)}")
        mapping[name.strip()] = column.strip()
    return mapping


class Events(base.Reader):
    """One events file (or every file of one format in a folder)."""

    format_name = "events"
    files_help = ("one .csv/.tsv, .jsonl/.json/.ndjson or .parquet file, or a folder of them; "
                  "columns user_id, item_id, timestamp (rename with --column-mapping), "
                  "optional rating, click, request_id; a folder may add a users table users.csv "
                  "(or .tsv/.jsonl/.parquet) with user_id and user_gender, user_age, "
                  "user_occupation, user_region")

    def _files(self) -> tuple[list[Path], Path | None]:
        """The event files to read and the folder's users table (``None`` for a file input)."""
        if self.input_path.is_file():
            return [self.input_path], None
        files = sorted(p for p in self.input_path.iterdir()
                       if p.suffix.lower() in (*CSV_EXTENSIONS, *JSON_EXTENSIONS, *PARQUET_EXTENSIONS))
        users_file = users.find_users_file(files)
        events = [f for f in files if f != users_file]
        if not events:
            raise FileNotFoundError(f"--input {self.input_path}: no .csv/.tsv/.jsonl/.parquet events file")
        return events, users_file

    def _columns_present(self, path: Path) -> list[str]:
        suffix = path.suffix.lower()
        if suffix in CSV_EXTENSIONS:
            with open(path, encoding="utf-8", newline="") as handle:
                header = handle.readline().rstrip("\r\n")
            return [c.strip() for c in next(csv.reader([header], delimiter=CSV_EXTENSIONS[suffix]), [])]
        if suffix in PARQUET_EXTENSIONS:
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(path).schema_arrow.names)
        with open(path, encoding="utf-8") as handle:
            first = handle.readline()
        try:
            return list(json.loads(first)) if first.strip() else []
        except (json.JSONDecodeError, TypeError):
            return []

    def _source(self, path: Path) -> R.SourceSpec:
        present = self._columns_present(path)
        columns = {name: self.column_mapping.get(name, name) for name in REQUIRED}
        for name in OPTIONAL:
            column = self.column_mapping.get(name, name)
            if name in self.column_mapping or column in present:
                columns[name] = column
        missing = [f"{n} (column {c!r})" for n, c in columns.items() if c not in present]
        if missing and path.suffix.lower() not in JSON_EXTENSIONS:
            raise ValueError(f"{path.name}: required column(s) {missing} not found in {present}; "
                             f"use --column-mapping NAME=COLUMN")
        retrieval = R.RETRIEVAL_CLICKED if schema.CLICK in columns else R.RETRIEVAL_ALL
        self.column_mapping = {**columns, **self.column_mapping}
        return R.SourceSpec(path.name, tuple(columns), retrieval, True)

    def plan(self) -> base.Plan:
        shards: list[R.Shard] = []
        files, users_file = self._files()
        catalog, reference = base.Catalog.empty(), []
        if users_file is not None:
            table, report = users.read_users(users_file, self.column_mapping,
                                             CSV_EXTENSIONS.get(users_file.suffix.lower()))
            catalog, reference = base.Catalog(table, catalog.items, False, False), [report]
        for path in files:
            source = self._source(path)
            suffix = path.suffix.lower()
            if suffix in PARQUET_EXTENSIONS:
                import pyarrow.parquet as pq

                metadata = pq.ParquetFile(path).metadata
                row = 1
                for group in range(metadata.num_row_groups):
                    shards.append(R.Shard(len(shards), str(path), source, group, group + 1, row))
                    row += metadata.row_group(group).num_rows
            else:
                shards.extend(base.plan_text(path, source, len(shards),
                                             header=suffix in CSV_EXTENSIONS,
                                             shard_bytes=self.shard_bytes))
        inputs = [*files, *([users_file] if users_file else [])]
        return base.Plan(shards, catalog, base.combined_checksum(inputs), [str(f) for f in inputs],
                         reference)

    def read_shard(self, shard: R.Shard) -> R.RawRows:
        suffix = Path(shard.path).suffix.lower()
        names = {name: self.column_mapping[name] for name in shard.source.columns}
        if suffix in CSV_EXTENSIONS:
            separator = CSV_EXTENSIONS[suffix]
            positions, width = base.header_positions(Path(shard.path), separator, names)
            lines = base.read_lines(shard, "utf-8")
            return base.parse_delimited(shard, lines, separator, positions, width, quoted=True)
        if suffix in PARQUET_EXTENSIONS:
            return self._read_parquet(shard, names)
        return self._read_json(shard, names)

    def _read_json(self, shard: R.Shard, names: dict[str, str]) -> R.RawRows:
        lines = base.read_lines(shard, "utf-8")
        fields = {name: np.full(len(lines), None, dtype=object) for name in names}
        reason = np.full(len(lines), None, dtype=object)
        detail = np.full(len(lines), None, dtype=object)
        for i, line in enumerate(lines):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                record, detail[i] = None, f"not JSON: {error.msg}"
            if not isinstance(record, dict):
                reason[i] = validate.FIELD_COUNT
                detail[i] = detail[i] or "not a JSON object"
                continue
            for name, column in names.items():
                value = record.get(column)
                fields[name][i] = None if value is None else str(value)
        numbers = shard.first_line + np.arange(len(lines), dtype=np.int64)
        return R.RawRows.build(shard.source, numbers, lines, fields, reason, detail)

    def _read_parquet(self, shard: R.Shard, names: dict[str, str]) -> R.RawRows:
        import pyarrow.parquet as pq

        table = pq.ParquetFile(shard.path).read_row_group(shard.start, columns=list(names.values()))
        columns = {name: table.column(column).to_pylist() for name, column in names.items()}
        count = table.num_rows
        fields = {}
        for name, values in columns.items():
            if hasattr(values[0] if values else None, "timestamp"):
                values = [None if v is None else v.timestamp() for v in values]
            fields[name] = np.asarray([None if v is None else str(v) for v in values], dtype=object)
        raw = [json.dumps({names[n]: fields[n][i] for n in names}) for i in range(count)]
        numbers = shard.first_line + np.arange(count, dtype=np.int64)
        return R.RawRows.build(shard.source, numbers, raw, fields)
