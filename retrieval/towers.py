"""The two towers of the retrieval model (Mehta et al. 2023, §3.1, Figure 2).

``UserTower``: an item history ``[B, L]`` (left-padded with ``schema.PADDING_ID``,
most recent last) -> item embeddings plus learned positional embeddings ->
a Transformer encoder (self-attention with padding masked) -> parametric
attention with M learned global queries -> M user representations ``[B, M, D]``.
M = 1 is SUR, M = 5 is MUR. With ``recency="last-state"`` each representation
also adds the encoder's state at the most recent position, ``z_m + h^(L)``:
the global queries pool the whole history, and the last item, which carries
most of the next item's signal on sparse catalogs (a first-order Markov chain
is a strong baseline there), anchors every interest. A causal tower
(``causal=True``: each position attends only to itself and earlier items, as in
SASRec) also gives every prefix's representations in one pass
(``UserTower.every_prefix``), so training can score every position of a
sequence at once.

``ItemTower``: item ids ``[N]`` -> item-id embedding (optionally concatenated with
the item's category embedding, looked up inside the tower) -> MLP -> ``[N, D]``
(no MLP sizes, the product's default: the embedding itself, which with a shared
table is the user tower's input embedding, tied as in SASRec).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from funnel import schema

MASK_LOGIT = -1e9
"""Additive logit for masked (padding) positions before a softmax."""


def causal_attention_mask(mask):
    """Bool ``[B, L, L]``: query i may attend key j when ``j <= i`` and j is a real item.

    Args:
        mask: bool ``[B, L]``, True on real items.
    """
    length = tf.shape(mask)[1]
    earlier = tf.cast(tf.linalg.band_part(tf.ones([length, length]), -1, 0), tf.bool)
    return earlier[tf.newaxis] & mask[:, tf.newaxis, :]


def padding_attention_mask(mask):
    """Bool ``[B, L, L]``: every query may attend every real item (a bidirectional encoder)."""
    return mask[:, tf.newaxis, :] & tf.ones_like(mask)[:, :, tf.newaxis]


class EncoderLayer(keras.layers.Layer):
    """One post-norm Transformer encoder block (Vaswani et al. 2017).

    Self-attention over the history with padding keys masked (and, when
    ``causal``, every later position too), then a feed-forward block; each with
    a residual connection and layer norm.
    """

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float = 0.0,
                 causal: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.attention_mask = causal_attention_mask if causal else padding_attention_mask
        self.attention = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=max(1, dim // heads),
                                                         dropout=dropout)
        self.ffn = keras.Sequential([keras.layers.Dense(ffn_dim, activation="relu"),
                                     keras.layers.Dense(dim)])
        self.norm_attention = keras.layers.LayerNormalization(epsilon=1e-6)
        self.norm_ffn = keras.layers.LayerNormalization(epsilon=1e-6)
        self.dropout = keras.layers.Dropout(dropout)

    def call(self, x, mask, training=False):
        """x: ``[B, L, dim]``; mask: bool ``[B, L]`` (True = real item) -> ``[B, L, dim]``."""
        attended = self.attention(x, x, attention_mask=self.attention_mask(mask), training=training)
        x = self.norm_attention(x + self.dropout(attended, training=training))
        return self.norm_ffn(x + self.dropout(self.ffn(x), training=training))


class ParametricAttention(keras.layers.Layer):
    """M learned global queries attend over the encoder outputs (IDW §3.1, after Humeau et al.).

    ``z_m = sum_i alpha_m^(i) h^(i)`` with ``alpha_m = softmax_i(q_m^T h^(i))``;
    padding positions get ``MASK_LOGIT`` so their weight is zero (a history
    that is all padding gets uniform weights rather than NaNs).
    """

    def __init__(self, num_queries: int, **kwargs):
        super().__init__(**kwargs)
        self.num_queries = num_queries

    def build(self, input_shape):
        self.queries = self.add_weight(name="queries", shape=(self.num_queries, int(input_shape[-1])),
                                       initializer=keras.initializers.RandomNormal(stddev=0.5),
                                       trainable=True)
        super().build(input_shape)

    def call(self, hidden, mask, every_prefix=False):
        """hidden: ``[B, L, D]``; mask: bool ``[B, L]`` -> ``[B, M, D]``.

        ``every_prefix``: the M representations of every prefix at once, ``[B, L, M, D]``;
        row t pools only positions ``<= t``; the last row equals the plain call.
        """
        queries = tf.cast(self.queries, hidden.dtype)
        logits = tf.cast(tf.einsum("md,bld->bml", queries, hidden), tf.float32)
        if not every_prefix:
            logits = tf.where(mask[:, tf.newaxis, :], logits, MASK_LOGIT)
            weights = tf.nn.softmax(logits, axis=-1)
            return tf.einsum("bml,bld->bmd", tf.cast(weights, hidden.dtype), hidden)
        visible = causal_attention_mask(mask)[:, tf.newaxis]                    # [B, 1, T, L]
        logits = tf.where(visible, logits[:, :, tf.newaxis, :], MASK_LOGIT)    # [B, M, T, L]
        weights = tf.nn.softmax(logits, axis=-1)
        return tf.einsum("bmtl,bld->btmd", tf.cast(weights, hidden.dtype), hidden)


RECENCIES = ("none", "last-state")
"""How the user tower weighs the most recent item: not specially, or its state added to every interest."""


class UserTower(keras.Model):
    """History ``[B, L]`` int64 -> M user representations ``[B, M, D]`` float32."""

    def __init__(self, num_items: int, embedding_dim: int, output_dim: int, num_interests: int,
                 encoder_layers: int = 2, encoder_heads: int = 4, ffn_multiplier: int = 2,
                 dropout: float = 0.0, max_length: int = schema.MAX_SEQUENCE_LENGTH,
                 recency: str = "none", causal: bool = False, **kwargs):
        super().__init__(**kwargs)
        if recency not in RECENCIES:
            raise ValueError(f"recency: unknown value {recency!r}; choose one of {list(RECENCIES)}")
        self.recency = recency
        self.item_embedding = keras.layers.Embedding(num_items, embedding_dim, name="item_embedding")
        self.position_embedding = keras.layers.Embedding(max_length, embedding_dim,
                                                         name="position_embedding")
        self.encoder = [EncoderLayer(embedding_dim, encoder_heads, ffn_multiplier * embedding_dim,
                                     dropout, causal=causal, name=f"encoder_{i}")
                        for i in range(encoder_layers)]
        self.projection = (keras.layers.Dense(output_dim, name="projection")
                           if output_dim != embedding_dim else None)
        self.interests = ParametricAttention(num_interests, name="parametric_attention")
        self.input_dropout = keras.layers.Dropout(dropout)
        self.max_length = max_length

    def encode(self, history, training=False):
        """Encoder states ``[B, L, D]`` and the real-item mask ``[B, L]`` of history ``[B, L]``."""
        history = tf.cast(history, tf.int64)
        mask = tf.not_equal(history, schema.PADDING_ID)
        length = tf.shape(history)[1]
        positions = tf.range(self.max_length - length, self.max_length)
        x = self.item_embedding(history) + self.position_embedding(positions)[tf.newaxis]
        x = self.input_dropout(x, training=training)
        for layer in self.encoder:
            x = layer(x, mask, training=training)
        if self.projection is not None:
            x = self.projection(x)
        return x, mask

    def call(self, history, training=False):
        x, mask = self.encode(history, training=training)
        interests = self.interests(x, mask)
        if self.recency == "last-state":
            interests += x[:, -1:, :]
        return tf.cast(interests, tf.float32)

    def every_prefix(self, history, training=False):
        """The M representations of every prefix of history ``[B, L]``: ``[B, L, M, D]`` float32.

        With a causal encoder (built with ``causal=True``) row t sees only the items up
        to t, in the slots they hold in the whole history (positions are absolute, as in
        SASRec); the last row is ``call(history)``.
        """
        x, mask = self.encode(history, training=training)
        interests = self.interests(x, mask, every_prefix=True)
        if self.recency == "last-state":
            interests += x[:, :, tf.newaxis, :]
        return tf.cast(interests, tf.float32)


class ItemTower(keras.Model):
    """Item ids ``[N]`` int64 -> representations ``[N, D]`` float32.

    Args:
        item_categories: Optional ``[num_items]`` int array mapping an item id to
            its category vocabulary id; when given, the category embedding is
            concatenated to the item-id embedding (the table lives inside the
            tower so an exported tower needs only item ids).
        normalize: L2-normalise outputs (item-norm weighting). A plain attribute
            read at call time, so post-hoc item norm can switch it on after training.
        item_embedding: An existing item-id embedding to share (the user tower's,
            as SASRec shares its item table), or None for the tower's own.
    """

    def __init__(self, num_items: int, embedding_dim: int, hidden: tuple[int, ...],
                 item_categories: np.ndarray | None = None, num_categories: int = 0,
                 normalize: bool = False, item_embedding: keras.layers.Embedding | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.item_embedding = item_embedding or keras.layers.Embedding(num_items, embedding_dim,
                                                                       name="item_embedding")
        self.category_table = None
        if item_categories is not None:
            self.category_table = tf.constant(np.asarray(item_categories, dtype=np.int64))
            self.category_embedding = keras.layers.Embedding(max(num_categories, 1), embedding_dim,
                                                             name="category_embedding")
        layers = [keras.layers.Dense(size, activation="relu") for size in hidden[:-1]]
        if hidden:
            layers.append(keras.layers.Dense(hidden[-1]))
        # No sizes: the identity tower, the embedding is the representation (item_model num_layers 0).
        self.mlp = keras.Sequential(layers, name="mlp") if layers else None
        self.normalize = normalize

    def call(self, item_ids, training=False):
        item_ids = tf.cast(item_ids, tf.int64)
        x = self.item_embedding(item_ids)
        if self.category_table is not None:
            categories = tf.gather(self.category_table, item_ids)
            x = tf.concat([x, self.category_embedding(categories)], axis=-1)
        x = tf.cast(self.mlp(x) if self.mlp is not None else x, tf.float32)
        if self.normalize:
            x = tf.math.l2_normalize(x, axis=-1)
        return x
