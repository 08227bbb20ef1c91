"""An events folder's users table (pipelines/readers/users.py): attributes reach the
ranking examples, every row is kept or dead-lettered with its reason, and a
malformed table is refused with a message naming the file and the column."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from funnel import schema
from pipelines import validate
from pipelines.pipeline import PreprocessOptions, preprocess
from pipelines.readers import READERS
from pipeline_fixtures import NOW, read_examples, vocabulary

EVENTS = pd.DataFrame({"uid": ["a"] * 4 + ["b"] * 4 + ["z"] * 4,
                       "item_id": ["x", "y", "w", "v", "y", "x", "v", "w", "x", "w", "y", "v"],
                       "timestamp": [1_500_000_000 + 60 * i for i in range(12)]})
USERS = pd.DataFrame({"uid": ["a", "b", "", "c", "a"], "sex": ["F", "M", "F", "M", "M"],
                      "user_age": ["34", "", "20", "old", "50"],
                      "user_occupation": ["writer", "doctor", "artist", "artist", "nurse"]})
"""Rows: a and b are good (b's age unknown); no id; c's age is not a number; a again.
User z has events but no row: its events are kept with unknown attributes."""
MAPPING = "user_id=uid,user_gender=sex"


def write(folder, frame: pd.DataFrame, name: str, kind: str):
    path = folder / f"{name}.{kind}"
    {"csv": lambda: frame.to_csv(path, index=False),
     "jsonl": lambda: path.write_text("".join(json.dumps(r) + "\n" for r in frame.to_dict("records"))),
     "parquet": lambda: frame.to_parquet(path, index=False)}[kind]()
    return path


def run(folder, out, mapping=MAPPING):
    """Preprocess without Beam (the same steps; the end-to-end test runs Beam on a users table)."""
    return preprocess(PreprocessOptions(input=str(folder), format="events", out=str(out),
                                        column_mapping=mapping, eval_negatives=0, now=NOW),
                      ["--runner=local"])


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_users_table_attributes_reach_the_ranking_examples_and_bad_rows_are_deadlettered(tmp_path, kind):
    folder = tmp_path / "log"
    folder.mkdir()
    write(folder, EVENTS, "events", "csv")
    write(folder, USERS, "users", kind)
    result = run(folder, tmp_path / "out")

    assert result.stats["rows_read"] == 12 and result.stats["rows_kept"] == 12  # z's events kept
    assert result.stats["reference_files"] == {f"users.{kind}": {
        "rows_read": 5, "rows_kept": 2, "rows_deadlettered": {
            validate.DUPLICATE_USER: 1, validate.MISSING_FIELD: 1, validate.UNPARSEABLE: 1}}}
    dead_dir = result.out / schema.Layout.DEADLETTER_DIR / "users"
    dead = {p.stem: [json.loads(line) for line in p.read_text().splitlines()] for p in dead_dir.iterdir()}
    first_row = 2 if kind == "csv" else 1  # a CSV's header is line 1
    assert [(d["line"], d["detail"]) for d in dead[validate.DUPLICATE_USER]] == [
        (first_row + 4, f"user_id 'a' is already on line {first_row}")]
    assert dead[validate.UNPARSEABLE][0]["detail"] == "user_age 'old' is not a number >= 0"
    assert dead[validate.MISSING_FIELD][0]["line"] == first_row + 2

    users = pd.read_csv(schema.Layout(result.out).users, dtype=str, keep_default_na=False)
    table = users.set_index(schema.USER_ID)[list(schema.USER_ATTRIBUTES)]
    assert table.loc["a"].tolist() == ["F", "writer", "", "34"]  # first row wins, no region column
    assert table.loc["b"].tolist() == ["M", "doctor", "", ""] and (table.loc["z"] == "").all()
    genders = vocabulary(result.out, schema.USER_GENDER)
    user_ids = vocabulary(result.out, schema.USER_ID)
    examples = [e for split in schema.SPLITS for e in read_examples(result.out, "ranking", split)]
    gender_of = {user_ids[e[schema.USER_ID][0]]: genders[e[schema.USER_GENDER][0]] for e in examples}
    assert gender_of == {"a": "F", "b": "M", "z": "<oov>"}
    age_bucket = {user_ids[e[schema.USER_ID][0]]: e[schema.USER_AGE][0] for e in examples}
    assert age_bucket["a"] == schema.log_square_bucket(34.0) and age_bucket["b"] == age_bucket["z"]


def test_without_a_users_table_user_attributes_stay_unknown(tmp_path):
    folder = tmp_path / "log"
    folder.mkdir()
    write(folder, EVENTS, "events", "csv")
    result = run(folder, tmp_path / "out", mapping="user_id=uid")
    assert result.stats["reference_files"] == {}
    assert schema.Layout(result.out).vocab_file(schema.USER_GENDER).read_text() == ""


def test_the_users_table_is_not_read_as_events_and_is_part_of_the_input_checksum(tmp_path):
    folder = tmp_path / "log"
    folder.mkdir()
    write(folder, EVENTS, "events", "csv")
    write(folder, USERS, "users", "csv")
    plan = READERS["events"](folder, {"user_id": "uid", "user_gender": "sex"}).plan()
    assert {s.source.name for s in plan.shards} == {"events.csv"}
    assert [p.rsplit("/", 1)[-1] for p in plan.files] == ["events.csv", "users.csv"]
    before = plan.checksum
    write(folder, USERS.iloc[:2], "users", "csv")
    assert READERS["events"](folder, {"user_id": "uid", "user_gender": "sex"}).plan().checksum != before


@pytest.mark.parametrize("users, mapping, message", [
    (USERS.rename(columns={"uid": "user"}), "user_id=uid",
     r"users.csv: column\(s\) \[.user_id \(column 'uid'\).\] not found"),
    (USERS[["uid"]], "user_id=uid", r"users.csv: no user attribute column; expected any of \['user_gender'"),
    (USERS, "user_id=uid,user_region=zip",
     r"users.csv: column\(s\) \[.user_region \(column 'zip'\).\] not found"),
])
def test_a_malformed_users_table_is_refused_naming_file_and_column(tmp_path, users, mapping, message):
    folder = tmp_path / "log"
    folder.mkdir()
    write(folder, EVENTS, "events", "csv")
    write(folder, users, "users", "csv")
    with pytest.raises(ValueError, match=message):
        READERS["events"](folder, dict(p.split("=") for p in mapping.split(","))).plan()


def test_two_users_tables_are_refused(tmp_path):
    folder = tmp_path / "log"
    folder.mkdir()
    write(folder, EVENTS, "events", "csv")
    write(folder, USERS, "users", "csv")
    write(folder, USERS, "users", "parquet")
    with pytest.raises(ValueError, match=r"2 users tables \(users.csv, users.parquet\); keep one"):
        READERS["events"](folder, {"user_id": "uid"}).plan()
