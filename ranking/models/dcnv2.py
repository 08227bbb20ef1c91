"""DCNv2, parallel form (Wang et al. 2021, Fig. 2b): a cross network beside a deep MLP.

The cross network is ``config.cross_layers`` ``tfrs.layers.dcn.Cross`` layers
(the explicit, "simple" encoder); the MLP is the implicit, "complex" one; their
outputs are concatenated and projected to one logit (= TF4CTR's CF fusion, eq. 10).
"""

from __future__ import annotations

from ranking.layers.cross import CrossNetwork
from ranking.layers.dfm import ConcatFusion
from ranking.layers.mlp import MLPEncoder
from ranking.layers.ssem import ShareEmbedding
from ranking.models.parallel import ParallelModel


def encoders(config):
    """(cross network, deep MLP): the encoders TF4CTR takes from DCNv2."""
    return CrossNetwork(config.cross_layers, name="cross_network"), MLPEncoder(config.hidden_units, name="deep_mlp")


def build(config, feature_map, loss):
    simple, complex_ = encoders(config)
    return ParallelModel(ShareEmbedding(feature_map, config.embedding_dim), simple, complex_,
                         ConcatFusion(), loss, name="dcnv2")
