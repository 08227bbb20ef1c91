"""Position-Aware Interaction Module of EAIN (Wang 2025, §3.4).

The paper's equations were lost in publication; this follows its text:
sinusoidal positional encoding (Vaswani et al. 2017, §3.5:
``PE(t, 2i) = sin(t / 10000^(2i/C))``, ``PE(t, 2i+1) = cos(...)``) added to the
history embeddings, a masked mean of the encoded sequence, then stacked
feature-cross layers on ``x_0 = [fields || sequence]``. The cross layers are
DCNv2's (``tfrs.layers.dcn.Cross``, ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l``):
a full outer product ``x_0 (x) x_l`` followed by ``W_l`` would cost O(D^3)
parameters, and DCNv2's form is its rank-structured projection.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from ranking.layers.cross import CrossNetwork


def positional_encoding(length: int, dim: int) -> np.ndarray:
    """Sinusoidal encoding ``[length, dim]``; position ``t`` is the slot index (most recent last)."""
    positions = np.arange(length)[:, None].astype(np.float64)
    rates = 1.0 / np.power(10000.0, (2 * (np.arange(dim) // 2)) / float(dim))
    angles = positions * rates[None, :]
    encoding = np.where(np.arange(dim)[None, :] % 2 == 0, np.sin(angles), np.cos(angles))
    return encoding.astype(np.float32)


class PositionAwareInteraction(keras.layers.Layer):
    """(fields flat ``[B, D]``, history ``[B, L, d]``, mask ``[B, L]``) -> ``[B, D + d]``."""

    def __init__(self, num_layers: int, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.cross = CrossNetwork(num_layers, l2=l2)

    def encode_sequence(self, history, mask):
        """Masked mean of ``history + PE`` -> ``[B, d]``."""
        encoding = tf.constant(positional_encoding(history.shape[1], history.shape[2]))
        weights = tf.cast(mask, history.dtype)[..., None]
        total = tf.reduce_sum((history + encoding[None]) * weights, axis=1)
        return total / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)

    def call(self, fields_flat, history, mask, training=False):
        x0 = tf.concat([fields_flat, self.encode_sequence(history, mask)], axis=-1)
        return self.cross(x0, training=training)
