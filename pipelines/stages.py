"""The pipeline's steps as plain functions on batches (frames), runner-free.

:mod:`pipelines.pipeline` wires them into Beam transforms; :mod:`pipelines.local`
calls them in a loop (the pandas reference of the benchmark). Both therefore
compute the same thing, and the steps are tested without any runner.

Data flow::

    shard --read_shard--> rows per user bucket + dead letters + rows read
    bucket --dedupe--> kept rows (+ duplicate dead letters) --count--> value counts
    all counts --Vocabularies.build--> vocabularies (one, shared by all buckets)
    bucket kept rows + vocabularies --build_bucket--> TFRecord shards + BucketStats
    everything --finalize--> vocab/, items.csv, users.csv, feature_map.json, stats.json
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from funnel import schema
from pipelines import io
from pipelines import rows as R
from pipelines import validate
from pipelines.ranking_examples import build_ranking
from pipelines.readers.base import Catalog, Plan, Reader
from pipelines.sequences import SequenceOptions, build_retrieval
from funnel.tfrecord import ExampleEncoder
from pipelines.vocab import Vocabularies, count_values

BUCKET_HASH_KEY = "funnel-buckets-1"
"""Key of the (stable, vectorised) pandas hash that assigns users to buckets."""


@dataclasses.dataclass(frozen=True)
class Context:
    """Everything a worker needs, pickled into each DoFn once.

    Attributes:
        reader: reads shards (holds only paths and options).
        catalog: reference tables.
        rules: validation rules (``now``, known ids).
        sequences: sequence / negative options.
        staging: the staging folder outputs are written to.
        num_buckets: user buckets = output shards per split.
        dataset_format: ``--format``.
    """

    reader: Reader
    catalog: Catalog
    rules: validate.Rules
    sequences: SequenceOptions
    staging: str
    num_buckets: int
    dataset_format: str


@dataclasses.dataclass
class ShardResult:
    source: str
    rows_read: int
    buckets: dict[int, pd.DataFrame]
    dead: pd.DataFrame


@dataclasses.dataclass
class BucketStats:
    """What one bucket wrote and counted (summed by :func:`finalize`)."""

    bucket: int
    rows_kept: int
    users: int
    users_too_short: int
    examples: dict[str, int]
    ranking_examples: dict[str, int]
    ranking_positives: int
    ranking_rows_skived: int
    train_item_counts: np.ndarray


def rules_for(catalog: Catalog, now: int) -> validate.Rules:
    return validate.Rules(
        now=int(now),
        known_users=frozenset(catalog.users.index) if catalog.check_users else None,
        known_items=frozenset(catalog.items.index) if catalog.check_items else None)


def bucket_of(users: pd.Series, num_buckets: int) -> np.ndarray:
    """Bucket ``[N]`` of each raw user id: a stable hash, the same in every process."""
    hashes = pd.util.hash_array(users.to_numpy(dtype=object), hash_key=BUCKET_HASH_KEY)
    return (hashes % np.uint64(num_buckets)).astype(np.int64)


def read_shard(context: Context, shard: R.Shard) -> ShardResult:
    """Read and validate one shard; kept rows are split by user bucket."""
    raw = context.reader.read_shard(shard)
    kept, dead = validate.validate(raw, context.rules)
    buckets = {}
    if len(kept):
        assignment = bucket_of(kept[schema.USER_ID], context.num_buckets)
        for bucket, frame in kept.groupby(assignment, sort=True):
            buckets[int(bucket)] = frame.reset_index(drop=True)
    return ShardResult(shard.source.name, len(raw), buckets, dead)


def dedupe(frames: Iterable[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One bucket's rows from every shard, exact duplicates dead-lettered.

    Kept rows leave without their raw text: no later step reads it, and it is
    the largest column of the shuffle that joins each bucket to the vocabularies.
    """
    kept, dead = validate.drop_duplicates(R.concat(list(frames), R.empty_rows))
    return kept.drop(columns=R.RAW), dead


def count(kept: pd.DataFrame, catalog: Catalog) -> dict[str, pd.Series]:
    return count_values(kept, catalog)


RETRIEVAL_INT_FEATURES = {
    split: tuple(name for name in schema.retrieval_example_spec(split)) for split in schema.SPLITS}
RANKING_SPEC = schema.ranking_example_spec()
RANKING_INT_FEATURES = tuple(n for n, (dtype, _) in RANKING_SPEC.items() if dtype == "int64")
RANKING_FLOAT_FEATURES = tuple(n for n, (dtype, _) in RANKING_SPEC.items() if dtype == "float32")


def build_bucket(context: Context, bucket: int, kept: pd.DataFrame,
                 vocab: Vocabularies) -> BucketStats:
    """Build and write one bucket's retrieval and ranking shards."""
    options = context.sequences
    retrieval = build_retrieval(kept, vocab, options)
    ranking = build_ranking(kept, vocab, context.catalog, options.max_len)
    examples, ranked = {}, {}
    for split in schema.SPLITS:
        path = io.shard_path(context.staging, schema.Layout.RETRIEVAL_DIR, split, bucket,
                             context.num_buckets)
        examples[split] = io.write_examples(path, ExampleEncoder(RETRIEVAL_INT_FEATURES[split]),
                                            retrieval.examples[split])
        path = io.shard_path(context.staging, schema.Layout.RANKING_DIR, split, bucket,
                             context.num_buckets)
        ranked[split] = io.write_examples(
            path, ExampleEncoder(RANKING_INT_FEATURES, RANKING_FLOAT_FEATURES), ranking.examples[split])
    positives = int(sum(float(ranking.examples[s][schema.LABEL].sum()) for s in schema.SPLITS))
    return BucketStats(bucket, len(kept), retrieval.users, retrieval.users_too_short, examples,
                       ranked, positives, ranking.skived, retrieval.train_item_counts)


# ------------------------------------------------------------------ finalize
def _item_table(vocab: Vocabularies, catalog: Catalog, frequency: np.ndarray) -> pd.DataFrame:
    ids = vocab.values[schema.ITEM_ID]
    index = np.arange(len(ids), dtype=np.int64) + schema.FIRST_VALUE_ID
    counts = frequency[index] if len(frequency) else np.zeros(len(ids), dtype=np.int64)
    order = np.lexsort((index, -counts))  # most frequent first, ties by id
    head = np.zeros(len(ids), dtype=np.int64)
    head[order[:schema.head_item_count(len(ids))]] = 1
    attributes = catalog.items.reindex(pd.Index(ids, dtype=object))
    table = pd.DataFrame({
        "item_index": index, schema.ITEM_ID: ids, schema.ITEM_FREQUENCY: counts,
        schema.IS_HEAD: head,
        schema.ITEM_CATEGORY: attributes[schema.ITEM_CATEGORY].fillna(schema.UNKNOWN_VALUE).to_numpy()})
    for name in catalog.optional_item_columns:
        column = attributes[name]
        table[name] = (column.astype("Int64") if name == schema.CLUSTER
                       else column.fillna(schema.UNKNOWN_VALUE)).to_numpy()
    return table


def _user_table(vocab: Vocabularies, catalog: Catalog) -> pd.DataFrame:
    ids = vocab.values[schema.USER_ID]
    attributes = catalog.users.reindex(pd.Index(ids, dtype=object))
    table = pd.DataFrame({"user_index": np.arange(len(ids), dtype=np.int64) + schema.FIRST_VALUE_ID,
                          schema.USER_ID: ids})
    for name in schema.USER_ATTRIBUTES:
        table[name] = attributes[name].fillna(schema.UNKNOWN_VALUE).to_numpy()
    return table


def feature_map(vocab: Vocabularies, context: Context) -> schema.FeatureMap:
    sizes = {}
    for f in schema.RANKING_FEATURES:
        if f.kind is schema.Kind.CATEGORICAL:
            sizes[f.name] = vocab.size(f.name)
        elif f.kind is schema.Kind.NUMERIC:
            sizes[f.name] = schema.MAX_NUMERIC_BUCKET + 1
    return schema.FeatureMap(
        schema_version=schema.SCHEMA_VERSION, vocab_sizes=sizes,
        max_sequence_length=context.sequences.max_len,
        eval_negatives=context.sequences.eval_negatives, min_count=vocab.min_count,
        dataset_format=context.dataset_format,
        has_clusters=schema.CLUSTER in context.catalog.items.columns)


RUNNER_LOSS_HINT = (
    "nothing was committed. Seen with --direct_running_mode=multi_processing under heavy CPU "
    "load and on 20M events (docs/benchmarks.md, Scale): use --runner=DaskRunner or the "
    "default in-process DirectRunner")
"""What to do when a runner lost or split data between steps (the run stops, never commits)."""


def finalize(context: Context, plan: Plan, vocab: Vocabularies, buckets: list[BucketStats],
             rows_read: Mapping[str, int], deadlettered: Mapping[str, int]) -> dict:
    """Write the small files and ``stats.json``; checks that every row is accounted for."""
    staging = Path(context.staging)
    buckets = sorted(buckets, key=lambda b: b.bucket)
    if [b.bucket for b in buckets] != list(range(context.num_buckets)):
        raise RuntimeError(f"expected buckets 0..{context.num_buckets - 1}, got "
                           f"{[b.bucket for b in buckets]}")
    layout = schema.Layout(staging)
    for name in schema.CATEGORICAL_VOCABULARIES:
        io.write_text(layout.vocab_file(name), "".join(v + "\n" for v in vocab.values[name]))
    size = vocab.size(schema.ITEM_ID)
    frequency = np.zeros(size, dtype=np.int64)
    for b in buckets:
        frequency += b.train_item_counts[:size]
    items = _item_table(vocab, context.catalog, frequency)
    io.write_text(layout.items, items.to_csv(index=False))
    io.write_text(layout.users, _user_table(vocab, context.catalog).to_csv(index=False))
    io.write_text(layout.feature_map, feature_map(vocab, context).to_json() + "\n")
    for reference in plan.reference_rows:
        for reason, dead in reference.dead.groupby(R.REASON, sort=True):
            io.write_deadletter(staging, reason, dead, folder=Path(reference.file).stem)

    read, kept = int(sum(rows_read.values())), sum(b.rows_kept for b in buckets)
    dead = {reason: int(n) for reason, n in sorted(deadlettered.items())}
    if read != kept + sum(dead.values()):
        raise RuntimeError(f"rows read {read} != kept {kept} + dead-lettered {sum(dead.values())}: "
                           f"the runner lost rows between steps; {RUNNER_LOSS_HINT}")
    ranking = {s: sum(b.ranking_examples[s] for b in buckets) for s in schema.SPLITS}
    total_ranking = sum(ranking.values())
    stats = {
        "schema_version": schema.SCHEMA_VERSION,
        "format": context.dataset_format,
        "input_checksum": plan.checksum,
        "input_files": [Path(f).name for f in plan.files],
        "rows_read": read,
        "rows_read_by_file": dict(sorted(rows_read.items())),
        "rows_kept": kept,
        "rows_deadlettered": dead,
        "users": vocab.distinct[schema.USER_ID],
        "items": vocab.distinct[schema.ITEM_ID],
        "users_too_short": sum(b.users_too_short for b in buckets),
        "examples": {s: sum(b.examples[s] for b in buckets) for s in schema.SPLITS},
        "ranking_examples": ranking,
        "ranking_rows_skived": sum(b.ranking_rows_skived for b in buckets),
        "positive_rate": (sum(b.ranking_positives for b in buckets) / total_ranking
                          if total_ranking else 0.0),
        "head_items": int(items[schema.IS_HEAD].sum()),
        "vocab_sizes": {name: vocab.size(name) for name in schema.CATEGORICAL_VOCABULARIES},
        "min_count": vocab.min_count,
        "max_len": context.sequences.max_len,
        "eval_negatives": context.sequences.eval_negatives,
        "seed": context.sequences.seed,
        "split_per_sequence": context.sequences.split_per_sequence,
        "split": context.sequences.split,
        "window_stride": context.sequences.window_stride,
        "eval_negatives_sampling": context.sequences.negatives_sampling,
        "shards_per_split": context.num_buckets,
        "reference_files": {r.file: r.stats() for r in plan.reference_rows},
    }
    io.write_text(layout.stats, json.dumps(stats, indent=2, sort_keys=True) + "\n")
    return stats
