"""DIN target attention over the behaviour sequence (Zhou et al. 2018, §4.3, eq. 3, Fig. 2).

``v_U(A) = sum_j a(e_j, v_A) e_j``: the activation unit ``a`` is an MLP on
``[e_j, v_A, e_j - v_A, e_j * v_A]`` (the out-product of Fig. 2 taken
element-wise, as FuxiCTR and DeepCTR do). As in DIN the weights are not
softmax-normalised, so the pooled vector keeps the intensity of interest;
padding slots get weight exactly 0.

The unit's first layer is never given the concatenation: with its kernel cut
into the four blocks that multiply ``e_j``, ``v_A``, ``e_j - v_A`` and
``e_j * v_A``,

    [e, v, e - v, e * v] W = e (W_e + W_d) + (e * v) W_p + v (W_v - W_d),

so the target's term is computed once per target instead of once per slot,
the slots need half the products, and the ``[B, L, 4d]`` input is never
built. Given ``owner`` (many targets sharing one history, as the candidates
of a request do), the history's term ``e (W_e + W_d)`` is computed once per
history and gathered to the targets: only ``(e * v) W_p`` depends on both.
The result is the same function of the same weights (checkpoints are
unchanged); docs/benchmarks.md ("Serving") measures the ranking call before and
after.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from ranking.layers.mlp import MLP


def drop_empty_slots(ids: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """History ids and mask ``[B, L]`` without the slots that are padding in every row.

    Target attention sums over slots and gives padding weight 0, so the
    dropped slots change nothing but the work: a batch of 10-item histories
    attends over 10 slots, not ``MAX_SEQUENCE_LENGTH``.
    """
    used = tf.reduce_any(mask, axis=0)
    return tf.boolean_mask(ids, used, axis=1), tf.boolean_mask(mask, used, axis=1)


class TargetAttention(keras.layers.Layer):
    """(history, target ``[N, d]``, mask) -> (interest ``[N, d]``, weights ``[N, L]``).

    History ``[N, L, d]`` and mask ``[N, L]`` have a row per target, or, with
    ``owner [N]`` (the history row of each target), a row per distinct
    history ``[B, L, d]`` / ``[B, L]``.
    """

    def __init__(self, units=(64, 32), l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.activation_unit = MLP(units, l2=l2)
        self.score = keras.layers.Dense(1, name="attention_score")

    def build(self, input_shape):
        dim = input_shape[-1]
        self.activation_unit.build((None, 4 * dim))
        super().build(input_shape)

    def call(self, history, target, mask, owner=None, training=False):
        first = self.activation_unit.dense[0]
        w_e, w_v, w_d, w_p = tf.split(first.kernel, 4, axis=0)                       # [d, u] each
        slots, dim = tf.shape(history)[1], tf.shape(history)[2]
        per_history = tf.reshape(tf.matmul(tf.reshape(history, [-1, dim]), w_e + w_d),
                                 [-1, slots, first.units])                              # [B, L, u]
        if owner is not None:
            history, mask = tf.gather(history, owner), tf.gather(mask, owner)
            per_history = tf.gather(per_history, owner)                                 # [N, L, u]
        products = tf.reshape(history * target[:, None, :], [-1, dim])
        per_pair = tf.reshape(tf.matmul(products, w_p), [-1, slots, first.units])
        per_target = tf.matmul(target, w_v - w_d) + first.bias                        # [N, u]
        hidden = first.activation(per_history + per_pair + per_target[:, None, :])
        weights = self.score(self.activation_unit.after_first(hidden, training=training))[..., 0]
        weights = weights * tf.cast(mask, weights.dtype)
        return tf.reduce_sum(weights[..., None] * history, axis=1), weights
