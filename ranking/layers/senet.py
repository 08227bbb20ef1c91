"""Squeeze-and-excitation field attention (FiBiNET, Huang et al. 2019, §3.3.1, eqs. 3-6;
SENet, Hu et al. 2018).

Squeeze: ``z_f = mean_k e_fk`` ``[B, F]``; excitation: ``a = sigmoid(W_2 ReLU(W_1 z))``
with ``W_1`` reducing F by ``reduction_ratio``; re-weight: ``v_f = a_f e_f``.
EAIN §3.3 names ReLU and sigmoid, as SENet does (FiBiNET uses ReLU twice).
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


class SqueezeExcitation(keras.layers.Layer):
    """Fields ``[B, F, d]`` -> re-weighted fields ``[B, F, d]`` (and the weights ``[B, F]``)."""

    def __init__(self, reduction_ratio: float = 3.0, **kwargs):
        super().__init__(**kwargs)
        self.reduction_ratio = reduction_ratio

    def build(self, input_shape):
        num_fields = int(input_shape[1])
        self.squeeze_dense = keras.layers.Dense(max(1, int(num_fields / self.reduction_ratio)), activation="relu")
        self.excite_dense = keras.layers.Dense(num_fields, activation="sigmoid")
        super().build(input_shape)

    def excitation(self, fields):
        """Field weights ``a`` ``[B, F]`` (eqs. 3-4)."""
        return self.excite_dense(self.squeeze_dense(tf.reduce_mean(fields, axis=-1)))

    def call(self, fields, training=False):
        return fields * self.excitation(fields)[..., None]
