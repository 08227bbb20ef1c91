"""SASRec as a retrieval model (Kang & McAuley, ICDM 2018, "Self-Attentive Sequential Recommendation").

User side (:class:`SasRecUserTower`), history ``[B, L]`` left-padded with
``schema.PADDING_ID``, most recent last:

1. §III-A, embedding layer: ``E_t = M_{s_t} * sqrt(d) + P_t``, item embedding
   ``M`` scaled as in the authors' code (Vaswani et al. 2017, §3.4), learned
   positions ``P`` indexed by the slot of the padded sequence (the most recent
   item is always slot L - 1), dropout, padding rows zeroed;
2. §III-B/C, ``encoder_layers`` blocks of causal self-attention and a
   point-wise feed-forward network ``ReLU(x W1 + b1) W2 + b2``, each applied as
   ``x + Dropout(g(LayerNorm(x)))``; a position attends only to itself and
   earlier real items (causality and padding masked);
3. a final layer norm: ``F`` ``[B, L, d]``.

``user_tower(history)`` is the state of the last position ``F_L`` as
``[B, 1, d]`` (M = 1), so the rest of funnel (evaluation, candidate lists,
export, serving) treats SASRec like a one-interest two-tower model.

Item side (:class:`SharedItemTower`): §III-D scores item i at position t by
``F_t M_i^T`` with the input embedding ``M`` itself, so ``item_tower(ids)`` is a
lookup into the same table: ``[N, d]``.

Training (:meth:`SasRecModel.compute_loss`): every non-padding position t of a
sequence predicts item t + 1 (:mod:`retrieval.sequence_batches` rebuilds the
sequences), with the loss of ``config.negatives_for_model`` and
``config.loss`` (:mod:`retrieval.sequence_losses`), averaged over positions.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from funnel import schema
from retrieval import sequence_losses
from retrieval.config import RetrievalConfig
from retrieval.model import ItemStatistics, RetrievalModel
from retrieval.towers import causal_attention_mask


class SelfAttentionBlock(keras.layers.Layer):
    """One SASRec block (§III-B/C): causal self-attention, then the point-wise FFN, each
    as ``x + Dropout(g(LayerNorm(x)))``; padding rows are zeroed after each."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.attention = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=max(1, dim // heads),
                                                         dropout=dropout)
        self.ffn = keras.Sequential([keras.layers.Dense(ffn_dim, activation="relu"),
                                     keras.layers.Dropout(dropout), keras.layers.Dense(dim)])
        self.norm_attention = keras.layers.LayerNormalization(epsilon=1e-8)
        self.norm_ffn = keras.layers.LayerNormalization(epsilon=1e-8)
        self.dropout = keras.layers.Dropout(dropout)

    def call(self, x, mask, training=False):
        """x: ``[B, L, d]``; mask: bool ``[B, L]`` -> ``[B, L, d]``."""
        keep = tf.cast(mask, x.dtype)[:, :, tf.newaxis]
        normed = self.norm_attention(x)
        attended = self.attention(normed, normed, attention_mask=causal_attention_mask(mask),
                                  training=training)
        x = (x + self.dropout(attended, training=training)) * keep
        x = x + self.dropout(self.ffn(self.norm_ffn(x), training=training), training=training)
        return x * keep


class SasRecUserTower(keras.Model):
    """History ``[B, L]`` int64 -> the last position's state ``[B, 1, d]`` float32."""

    def __init__(self, item_embedding: keras.layers.Embedding, dim: int, blocks: int, heads: int,
                 ffn_multiplier: int = 1, dropout: float = 0.0,
                 max_length: int = schema.MAX_SEQUENCE_LENGTH, **kwargs):
        super().__init__(**kwargs)
        self.item_embedding = item_embedding
        self.position_embedding = keras.layers.Embedding(max_length, dim, name="position_embedding")
        self.input_dropout = keras.layers.Dropout(dropout)
        self.blocks = [SelfAttentionBlock(dim, heads, ffn_multiplier * dim, dropout, name=f"block_{i}")
                       for i in range(blocks)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-8)
        self.scale = float(np.sqrt(dim))
        self.max_length = max_length

    def sequence(self, history, training=False):
        """Every position's state ``F`` ``[B, L, d]`` (zeros on padding) of history ``[B, L]``."""
        history = tf.cast(history, tf.int64)
        mask = tf.not_equal(history, schema.PADDING_ID)
        length = tf.shape(history)[1]
        positions = tf.range(self.max_length - length, self.max_length)
        x = self.item_embedding(history) * self.scale + self.position_embedding(positions)[tf.newaxis]
        x = self.input_dropout(x, training=training) * tf.cast(mask, x.dtype)[:, :, tf.newaxis]
        for block in self.blocks:
            x = block(x, mask, training=training)
        return tf.cast(self.final_norm(x), tf.float32) * tf.cast(mask, tf.float32)[:, :, tf.newaxis]

    def call(self, history, training=False):
        return self.sequence(history, training=training)[:, -1:, :]


class SharedItemTower(keras.Model):
    """Item ids ``[N]`` -> rows of the user tower's own item embedding ``[N, d]`` float32.

    ``normalize`` is the flag weighting schemes set on every item tower; SASRec
    trains with weighting ``none`` only, which leaves it False.
    """

    def __init__(self, item_embedding: keras.layers.Embedding, **kwargs):
        super().__init__(**kwargs)
        self.item_embedding = item_embedding
        self.normalize = False

    def table(self):
        """The whole item embedding ``[num_items, d]`` float32."""
        return tf.cast(self.item_embedding.embeddings, tf.float32)

    def call(self, item_ids, training=False):
        x = tf.cast(self.item_embedding(tf.cast(item_ids, tf.int64)), tf.float32)
        return tf.math.l2_normalize(x, axis=-1) if self.normalize else x


class SasRecModel(RetrievalModel):
    """SASRec with the interface of ``retrieval.model.TwoTowerModel`` (towers, item
    statistics, the weighting variables), trained on whole sequences.

    Its ``fit`` data are (history ``[B, L]``, position targets ``[B, L]``)
    pairs (``retrieval.sequence_batches.sequence_datasets``).
    """

    def __init__(self, config: RetrievalConfig, items: ItemStatistics, loss: keras.losses.Loss | None = None):
        super().__init__()
        if loss is not None:
            raise ValueError(f"weighting: sasrec trains with its own sequence loss; weighting "
                             f"{config.weighting!r} brings another")
        self.config = config
        self.loss_fn = sequence_losses.sequence_loss(config.negatives_for_model, config.loss)
        self.num_items = items.num_items
        self.item_embedding = keras.layers.Embedding(items.num_items, config.embedding_dim,
                                                     name="item_embedding")
        self.user_tower = SasRecUserTower(
            self.item_embedding, config.embedding_dim, config.encoder_layers, config.encoder_heads,
            ffn_multiplier=config.encoder_ffn_multiplier, dropout=config.dropout, name="user_tower")
        self.item_tower = SharedItemTower(self.item_embedding, name="item_tower")
        self.sampling_probability = tf.constant(items.sampling_probability, dtype=tf.float32)
        self.item_weights = tf.Variable(tf.ones([items.num_items]), trainable=False, name="item_weights")
        self.item_margins = tf.Variable(tf.zeros([items.num_items]), trainable=False, name="item_margins")
        self.use_sample_weights = tf.Variable(False, trainable=False, name="use_sample_weights")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, history, training=False):
        """The user representation ``[B, 1, d]`` of history ``[B, L]``."""
        return self.user_tower(history, training=training)

    def position_losses(self, history, position_targets, training=False):
        """Loss of every position whose target is a real item: ``[B, L]``, ``[B, L]`` -> ``[P]``.

        The P positions are gathered before scoring, so the full softmax
        multiplies ``[P, d]`` by the catalog, never ``[B * L, d]``.
        """
        position_targets = tf.cast(position_targets, tf.int64)
        valid = position_targets >= schema.FIRST_VALUE_ID
        states = tf.boolean_mask(self.user_tower.sequence(history, training=training), valid)
        targets = tf.boolean_mask(position_targets, valid)
        draw = self.loss_fn.draw
        negatives = (draw(self.config.sampled_negatives, self.num_items, tf.size(targets))
                     if draw is not None else None)
        return self.loss_fn.per_position(states, targets, self.item_tower.table(), negatives)

    def compute_loss(self, inputs, training=False):
        """Mean over the global batch's scored positions (per replica share of the mean)."""
        history, position_targets = inputs
        losses = self.position_losses(history, position_targets, training=training)
        count = tf.maximum(tf.cast(tf.size(losses), tf.float32), 1.0)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return tf.reduce_sum(losses) / count / replicas

    def build_towers(self) -> None:
        """Create every variable by one forward pass on a dummy history."""
        self.user_tower(tf.zeros([1, schema.MAX_SEQUENCE_LENGTH], tf.int64))
        self.item_tower(tf.constant([schema.OOV_ID], tf.int64))
