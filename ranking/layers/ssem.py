"""Sample Selection Embedding Modules of TF4CTR (Li et al. 2024, §3.3, eqs. 3-5).

Each SSEM maps the feature dict to two field tensors, ``h_es`` for the simple
encoder and ``h_hs`` for the complex one, so the two encoders can see
differently shaped (SER), gated (GM) or expert-mixed (MMoE) embeddings.
``share`` is the paper's "Share" baseline row of Table 3: one embedding for both.
Register a new one in ``SSEMS``.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from funnel import schema
from ranking.embedding import NUM_FIELDS, FieldEmbedding
from ranking.layers.mlp import MLP, flatten_fields


class ShareEmbedding(keras.layers.Layer):
    """Both encoders read one ``[B, F, d]`` embedding (Table 3, "Share")."""

    def __init__(self, feature_map: schema.FeatureMap, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.embedding = FieldEmbedding(feature_map, dim)

    def call(self, features, training=False):
        h = self.embedding(features)
        return h, h


class SeparateEmbeddings(keras.layers.Layer):
    """SER, eq. 3: ``h_es = E_es X`` with d/2 columns, ``h_hs = E_hs X`` with d."""

    def __init__(self, feature_map: schema.FeatureMap, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.easy = FieldEmbedding(feature_map, max(1, dim // 2), name="easy_embedding")
        self.hard = FieldEmbedding(feature_map, dim, name="hard_embedding")

    def call(self, features, training=False):
        return self.easy(features), self.hard(features)


class GatedEmbedding(keras.layers.Layer):
    """GM, eq. 4: ``g = sigmoid(Gate(h))`` (one scalar per example), ``h_es = g h``, ``h_hs = (1 - g) h``.

    The gate is an MLP with one hidden layer of ``D / 4`` units (``D = F d``), as
    in the authors' code.
    """

    def __init__(self, feature_map: schema.FeatureMap, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.embedding = FieldEmbedding(feature_map, dim)
        flat = NUM_FIELDS * dim
        self.gate_hidden = MLP((max(1, flat // 4),))
        self.gate_out = keras.layers.Dense(1, activation="sigmoid")

    def gate(self, h: tf.Tensor, training=False) -> tf.Tensor:
        """``[B, F, d]`` -> gate value ``g`` ``[B, 1, 1]``."""
        g = self.gate_out(self.gate_hidden(flatten_fields(h), training=training))
        return g[:, :, None]

    def call(self, features, training=False):
        h = self.embedding(features)
        g = self.gate(h, training=training)
        return g * h, (1.0 - g) * h


class MMoEEmbedding(keras.layers.Layer):
    """MMoE, eq. 5 (Ma et al. 2018): two experts ``EX_1, EX_2: R^D -> R^D`` and two
    softmax gates; ``h_es = g_11 m_1 + g_12 m_2``, ``h_hs = g_21 m_1 + g_22 m_2``.

    Experts are MLPs ``D/2 -> D`` and gates MLPs ``D/4 -> 2`` (authors' code);
    outputs are reshaped back to ``[B, F, d]`` so field-wise encoders (FM) still work.
    """

    def __init__(self, feature_map: schema.FeatureMap, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.embedding = FieldEmbedding(feature_map, dim)
        flat = NUM_FIELDS * dim
        self.experts = [MLP((max(1, flat // 2), flat), name=f"expert_{i}") for i in range(2)]
        self.gates = [keras.Sequential([MLP((max(1, flat // 4),)), keras.layers.Dense(2)],
                                       name=f"gate_{i}") for i in range(2)]

    def call(self, features, training=False):
        h = self.embedding(features)
        flat = flatten_fields(h)
        m = tf.stack([expert(flat, training=training) for expert in self.experts], axis=1)  # [B, 2, D]
        outputs = []
        for gate in self.gates:
            g = tf.nn.softmax(gate(flat, training=training), axis=-1)  # [B, 2]
            mixed = tf.reduce_sum(g[:, :, None] * m, axis=1)
            outputs.append(tf.reshape(mixed, [-1, NUM_FIELDS, self.dim]))
        return outputs[0], outputs[1]


SSEMS = {
    "share": ShareEmbedding,
    "ser": SeparateEmbeddings,
    "gm": GatedEmbedding,
    "mmoe": MMoEEmbedding,
}
