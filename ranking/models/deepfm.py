"""DeepFM (Guo et al. 2017, eq. 1): ``sigmoid(y_FM + y_DNN)`` on shared embeddings.

The FM is the "simple" encoder and the MLP the "complex" one, as in the
authors' TF4CTR-DeepFM; the baseline sums their logits (Sum fusion).
"""

from __future__ import annotations

from ranking.layers.dfm import SumFusion
from ranking.layers.fm import FactorizationMachine
from ranking.layers.mlp import MLPEncoder
from ranking.layers.ssem import ShareEmbedding
from ranking.models.parallel import ParallelModel


def encoders(config):
    """(FM, deep MLP): the encoders TF4CTR takes from DeepFM."""
    return FactorizationMachine(name="fm"), MLPEncoder(config.hidden_units, name="deep_mlp")


def build(config, feature_map, loss):
    simple, complex_ = encoders(config)
    return ParallelModel(ShareEmbedding(feature_map, config.embedding_dim), simple, complex_,
                         SumFusion(), loss, name="deepfm")
