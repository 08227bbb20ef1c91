"""LAFAM: loss-aware feature attention over sub-networks (Wu et al. 2025, §3.2, §4.2, eqs. 1-3).

Feature groups come from the schema: a DCN (``lafam_cross_layers`` cross and
3 deep layers, Wang et al. 2017) reads all fields, one MLP reads each attribute
group of ``config.lafam_groups`` (``schema.Source`` values joined by ``+``), and
a 2-layer GRU of 64 units reads the history. Each sub-network ``j`` outputs a
probability ``y_j``; a supervision network predicts their weights
``y_superv`` ``[B, N]`` (softmax), and ``y_final = sum_j y_superv_j y_j``.

Training loss (eq. 3), with ``l_j`` the per-example loss of ``y_j`` (the
configured pointwise loss, suppression by default, as §4.2 trains with it):

- ``l_final = loss(y_final)``;
- ``l_subnet = sum_j softmax_j(l / T) l_j``: eq. 1 with temperature T, so the
  worst sub-network weighs most and none is abandoned;
- ``l_superv = ||y_superv - softmax(-l)||^2``: eq. 2's target ``eps'`` (lower
  loss -> higher weight), which is what the supervision network must predict
  at serving time, when no loss is known. (Eq. 3 prints ``1 - softmax(l)``,
  which is not a distribution; eq. 2 is used.) Both weightings are constants
  (no gradient flows through them);
- ``l_ra = lambda l_final + mu l_subnet + eta l_superv``, Table 4: 0.6, 0.25, 0.35.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from funnel import schema
from ranking.embedding import FieldEmbedding
from ranking.layers.cross import CrossNetwork
from ranking.layers.mlp import MLP, flatten_fields
from ranking.models.base import RankingModel

SOURCES = {s.value: s for s in schema.Source}


def group_fields(spec: str) -> tuple[int, ...]:
    """Field indices (into ``RANKING_FEATURES``) of a group spec like ``"item+context"``.

    Sequence features are left out: the GRU reads them.

    Raises:
        ValueError: an unknown source name, or a group without scalar fields.
    """
    names = [part.strip() for part in spec.split("+") if part.strip()]
    unknown = [n for n in names if n not in SOURCES]
    if unknown or not names:
        raise ValueError(f"lafam_groups: unknown source(s) {unknown or [spec]} in {spec!r}; "
                         f"valid: {sorted(SOURCES)}")
    sources = {SOURCES[n] for n in names}
    indices = tuple(i for i, f in enumerate(schema.RANKING_FEATURES)
                    if f.source in sources and f.kind is not schema.Kind.SEQUENCE)
    if not indices:
        raise ValueError(f"lafam_groups: group {spec!r} has no scalar features")
    return indices


class DeepCrossNetwork(keras.layers.Layer):
    """DCN (Wang et al. 2017): cross network beside a deep MLP on all fields -> logit ``[B]``."""

    def __init__(self, cross_layers: int, deep_units, **kwargs):
        super().__init__(**kwargs)
        self.cross = CrossNetwork(cross_layers)
        self.deep = MLP(deep_units)
        self.head = keras.layers.Dense(1)

    def call(self, fields, training=False):
        flat = flatten_fields(fields)
        joint = tf.concat([self.cross(flat), self.deep(flat, training=training)], axis=-1)
        return self.head(joint)[:, 0]


class GroupMLP(keras.layers.Layer):
    """MLP on the fields of one attribute group -> logit ``[B]``."""

    def __init__(self, indices, units, **kwargs):
        super().__init__(**kwargs)
        self.indices = tuple(indices)
        self.mlp = MLP(units)
        self.head = keras.layers.Dense(1)

    def call(self, fields, training=False):
        group = tf.gather(fields, self.indices, axis=1)
        return self.head(self.mlp(flatten_fields(group), training=training))[:, 0]


class HistoryGRU(keras.layers.Layer):
    """Stacked GRU (tanh) over the masked history ``[B, L, d]`` -> logit ``[B]``."""

    def __init__(self, units: int, num_layers: int, **kwargs):
        super().__init__(**kwargs)
        self.grus = [keras.layers.GRU(units, return_sequences=i < num_layers - 1)
                     for i in range(num_layers)]
        self.head = keras.layers.Dense(1)

    def call(self, history, mask, training=False):
        x = history
        for gru in self.grus:
            x = gru(x, mask=mask, training=training)
        return self.head(x)[:, 0]


class LAFAM(RankingModel):
    """Sub-networks + supervision network; see the module docstring for the loss.

    Heads: ``prediction`` ``[B]``, ``subnets`` ``[B, N]`` and ``supervision`` ``[B, N]``.
    """

    HEADS = ("prediction", "subnets", "supervision")

    def __init__(self, embedding, subnets, history_net, supervision, loss, lambda_=0.6, mu=0.25,
                 eta=0.35, temperature=1.0, **kwargs):
        super().__init__(loss, **kwargs)
        if not getattr(loss, "pointwise", False):
            raise ValueError(f"LAFAM needs a pointwise loss for its sub-networks, got {type(loss).__name__}")
        self.embedding = embedding
        self.subnets = subnets
        self.history_net = history_net
        self.supervision = supervision
        self.lambda_, self.mu, self.eta, self.temperature = lambda_, mu, eta, temperature

    @property
    def num_subnets(self) -> int:
        return len(self.subnets) + 1

    def forward(self, features, training=False):
        fields = self.embedding(features)
        history, mask = self.embedding.history(features)
        logits = [net(fields, training=training) for net in self.subnets]
        logits.append(self.history_net(history, mask, training=training))
        subnets = tf.sigmoid(tf.stack(logits, axis=1))  # [B, N]
        weights = tf.nn.softmax(self.supervision(flatten_fields(fields), training=training), axis=-1)
        prediction = tf.reduce_sum(weights * subnets, axis=1)
        return {"prediction": prediction, "subnets": subnets, "supervision": weights}

    def loss_terms(self, labels, heads) -> dict:
        """``l_final``, ``l_subnet``, ``l_superv`` and ``l_ra`` of eq. 3 (scalars)."""
        per_net = self.loss_fn.per_example(labels[:, None], heads["subnets"])  # [B, N]
        constant = tf.stop_gradient(per_net)
        emphasis = tf.nn.softmax(constant / self.temperature, axis=-1)  # eq. 1 with T
        target = tf.nn.softmax(-constant, axis=-1)  # eq. 2
        l_final = tf.reduce_mean(self.loss_fn.per_example(labels, heads["prediction"]))
        l_subnet = tf.reduce_mean(tf.reduce_sum(emphasis * per_net, axis=1))
        l_superv = tf.reduce_mean(tf.reduce_sum(tf.square(heads["supervision"] - target), axis=1))
        l_ra = self.lambda_ * l_final + self.mu * l_subnet + self.eta * l_superv
        return {"l_final": l_final, "l_subnet": l_subnet, "l_superv": l_superv, "l_ra": l_ra}

    def compute_loss(self, inputs, training=False):
        labels = tf.cast(tf.reshape(inputs[schema.LABEL], [-1]), tf.float32)
        heads = self.forward(inputs, training=training)
        self.auc.update_state(labels, heads["prediction"])
        return self.loss_terms(labels, heads)["l_ra"]


def build(config, feature_map, loss):
    subnets = [DeepCrossNetwork(config.lafam_cross_layers, config.lafam_deep_units, name="dcn")]
    for spec in config.lafam_groups:
        subnets.append(GroupMLP(group_fields(spec), config.lafam_group_units,
                                name=f"mlp_{spec.replace('+', '_')}"))
    num_subnets = len(subnets) + 1
    supervision = keras.Sequential([MLP((64,)), keras.layers.Dense(num_subnets)], name="supervision")
    return LAFAM(FieldEmbedding(feature_map, config.embedding_dim), subnets,
                 HistoryGRU(config.gru_units, config.gru_layers, name="gru"), supervision, loss,
                 lambda_=config.lafam_lambda, mu=config.lafam_mu, eta=config.lafam_eta,
                 temperature=config.lafam_temperature, name="lafam")
