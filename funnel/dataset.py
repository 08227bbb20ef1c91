"""Reading what ``funnel preprocess`` wrote: examples as ``tf.data``, vocabularies, tables.

Both trainers, the evaluators and the exporter read a dataset folder through
this module, so the on-disk format (see :class:`funnel.schema.Layout`) is
decoded in exactly one place. :mod:`funnel.tfrecord` is its inverse, used by
the pipeline, ``funnel candidates`` and tests that write tiny datasets by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

import funnel  # noqa: F401
from funnel import schema


RETRIEVAL, RANKING = "retrieval", "ranking"
EXAMPLE_FILES = {RETRIEVAL: schema.Layout.retrieval_files, RANKING: schema.Layout.ranking_files}
"""Kind of examples -> the TFRecord files of one split."""


def require_examples(data_dir: str | Path, kind: str, splits: Sequence[str]) -> None:
    """Raise unless every split in ``splits`` has at least one ``kind`` example.

    A TFRecord file holding a record is never empty, so file sizes answer
    without reading (or importing TensorFlow): trainers call this first and
    refuse an empty split with one line instead of failing deep inside Keras.

    Raises:
        ValueError: a split has no example (names the split, the kind and the folder).
    """
    layout = schema.Layout(data_dir)
    for split in splits:
        files = EXAMPLE_FILES[kind](layout, split)
        if not any(path.stat().st_size for path in files):
            raise ValueError(f"{data_dir}: the {split} split has no {kind} examples "
                             f"({len(files)} empty file(s)); training needs at least one, "
                             "see stats.json of `funnel preprocess`")


def _tf_spec(spec: Mapping[str, tuple[str, tuple]]):
    import tensorflow as tf

    return {name: tf.io.FixedLenFeature(shape, tf.as_dtype(dtype)) for name, (dtype, shape) in spec.items()}


def _read(files: Sequence[Path], spec, batch_size: int, shuffle: bool, seed: int | None,
          repeat: bool):
    import tensorflow as tf

    if not files:
        raise FileNotFoundError("no TFRecord files matched; run `funnel preprocess` first")
    dataset = tf.data.TFRecordDataset([str(f) for f in files])
    if shuffle:
        dataset = dataset.shuffle(100_000, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=False)
    dataset = dataset.map(lambda records: tf.io.parse_example(records, spec),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def retrieval_dataset(data_dir: str | Path, split: str, batch_size: int = 256,
                      shuffle: bool = False, seed: int | None = None, repeat: bool = False,
                      num_negatives: int | None = None, by_length: bool = False):
    """Batched retrieval examples of ``split`` as a ``tf.data.Dataset`` of dicts.

    ``by_length``: batch examples of similar history length together
    (``LENGTH_BUCKETS``) and cut each batch's history to its longest one,
    ``[B, L']`` with ``L' <= max_len``. Histories are left-padded and every
    consumer masks padding, so a model computes the same outputs with less work:
    on sparse catalogs most histories are a few items long.
    """
    layout = schema.Layout(data_dir)
    if num_negatives is None:
        num_negatives = schema.FeatureMap.load(data_dir).eval_negatives
    spec = _tf_spec(schema.retrieval_example_spec(split, num_negatives))
    if by_length:
        return _read_by_length(layout.retrieval_files(split), spec, batch_size, shuffle, seed)
    return _read(layout.retrieval_files(split), spec, batch_size, shuffle, seed, repeat)


LENGTH_BUCKETS = (2, 4, 8, 16)
"""Upper history lengths of the ``by_length`` buckets (the last bucket takes the rest)."""


def _history_length(history):
    """Real (non-padding) items of each history: ``[..., L]`` -> ``[...]`` int32."""
    import tensorflow as tf

    return tf.reduce_sum(tf.cast(tf.not_equal(history, schema.PADDING_ID), tf.int32), axis=-1)


def _read_by_length(files: Sequence[Path], spec, batch_size: int, shuffle: bool, seed: int | None):
    import tensorflow as tf

    if not files:
        raise FileNotFoundError("no TFRecord files matched; run `funnel preprocess` first")
    dataset = tf.data.TFRecordDataset([str(f) for f in files])
    if shuffle:
        dataset = dataset.shuffle(100_000, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda record: tf.io.parse_single_example(record, spec),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    boundaries = tf.constant(LENGTH_BUCKETS, tf.int32)

    def bucket(example):
        length = _history_length(example[schema.HISTORY])
        return tf.cast(tf.searchsorted(boundaries, length[tf.newaxis], side="left")[0], tf.int64)

    def trim(batch):
        history = batch[schema.HISTORY]
        width = tf.maximum(tf.reduce_max(_history_length(history)), 1)
        return {**batch, schema.HISTORY: history[:, tf.shape(history)[1] - width:]}

    dataset = dataset.group_by_window(bucket, lambda _, window: window.batch(batch_size),
                                      window_size=batch_size)
    return dataset.map(trim, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(
        tf.data.AUTOTUNE)


def ranking_dataset(data_dir: str | Path, split: str, batch_size: int = 256,
                    shuffle: bool = False, seed: int | None = None, repeat: bool = False):
    """Batched ranking examples of ``split`` as a ``tf.data.Dataset`` of dicts."""
    layout = schema.Layout(data_dir)
    spec = _tf_spec(schema.ranking_example_spec())
    return _read(layout.ranking_files(split), spec, batch_size, shuffle, seed, repeat)


def load_arrays(dataset) -> dict[str, np.ndarray]:
    """Concatenate a batched dataset of dicts into NumPy arrays (small splits only)."""
    parts: dict[str, list[np.ndarray]] = {}
    for batch in dataset.as_numpy_iterator():
        for name, value in batch.items():
            parts.setdefault(name, []).append(value)
    return {name: np.concatenate(values) for name, values in parts.items()}


def read_vocabulary(data_dir: str | Path, feature_name: str) -> list[str]:
    """Values of a vocabulary; value ``i`` has id ``schema.FIRST_VALUE_ID + i``."""
    path = schema.Layout(data_dir).vocab_file(feature_name)
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle]


def item_table(data_dir: str | Path) -> pd.DataFrame:
    """The item table, indexed by item id (vocabulary index), sorted by it."""
    table = pd.read_csv(schema.Layout(data_dir).items, dtype={schema.ITEM_ID: str},
                        keep_default_na=False)
    return table.set_index("item_index").sort_index()


def user_table(data_dir: str | Path) -> pd.DataFrame:
    """The user table, indexed by user id (vocabulary index)."""
    table = pd.read_csv(schema.Layout(data_dir).users, dtype=str, keep_default_na=False)
    table["user_index"] = table["user_index"].astype(int)
    return table.set_index("user_index").sort_index()


def item_frequencies(data_dir: str | Path, num_items: int | None = None) -> np.ndarray:
    """Training frequency of every item id, ``[num_items]`` (padding and OOV are 0)."""
    table = item_table(data_dir)
    size = num_items or schema.FeatureMap.load(data_dir).num_items
    counts = np.zeros(size, dtype=np.float64)
    counts[table.index.to_numpy()] = table[schema.ITEM_FREQUENCY].to_numpy(dtype=np.float64)
    return counts


def head_items(data_dir: str | Path) -> np.ndarray:
    """Boolean mask over item ids: True for head items (20% most frequent)."""
    table = item_table(data_dir)
    size = schema.FeatureMap.load(data_dir).num_items
    mask = np.zeros(size, dtype=bool)
    mask[table.index.to_numpy()] = table[schema.IS_HEAD].to_numpy().astype(bool)
    return mask
