"""DIN target attention over the behaviour sequence (Zhou et al. 2018, §4.3, eq. 3, Fig. 2).

``v_U(A) = sum_j a(e_j, v_A) e_j``: the activation unit ``a`` is an MLP on
``[e_j, v_A, e_j - v_A, e_j * v_A]`` (the out-product of Fig. 2 taken
element-wise, as FuxiCTR and DeepCTR do). As in DIN the weights are not
softmax-normalised, so the pooled vector keeps the intensity of interest;
padding slots get weight exactly 0.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from ranking.layers.mlp import MLP


class TargetAttention(keras.layers.Layer):
    """(history ``[B, L, d]``, target ``[B, d]``, mask ``[B, L]``) -> (interest ``[B, d]``, weights ``[B, L]``)."""

    def __init__(self, units=(64, 32), l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.activation_unit = MLP(units, l2=l2)
        self.score = keras.layers.Dense(1, name="attention_score")

    def call(self, history, target, mask, training=False):
        target = tf.broadcast_to(target[:, None, :], tf.shape(history))
        pairs = tf.concat([history, target, history - target, history * target], axis=-1)
        weights = self.score(self.activation_unit(pairs, training=training))[..., 0]
        weights = weights * tf.cast(mask, weights.dtype)
        return tf.reduce_sum(weights[..., None] * history, axis=1), weights
