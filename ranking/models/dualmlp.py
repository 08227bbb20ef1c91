"""DualMLP (Mao et al. 2023, FinalMLP §2.2): two MLPs in parallel, logits summed.

TF4CTR's Table 2 base model: ``MLP_s`` and ``MLP_c`` on one shared embedding,
fused by ``z_s + z_c``; it has twin heads, so ``--loss tf`` applies.
"""

from __future__ import annotations

from ranking.layers.dfm import SumFusion
from ranking.layers.ssem import ShareEmbedding
from ranking.models import dnn
from ranking.models.parallel import ParallelModel


def encoders(config):
    return dnn.encoders(config)


def build(config, feature_map, loss):
    simple, complex_ = encoders(config)
    return ParallelModel(ShareEmbedding(feature_map, config.embedding_dim), simple, complex_,
                         SumFusion(), loss, name="dualmlp")
