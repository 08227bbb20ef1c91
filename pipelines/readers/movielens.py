"""MovieLens 100K, 1M and "latest" (Harper & Konstan 2015) as funnel rows.

Mapping to the schema: ``USER_GENDER`` = gender, ``USER_OCCUPATION`` =
occupation, ``USER_REGION`` = first character of the zip code, ``USER_AGE`` =
age (1M: its age-group code), ``ITEM_CATEGORY`` = the first genre flagged
("unknown" when none), ``ITEM_AGE`` = interaction year - release year (from
the release date or the "(1995)" in the title; unknown -> numeric bucket 1),
``TITLE`` kept for the item table. Every rating is an interaction of the
user's sequence; ranking labels are ``rating >= schema.POSITIVE_RATING``.
"""

from __future__ import annotations

import abc
import re
from pathlib import Path

import numpy as np
import pandas as pd

from funnel import schema
from pipelines import rows as R
from pipelines.readers import base

UNKNOWN_GENRE = "unknown"
_TITLE_YEAR = re.compile(r"\((\d{4})\)\s*$")

RATING_COLUMNS = (schema.USER_ID, schema.ITEM_ID, schema.RATING, schema.TIMESTAMP)
RATING_POSITIONS = {name: i for i, name in enumerate(RATING_COLUMNS)}


def _split_file(path: Path, separator: str, width: int, encoding: str) -> list[list[str]]:
    """Rows of a small reference file; a malformed row is an error naming its line."""
    rows = []
    with open(path, encoding=encoding) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split(separator)
            if len(fields) != width:
                raise ValueError(f"{path.name} line {number}: expected {width} fields separated "
                                 f"by {separator!r}, found {len(fields)}")
            rows.append(fields)
    return rows


def _year_from_title(title: str) -> float:
    match = _TITLE_YEAR.search(title)
    return float(match.group(1)) if match else np.nan


def _first_genre(genres: str) -> str:
    first = genres.split("|")[0].strip()
    return first if first and not first.startswith("(") else UNKNOWN_GENRE


class _RatingsReader(base.Reader):
    """A MovieLens folder: one ratings file cut into shards plus reference files."""

    ratings_file = ""
    separator = ""
    encoding = "latin-1"
    header = False

    @abc.abstractmethod
    def _catalog(self) -> base.Catalog:
        """Items and users of this MovieLens variant, read from its reference files."""

    @abc.abstractmethod
    def _reference_files(self) -> list[Path]:
        """The files besides the ratings that make up the input (for the checksum)."""

    def plan(self) -> base.Plan:
        ratings = base.require(self.input_path / self.ratings_file, f"{self.format_name} ratings")
        source = R.SourceSpec(self.ratings_file, RATING_COLUMNS)
        shards = base.plan_text(ratings, source, 0, self.header, self.shard_bytes)
        files = [ratings, *self._reference_files()]
        return base.Plan(shards, self._catalog(), base.combined_checksum(files),
                         [str(f) for f in files])

    def read_shard(self, shard: R.Shard) -> R.RawRows:
        lines = base.read_lines(shard, self.encoding)
        return base.parse_delimited(shard, lines, self.separator, RATING_POSITIONS, 4)


class MovieLens100K(_RatingsReader):
    """``u.data`` (tab-separated ratings), ``u.user``, ``u.item``, ``u.genre`` (Latin-1)."""

    format_name = "movielens-100k"
    ratings_file = "u.data"
    separator = "\t"
    folder_files = ("u.data", "u.user", "u.item", "u.genre")
    files_help = "folder with u.data (ratings), u.user, u.item, u.genre"

    def _reference_files(self) -> list[Path]:
        return [base.require(self.input_path / name, "MovieLens 100K file")
                for name in ("u.user", "u.item", "u.genre")]

    def _catalog(self) -> base.Catalog:
        users = _split_file(self.input_path / "u.user", "|", 5, self.encoding)
        user_ids, ages, genders, occupations, zips = zip(*users)
        genres = [name for name, _ in _split_file(self.input_path / "u.genre", "|", 2, self.encoding)]
        items = _split_file(self.input_path / "u.item", "|", 5 + len(genres), self.encoding)
        categories, years, titles = [], [], []
        for fields in items:
            flags = fields[5:]
            flagged = [genres[i] for i, flag in enumerate(flags) if flag.strip() == "1"]
            categories.append(flagged[0] if flagged else UNKNOWN_GENRE)
            released = pd.to_datetime(fields[2], format="%d-%b-%Y", errors="coerce")
            years.append(float(released.year) if not pd.isna(released) else np.nan)
            titles.append(fields[1])
        return base.Catalog(
            base.users_frame(user_ids, {schema.USER_AGE: ages, schema.USER_GENDER: genders,
                                        schema.USER_OCCUPATION: occupations,
                                        schema.USER_REGION: [z[:1] for z in zips]}),
            base.items_frame([f[0] for f in items], {
                schema.ITEM_CATEGORY: categories, base.RELEASE_YEAR: years, schema.TITLE: titles}),
            check_users=True, check_items=True)


class MovieLens1M(_RatingsReader):
    """``ratings.dat``, ``users.dat``, ``movies.dat``, ``::``-separated, Latin-1."""

    format_name = "movielens-1m"
    ratings_file = "ratings.dat"
    separator = "::"
    folder_files = ("ratings.dat", "users.dat", "movies.dat")
    files_help = "folder with ratings.dat, users.dat, movies.dat"

    def _reference_files(self) -> list[Path]:
        return [base.require(self.input_path / name, "MovieLens 1M file")
                for name in ("users.dat", "movies.dat")]

    def _catalog(self) -> base.Catalog:
        users = _split_file(self.input_path / "users.dat", "::", 5, self.encoding)
        user_ids, genders, ages, occupations, zips = zip(*users)
        movies = _split_file(self.input_path / "movies.dat", "::", 3, self.encoding)
        return base.Catalog(
            base.users_frame(user_ids, {schema.USER_AGE: ages, schema.USER_GENDER: genders,
                                        schema.USER_OCCUPATION: occupations,
                                        schema.USER_REGION: [z[:1] for z in zips]}),
            base.items_frame([m[0] for m in movies], {
                schema.ITEM_CATEGORY: [_first_genre(m[2]) for m in movies],
                base.RELEASE_YEAR: [_year_from_title(m[1]) for m in movies],
                schema.TITLE: [m[1] for m in movies]}),
            check_users=True, check_items=True)


class MovieLensLatest(_RatingsReader):
    """``ratings.csv`` and ``movies.csv`` (with headers, UTF-8); no user file."""

    format_name = "movielens-latest"
    ratings_file = "ratings.csv"
    folder_files = ("ratings.csv", "movies.csv")
    files_help = "folder with ratings.csv and movies.csv (no users file: user attributes unknown)"
    separator = ","
    encoding = "utf-8"
    header = True

    def _reference_files(self) -> list[Path]:
        return [base.require(self.input_path / "movies.csv", "MovieLens movies file")]

    def _catalog(self) -> base.Catalog:
        movies = pd.read_csv(self.input_path / "movies.csv", dtype=str, keep_default_na=False)
        for column in ("movieId", "title", "genres"):
            if column not in movies.columns:
                raise ValueError(f"movies.csv: column {column!r} missing; found {list(movies.columns)}")
        return base.Catalog(
            base.users_frame([], {}),
            base.items_frame(movies["movieId"].str.strip().tolist(), {
                schema.ITEM_CATEGORY: [_first_genre(g) for g in movies["genres"]],
                base.RELEASE_YEAR: [_year_from_title(t) for t in movies["title"]],
                schema.TITLE: movies["title"].tolist()}),
            check_users=False, check_items=True)
