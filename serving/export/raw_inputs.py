"""Raw values -> model ids inside a SavedModel, by the rules of ``funnel.schema``.

The exported models take what a client has (raw item ids, category strings,
ages) and apply the pipeline's rules in TensorFlow, so the export needs
nothing from the pipeline's output at serving time:

- vocabulary lookup: line ``i`` of ``vocab/<feature>.txt`` -> ``FIRST_VALUE_ID + i``,
  unknown -> ``OOV_ID``; the empty string is a padded history slot
  (``PADDING_ID``) or a missing attribute (``OOV_ID``, as ``UNKNOWN_VALUE``);
- histories: empty slots removed, the last ``MAX_SEQUENCE_LENGTH`` items kept,
  left-padded so the most recent item is last (as the pipeline writes them);
- numbers: :func:`log_square_bucket`, identical to ``schema.log_square_bucket``
  then clipped to ``MAX_NUMERIC_BUCKET`` (TF4CTR §4.1).
"""

from __future__ import annotations

import os

import tensorflow as tf

from funnel import schema


class Vocabulary(tf.Module):
    """A vocabulary file as a hash table; the file travels with the SavedModel as an asset.

    An empty file (a feature without values, e.g. user attributes of a dataset
    with no users file) is an OOV-only vocabulary: TensorFlow cannot initialise
    a table from an empty file, so the table then holds only ``""``, which
    :meth:`ids` never reads from the table, and every value maps to ``OOV_ID``.
    """

    def __init__(self, path: str, name: str):
        super().__init__(name=name)
        self.asset = tf.saved_model.Asset(path)
        if os.path.getsize(path) == 0:
            initializer = tf.lookup.KeyValueTensorInitializer(
                tf.constant([schema.UNKNOWN_VALUE]), tf.constant([-1], tf.int64))
        else:
            initializer = tf.lookup.TextFileInitializer(
                self.asset, key_dtype=tf.string, key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
                value_dtype=tf.int64, value_index=tf.lookup.TextFileIndex.LINE_NUMBER)
        self.table = tf.lookup.StaticHashTable(initializer, default_value=-1)

    def ids(self, values: tf.Tensor, empty_id: int = schema.OOV_ID) -> tf.Tensor:
        """Ids of string ``values`` (any shape); ``""`` -> ``empty_id``, unknown -> ``OOV_ID``."""
        line = self.table.lookup(values)
        found = tf.where(line >= 0, line + schema.FIRST_VALUE_ID,
                         tf.constant(schema.OOV_ID, tf.int64))
        return tf.where(tf.equal(values, schema.UNKNOWN_VALUE),
                        tf.constant(empty_id, tf.int64), found)


def compact_history(ids: tf.Tensor, present: tf.Tensor,
                    length: int = schema.MAX_SEQUENCE_LENGTH) -> tf.Tensor:
    """Left-padded history of the last ``length`` present items, most recent last.

    Args:
        ids: item ids ``[B, T]`` in time order, with gaps anywhere.
        present: bool ``[B, T]``, False for empty slots.
        length: output length L.

    Returns:
        int64 ``[B, L]``: ``PADDING_ID`` then the last ``min(n, L)`` present ids.
    """
    ids = tf.cast(ids, tf.int64)
    present_int = tf.cast(present, tf.int64)
    # How many present items sit at this slot or after it (1 for the most recent).
    from_end = tf.cumsum(present_int, axis=1, reverse=True)
    keep = tf.logical_and(present, from_end <= length)
    column = length - from_end
    batch = tf.shape(ids, out_type=tf.int64)[0]
    rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(ids, out_type=tf.int64))
    indices = tf.stack([tf.boolean_mask(rows, keep), tf.boolean_mask(column, keep)], axis=1)
    return tf.scatter_nd(indices, tf.boolean_mask(ids, keep), tf.stack([batch, length]))


def history_ids(vocabulary: Vocabulary, history: tf.Tensor) -> tf.Tensor:
    """Raw string history ``[B, T]`` ("" = empty slot) -> pipeline history ``[B, L]``."""
    present = tf.not_equal(history, schema.UNKNOWN_VALUE)
    return compact_history(vocabulary.ids(history, empty_id=schema.PADDING_ID), present)


def int_history_as_strings(history: tf.Tensor) -> tf.Tensor:
    """Raw integer ids ``[B, T]`` (negative = empty slot) as the strings the vocabulary holds."""
    return tf.where(history < 0, tf.constant(schema.UNKNOWN_VALUE), tf.strings.as_string(history))


def bucket_thresholds() -> list[float]:
    """For b = 1..MAX_NUMERIC_BUCKET, the smallest float64 x > 2 whose bucket is >= b.

    ``schema.log_square_bucket`` is non-decreasing for x > 2, so its bucket is
    the number of thresholds <= x. Each threshold is found by bisection over
    float64 bit patterns with the Python function itself, which makes the
    TensorFlow version agree with it for every float64 input (TF's ``log``
    differs from ``math.log`` by an ulp at some bucket edges, e.g. x = e**2).
    """
    import struct

    def bits(x: float) -> int:
        return struct.unpack("<q", struct.pack("<d", x))[0]

    def value(b: int) -> float:
        return struct.unpack("<d", struct.pack("<q", b))[0]

    thresholds = []
    low, high = bits(2.0), bits(1e308)
    for bucket in range(1, schema.MAX_NUMERIC_BUCKET + 1):
        lo, hi = low, high  # invariant: bucket(value(hi)) >= bucket > bucket(value(lo))
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if schema.log_square_bucket(value(mid)) >= bucket:
                hi = mid
            else:
                lo = mid
        thresholds.append(value(hi))
        low = lo
    return thresholds


def log_square_bucket(values: tf.Tensor) -> tf.Tensor:
    """``schema.log_square_bucket`` in TensorFlow, clipped to ``MAX_NUMERIC_BUCKET``.

    ``floor(log(x)^2)`` for finite x > 2, else 1 (TF4CTR §4.1), evaluated as
    the count of :func:`bucket_thresholds` at or below x, so it is bit-for-bit
    the Python rule. ``values`` any shape -> int64 of the same shape.
    """
    x = tf.cast(values, tf.float64)
    thresholds = tf.constant([bucket_thresholds()], tf.float64)  # [1, MAX_NUMERIC_BUCKET]
    flat = tf.reshape(x, [1, -1])
    safe = tf.where(tf.math.is_finite(flat), flat, tf.zeros_like(flat))
    bucket = tf.reshape(tf.searchsorted(thresholds, safe, side="right", out_type=tf.int64),
                        tf.shape(x))
    valid = tf.logical_and(tf.math.is_finite(x), x > 2.0)
    return tf.where(valid, bucket, tf.ones_like(bucket))


def history_length(history: tf.Tensor) -> tf.Tensor:
    """Number of non-padding items per row of an id history ``[B, L]`` -> ``[B]``."""
    return tf.reduce_sum(tf.cast(tf.not_equal(history, schema.PADDING_ID), tf.int64), axis=1)
