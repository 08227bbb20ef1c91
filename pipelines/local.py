"""The same steps as the Beam pipeline, run in one process with pandas.

This is the reference the benchmark compares the runners against (same
transform, no Beam): it calls the functions of :mod:`pipelines.stages` in
plain loops. Its output is byte-identical to the pipeline's, which the tests
check, so it also documents what the pipeline computes.
"""

from __future__ import annotations

import collections

from pipelines import io, stages
from pipelines import rows as R
from pipelines.readers.base import Plan
from pipelines.vocab import Vocabularies, merge_counts


def run_local(context: stages.Context, plan: Plan, min_count: int) -> dict:
    """Write the dataset into ``context.staging``; returns ``stats.json``'s content."""
    rows_read: dict[str, int] = collections.Counter()
    by_bucket = collections.defaultdict(list)
    dead_frames = []
    for shard in plan.shards:
        result = stages.read_shard(context, shard)
        rows_read[result.source] += result.rows_read
        for bucket, frame in result.buckets.items():
            by_bucket[bucket].append(frame)
        dead_frames.append(result.dead)
    kept = {}
    for bucket in range(context.num_buckets):
        kept[bucket], dead = stages.dedupe(by_bucket.pop(bucket, []))
        dead_frames.append(dead)
    vocab = Vocabularies.build(merge_counts(stages.count(frame, context.catalog)
                                            for frame in kept.values()), min_count)
    buckets = [stages.build_bucket(context, bucket, kept[bucket], vocab) for bucket in sorted(kept)]
    dead = R.concat(dead_frames, R.empty_dead)
    deadlettered = {reason: io.write_deadletter(context.staging, reason, frame)
                    for reason, frame in dead.groupby(R.REASON, sort=True)}
    for source in {s.source.name for s in plan.shards}:
        rows_read.setdefault(source, 0)
    return stages.finalize(context, plan, vocab, buckets, dict(rows_read), deadlettered)
