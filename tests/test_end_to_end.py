"""Every ``--format`` the readers accept goes the whole way on tiny data, through the CLI.

For each format a tiny dataset in that format's own file layout is written
(24 users x 14 ratings of 30 items in 3 genres), then: ``funnel preprocess``
-> ``funnel train retrieval`` and ``funnel train ranking`` (one epoch, small
dimensions) -> ``funnel export`` (which verifies the staged version in a fresh
process before publishing it) -> ``funnel evaluate funnel`` -> one
``POST /v1/recommend`` to the service on that export. Every command must exit
0 without a traceback. MovieLens "latest" has no users file, so its user
vocabularies are empty (the export once crashed on that). The events case goes
end to end on a folder of events.csv and a users table users.csv, whose
attributes must reach the service's profile features; the same events as one
.csv, .jsonl and .parquet file without users are preprocessed too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from funnel import cli, schema
from pipelines.readers import READERS

pytestmark = pytest.mark.slow

NUM_USERS, NUM_ITEMS, PER_USER = 24, 30, 14
GENRES = ("Action", "Comedy", "Drama")
START = 1_000_000_000
RETRIEVAL_FLAGS = ["--model", "mur", "--interests", "2", "--embedding-dim", "8", "--item-hidden", "8",
                   "--encoder-layers", "1", "--encoder-heads", "2", "--epochs", "1",
                   "--batch-size", "64", "--keras-verbose", "0"]
RANKING_FLAGS = ["--model", "dnn", "--embedding-dim", "4", "--epochs", "1", "--batch-size", "256",
                 "--set", "hidden_units=[8]"]


def interactions(seed: int = 0) -> pd.DataFrame:
    """user, item, rating, timestamp: each user rates items of one or two genres, in time order."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, NUM_USERS + 1):
        liked = rng.choice(len(GENRES), size=1 + user % 2, replace=False)
        pool = [i for i in range(1, NUM_ITEMS + 1) if (i - 1) % len(GENRES) in liked]
        items = rng.choice(pool, size=min(PER_USER, len(pool)), replace=False)
        for position, item in enumerate(items):
            rows.append((user, int(item), int(rng.integers(1, 6)), START + user * 10_000 + position * 60))
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


def users() -> pd.DataFrame:
    ids = np.arange(1, NUM_USERS + 1)
    return pd.DataFrame({"user": ids, "age": 18 + ids, "gender": np.where(ids % 2, "F", "M"),
                         "occupation": np.array(["writer", "doctor", "artist"])[ids % 3],
                         "zip": [f"{(i * 7) % 10}2345" for i in ids]})


def genre_of(item: int) -> str:
    return GENRES[(item - 1) % len(GENRES)]


def write_movielens_100k(folder: Path) -> Path:
    ratings = interactions()
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ratings.values))
    (folder / "u.user").write_text("".join(f"{u.user}|{u.age}|{u.gender}|{u.occupation}|{u.zip}\n"
                                           for u in users().itertuples()))
    genres = ["unknown", *GENRES]
    (folder / "u.genre").write_text("".join(f"{g}|{n}\n" for n, g in enumerate(genres)))
    (folder / "u.item").write_text("".join(
        f"{i}|Movie {i} (1995)|01-Jan-1995||http://x/{i}|"
        + "|".join("1" if g == genre_of(i) else "0" for g in genres) + "\n"
        for i in range(1, NUM_ITEMS + 1)), encoding="latin-1")
    return folder


def write_movielens_1m(folder: Path) -> Path:
    ratings = interactions()
    (folder / "ratings.dat").write_text("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in ratings.values))
    (folder / "users.dat").write_text("".join(f"{u.user}::{u.gender}::{u.age}::{u.user % 20}::{u.zip}\n"
                                              for u in users().itertuples()))
    (folder / "movies.dat").write_text("".join(f"{i}::Movie {i} (1995)::{genre_of(i)}\n"
                                               for i in range(1, NUM_ITEMS + 1)), encoding="latin-1")
    return folder


def write_movielens_latest(folder: Path) -> Path:
    """ratings.csv + movies.csv, no users file; --input is ratings.csv itself (its folder is read)."""
    ratings = interactions().rename(columns={"user": "userId", "item": "movieId"})
    ratings["rating"] = ratings["rating"] - 0.5
    ratings.to_csv(folder / "ratings.csv", index=False)
    pd.DataFrame({"movieId": range(1, NUM_ITEMS + 1),
                  "title": [f"Movie {i}, The (1995)" for i in range(1, NUM_ITEMS + 1)],
                  "genres": [genre_of(i) for i in range(1, NUM_ITEMS + 1)]}).to_csv(
        folder / "movies.csv", index=False)
    return folder / "ratings.csv"


def write_events(folder: Path, suffix: str) -> Path:
    """The same events as one .csv, .jsonl or .parquet file (no users file: attributes unknown)."""
    frame = interactions().rename(columns={"user": "uid", "item": "iid", "timestamp": "ts"})
    path = folder / f"events{suffix}"
    {".csv": lambda: frame.to_csv(path, index=False),
     ".jsonl": lambda: frame.to_json(path, orient="records", lines=True),
     ".parquet": lambda: frame.to_parquet(path, index=False)}[suffix]()
    return path


EVENTS_FLAGS = ["--column-mapping", "user_id=uid,item_id=iid,timestamp=ts"]
EVENT_FILES = (".csv", ".jsonl", ".parquet")


def write_events_with_users(folder: Path) -> Path:
    """A folder holding events.csv and the users table users.csv; it is the --input."""
    write_events(folder, ".csv")
    table = users().rename(columns={"user": "uid", "gender": "user_gender", "age": "user_age",
                                    "occupation": "user_occupation"})
    table["user_region"] = table.pop("zip").str[:1]
    table.to_csv(folder / "users.csv", index=False)
    return folder


def write_synthetic(folder: Path) -> Path:
    assert cli.main(["generate", "--out", str(folder), "--users", "30", "--items", "40", "--clusters", "4", "--length", "14",
                     "--seed", "1"]) == 0
    return folder


FORMATS = {
    # case: (--format, writer, extra preprocess flags)
    "movielens-100k": ("movielens-100k", write_movielens_100k, []),
    "movielens-1m": ("movielens-1m", write_movielens_1m, []),
    "movielens-latest": ("movielens-latest", write_movielens_latest, []),
    "events": ("events", write_events_with_users, EVENTS_FLAGS),
    "synthetic": ("synthetic", write_synthetic, []),
}
"""The events case also preprocesses the events alone as one .csv, .jsonl and .parquet
file and requires the same retrieval examples and id vocabularies (user attributes
unknown), so one training and export cover the format."""


def test_every_reader_format_is_covered():
    assert {fmt for fmt, _, _ in FORMATS.values()} == set(READERS)


def run(capsys, *argv: str) -> str:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, f"funnel {' '.join(argv)} exited {code}\n{out[-3000:]}\n{err[-3000:]}"
    assert "Traceback" not in out + err, err[-3000:]
    return out


def same_outputs(first: Path, second: Path) -> bool:
    """Equal retrieval examples and vocabularies but the user attributes' (stats.json names
    the input files, and ranking examples carry the attributes, so both differ)."""
    attributes = {f"{name}.txt" for name in schema.USER_ATTRIBUTES}
    names = sorted(str(p.relative_to(first)) for p in first.rglob("*")
                   if p.is_file() and p.parts[-2] in ("retrieval", "vocab") and p.name not in attributes)
    return bool(names) and all((first / n).read_bytes() == (second / n).read_bytes() for n in names)


@pytest.mark.parametrize("case", sorted(FORMATS))
def test_format_goes_end_to_end(case, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.settings import ServiceSettings

    fmt, write, flags = FORMATS[case]
    raw = tmp_path / "raw"
    raw.mkdir()
    source = write(raw)
    data, export = tmp_path / "data", tmp_path / "export"
    run(capsys, "preprocess", "--input", str(source), "--format", fmt, "--out", str(data),
        "--eval-negatives", "5", "--num-shards", "1", *flags)
    if case == "events":
        alone = tmp_path / "alone"
        alone.mkdir()
        for suffix in EVENT_FILES:
            other = tmp_path / f"data{suffix}"
            run(capsys, "preprocess", "--input", str(write_events(alone, suffix)), "--format", fmt,
                "--out", str(other), "--eval-negatives", "5", "--num-shards", "1", *flags)
            assert same_outputs(data, other), suffix
            assert schema.Layout(other).vocab_file(schema.USER_GENDER).read_text() == ""
    run(capsys, "train", "retrieval", "--data", str(data), "--out", str(tmp_path / "retrieval"),
        *RETRIEVAL_FLAGS)
    run(capsys, "train", "ranking", "--data", str(data), "--out", str(tmp_path / "ranking"),
        *RANKING_FLAGS)
    out = run(capsys, "export", "--retrieval", str(tmp_path / "retrieval"), "--ranking",
              str(tmp_path / "ranking"), "--data", str(data), "--out", str(export))
    assert "verified in a fresh process" in out and "checks passed" in out
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["verify"]["failures"] == 0
    result = json.loads(run(capsys, "evaluate", "funnel", "--export", str(export), "--data", str(data),
                            "--json"))
    assert result["examples"] > 0 and 0 <= result["funnel"]["hr@10"] <= 1

    item_ids = (data / "vocab" / "item_id.txt").read_text().split()
    history = [int(i) if i.isdigit() else i for i in item_ids[:3]]
    request = {"history": history, "k": 5}
    if case == "events":
        stats = json.loads((data / "stats.json").read_text())
        assert stats["reference_files"]["users.csv"]["rows_kept"] == NUM_USERS
        assert sorted((data / "vocab" / "user_gender.txt").read_text().split()) == ["F", "M"]
        request["user_id"] = "1"
    app = create_app(ServiceSettings(export_dir=str(export), reload_interval_s=0))
    with TestClient(app) as client:
        response = client.post("/v1/recommend", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    if case == "events":  # the profile of user 1 is known: no "unknown user" warning
        assert not body["warnings"], body["warnings"]
    assert len(body["items"]) == 5 and not body["fallback"]
    assert not set(item["item_id"] for item in body["items"]) & set(map(str, history))
