"""MaskBlock of MaskNet (Wang, She and Zhang 2021, §3.2-3.4, eqs. 1-9).

Instance-guided mask: ``V_mask = W_d2 ReLU(W_d1 V_emb + b_d1) + b_d2`` where the
aggregation layer ``W_d1`` is wider (``aggregation_ratio`` times the input)
than the projection ``W_d2``; the mask multiplies the block's hidden input
element-wise and ``V_out = ReLU(LN(W_i (V_mask * V_hidden)))``. Blocks stack
serially (SerMaskNet): the first block's hidden input is ``LN(V_emb)``.
"""

from __future__ import annotations

import tf_keras as keras


class MaskBlock(keras.layers.Layer):
    """(``V_emb`` ``[B, D_emb]``, hidden ``[B, D_h]``) -> ``[B, output_dim]``."""

    def __init__(self, output_dim: int, aggregation_ratio: float = 2.0, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = output_dim
        self.aggregation_ratio = aggregation_ratio
        self.regularizer = keras.regularizers.l2(l2) if l2 else None

    def build(self, input_shape):
        emb_shape, hidden_shape = input_shape
        self.aggregation = keras.layers.Dense(int(self.aggregation_ratio * emb_shape[-1]), activation="relu",
                                              kernel_regularizer=self.regularizer)
        self.projection = keras.layers.Dense(int(hidden_shape[-1]), kernel_regularizer=self.regularizer)
        self.hidden = keras.layers.Dense(self.output_dim, use_bias=False, kernel_regularizer=self.regularizer)
        self.norm = keras.layers.LayerNormalization()
        super().build(input_shape)

    def call(self, inputs, training=False):
        embedding, hidden = inputs
        mask = self.projection(self.aggregation(embedding))
        return keras.activations.relu(self.norm(self.hidden(mask * hidden)))


class SerialMaskNet(keras.layers.Layer):
    """``num_blocks`` MaskBlocks in series on a flat embedding ``[B, D]`` -> ``[B, output_dim]``."""

    def __init__(self, num_blocks: int, output_dim: int, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if num_blocks < 1:
            raise ValueError(f"SerialMaskNet: num_blocks must be >= 1, got {num_blocks}")
        self.input_norm = keras.layers.LayerNormalization()
        self.blocks = [MaskBlock(output_dim, l2=l2, name=f"maskblock_{i}") for i in range(num_blocks)]

    def call(self, embedding, training=False):
        hidden = self.input_norm(embedding)
        for block in self.blocks:
            hidden = block((embedding, hidden), training=training)
        return hidden
