"""The parallel CTR structure (TF4CTR Fig. 1): embedding -> two encoders -> fusion.

DualMLP, DCNv2, DeepFM and TF4CTR are all this one class with different parts
passed to the constructor (as TFRS' ``Ranking`` receives its embedding,
interaction and task): a backbone contributes its two encoders, TF4CTR swaps in
its SSEM and DFM (see ``ranking.models.tf4ctr``).
"""

from __future__ import annotations

import tensorflow as tf

from ranking.models.base import RankingModel


class ParallelModel(RankingModel):
    """``features -> (h_es, h_hs) -> (encoder_s, encoder_c) -> fusion -> heads``.

    Args:
        ssem: layer ``features -> (h_es [B, F, d_s], h_hs [B, F, d])``
            (``ranking.layers.ssem``).
        simple_encoder: layer ``[B, F, d_s] -> [B, H_s]`` (TF4CTR ``MLP_s``, an FM, a cross network...).
        complex_encoder: layer ``[B, F, d] -> [B, H_c]`` (TF4CTR ``MLP_c``).
        fusion: layer ``(h_s, h_c) -> (z, z_s, z_c)`` logits ``[B]`` (``ranking.layers.dfm``).
        loss: a ``ranking.losses`` loss.

    Heads: ``prediction = sigmoid(z)``, ``simple = sigmoid(z_s)``,
    ``complex = sigmoid(z_c)`` (eq. 6), so the Twin Focus loss applies.
    """

    HEADS = ("prediction", "simple", "complex")

    def __init__(self, ssem, simple_encoder, complex_encoder, fusion, loss, **kwargs):
        super().__init__(loss, **kwargs)
        self.ssem = ssem
        self.simple_encoder = simple_encoder
        self.complex_encoder = complex_encoder
        self.fusion = fusion

    def forward(self, features, training=False):
        h_es, h_hs = self.ssem(features, training=training)
        h_s = self.simple_encoder(h_es, training=training)
        h_c = self.complex_encoder(h_hs, training=training)
        z, z_s, z_c = self.fusion(h_s, h_c, training=training)
        return {"prediction": tf.sigmoid(z), "simple": tf.sigmoid(z_s), "complex": tf.sigmoid(z_c)}
