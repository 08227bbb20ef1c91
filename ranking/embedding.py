"""One embedding layer for every ranking model, built from the schema.

The fields are ``schema.RANKING_FEATURES`` in their declared order; table sizes
come from the dataset's ``FeatureMap``. Categorical fields and numeric buckets
(``schema.log_square_bucket``, TF4CTR §4.1) are ids looked up in their own
table; ``HISTORY`` shares the ``ITEM_ID`` table (both hold item-vocabulary ids)
and is mean-pooled over its non-padding slots, so every model sees the same
``[B, F, d]`` field tensor (TF4CTR §3.2, ``e_i = E_i x_i``).
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from funnel import schema

SCALAR_FIELDS = tuple(f for f in schema.RANKING_FEATURES if f.kind is not schema.Kind.SEQUENCE)
SEQUENCE_FIELDS = tuple(f for f in schema.RANKING_FEATURES if f.kind is schema.Kind.SEQUENCE)
FIELD_NAMES = tuple(f.name for f in schema.RANKING_FEATURES)
"""Field order of the ``[B, F, d]`` output: the schema's order."""
NUM_FIELDS = len(FIELD_NAMES)
HISTORY_OWNER = "history_owner"
"""Optional input ``[N]`` int64: when present, ``HISTORY`` holds one row per request
``[B, L]`` and this names the request of each of the N rows, so every candidate of a
request shares one lookup and one pooling of its history (the export's ``candidates``
signature); without it ``HISTORY`` has a row per example."""


def table_sizes(feature_map: schema.FeatureMap) -> dict[str, int]:
    """Rows of each embedding table, keyed by the feature that owns the table.

    Raises:
        KeyError: a categorical feature has no vocabulary size in the feature map.
    """
    sizes = {}
    for f in SCALAR_FIELDS:
        if f.kind is schema.Kind.NUMERIC:
            sizes[f.name] = int(feature_map.vocab_sizes.get(f.name, schema.MAX_NUMERIC_BUCKET + 1))
        elif f.name in feature_map.vocab_sizes:
            sizes[f.name] = int(feature_map.vocab_sizes[f.name])
        else:
            raise KeyError(f"feature_map.json: no vocab size for categorical feature {f.name!r}")
        if sizes[f.name] < schema.FIRST_VALUE_ID:
            raise ValueError(f"feature_map.json: vocab size of {f.name!r} is {sizes[f.name]}, "
                             f"expected >= {schema.FIRST_VALUE_ID} (padding and OOV)")
    return sizes


def _safe_ids(ids: tf.Tensor, size: int, numeric: bool) -> tf.Tensor:
    """Map ids outside ``[0, size)`` to OOV (categorical) or clip them (numeric buckets)."""
    ids = tf.cast(ids, tf.int64)
    if numeric:
        return tf.clip_by_value(ids, 0, size - 1)
    valid = tf.logical_and(ids >= 0, ids < size)
    return tf.where(valid, ids, tf.constant(schema.OOV_ID, tf.int64))


def per_example(features, history_value: tf.Tensor) -> tf.Tensor:
    """A value computed from ``HISTORY``'s rows, one row per example (see ``HISTORY_OWNER``)."""
    owner = features.get(HISTORY_OWNER)
    return history_value if owner is None else tf.gather(history_value, owner)


class FieldEmbedding(keras.layers.Layer):
    """Feature dict -> per-field embeddings ``[B, F, d]`` (F = ``NUM_FIELDS``).

    Args:
        feature_map: the dataset's vocabulary sizes.
        dim: embedding size ``d``.
        l2: L2 penalty on the embedding tables (0 disables it).

    Besides ``call``, ``history(features)`` returns the unpooled history
    ``[B, L, d]`` and its mask ``[B, L]`` (True on real items) and
    ``item(ids)`` looks item ids up in the shared item table: DIN, the GRU of
    LAFAM and PAIM attend over the sequence themselves.
    """

    def __init__(self, feature_map: schema.FeatureMap, dim: int, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.sizes = table_sizes(feature_map)
        regularizer = keras.regularizers.l2(l2) if l2 else None
        self.tables = {
            name: keras.layers.Embedding(size, dim, embeddings_regularizer=regularizer,
                                         embeddings_initializer=keras.initializers.RandomNormal(stddev=1e-2),
                                         name=f"embedding_{name}")
            for name, size in self.sizes.items()
        }

    def item(self, ids: tf.Tensor) -> tf.Tensor:
        """Item ids ``[...]`` -> embeddings ``[..., d]`` from the shared item table."""
        return self.tables[schema.ITEM_ID](_safe_ids(ids, self.sizes[schema.ITEM_ID], numeric=False))

    def history(self, features) -> tuple[tf.Tensor, tf.Tensor]:
        """``HISTORY`` -> (embeddings ``[B, L, d]``, mask ``[B, L]``), one row per example."""
        embedded, mask = self._history_rows(features)
        return per_example(features, embedded), per_example(features, mask)

    def _history_rows(self, features) -> tuple[tf.Tensor, tf.Tensor]:
        """``HISTORY`` as given (a row per example, or per request with ``HISTORY_OWNER``)."""
        ids = tf.cast(features[schema.HISTORY], tf.int64)
        mask = tf.not_equal(ids, schema.PADDING_ID)
        embedded = self.item(ids) * tf.cast(mask, self.compute_dtype)[..., None]
        return embedded, mask

    def call(self, features) -> tf.Tensor:
        fields = []
        for f in schema.RANKING_FEATURES:
            if f.kind is schema.Kind.SEQUENCE:
                embedded, mask = self._history_rows(features)
                count = tf.reduce_sum(tf.cast(mask, self.compute_dtype), axis=1, keepdims=True)
                fields.append(per_example(features, tf.reduce_sum(embedded, axis=1) / tf.maximum(count, 1.0)))
            else:
                ids = _safe_ids(features[f.name], self.sizes[f.name], f.kind is schema.Kind.NUMERIC)
                fields.append(self.tables[f.name](tf.reshape(ids, [-1])))
        return tf.stack(fields, axis=1)
