"""End-to-end runs of ``funnel preprocess`` on tiny hand-written inputs.

The golden dataset (ML-100K format, ``--max-len 3 --eval-negatives 2``):

* user 1 rates items 1..8 at hours 1..8 (ratings 5 4 3 2 1 5 4 3),
* user 2 rates items 1 and 9 (too short for a test example),
* user 3 rates items 2, 1, 3,
* user 4 rates items a and b (too short as well),

written in a shuffled order. Item counts are 1:3, 2:2, 3:2, others 1, so the
item vocabulary is 1, 2, 3, 4, ..., 9, a, b (ties by value).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from funnel import schema
from pipelines.pipeline import PreprocessOptions, preprocess
from pipeline_fixtures import ML100K, NOW, read_examples, vocabulary, write_ml100k

T0 = 900_000_000  # 1998-07-09 16:00 UTC, a Thursday
USER1 = [(item, rating, T0 + 3600 * item) for item, rating in
         zip(range(1, 9), (5, 4, 3, 2, 1, 5, 4, 3))]
RATINGS = ([f"3\t{item}\t{rating}\t{T0 + dt}" for item, rating, dt in ((2, 5, 10), (1, 3, 20), (3, 4, 30))]
           + [f"1\t{item}\t{rating}\t{ts}" for item, rating, ts in reversed(USER1)]
           + [f"2\t1\t4\t{T0 + 100}", f"2\t9\t2\t{T0 + 200}"]
           + [f"4\ta\t5\t{T0 + 50}", f"4\tb\t1\t{T0 + 60}"])
USERS = {"1": (30, "M", "engineer", "12345"), "2": (45, "F", "artist", "90210"),
         "3": (22, "M", "doctor", "55555"), "4": (60, "F", "writer", "00000")}
ITEMS = {str(k): (f"Movie {k} (1990)", "01-Jan-1990" if k != 9 else "",
                  ("Comedy",) if k % 2 else ("Action", "Drama")) for k in range(1, 10)}
ITEMS.update({k: (f"Show {k}", "01-Mar-1997", ()) for k in "ab"})
ITEM_ORDER = [str(k) for k in range(1, 10)] + ["a", "b"]


def run(folder: Path, out: Path, *beam_args: str, **options):
    defaults = dict(max_len=3, eval_negatives=2, seed=7, now=NOW, num_shards=2)
    defaults.update(options)
    return preprocess(PreprocessOptions(input=str(folder), format="movielens-100k", out=str(out),
                                        **defaults), list(beam_args))


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    root = tmp_path_factory.mktemp("golden")
    folder = write_ml100k(root / "in", RATINGS, USERS, ITEMS)
    return folder, run(folder, root / "out")


def decoded(out: Path, split: str) -> list[tuple]:
    """Retrieval examples as sorted (user, history, target) tuples of raw ids."""
    items, users = vocabulary(out, schema.ITEM_ID), vocabulary(out, schema.USER_ID)
    result = []
    for e in read_examples(out, "retrieval", split):
        history = [items[i] for i in e[schema.HISTORY] if i != schema.PADDING_ID]
        assert len(history) == e[schema.HISTORY_LENGTH][0]
        result.append((users[e[schema.USER_ID][0]], tuple(history), items[e[schema.TARGET_ITEM][0]]))
    return sorted(result)


def test_golden_vocabularies_are_most_frequent_first(golden):
    _, result = golden
    assert vocabulary(result.out, schema.ITEM_ID)[2:] == ITEM_ORDER
    assert vocabulary(result.out, schema.USER_ID)[2:] == ["1", "3", "2", "4"]  # 8, 3, 2, 2 ratings
    assert vocabulary(result.out, schema.USER_GENDER)[2:] == ["M", "F"]  # 11 rows vs 4
    assert vocabulary(result.out, schema.ITEM_CATEGORY)[2:] == ["Comedy", "Action", "unknown"]


def test_golden_leave_one_out_and_split_training_sequences(golden):
    _, result = golden
    # user 1: train sequence 1..6 is cut into pieces [1 2 3 4] and [4 5 6] (max_len 3)
    assert decoded(result.out, schema.TRAIN) == sorted([
        ("1", ("1",), "2"), ("1", ("1", "2"), "3"), ("1", ("1", "2", "3"), "4"),
        ("1", ("4",), "5"), ("1", ("4", "5"), "6"),
        ("2", ("1",), "9"),  # too short for evaluation: everything trains
        ("4", ("a",), "b"),
    ])
    assert decoded(result.out, schema.VALIDATION) == [("1", ("4", "5", "6"), "7"), ("3", ("2",), "1")]
    assert decoded(result.out, schema.TEST) == [("1", ("5", "6", "7"), "8"), ("3", ("2", "1"), "3")]
    stats = result.stats
    assert stats["examples"] == {"train": 7, "validation": 2, "test": 2}
    assert stats["users_too_short"] == 2
    assert (stats["users"], stats["items"], stats["rows_read"], stats["rows_kept"]) == (4, 11, 15, 15)


def test_golden_negatives_are_unseen_distinct_and_seeded(golden, tmp_path):
    folder, result = golden
    seen = {"1": set("12345678"), "3": set("123")}
    items, users = vocabulary(result.out, schema.ITEM_ID), vocabulary(result.out, schema.USER_ID)
    first = []
    for split in (schema.VALIDATION, schema.TEST):
        for e in read_examples(result.out, "retrieval", split):
            negatives = [items[i] for i in e[schema.NEGATIVES]]
            assert len(set(negatives)) == 2
            assert not set(negatives) & seen[users[e[schema.USER_ID][0]]]
            first.append(e[schema.NEGATIVES])
    again = run(folder, tmp_path / "again")
    assert [e[schema.NEGATIVES] for s in (schema.VALIDATION, schema.TEST)
            for e in read_examples(again.out, "retrieval", s)] == first
    other_buckets = run(folder, tmp_path / "buckets", num_shards=3)
    by_user = sorted((e[schema.USER_ID], e[schema.TARGET_ITEM], e[schema.NEGATIVES])
                     for s in (schema.VALIDATION, schema.TEST)
                     for e in read_examples(other_buckets.out, "retrieval", s))
    assert by_user == sorted((e[schema.USER_ID], e[schema.TARGET_ITEM], e[schema.NEGATIVES])
                             for s in (schema.VALIDATION, schema.TEST)
                             for e in read_examples(result.out, "retrieval", s))


def test_golden_item_table_frequencies_and_head(golden):
    from funnel import dataset

    _, result = golden
    table = dataset.item_table(result.out)
    # training interactions: user 1 items 1-6, user 2 items 1 and 9, user 3 item 2, user 4 a, b
    assert table[schema.ITEM_FREQUENCY].tolist() == [2, 2, 1, 1, 1, 1, 0, 0, 1, 1, 1]
    # ceil(20% of 11) = 3 head items: the two with frequency 2, then the lowest id
    assert table[schema.IS_HEAD].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert table[schema.ITEM_CATEGORY].tolist()[:2] == ["Comedy", "Action"]
    assert table[schema.TITLE].tolist()[0] == "Movie 1 (1990)"
    assert result.stats["head_items"] == 3


def test_golden_ranking_examples(golden):
    _, result = golden
    out = result.out
    assert result.stats["ranking_examples"] == {"train": 14, "validation": 1, "test": 0}
    assert result.stats["positive_rate"] == pytest.approx(8 / 15)
    items = vocabulary(out, schema.ITEM_ID)
    (validation,) = read_examples(out, "ranking", schema.VALIDATION)
    # user 1's 8th rating is group 7 of 8: 7 < 0.8*8 fails, 7 < 0.9*8 holds
    assert items[validation[schema.ITEM_ID][0]] == "8" and validation[schema.LABEL] == [0.0]
    assert [items[i] for i in validation[schema.HISTORY] if i] == ["5", "6", "7"]
    first = next(e for e in read_examples(out, "ranking", schema.TRAIN)
                 if items[e[schema.ITEM_ID][0]] == "1" and e[schema.HISTORY_LENGTH] == [0]
                 and vocabulary(out, schema.USER_ID)[e[schema.USER_ID][0]] == "1")
    hours, weekdays = vocabulary(out, schema.HOUR), vocabulary(out, schema.WEEKDAY)
    assert hours[first[schema.HOUR][0]] == "17"  # T0 + 1 h = 17:00 UTC
    assert weekdays[first[schema.WEEKDAY][0]] == "3"  # Thursday
    assert first[schema.USER_AGE] == [11]  # floor(log(30)^2) = floor(11.57)
    assert first[schema.ITEM_AGE] == [4]  # 1998 - 1990 = 8 -> floor(log(8)^2) = 4
    assert first[schema.LABEL] == [1.0]
    regions = vocabulary(out, schema.USER_REGION)
    assert regions[first[schema.USER_REGION][0]] == "1"  # zip 12345


def test_split_per_sequence_reproduces_the_paper(golden, tmp_path):
    folder, _ = golden
    result = run(folder, tmp_path / "paper", split_per_sequence=True)
    # user 1: sequences [1 2 3] [4 5 6] [7 8]; the last is too short to evaluate
    assert decoded(result.out, schema.TRAIN) == [("1", ("7",), "8"), ("2", ("1",), "9"),
                                                 ("4", ("a",), "b")]
    assert decoded(result.out, schema.VALIDATION) == [("1", ("1",), "2"), ("1", ("4",), "5"),
                                                      ("3", ("2",), "1")]
    assert decoded(result.out, schema.TEST) == [("1", ("1", "2"), "3"), ("1", ("4", "5"), "6"),
                                                ("3", ("2", "1"), "3")]


def test_min_count_maps_rare_values_to_oov(golden, tmp_path):
    folder, _ = golden
    result = run(folder, tmp_path / "min2", min_count=2, eval_negatives=0)  # 3 items left
    assert vocabulary(result.out, schema.ITEM_ID)[2:] == ["1", "2", "3"]
    targets = [e[schema.TARGET_ITEM][0] for e in read_examples(result.out, "retrieval", schema.TRAIN)]
    assert targets.count(schema.OOV_ID) == 5  # 4, 5, 6 of user 1, 9 of user 2, b of user 4
    assert result.stats["items"] == 11  # distinct before min-count


BAD = {
    "field_count": ["1\t2\t5", ""],
    "missing_field": ["1\t\t5\t900000000"],
    "unparseable": ["1\t2\tfive\t900000000", "1\t2\t5\tyesterday"],
    "unknown_user": ["99\t1\t5\t900000000"],
    "unknown_item": ["1\t99\t5\t900000000"],
    "timestamp_before_1970": ["1\t1\t5\t-5"],
    "timestamp_in_future": [f"1\t1\t5\t{NOW + 2 * 86_400}"],
    "duplicate": [RATINGS[0], RATINGS[1]],  # copies of rows 1 and 2
}


def test_every_bad_row_is_dead_lettered_under_its_reason(tmp_path):
    bad_lines = [line for lines in BAD.values() for line in lines]
    lines = RATINGS[:4] + bad_lines + RATINGS[4:]
    folder = write_ml100k(tmp_path / "in", lines, USERS, ITEMS)
    result = run(folder, tmp_path / "out")
    stats = result.stats
    assert stats["rows_deadlettered"] == {reason: len(rows) for reason, rows in BAD.items()}
    assert stats["rows_read"] == len(lines) == stats["rows_kept"] + sum(stats["rows_deadlettered"].values())
    assert stats["rows_kept"] == len(RATINGS)
    for reason, rows in BAD.items():
        path = result.out / schema.Layout.DEADLETTER_DIR / f"{reason}.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert [r["row"] for r in records] == rows
        assert all(r["reason"] == reason and r["source"] == "u.data" and r["detail"] for r in records)
        assert [r["line"] for r in records] == [lines.index(row, 4 if reason == "duplicate" else 0) + 1
                                                for row in rows]
    # the kept rows are exactly the golden ones: same examples as a clean run
    assert stats["examples"] == {"train": 7, "validation": 2, "test": 2}


def test_failed_run_leaves_no_output(tmp_path):
    folder = write_ml100k(tmp_path / "in", RATINGS, USERS, ITEMS)
    (folder / "u.item").write_text("1|only three|fields\n")
    with pytest.raises(ValueError, match="u.item line 1"):
        run(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


def test_worker_failure_discards_the_staging_folder(tmp_path):
    folder = write_ml100k(tmp_path / "in", RATINGS, USERS, ITEMS)
    previous = run(folder, tmp_path / "out")
    before = (previous.out / schema.Layout.STATS).read_text()
    with pytest.raises(Exception, match="never interacted with"):
        run(folder, tmp_path / "out", eval_negatives=7)  # user 1 has 3 unseen items
    assert (previous.out / schema.Layout.STATS).read_text() == before  # the old output survives
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_runners_write_identical_output(golden, tmp_path):
    from distributed import LocalCluster

    folder, direct = golden
    local = run(folder, tmp_path / "local", "--runner=local")
    assert _tree(local.out) == _tree(direct.out)
    # Worker processes, as the CLI starts them: on a threads-only cluster
    # (processes=False) the DaskRunner's GroupByKey of Beam 2.77 returns a key
    # several times, which FinalizeFn detects and refuses.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        dask = run(folder, tmp_path / "dask", "--runner=DaskRunner",
                   f"--dask_client_address={cluster.scheduler_address}", "--dask_npartitions=2")
    assert dask.runner.endswith("DaskRunner")
    assert _tree(dask.out) == _tree(direct.out)


@pytest.mark.slow
def test_multi_processing_direct_runner_matches(golden, tmp_path):
    folder, direct = golden
    result = run(folder, tmp_path / "mp", "--direct_running_mode=multi_processing",
                 "--direct_num_workers=2")
    assert _tree(result.out) == _tree(direct.out)


@pytest.mark.slow
def test_movielens_100k_counts(tmp_path):
    result = preprocess(PreprocessOptions(input=str(ML100K), format="movielens-100k",
                                          out=str(tmp_path / "ml"), now=NOW))
    stats = result.stats
    assert (stats["users"], stats["items"], stats["rows_read"]) == (943, 1682, 100_000)
    assert stats["rows_kept"] == 100_000 and stats["rows_deadlettered"] == {}
    assert stats["examples"]["test"] == stats["examples"]["validation"] == 943
    assert stats["users_too_short"] == 0
    assert sum(stats["ranking_examples"].values()) == 100_000
    assert stats["head_items"] == 337  # ceil(0.2 * 1682)
    fmap = schema.FeatureMap.load(result.out)
    assert fmap.num_items == 1682 + 2
    assert fmap.vocab_sizes[schema.USER_ID] == 943 + 2
    from funnel import dataset

    test = dataset.load_arrays(dataset.retrieval_dataset(result.out, schema.TEST, batch_size=1024))
    assert test[schema.NEGATIVES].shape == (943, schema.EVAL_NEGATIVES)
    assert test[schema.HISTORY].shape == (943, schema.MAX_SEQUENCE_LENGTH)
    ranking = dataset.load_arrays(dataset.ranking_dataset(result.out, schema.VALIDATION, batch_size=4096))
    assert len(ranking[schema.LABEL]) == stats["ranking_examples"]["validation"]
    assert set(np.unique(ranking[schema.LABEL]).tolist()) == {0.0, 1.0}  # rating >= 4 is 1
    assert ranking[schema.ITEM_ID].max() < fmap.num_items
    # every user has >= 20 ratings, so >= 19 items precede the test target
    assert test[schema.HISTORY_LENGTH].min() >= 19
    assert test[schema.HISTORY_LENGTH].max() == schema.MAX_SEQUENCE_LENGTH


def test_direct_runner_never_tries_prism(golden, tmp_path, monkeypatch):
    """Beam 2.77's DirectRunner would first download Prism from GitHub; ours runs
    the FnApiRunner straight away and writes the same output."""
    from apache_beam.runners.portability import prism_runner

    def no_prism(*args, **kwargs):
        raise AssertionError("the DirectRunner tried Prism")

    monkeypatch.setattr(prism_runner.PrismRunner, "__init__", no_prism)
    folder, direct = golden
    for args in ((), ("--runner=DirectRunner",), ("--runner", "DirectRunner")):
        result = run(folder, tmp_path / f"out{len(args)}", *args)
        assert result.runner == "DirectRunner" and _tree(result.out) == _tree(direct.out)
