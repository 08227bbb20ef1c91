"""Guards the automatic user-bucket count of pipelines/pipeline.py (issue 14).

The group-by-user holds one bucket at a time, so the count must grow with the
input: a bucket's size stays bounded however large the input is.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from funnel import schema
from pipelines import pipeline, stages
from pipelines.pipeline import PreprocessOptions, preprocess
from pipeline_fixtures import NOW


def test_buckets_grow_with_the_input_past_the_minimum():
    assert pipeline.buckets_for(0) == pipeline.DEFAULT_BUCKETS
    assert pipeline.buckets_for(8 << 20) == 4  # 1 bucket's worth still gets the minimum
    assert pipeline.buckets_for(40 << 20) == 5
    assert pipeline.buckets_for((40 << 20) + 1) == 6  # rounds up
    assert pipeline.buckets_for(500 << 20) == 63  # about 20M events of an id CSV


def write_events(path, events: int, users: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, events)
    item = rng.integers(0, 500, events)
    stamp = 1_600_000_000 + np.arange(events)  # distinct: no duplicates to dead-letter
    lines = [f"{schema.USER_ID},{schema.ITEM_ID},{schema.TIMESTAMP}"]
    lines += [f"u{u},i{i},{t}" for u, i, t in zip(user, item, stamp)]
    path.write_text("\n".join(lines) + "\n")
    return path.stat().st_size


@pytest.mark.parametrize("events", [4_000, 16_000])
def test_largest_bucket_stays_bounded_as_the_input_grows(tmp_path, monkeypatch, events):
    """4x the events -> about 4x the buckets; each bucket that is built holds about the same rows."""
    bucket_bytes = 16 << 10
    monkeypatch.setattr(pipeline, "BUCKET_INPUT_BYTES", bucket_bytes)
    built = []
    original = stages.build_bucket

    def spy(context, bucket, kept, vocab):
        built.append(len(kept))
        return original(context, bucket, kept, vocab)

    monkeypatch.setattr(stages, "build_bucket", spy)
    size = write_events(tmp_path / "events.csv", events, users=events // 20)
    result = preprocess(PreprocessOptions(input=str(tmp_path / "events.csv"), format="events",
                                          out=str(tmp_path / "out"), now=NOW, eval_negatives=2),
                        ["--runner=local"])
    expected = max(pipeline.DEFAULT_BUCKETS, math.ceil(size / bucket_bytes))
    assert result.stats["shards_per_split"] == expected == len(built)
    assert result.stats["rows_kept"] == sum(built) == events
    rows_per_bucket_budget = bucket_bytes / (size / events)  # rows a bucket's bytes hold
    assert max(built) < 1.5 * rows_per_bucket_budget


def test_an_explicit_count_wins(tmp_path):
    write_events(tmp_path / "events.csv", 2_000, users=100)
    result = preprocess(PreprocessOptions(input=str(tmp_path / "events.csv"), format="events",
                                          out=str(tmp_path / "out"), now=NOW, eval_negatives=2,
                                          num_shards=3), ["--runner=local"])
    assert result.stats["shards_per_split"] == 3
