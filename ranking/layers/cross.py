"""Explicit interaction encoder: a stack of DCNv2 cross layers (Wang et al. 2021, eq. 1).

Each layer is ``tfrs.layers.dcn.Cross``: ``x_{l+1} = x_0 * (W x_l + b) + x_l``.
"""

from __future__ import annotations

import tensorflow_recommenders as tfrs
import tf_keras as keras

from ranking.layers.mlp import flatten_fields


class CrossNetwork(keras.layers.Layer):
    """Fields ``[B, F, d]`` (or a flat ``[B, D]``) -> ``[B, D]`` after ``num_layers`` crosses."""

    def __init__(self, num_layers: int, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(f"CrossNetwork: num_layers must be >= 1, got {num_layers}")
        regularizer = keras.regularizers.l2(l2) if l2 else None
        self.crosses = [tfrs.layers.dcn.Cross(kernel_regularizer=regularizer) for _ in range(num_layers)]

    def call(self, inputs, training=False):
        x0 = flatten_fields(inputs) if inputs.shape.rank == 3 else inputs
        x = x0
        for cross in self.crosses:
            x = cross(x0, x)
        return x
