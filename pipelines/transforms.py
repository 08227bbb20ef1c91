"""Beam transforms of the pipeline; each wraps one step of :mod:`pipelines.stages`.

Elements are batches (a shard's rows, a user bucket's rows), never single rows,
so the per-element cost of a runner is paid per batch. The DaskRunner of Beam
2.77 has no tagged outputs (every output receives every element) and computes
only the last transform of the graph, so steps tag their outputs inside the
element (``(kind, key, value)``) and :class:`Select` picks one kind, the
pipeline ends in a single :class:`FinalizeFn` that depends on everything, and
no step uses side inputs (joins go through ``GroupByKey``).
"""

from __future__ import annotations

import logging
import typing

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines import io
from pipelines import rows as R
from pipelines import stages
from pipelines.readers.base import Plan
from pipelines.vocab import Vocabularies, merge_counts

logger = logging.getLogger(__name__)

ROWS, DEAD, READ, KEPT, BUCKET, DEAD_COUNT, VOCAB = (
    "rows", "dead", "read", "kept", "bucket", "dead_count", "vocab")


class Select(beam.PTransform):
    """Elements ``(kind, key, value)`` of one ``kind``, as ``(key, value)``."""

    def __init__(self, kind: str):
        super().__init__(f"Select {kind}")
        self.kind = kind

    def expand(self, tagged):
        kind = self.kind
        # Typed as Any: Beam's inference from the tagged tuples guesses wrong key coders.
        return tagged | beam.FlatMap(
            lambda element: [element[1:]] if element[0] == kind else []
        ).with_output_types(typing.Tuple[typing.Any, typing.Any])


class ReadShardFn(beam.DoFn):
    """Shard -> ``(ROWS, bucket, rows)``, ``(DEAD, reason, rows)``, ``(READ, file, count)``."""

    def __init__(self, context: stages.Context, num_shards: int):
        self.context = context
        self.num_shards = num_shards
        self.read = Metrics.counter("funnel", "rows_read")
        self.dead = Metrics.counter("funnel", "rows_deadlettered_by_validation")

    def process(self, shard: R.Shard):
        result = stages.read_shard(self.context, shard)
        self.read.inc(result.rows_read)
        self.dead.inc(len(result.dead))
        logger.info("read shard %d/%d of %s: %d rows, %d dead-lettered", shard.index + 1,
                    self.num_shards, result.source, result.rows_read, len(result.dead))
        yield READ, result.source, result.rows_read
        for bucket, frame in result.buckets.items():
            yield ROWS, bucket, frame
        for reason, frame in result.dead.groupby(R.REASON, sort=True):
            yield DEAD, reason, frame.reset_index(drop=True)


class DedupeFn(beam.DoFn):
    """``(bucket, [rows])`` -> ``(KEPT, bucket, kept rows)`` and duplicate dead letters."""

    def process(self, element):
        bucket, frames = element
        kept, dead = stages.dedupe(frames)
        yield KEPT, bucket, kept
        if len(dead):
            yield DEAD, dead[R.REASON].iloc[0], dead


def build_vocabularies(element, min_count: int) -> Vocabularies:
    """``(None, [per-bucket counts])`` -> the one set of vocabularies."""
    _, parts = element
    return Vocabularies.build(merge_counts(parts), min_count)


def bucket_parts(bucket: int, parts) -> tuple:
    """The one rows frame and the one vocabularies of a bucket's joined group.

    A GroupByKey must deliver exactly one of each; anything else means the
    runner split or lost part of the group, and building the bucket from it
    would silently drop rows, so it stops the run instead.
    """
    kinds = [kind for kind, _ in parts]
    if sorted(kinds) != sorted([KEPT, VOCAB]):
        raise RuntimeError(f"bucket {bucket}: expected one {KEPT!r} and one {VOCAB!r} part, got "
                           f"{kinds}: the runner split or lost part of the group; {stages.RUNNER_LOSS_HINT}")
    tagged = dict(parts)
    return tagged[KEPT], tagged[VOCAB]


class BuildBucketFn(beam.DoFn):
    """``(bucket, [(VOCAB, vocab), (KEPT, rows)])`` -> shard files; yields ``(BUCKET, bucket, stats)``.

    The vocabularies arrive through the bucket's group rather than as a side
    input: the DaskRunner evaluates a side input by recomputing its whole
    upstream graph inside the task, which is slow and (with Beam 2.77) gave
    different counts than the main graph.
    """

    def __init__(self, context: stages.Context):
        self.context = context
        self.examples = Metrics.counter("funnel", "retrieval_examples")

    def process(self, element):
        bucket, parts = element
        kept, vocab = bucket_parts(bucket, parts)
        stats = stages.build_bucket(self.context, bucket, kept, vocab)
        self.examples.inc(sum(stats.examples.values()))
        logger.info("bucket %d/%d: %d users, %d retrieval and %d ranking examples written",
                    bucket + 1, self.context.num_buckets, stats.users,
                    sum(stats.examples.values()), sum(stats.ranking_examples.values()))
        yield BUCKET, bucket, stats


class WriteDeadLetterFn(beam.DoFn):
    """``(reason, [rows])`` -> ``deadletter/<reason>.jsonl``; yields ``(DEAD_COUNT, reason, n)``."""

    def __init__(self, staging: str):
        self.staging = staging

    def process(self, element):
        reason, frames = element
        count = io.write_deadletter(self.staging, reason, R.concat(list(frames), R.empty_dead))
        yield DEAD_COUNT, reason, count


class FinalizeFn(beam.DoFn):
    """All bookkeeping elements -> the small files and ``stats.json``."""

    def __init__(self, context: stages.Context, plan: Plan):
        self.context = context
        self.plan = plan

    def process(self, element):
        _, parts = element
        rows_read = {shard.source.name: 0 for shard in self.plan.shards}
        deadlettered, buckets, vocab = {}, [], None
        for kind, key, value in parts:
            if kind == VOCAB:
                vocab = value
            elif kind == READ:
                rows_read[key] += value
            elif kind == DEAD_COUNT:
                deadlettered[key] = deadlettered.get(key, 0) + value
            elif kind == BUCKET:
                buckets.append(value)
        yield stages.finalize(self.context, self.plan, vocab, buckets, rows_read, deadlettered)


class Preprocess(beam.PTransform):
    """The whole pipeline from a plan's shards to a finished staging folder.

    Output: a PCollection with the one ``stats.json`` dict.
    """

    def __init__(self, context: stages.Context, plan: Plan, min_count: int):
        super().__init__()
        self.context = context
        self.plan = plan
        self.min_count = min_count

    def expand(self, begin):
        context, plan = self.context, self.plan
        read = (begin
                | "Shards" >> beam.Create(plan.shards)
                | "ReadAndValidate" >> beam.ParDo(ReadShardFn(context, len(plan.shards))))
        every_bucket = (begin | "EveryBucket" >> beam.Create(
            [(bucket, R.empty_rows()) for bucket in range(context.num_buckets)]))
        deduped = (((read | Select(ROWS)), every_bucket)
                   | "AllRows" >> beam.Flatten()
                   | "GroupByUserBucket" >> beam.GroupByKey()
                   | "DropDuplicates" >> beam.ParDo(DedupeFn()))
        kept = deduped | Select(KEPT)
        min_count, buckets = self.min_count, context.num_buckets
        vocab = (kept
                 | "CountValues" >> beam.MapTuple(
                     lambda _, frame: (None, stages.count(frame, context.catalog)))
                 | "GatherCounts" >> beam.GroupByKey()
                 | "Vocabularies" >> beam.Map(build_vocabularies, min_count))
        vocab_to_buckets = vocab | "VocabToBuckets" >> beam.FlatMap(
            lambda v: [(bucket, (VOCAB, v)) for bucket in range(buckets)])
        rows_to_buckets = kept | "TagKept" >> beam.MapTuple(lambda bucket, frame: (bucket, (KEPT, frame)))
        built = ((vocab_to_buckets, rows_to_buckets)
                 | "WithVocab" >> beam.Flatten()
                 | "JoinVocab" >> beam.GroupByKey()
                 | "BuildExamples" >> beam.ParDo(BuildBucketFn(context)))
        dead_written = (((read | "Select dead (read)" >> Select(DEAD)),
                         (deduped | "Select dead (dedupe)" >> Select(DEAD)))
                        | "AllDead" >> beam.Flatten()
                        | "GroupByReason" >> beam.GroupByKey()
                        | "WriteDeadLetters" >> beam.ParDo(WriteDeadLetterFn(context.staging)))
        read_counts = read | "Select read" >> beam.Filter(lambda element: element[0] == READ)
        vocab_tagged = vocab | "TagVocab" >> beam.Map(lambda v: (VOCAB, None, v))
        return ((built, dead_written, read_counts, vocab_tagged)
                | "Bookkeeping" >> beam.Flatten()
                | "One" >> beam.Map(lambda element: (None, element))
                | "Together" >> beam.GroupByKey()
                | "Finalize" >> beam.ParDo(FinalizeFn(context, plan)))
