"""The input a trained ranking model is called on, derived from the schema.

``model(features)`` takes ``schema.ranking_example_spec()`` minus ``LABEL``: int64
ids, ``HISTORY`` ``[B, MAX_SEQUENCE_LENGTH]``, every other feature ``[B]``.
The exporter uses :func:`input_signature` for the SavedModel's serving signature.
"""

from __future__ import annotations

import tensorflow as tf

from funnel import schema


def feature_shapes() -> dict[str, tuple]:
    """Per-example shape of every model input (``LABEL`` excluded)."""
    return {name: tuple(shape) for name, (_, shape) in schema.ranking_example_spec().items()
            if name != schema.LABEL}


def input_signature() -> dict[str, tf.TensorSpec]:
    """Batched ``tf.TensorSpec`` of every model input, keyed by feature name."""
    return {name: tf.TensorSpec((None,) + shape, tf.int64, name=name)
            for name, shape in feature_shapes().items()}


def dummy_features(batch_size: int = 1, candidate_features: bool = False) -> dict[str, tf.Tensor]:
    """All-padding inputs of ``batch_size`` examples: builds a model's variables.

    ``candidate_features`` adds the ``schema.CANDIDATE_FEATURES`` a candidate ranker reads.
    """
    features = {name: tf.zeros((batch_size,) + shape, tf.int64) for name, shape in feature_shapes().items()}
    if candidate_features:
        features.update({name: tf.zeros((batch_size,), tf.float32) for name in schema.CANDIDATE_FEATURES})
    return features
