"""Multi-layer perceptron block and the flattening every encoder starts with."""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


def flatten_fields(fields: tf.Tensor) -> tf.Tensor:
    """``[B, F, d]`` -> ``[B, F * d]`` (TF4CTR §3.2: ``h = [e_1, ..., e_f]``)."""
    return tf.reshape(fields, [-1, fields.shape[1] * fields.shape[2]])


class MLP(keras.layers.Layer):
    """Dense ReLU layers ``[B, D_in] -> [B, units[-1]]`` (no output head).

    Args:
        units: width of each hidden layer, e.g. ``(400, 400, 400)``.
        l2: L2 penalty on the kernels (0 disables it).
        dropout: dropout rate after each layer (training only).
    """

    def __init__(self, units, l2: float = 0.0, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if not units:
            raise ValueError("MLP: units must name at least one layer")
        regularizer = keras.regularizers.l2(l2) if l2 else None
        self.units = tuple(int(u) for u in units)
        self.dense = [keras.layers.Dense(u, activation="relu", kernel_regularizer=regularizer)
                      for u in self.units]
        self.dropout = [keras.layers.Dropout(dropout) for _ in self.units] if dropout else []

    @property
    def output_dim(self) -> int:
        return self.units[-1]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.dense:
            layer.build(shape)
            shape = (*shape[:-1], layer.units)
        super().build(input_shape)

    def call(self, inputs, training=False):
        return self._from_layer(0, inputs, training)

    def after_first(self, first_output, training=False):
        """The MLP from its second layer on, given the first layer's activated output.

        For callers that compute the first layer's product in parts
        (``ranking.layers.din``); dropout of the first layer applies here.
        """
        if self.dropout:
            first_output = self.dropout[0](first_output, training=training)
        return self._from_layer(1, first_output, training)

    def _from_layer(self, start: int, x, training):
        for i in range(start, len(self.dense)):
            x = self.dense[i](x)
            if self.dropout:
                x = self.dropout[i](x, training=training)
        return x


class MLPEncoder(keras.layers.Layer):
    """Implicit feature-interaction encoder: fields ``[B, F, d]`` -> MLP -> ``[B, H]`` (TF4CTR eq. 6)."""

    def __init__(self, units, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.mlp = MLP(units, l2=l2)

    def call(self, fields, training=False):
        return self.mlp(flatten_fields(fields), training=training)
