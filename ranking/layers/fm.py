"""Factorization machine encoder (Rendle 2010; the FM half of DeepFM, Guo et al. 2017, eq. 2)."""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


class FactorizationMachine(keras.layers.Layer):
    """Fields ``[B, F, d]`` -> ``[B, 1]``: first order plus pairwise interactions.

    The second-order term uses the O(F d) identity
    ``sum_{i<j} <e_i, e_j> = 1/2 sum_k ((sum_i e_ik)^2 - sum_i e_ik^2)``.
    The first-order term is a learned scalar per field embedding
    (``w_i = <v_i, e_i>`` with a per-field vector ``v_i``), so the FM needs no
    separate 1-d embedding table.
    """

    def build(self, input_shape):
        self.linear = self.add_weight("linear", shape=(input_shape[1], input_shape[2]),
                                      initializer="zeros")
        self.bias = self.add_weight("bias", shape=(1,), initializer="zeros")
        super().build(input_shape)

    @property
    def output_dim(self) -> int:
        return 1

    def call(self, fields, training=False):
        first = tf.reduce_sum(fields * self.linear, axis=[1, 2])
        square_of_sum = tf.square(tf.reduce_sum(fields, axis=1))
        sum_of_square = tf.reduce_sum(tf.square(fields), axis=1)
        second = 0.5 * tf.reduce_sum(square_of_sum - sum_of_square, axis=1)
        return (first + second)[:, None] + self.bias
