"""Dynamic Fusion Modules of TF4CTR (Li et al. 2024, §3.6, eqs. 8-11).

A fusion takes the two encoder representations ``h_es`` ``[B, H_s]`` and
``h_hs`` ``[B, H_c]`` and returns three logits ``[B]``: the fused ``z``, and each
encoder's own ``z_s = W_s h_es`` and ``z_c = W_c h_hs`` (eq. 6), which the Twin
Focus loss supervises. ``sum`` is the plain logit sum of Table 3 ("Sum") and of
parallel baselines such as DeepFM and DualMLP. Register a new one in ``FUSIONS``.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


class _TwinHeads(keras.layers.Layer):
    """The per-encoder logits ``z_s`` and ``z_c`` every fusion reports (eq. 6)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.simple_head = keras.layers.Dense(1, name="simple_logit")
        self.complex_head = keras.layers.Dense(1, name="complex_logit")

    def heads(self, h_s, h_c):
        return self.simple_head(h_s)[:, 0], self.complex_head(h_c)[:, 0]


class SumFusion(_TwinHeads):
    """``z = z_s + z_c`` (Table 3 "Sum"; DeepFM, DualMLP)."""

    def call(self, h_s, h_c, training=False):
        z_s, z_c = self.heads(h_s, h_c)
        return z_s + z_c, z_s, z_c


class WeightedSumFusion(_TwinHeads):
    """WSF, eq. 8: ``z = w_1 z_s + w_2 z_c``, ``w`` learned and initialised to 0.5."""

    def build(self, input_shape):
        self.w = self.add_weight("w", shape=(2,), initializer=keras.initializers.Constant(0.5))
        super().build(input_shape)

    def call(self, h_s, h_c, training=False):
        z_s, z_c = self.heads(h_s, h_c)
        return self.w[0] * z_s + self.w[1] * z_c, z_s, z_c


class VotingFusion(_TwinHeads):
    """VF, eq. 9: Gumbel-softmax vote ``p = softmax((log pi + g) / tau)`` over the encoders.

    ``log pi_s = W_es h_es`` and ``log pi_c = W_hs h_hs`` are learned logits; ``g``
    is i.i.d. Gumbel(0, 1) noise, drawn in training only, so serving is
    deterministic. A low ``temperature`` makes the vote nearly hard (one-hot);
    a high one makes it nearly uniform (Jang et al. 2017).
    """

    def __init__(self, temperature: float = 0.8, **kwargs):
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError(f"VotingFusion: temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.simple_vote = keras.layers.Dense(1, name="simple_vote")
        self.complex_vote = keras.layers.Dense(1, name="complex_vote")

    def vote(self, log_pi: tf.Tensor, training=False) -> tf.Tensor:
        """``[B, 2]`` vote logits -> voting probabilities ``[B, 2]``."""
        if training:
            uniform = tf.random.uniform(tf.shape(log_pi), minval=1e-10, maxval=1.0)
            log_pi = log_pi - tf.math.log(-tf.math.log(uniform))
        return tf.nn.softmax(log_pi / self.temperature, axis=-1)

    def call(self, h_s, h_c, training=False):
        z_s, z_c = self.heads(h_s, h_c)
        log_pi = tf.concat([self.simple_vote(h_s), self.complex_vote(h_c)], axis=-1)
        p = self.vote(log_pi, training=training)
        return p[:, 0] * z_s + p[:, 1] * z_c, z_s, z_c


class ConcatFusion(_TwinHeads):
    """CF, eq. 10: ``z = W_cf [h_es || h_hs]`` (also DCNv2's parallel output layer)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.output_layer = keras.layers.Dense(1, name="concat_logit")

    def call(self, h_s, h_c, training=False):
        z_s, z_c = self.heads(h_s, h_c)
        return self.output_layer(tf.concat([h_s, h_c], axis=-1))[:, 0], z_s, z_c


class MoEFusion(_TwinHeads):
    """MoEF, eq. 11: ``g = softmax(gate[h_es || h_hs])``, ``m_i = ex_i([h_es || h_hs])``, ``z = sum g_i m_i``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gate = keras.layers.Dense(2, name="gate")
        self.experts = keras.layers.Dense(2, name="experts")

    def call(self, h_s, h_c, training=False):
        z_s, z_c = self.heads(h_s, h_c)
        joint = tf.concat([h_s, h_c], axis=-1)
        g = tf.nn.softmax(self.gate(joint), axis=-1)
        return tf.reduce_sum(g * self.experts(joint), axis=-1), z_s, z_c


FUSIONS = {
    "sum": SumFusion,
    "wsf": WeightedSumFusion,
    "vf": VotingFusion,
    "cf": ConcatFusion,
    "moef": MoEFusion,
}


def build_fusion(name: str, temperature: float = 0.8):
    """``FUSIONS[name]``; only VF takes the Gumbel temperature."""
    if name not in FUSIONS:
        raise ValueError(f"dfm: unknown value {name!r}; choose one of {sorted(FUSIONS)}")
    return FUSIONS[name](temperature=temperature) if name == "vf" else FUSIONS[name]()
