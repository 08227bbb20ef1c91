"""DNN baseline: embeddings -> MLP 400-400-400 -> logit (TF4CTR Table 6's base model).

Its TF4CTR encoders are the paper's own (eq. 6): ``MLP_s`` (default 400-400)
and ``MLP_c`` (the DNN's MLP).
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from ranking.embedding import FieldEmbedding
from ranking.layers.mlp import MLPEncoder
from ranking.models.base import RankingModel


class DNN(RankingModel):
    """``sigmoid(w^T MLP([e_1, ..., e_F]))``.

    Args:
        embedding: ``features -> [B, F, d]``.
        encoder: ``[B, F, d] -> [B, H]``.
        loss: a pointwise ``ranking.losses`` loss.
    """

    def __init__(self, embedding, encoder, loss, **kwargs):
        super().__init__(loss, **kwargs)
        self.embedding = embedding
        self.encoder = encoder
        self.head = keras.layers.Dense(1, name="logit")

    def forward(self, features, training=False):
        h = self.encoder(self.embedding(features), training=training)
        return {"prediction": tf.sigmoid(self.head(h)[:, 0])}


def encoders(config):
    """(simple, complex) encoders TF4CTR takes from this backbone."""
    return MLPEncoder(config.simple_hidden_units, name="simple_mlp"), MLPEncoder(config.hidden_units, name="complex_mlp")


def build(config, feature_map, loss):
    return DNN(FieldEmbedding(feature_map, config.embedding_dim), MLPEncoder(config.hidden_units), loss)
