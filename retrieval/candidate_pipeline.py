"""The candidate lists as a Beam transform: retrieval examples in, list files and their counts out.

:class:`CandidateLists` reads a dataset's retrieval examples, groups them by
user bucket, and each bucket builds its users' lists
(:mod:`retrieval.candidate_lists`) and writes them, one TFRecord file per split
(``lists/train-00003-of-00008.tfrecord``), named by bucket so the files do not
depend on which worker ran what. Every bucket reports its counts to one sink,
which writes their sum to a JSON file for the driver to turn into
``stats.json``.

The graph keeps to what the DaskRunner of Beam 2.77 runs correctly
(:mod:`pipelines.runners`): examples are read from a ``Create`` of files, the
lists are written by the DoFn that builds them (no tagged outputs to split,
since that runner hands every element to every output), and the counts sink is
the last transform and depends on every bucket. The retrieval models are
loaded in ``DoFn.setup`` through a :class:`~apache_beam.utils.shared.Shared`
handle: once per worker process, though that runner calls ``setup`` once per
partition, and never pickled from the driver.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils import shared

from funnel import schema, tfrecord
from pipelines import io
from retrieval import candidate_lists as lists

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ListJob:
    """Where a :class:`CandidateLists` run reads and writes.

    Attributes:
        data_dir: output folder of ``funnel preprocess``.
        runs: model key -> retrieval run folder (``lists.MAIN_MODEL`` and one per fold).
        out: folder of the lists (``lists/`` below it).
        counts_file: where the sink writes the summed counts (JSON).
        buckets: user buckets, and so list files per split.
    """

    data_dir: str
    runs: dict[int, str]
    out: str
    counts_file: str
    buckets: int


def user_bucket(user: int, buckets: int) -> int:
    return user % buckets


class ReadExamplesFn(beam.DoFn):
    """``(split, TFRecord file)`` -> ``(bucket, (user, example))`` for each retrieval example."""

    def __init__(self, buckets: int):
        self.buckets = buckets

    def process(self, element):
        split, path = element
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            records = tfrecord.read_records(handle)
        for record in records:
            user, example = lists.parse_example(record, split)
            yield user_bucket(user, self.buckets), (user, example)


class BuildBucketFn(beam.DoFn):
    """``(bucket, [(user, example) or None])`` -> the bucket's list files; yields ``(None, (bucket, counts))``.

    ``None`` marks a bucket that must report even without examples.
    """

    def __init__(self, job: ListJob, options: lists.ListOptions):
        self.job = job
        self.options = options
        self._models = shared.Shared()

    def setup(self):
        job = self.job
        self.models = self._models.acquire(lambda: lists.ListModels.load(job.data_dir, job.runs))

    def process(self, element):
        bucket, rows = element
        by_user: dict[int, list[dict]] = {}
        for row in rows:
            if row is not None:
                by_user.setdefault(row[0], []).append(row[1])
        requests = [request for user in sorted(by_user)
                    for request in lists.user_requests(user, by_user[user], self.options)]
        records: dict[str, list[bytes]] = {split: [] for split in schema.SPLITS}
        counts: dict[str, int] = {}
        for key, batch in lists.batches(requests, self.options.batch_size):
            built = lists.build_lists(self.models.retrievers[key], self.models.attributes, batch, self.options)
            for split, part in built.records.items():
                records[split] += part
            lists.add_counts(counts, built.counts)
        for split, part in records.items():
            io.write_records(io.shard_path(self.job.out, schema.Layout.LISTS_DIR, split, bucket,
                                           self.job.buckets), part)
        logger.info("bucket %d/%d: %d users, %d lists written", bucket + 1, self.job.buckets,
                    len(by_user), sum(len(part) for part in records.values()))
        yield None, (bucket, counts)


def sum_bucket_counts(reports, buckets: int) -> dict[str, int]:
    """The counts of every bucket, summed; each of the ``buckets`` must report exactly once.

    Raises:
        RuntimeError: a bucket reported twice or never (the runner split or lost
            a group); its list files cannot be trusted either.
    """
    reported = sorted(bucket for bucket, _ in reports)
    if reported != list(range(buckets)):
        raise RuntimeError(f"expected one report from each of {buckets} user buckets, got buckets "
                           f"{reported}: the runner split or lost part of a group")
    total: dict[str, int] = {}
    for _, counts in sorted(reports, key=lambda report: report[0]):
        lists.add_counts(total, counts)
    return total


class WriteCountsFn(beam.DoFn):
    """``(None, [(bucket, counts)])`` -> the summed counts in ``counts_file`` (the one sink)."""

    def __init__(self, job: ListJob):
        self.job = job

    def process(self, element):
        _, reports = element
        total = sum_bucket_counts(list(reports), self.job.buckets)
        io.write_text(Path(self.job.counts_file), json.dumps(total, indent=2) + "\n")
        yield total


class CandidateLists(beam.PTransform):
    """From the pipeline's root: every list of ``job.data_dir`` into ``job.out``, counts into ``job.counts_file``.

    Output: a PCollection with the one summed counts dict.
    """

    def __init__(self, job: ListJob, options: lists.ListOptions):
        super().__init__()
        self.job = job
        self.options = options

    def expand(self, begin):
        job = self.job
        layout = schema.Layout(job.data_dir)
        files = [(split, str(path)) for split in schema.SPLITS for path in layout.retrieval_files(split)]
        examples = (begin
                    | "Files" >> beam.Create(files)
                    | "ReadExamples" >> beam.ParDo(ReadExamplesFn(job.buckets)))
        every_bucket = begin | "EveryBucket" >> beam.Create([(bucket, None) for bucket in range(job.buckets)])
        return ((examples, every_bucket)
                | "AllExamples" >> beam.Flatten()
                | "GroupByUserBucket" >> beam.GroupByKey()
                | "BuildLists" >> beam.ParDo(BuildBucketFn(job, self.options))
                | "GatherCounts" >> beam.GroupByKey()
                | "WriteCounts" >> beam.ParDo(WriteCountsFn(job)))
