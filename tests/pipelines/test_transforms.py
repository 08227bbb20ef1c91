"""Every Beam transform of the pipeline under ``TestPipeline`` + ``assert_that``."""

from __future__ import annotations

import json

import apache_beam as beam
import numpy as np
import pandas as pd
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from funnel import schema
from pipelines import rows as R
from pipelines import stages, transforms
from pipelines.runners import FN_API_RUNNER
from pipelines.readers import READERS
from pipelines.sequences import SequenceOptions
from pipelines.vocab import Vocabularies
from pipeline_fixtures import NOW, write_ml100k

RATINGS = ["1\t1\t5\t900000000", "1\t2\t3\t900000100", "1\t3\t4\t900000200", "2\t1\t1\t900000300",
           "1\t1\t5\t900000000",  # exact duplicate of line 1
           "7\t1\t5\t900000000",  # unknown user
           "1\t2\t5"]  # wrong field count
USERS = {"1": (30, "M", "engineer", "12345"), "2": (40, "F", "artist", "54321")}
ITEMS = {str(k): (f"Movie {k}", "01-Jan-1990", ("Comedy",)) for k in (1, 2, 3)}


def beam_pipeline():
    """A TestPipeline on the engine ``funnel preprocess`` runs (no Prism download attempt)."""
    return test_pipeline.TestPipeline(runner=FN_API_RUNNER)


def make_context(tmp_path, num_buckets=2):
    folder = write_ml100k(tmp_path / "in", RATINGS, USERS, ITEMS)
    reader = READERS["movielens-100k"](folder)
    plan = reader.plan()
    staging = tmp_path / "staging"
    for sub in ("vocab", "retrieval", "ranking", "deadletter"):
        (staging / sub).mkdir(parents=True)
    context = stages.Context(reader, plan.catalog, stages.rules_for(plan.catalog, NOW),
                             SequenceOptions(max_len=3, eval_negatives=0, seed=1), str(staging),
                             num_buckets, "movielens-100k")
    return context, plan


def test_select_keeps_one_kind_without_the_tag():
    with beam_pipeline() as p:
        tagged = p | beam.Create([("a", 1, "x"), ("b", 2, "y"), ("a", 3, "z")])
        assert_that(tagged | transforms.Select("a"), equal_to([(1, "x"), (3, "z")]))


def test_read_shard_fn_emits_rows_per_bucket_dead_letters_and_the_count(tmp_path):
    context, plan = make_context(tmp_path)
    buckets = stages.bucket_of(pd.Series(["1", "2", "7"]), 2).tolist()
    with beam_pipeline() as p:
        out = (p | beam.Create(plan.shards)
               | beam.ParDo(transforms.ReadShardFn(context, len(plan.shards)))
               | beam.Map(lambda e: (e[0], e[1], len(e[2]) if isinstance(e[2], pd.DataFrame) else e[2])))
        rows_by_bucket = {}
        for user, bucket in zip(["1", "2"], buckets[:2]):
            rows_by_bucket[bucket] = rows_by_bucket.get(bucket, 0) + {"1": 4, "2": 1}[user]
        expected = [(transforms.READ, "u.data", 7), (transforms.DEAD, "field_count", 1),
                    (transforms.DEAD, "unknown_user", 1)]
        expected += [(transforms.ROWS, b, n) for b, n in rows_by_bucket.items()]
        assert_that(out, equal_to(expected))


def test_dedupe_fn_keeps_the_first_copy(tmp_path):
    rows = pd.DataFrame({R.SOURCE: ["f", "f", "f"], R.LINE: [5, 2, 9], R.RAW: ["a", "a", "b"],
                         schema.USER_ID: ["1"] * 3, schema.ITEM_ID: ["1"] * 3,
                         schema.TIMESTAMP: [1, 1, 2], schema.LABEL: np.ones(3, np.float32),
                         schema.REQUEST_ID: [""] * 3, R.IN_RETRIEVAL: [True] * 3,
                         R.IN_RANKING: [True] * 3})
    with beam_pipeline() as p:
        out = (p | beam.Create([(0, [rows.iloc[:2], rows.iloc[2:]])])
               | beam.ParDo(transforms.DedupeFn())
               | beam.Map(lambda e: (e[0], e[1], sorted(e[2][R.LINE].tolist()))))
        assert_that(out, equal_to([(transforms.KEPT, 0, [2, 9]), (transforms.DEAD, "duplicate", [5])]))


def test_dedupe_keeps_the_raw_text_only_in_dead_letters():
    rows = pd.DataFrame({R.SOURCE: ["f", "f"], R.LINE: [1, 2], R.RAW: ["a", "a"],
                         schema.USER_ID: ["1"] * 2, schema.ITEM_ID: ["1"] * 2,
                         schema.TIMESTAMP: [1, 1], schema.LABEL: np.ones(2, np.float32),
                         schema.REQUEST_ID: [""] * 2, R.IN_RETRIEVAL: [True] * 2,
                         R.IN_RANKING: [True] * 2})
    kept, dead = stages.dedupe([rows])
    assert R.RAW not in kept.columns and kept[R.LINE].tolist() == [1]
    assert dead[R.ROW].tolist() == ["a"]


def test_build_vocabularies_orders_by_count_then_value():
    counts = [{schema.ITEM_ID: pd.Series({"b": 2, "a": 1})}, {schema.ITEM_ID: pd.Series({"a": 1, "c": 5})}]
    with beam_pipeline() as p:
        out = (p | beam.Create([(None, counts)])
               | beam.Map(transforms.build_vocabularies, 1)
               | beam.Map(lambda v: v.values[schema.ITEM_ID]))
        assert_that(out, equal_to([["c", "a", "b"]]))  # 5, then 2 and 2 by value


def test_build_bucket_fn_writes_shards_and_reports_counts(tmp_path):
    context, plan = make_context(tmp_path, num_buckets=1)
    result = stages.read_shard(context, plan.shards[0])
    kept, _ = stages.dedupe(result.buckets.values())
    vocab = Vocabularies.build(stages.count(kept, context.catalog), 1)
    with beam_pipeline() as p:
        out = (p | beam.Create([(0, [(transforms.VOCAB, vocab), (transforms.KEPT, kept)])])
               | beam.ParDo(transforms.BuildBucketFn(context))
               | beam.Map(lambda e: (e[0], e[1], e[2].examples, e[2].rows_kept, e[2].users_too_short)))
        # user 1: items 1 2 3 -> validation 2, test 3, no training target; user 2: one item
        assert_that(out, equal_to([(transforms.BUCKET, 0, {"train": 0, "validation": 1, "test": 1},
                                    4, 1)]))
    assert (tmp_path / "staging" / "retrieval" / "test-00000-of-00001.tfrecord").stat().st_size > 0


@pytest.mark.parametrize("kinds", [[transforms.KEPT], [transforms.KEPT, transforms.KEPT, transforms.VOCAB],
                                   [transforms.VOCAB, transforms.VOCAB]])
def test_a_bucket_group_that_is_not_one_frame_and_one_vocabulary_stops_the_run(kinds):
    parts = [(kind, object()) for kind in kinds]
    expected = r"bucket 3: expected one 'kept' and one 'vocab' part.*nothing was committed"
    with pytest.raises(RuntimeError, match=expected):
        transforms.bucket_parts(3, parts)


def test_write_dead_letter_fn_writes_sorted_json_lines(tmp_path):
    dead = pd.DataFrame({R.SOURCE: ["f", "f"], R.LINE: [9, 3], R.ROW: ["x", "y"],
                         R.REASON: ["unparseable"] * 2, R.DETAIL: ["d9", "d3"]})
    with beam_pipeline() as p:
        out = (p | beam.Create([("unparseable", [dead.iloc[:1], dead.iloc[1:]])])
               | beam.ParDo(transforms.WriteDeadLetterFn(str(tmp_path))))
        assert_that(out, equal_to([(transforms.DEAD_COUNT, "unparseable", 2)]))
    lines = (tmp_path / "deadletter" / "unparseable.jsonl").read_text().splitlines()
    assert [json.loads(line)["line"] for line in lines] == [3, 9]


def test_finalize_fn_checks_the_row_balance_and_writes_stats(tmp_path):
    context, plan = make_context(tmp_path, num_buckets=1)
    result = stages.read_shard(context, plan.shards[0])
    kept, dup = stages.dedupe(result.buckets.values())
    vocab = Vocabularies.build(stages.count(kept, context.catalog), 1)
    bucket = stages.build_bucket(context, 0, kept, vocab)
    parts = [(transforms.VOCAB, None, vocab), (transforms.READ, "u.data", 7),
             (transforms.BUCKET, 0, bucket), (transforms.DEAD_COUNT, "duplicate", 1),
             (transforms.DEAD_COUNT, "unknown_user", 1), (transforms.DEAD_COUNT, "field_count", 1)]
    with beam_pipeline() as p:
        out = (p | beam.Create([(None, parts)])
               | beam.ParDo(transforms.FinalizeFn(context, plan))
               | beam.Map(lambda s: (s["rows_read"], s["rows_kept"], s["users"], s["items"])))
        assert_that(out, equal_to([(7, 4, 2, 3)]))
    assert json.loads((tmp_path / "staging" / "stats.json").read_text())["rows_deadlettered"] == {
        "duplicate": 1, "field_count": 1, "unknown_user": 1}


def test_preprocess_transform_end_to_end(tmp_path):
    context, plan = make_context(tmp_path)
    with beam_pipeline() as p:
        out = (p | transforms.Preprocess(context, plan, min_count=1)
               | beam.Map(lambda s: (s["rows_read"], s["rows_kept"], s["rows_deadlettered"],
                                     s["examples"])))
        assert_that(out, equal_to([(7, 4, {"duplicate": 1, "field_count": 1, "unknown_user": 1},
                                    {"train": 0, "validation": 1, "test": 1})]))
    assert sorted(p.name for p in (tmp_path / "staging" / "retrieval").iterdir()) == [
        f"{split}-0000{i}-of-00002.tfrecord" for split in ("test", "train", "validation") for i in (0, 1)]
