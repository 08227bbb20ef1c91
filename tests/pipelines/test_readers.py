"""Readers: MovieLens 100K / 1M / latest, generic events, the synthetic folder, sharding."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from funnel import schema
from pipelines import rows as R
from pipelines import synthetic, validate
from pipelines.pipeline import PreprocessOptions, preprocess
from pipelines.readers import READERS, base
from pipelines.readers.events import parse_mapping
from pipeline_fixtures import ML100K, NOW, read_examples, vocabulary


def test_movielens_100k_catalog_mapping():
    plan = READERS["movielens-100k"](ML100K).plan()
    users, items = plan.catalog.users, plan.catalog.items
    assert users.loc["1"].tolist() == ["M", "technician", "8", "24"]  # 1|24|M|technician|85711
    assert items.loc["1", schema.ITEM_CATEGORY] == "Animation"  # Animation, Children's, Comedy
    assert items.loc["1", base.RELEASE_YEAR] == 1995 and items.loc["1", schema.TITLE] == "Toy Story (1995)"
    assert np.isnan(items.loc["267", base.RELEASE_YEAR])  # the one movie without a date
    assert plan.checksum.startswith("sha256:") and len(plan.shards) == 1


def test_movielens_1m_and_latest_formats(tmp_path):
    one_m = tmp_path / "ml-1m"
    one_m.mkdir()
    (one_m / "ratings.dat").write_text("1::10::5::978300760\n1::20::3::978302109\nbad\n", "latin-1")
    (one_m / "users.dat").write_text("1::F::1::10::48067\n", "latin-1")
    (one_m / "movies.dat").write_text("10::Toy Story (1995)::Animation|Comedy\n"
                                      "20::Jumanji (1995)::Adventure\n", "latin-1")
    reader = READERS["movielens-1m"](one_m)
    plan = reader.plan()
    assert plan.catalog.users.loc["1"].tolist() == ["F", "10", "4", "1"]
    assert plan.catalog.items.loc["20", schema.ITEM_CATEGORY] == "Adventure"
    raw = reader.read_shard(plan.shards[0])
    assert list(raw.fields[schema.ITEM_ID][:2]) == ["10", "20"]
    assert raw.reason.tolist() == [None, None, validate.FIELD_COUNT]

    latest = tmp_path / "ml-latest"
    latest.mkdir()
    (latest / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,10,4.5,1500000000\n")
    (latest / "movies.csv").write_text('movieId,title,genres\n10,"Heat, The (1995)",Action|Crime\n'
                                       "11,Nothing (2001),(no genres listed)\n")
    plan = READERS["movielens-latest"](latest).plan()
    assert plan.catalog.items.loc["10", schema.TITLE] == "Heat, The (1995)"
    assert plan.catalog.items.loc["11", schema.ITEM_CATEGORY] == "unknown"
    assert not plan.catalog.check_users
    raw = READERS["movielens-latest"](latest).read_shard(plan.shards[0])
    assert raw.lines.tolist() == [2]  # the header is line 1 and not a row


def test_a_movielens_file_given_as_input_reads_its_folder_other_files_are_refused(tmp_path):
    """Passing ratings.csv itself used to fail as ".../ratings.csv/ratings.csv not found"."""
    latest = tmp_path / "ml-latest"
    latest.mkdir()
    (latest / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,10,4.5,1500000000\n")
    (latest / "movies.csv").write_text("movieId,title,genres\n10,Heat (1995),Action\n")
    (latest / "links.csv").write_text("movieId,imdbId\n10,113277\n")
    for given in ("ratings.csv", "movies.csv"):
        reader = READERS["movielens-latest"](latest / given)
        assert reader.input_path == latest
        assert reader.plan().files == [str(latest / "ratings.csv"), str(latest / "movies.csv")]
    with pytest.raises(ValueError, match=r"links.csv: --format movielens-latest reads a folder holding "
                                         r"ratings.csv, movies.csv; pass that folder"):
        READERS["movielens-latest"](latest / "links.csv")
    assert READERS["movielens-100k"](ML100K / "u.data").input_path == ML100K
    events = latest / "ratings.csv"  # the events format reads the file it is given
    assert READERS["events"](events).input_path == events


def test_every_format_names_the_files_it_reads_in_help_and_readme():
    from pathlib import Path

    from pipelines.commands import format_help

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    text = format_help()
    for name, reader in READERS.items():
        assert f"{name}: {reader.files_help}" in text
        for file_name in reader.folder_files:
            assert file_name in reader.files_help, (name, file_name)
            assert file_name in readme, (name, file_name)


def test_text_shards_cut_at_line_boundaries_with_true_line_numbers(tmp_path):
    path = tmp_path / "e.csv"
    lines = [f"u{i},i{i},{1_500_000_000 + i}" for i in range(200)]
    path.write_text("user_id,item_id,timestamp\n" + "\n".join(lines))  # no final newline
    spec = R.SourceSpec("e.csv", (schema.USER_ID, schema.ITEM_ID, schema.TIMESTAMP))
    shards = base.plan_text(path, spec, 0, header=True, shard_bytes=300)
    assert len(shards) > 5
    read, numbers = [], []
    for shard in shards:
        got = base.read_lines(shard, "utf-8")
        read += got
        numbers += list(range(shard.first_line, shard.first_line + len(got)))
    assert read == lines and numbers == list(range(2, 202))


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_events_formats_with_a_column_mapping(tmp_path, kind):
    frame = pd.DataFrame({"uid": ["a", "a", "a", "b"], "iid": ["x", "y", "z", "x"],
                          "ts": [1_500_000_000, 1_500_000_100, 1_500_000_200, 1_500_000_300],
                          "clicked": [1, 0, 1, 1], "req": ["r1", "r1", "r2", "r3"]})
    path = tmp_path / f"log.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in frame.to_dict("records")) + "[1]\n")
    else:
        frame.to_parquet(path)
    mapping = "user_id=uid,item_id=iid,timestamp=ts,click=clicked,request_id=req"
    result = preprocess(PreprocessOptions(input=str(path), format="events", out=str(tmp_path / "out"),
                                          column_mapping=mapping, eval_negatives=0, now=NOW))
    stats = result.stats
    assert stats["rows_read"] == 4 + (kind == "jsonl")
    assert stats["rows_deadlettered"] == ({"field_count": 1} if kind == "jsonl" else {})
    # clicks are the interactions: a has x, z (too short), b has x
    assert stats["users_too_short"] == 2 and stats["examples"]["train"] == 1
    # Skive-Above: in request r1 the negative y is shown after the last click x
    assert stats["ranking_rows_skived"] == 1 and sum(stats["ranking_examples"].values()) == 3


def test_column_mapping_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown field 'user'"):
        parse_mapping("user=uid")
    with pytest.raises(ValueError, match="not NAME=COLUMN"):
        parse_mapping("user_id")


def test_synthetic_folder_from_the_generator(tmp_path):
    config = synthetic.GeneratorConfig(users=30, items=40, clusters=4, length=6,
                                       impressions_per_request=3, seed=1)
    synthetic.generate(config, tmp_path / "syn")
    result = preprocess(PreprocessOptions(input=str(tmp_path / "syn"), format="synthetic",
                                          out=str(tmp_path / "out"), eval_negatives=5, now=NOW))
    stats = result.stats
    assert stats["rows_read_by_file"] == {"events.csv": 180, "impressions.csv": 540}
    assert stats["rows_deadlettered"] == {} and stats["examples"]["test"] == 30
    # one click per request: negatives shown after it are skived, so every request keeps >= 1 row
    assert sum(stats["ranking_examples"].values()) + stats["ranking_rows_skived"] == 540
    assert sum(stats["ranking_examples"].values()) >= 180
    assert stats["positive_rate"] == pytest.approx(180 / sum(stats["ranking_examples"].values()))
    from funnel import dataset

    items = dataset.item_table(result.out)
    assert schema.CLUSTER in items.columns and items[schema.CLUSTER].notna().all()
    assert schema.FeatureMap.load(result.out).has_clusters
    ranking = read_examples(result.out, "ranking", schema.TRAIN)
    categories = vocabulary(result.out, schema.ITEM_CATEGORY)
    assert all(categories[e[schema.ITEM_CATEGORY][0]].startswith("c") for e in ranking[:20])
