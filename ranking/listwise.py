"""The ranker of retrieval's candidates: any backbone, trained on lists, correcting retrieval order.

``CandidateRanker`` wraps a backbone of ``ranking.models.MODELS`` (dnn, dualmlp,
dcnv2, deepfm, tf4ctr around any of them, lafam, eain) and scores one
candidate row by a residual over the retrieval score:

    logit = a * s + g * logit(p_backbone(x)) + h(candidate features, target attention)

- ``s`` is the candidate's eq.-4 retrieval score, ``a`` is learned and starts
  at 1, ``g`` (the backbone's share) starts at 0 and the last layer of ``h``
  at zero, so an untrained ranker orders candidates exactly as retrieval does;
  training only learns corrections;
- ``h`` is an MLP over the ``schema.CANDIDATE_FEATURES`` (log rank, the
  nominating interest's embedding and its score above ``s``, the similarity
  to the last item) and a DIN target attention of the candidate over the
  history (Zhou et al. 2018, ``ranking.layers.din``).

Training reads whole lists (``funnel.schema.candidate_list_spec``): every
candidate of a list is one row; the loss is list-wise
(``ranking.list_losses``, softmax by default) or the backbone's own pointwise
loss (``logloss``, TF4CTR's ``tf``) on the rows. Serving calls it row by row,
like any ranking model: ``model(rows)`` is ``sigmoid(logit)``, whose order
within a request is the ranking order.

The lists carry no event time, so the ranker never learns the hour, weekday
or item age: it reads them as unknown at training and serving alike.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras as keras

from funnel import schema
from ranking.embedding import HISTORY_OWNER, _safe_ids
from ranking.layers.din import TargetAttention, drop_empty_slots
from ranking.layers.mlp import MLP

MAX_INTERESTS = 64
"""Rows of the nominating-interest embedding (interest ids above are clipped)."""
EVENT_TIME_FEATURES = {schema.HOUR: schema.OOV_ID, schema.WEEKDAY: schema.OOV_ID, schema.ITEM_AGE: 1}
"""Features the lists cannot know, fixed to their unknown id (numeric: bucket 1)."""
CUTOFF = 10
"""In-list HR and NDCG cutoff tracked during training (early stopping watches NDCG@10)."""


def list_rows(lists: dict, width: int) -> dict:
    """Lists ``[B]``/``[B, N]`` -> one row per candidate ``[B * N]``.

    The history stays one row per list ``[B, L]``, tied to its candidates by
    ``HISTORY_OWNER``, so its lookups, pooling and attention terms run once
    per list, as they do at serving time.
    """
    rows = {}
    for name, value in lists.items():
        if name in (schema.LABEL, schema.TARGET_ITEM):
            continue
        if name == schema.CANDIDATES:
            rows[schema.ITEM_ID] = tf.reshape(value, [-1])
        elif name == schema.HISTORY:
            rows[name] = value
            rows[HISTORY_OWNER] = tf.repeat(tf.range(tf.shape(value, out_type=tf.int64)[0]), width)
        elif value.shape.rank == 2:
            rows[name] = tf.reshape(value, [-1])
        else:
            rows[name] = tf.repeat(value, width, axis=0)
    return rows


class CandidateRanker(tfrs.models.Model):
    """Residual list ranker around ``backbone`` (see the module docstring).

    Args:
        backbone: a ``ranking.models.base.RankingModel``; its own loss is the
            pointwise option.
        feature_map: the dataset's vocabulary sizes (item table of the attention).
        list_loss: a ``ranking.list_losses`` loss, or None for the backbone's pointwise loss.
        dim: embedding size of the attention's item table.
        attention_units, units: MLPs of the DIN activation unit and of ``h``.
        attention_history: DIN attends over the last this many history items (0: all).
    """

    def __init__(self, backbone, feature_map: schema.FeatureMap, list_loss=None, dim: int = 16,
                 attention_units=(36,), units=(64, 32), attention_history: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.attention_history = attention_history
        self.list_loss = list_loss
        self.num_items = feature_map.num_items
        self.retrieval_weight = tf.Variable(1.0, name="retrieval_weight")
        self.backbone_weight = tf.Variable(0.0, name="backbone_weight")
        self.items = keras.layers.Embedding(feature_map.num_items, dim, name="attention_items",
                                            embeddings_initializer=keras.initializers.RandomNormal(stddev=1e-2))
        self.interests = keras.layers.Embedding(MAX_INTERESTS, 4, name="interest_embedding")
        self.attention = TargetAttention(attention_units, name="target_attention")
        self.mlp = MLP(units, name="correction_mlp")
        self.correction = keras.layers.Dense(1, kernel_initializer="zeros", name="correction")
        self.hr = keras.metrics.Mean(name=f"hr_at_{CUTOFF}")
        self.ndcg = keras.metrics.Mean(name=f"ndcg_at_{CUTOFF}")

    uses_candidate_features = True

    @property
    def metrics(self):
        """The in-list HR@10 and NDCG@10 (and Keras' loss trackers), never the backbone's AUC:
        the backbone's ``compute_loss`` does not run on lists, so its AUC would stay at 0."""
        backbone = {id(metric) for metric in self.backbone.metrics}
        return [metric for metric in super().metrics if id(metric) not in backbone]

    def row_logits(self, rows: dict, training: bool = False) -> tuple[tf.Tensor, dict]:
        """Rows -> (logits ``[R]``, the backbone's heads)."""
        rows = dict(rows)
        for name, unknown in EVENT_TIME_FEATURES.items():
            rows[name] = tf.fill(tf.shape(rows[schema.ITEM_ID]), tf.constant(unknown, tf.int64))
        heads = self.backbone.forward(rows, training=training)
        p = tf.clip_by_value(tf.cast(heads["prediction"], tf.float32), 1e-7, 1 - 1e-7)
        backbone_logit = tf.math.log(p) - tf.math.log1p(-p)

        item = self.items(_safe_ids(rows[schema.ITEM_ID], self.num_items, numeric=False))      # [R, d]
        history_ids = tf.cast(rows[schema.HISTORY], tf.int64)
        if self.attention_history:
            history_ids = history_ids[:, -self.attention_history:]                           # most recent last
        history_ids, mask = drop_empty_slots(history_ids, tf.not_equal(history_ids, schema.PADDING_ID))
        history_ids = _safe_ids(history_ids, self.num_items, numeric=False)
        history = self.items(history_ids) * tf.cast(mask, tf.float32)[..., None]              # a row per history
        attended, _ = self.attention(history, item, mask, owner=rows.get(HISTORY_OWNER), training=training)
        score = tf.cast(rows[schema.RETRIEVAL_SCORE], tf.float32)
        dense = tf.stack([
            tf.math.log1p(tf.maximum(tf.cast(rows[schema.RETRIEVAL_RANK], tf.float32), 0.0)),
            tf.cast(rows[schema.INTEREST_SCORE], tf.float32) - score,
            tf.cast(rows[schema.LAST_ITEM_SIMILARITY], tf.float32),
            score,
        ], axis=1)
        interest = self.interests(tf.clip_by_value(tf.cast(rows[schema.INTEREST], tf.int64), 0, MAX_INTERESTS - 1))
        h = self.mlp(tf.concat([dense, interest, item, attended, item * attended], axis=1), training=training)
        logits = (self.retrieval_weight * score + self.backbone_weight * backbone_logit
                  + self.correction(h)[:, 0])
        return logits, heads

    def call(self, rows, training=False):
        """Rows -> ``sigmoid(logit)`` ``[R]``: only its order within a request is meaningful."""
        return tf.sigmoid(self.row_logits(rows, training=training)[0])

    def compute_loss(self, lists, training: bool = False) -> tf.Tensor:
        labels = tf.cast(lists[schema.LABEL], tf.float32)                     # [B, N]
        width = labels.shape[1]
        mask = tf.not_equal(lists[schema.CANDIDATES], schema.PADDING_ID)
        logits, heads = self.row_logits(list_rows(lists, width), training=training)
        logits = tf.reshape(logits, [-1, width])
        self._track(labels, logits, mask)
        if self.list_loss is not None:
            return self.list_loss(labels, logits, mask)
        flat_mask = tf.reshape(mask, [-1])
        row_heads = {name: tf.boolean_mask(tf.reshape(value, [-1]), flat_mask) for name, value in heads.items()}
        row_heads["prediction"] = tf.boolean_mask(tf.sigmoid(tf.reshape(logits, [-1])), flat_mask)
        return self.backbone.loss_fn(tf.boolean_mask(tf.reshape(labels, [-1]), flat_mask), row_heads)

    def _track(self, labels, logits, mask):
        """In-list HR@10 and NDCG@10 of the target (lists with one relevant candidate)."""
        logits = tf.where(mask, logits, -1e9)
        target = tf.reduce_sum(labels * logits, axis=1, keepdims=True)
        rank = tf.reduce_sum(tf.cast(tf.logical_and(logits > target, mask), tf.float32), axis=1)
        has_target = tf.reduce_sum(labels, axis=1) > 0
        hit = tf.cast(rank < CUTOFF, tf.float32)
        self.hr.update_state(tf.boolean_mask(hit, has_target))
        self.ndcg.update_state(tf.boolean_mask(hit / (tf.math.log(rank + 2.0) / tf.math.log(2.0)), has_target))
