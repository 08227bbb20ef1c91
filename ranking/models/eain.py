"""EAIN: Enhanced Attention and Interaction Network (Wang 2025).

The paper lost its equations in publication; each part follows its published source:

1. DIN target attention over the history w.r.t. the target item (Zhou et al. 2018,
   eq. 3) -> an interest vector, appended as one more field: ``[B, F + 1, d]``;
2. SE-Net field attention re-weights the fields (FiBiNET, Huang et al. 2019, eqs. 3-6);
3. serial MaskBlocks on the re-weighted fields (MaskNet, Wang et al. 2021, eqs. 1-9);
4. PAIM: positionally encoded history + stacked cross layers (EAIN §3.4);
5. ``[MaskNet || PAIM]`` -> MLP -> logit; binary cross-entropy plus an L2
   penalty ``config.l2`` on every embedding and kernel (EAIN §3.5).
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from funnel import schema
from ranking.embedding import FieldEmbedding
from ranking.layers.din import TargetAttention
from ranking.layers.maskblock import SerialMaskNet
from ranking.layers.mlp import MLP, flatten_fields
from ranking.layers.paim import PositionAwareInteraction
from ranking.layers.senet import SqueezeExcitation
from ranking.models.base import RankingModel


class EAIN(RankingModel):
    """See the module docstring. Heads: ``prediction`` ``[B]``."""

    def __init__(self, embedding, attention, senet, masknet, paim, mlp, loss, **kwargs):
        super().__init__(loss, **kwargs)
        self.embedding = embedding
        self.attention = attention
        self.senet = senet
        self.masknet = masknet
        self.paim = paim
        self.mlp = mlp
        self.head = keras.layers.Dense(1, name="logit")

    def forward(self, features, training=False):
        fields = self.embedding(features)
        history, mask = self.embedding.history(features)
        target = self.embedding.item(tf.reshape(features[schema.ITEM_ID], [-1]))
        interest, _ = self.attention(history, target, mask, training=training)
        fields = self.senet(tf.concat([fields, interest[:, None, :]], axis=1))
        flat = flatten_fields(fields)
        joint = tf.concat([self.masknet(flat, training=training),
                           self.paim(flat, history, mask, training=training)], axis=-1)
        return {"prediction": tf.sigmoid(self.head(self.mlp(joint, training=training))[:, 0])}


def build(config, feature_map, loss):
    return EAIN(FieldEmbedding(feature_map, config.embedding_dim, l2=config.l2),
                TargetAttention(config.din_units, l2=config.l2, name="din"),
                SqueezeExcitation(name="senet"),
                SerialMaskNet(config.maskblocks, config.hidden_units[-1], l2=config.l2, name="masknet"),
                PositionAwareInteraction(config.paim_layers, l2=config.l2, name="paim"),
                MLP(config.hidden_units, l2=config.l2, name="mlp"), loss, name="eain")
