"""The two-tower retrieval model and its scoring (Mehta et al. 2023, §3.1, eqs. 1-4).

Scoring of M user representations against items:

- ``"mixture"`` (eq. 4): ``s(u, y) = sum_m w_m z_m^T g(y)`` with
  ``w_m = softmax_m(z_m^T g(y))``, a candidate-dependent mixture of interests;
- ``"max"``: ``max_m z_m^T g(y)``, what the authors' public TFRS code and
  ``tfrs.tasks.Retrieval`` do with 3-D queries.

Training is the in-batch softmax of eq. 1 with the logQ correction of eq. 2
(``s - log p(y)``, p from the pipeline's item frequencies), per-example sample
weights (eqs. 5 and 10), accidental in-batch hits removed and an optional
per-item margin on the positive logit (Qmargin), and a softmax temperature
(``config.temperature``: ``s / tau - log p(y)``, the order
``tfrs.tasks.Retrieval(temperature=...)`` applies). The loss, the correction and
the hit removal are ``tfrs.tasks.Retrieval``'s own; because that task scores
queries by a dot product (or a max over heads), the model hands it the
``[B, B]`` matrix of eq.-4 scores as queries and the identity as candidates,
so ``scores @ I^T`` returns them unchanged.
"""

from __future__ import annotations

import types

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras as keras

from funnel import schema
from retrieval import negatives
from retrieval.config import RetrievalConfig
from retrieval.towers import ItemTower, UserTower


def interest_scores(user_embeddings, item_embeddings, scoring: str = "mixture"):
    """Score every item for every user: ``[B, M, D]`` x ``[N, D]`` -> ``[B, N]`` float32.

    Args:
        user_embeddings: M user representations per user, ``[B, M, D]``.
        item_embeddings: item representations, ``[N, D]``.
        scoring: ``"mixture"`` (eq. 4) or ``"max"``.
    """
    try:
        reduce = SCORE_REDUCTIONS[scoring]
    except KeyError:
        raise ValueError(f"scoring: unknown value {scoring!r}; choose one of {sorted(SCORE_REDUCTIONS)}") from None
    per_interest = tf.einsum("bmd,nd->bmn", tf.cast(user_embeddings, tf.float32),
                             tf.cast(item_embeddings, tf.float32))
    return reduce(per_interest)


def _mixture(per_interest):
    """Eq. 4: ``sum_m softmax_m(s_m) * s_m`` over axis 1 of ``[B, M, N]``."""
    weights = tf.nn.softmax(per_interest, axis=1)
    return tf.reduce_sum(weights * per_interest, axis=1)


def _max(per_interest):
    return tf.reduce_max(per_interest, axis=1)


SCORE_REDUCTIONS = {"mixture": _mixture, "max": _max}


def float32_scope():
    """Keras dtype-policy scope: the softmax loss and its corrections run in float32
    even when the towers run in ``mixed_float16``."""
    from tf_keras.src.mixed_precision import policy

    return policy.policy_scope("float32")


class ItemStatistics:
    """What the model needs to know about items from the training data.

    Attributes:
        frequencies: ``[num_items]`` training counts n_y (padding and OOV 0).
        categories: ``[num_items]`` category vocabulary id per item (OOV when unknown).
        num_categories: rows of the category embedding table.
    """

    def __init__(self, frequencies: np.ndarray, categories: np.ndarray | None = None,
                 num_categories: int = 0):
        self.frequencies = np.asarray(frequencies, dtype=np.float64)
        self.categories = (np.full(len(self.frequencies), schema.OOV_ID, dtype=np.int64)
                           if categories is None else np.asarray(categories, dtype=np.int64))
        self.num_categories = max(int(num_categories), int(self.categories.max()) + 1)
        if self.categories.shape != self.frequencies.shape:
            raise ValueError(f"categories: shape {self.categories.shape} does not match "
                             f"frequencies {self.frequencies.shape}")

    @property
    def num_items(self) -> int:
        return len(self.frequencies)

    @property
    def sampling_probability(self) -> np.ndarray:
        """p(y) of eq. 2: the item's share of training interactions, ``[num_items]``."""
        total = self.frequencies.sum()
        if total <= 0:
            raise ValueError("frequencies: every item has frequency 0; is the training split empty?")
        return self.frequencies / total


class RetrievalModel(tfrs.Model):
    """What every retrieval model shares: its Keras steps and the item table it serves.

    A subclass builds ``user_tower`` (history ``[B, L]`` -> ``[B, M, D]``),
    ``item_tower`` (ids ``[N]`` -> ``[N, D]``), ``sampling_probability``
    ``[num_items]``, ``loss_tracker`` and ``compute_loss``.
    """

    @property
    def metrics(self):
        """Reset by Keras each epoch, so ``loss``/``val_loss`` are epoch means."""
        return [self.loss_tracker]

    def train_step(self, inputs):
        """TFRS' train step, plus loss scaling when the optimizer is a LossScaleOptimizer."""
        optimizer = self.optimizer
        scaled = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            regularization = tf.add_n([tf.reduce_sum(l) for l in self.losses]) if self.losses else 0.0
            total = loss + regularization
            target = optimizer.get_scaled_loss(total) if scaled else total
        gradients = tape.gradient(target, self.trainable_variables)
        if scaled:
            gradients = optimizer.get_unscaled_gradients(gradients)
        optimizer.apply_gradients(
            [(g, v) for g, v in zip(gradients, self.trainable_variables) if g is not None])
        self.loss_tracker.update_state(total)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, inputs):
        self.loss_tracker.update_state(self.compute_loss(inputs, training=False))
        return {"loss": self.loss_tracker.result()}

    def item_embeddings(self, item_ids=None, batch_size: int = 8192) -> np.ndarray:
        """Item tower outputs for ``item_ids`` (default: every id), ``[N, D]`` NumPy."""
        if item_ids is None:
            item_ids = np.arange(self.sampling_probability.shape[0], dtype=np.int64)
        parts = [self.item_tower(tf.constant(item_ids[i:i + batch_size], tf.int64)).numpy()
                 for i in range(0, len(item_ids), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.config.output_dim), np.float32)


class TwoTowerModel(RetrievalModel):
    """User tower, item tower and the in-batch softmax retrieval task.

    Non-trainable state the weighting schemes write between epochs (read by the
    compiled train step through ``tf.gather``):
        ``item_weights`` ``[num_items]``: sample weight of an example by its target;
        ``item_margins`` ``[num_items]``: margin subtracted from the positive logit.
    ``use_sample_weights`` switches the weights off for unweighted phases
    (IDW's first fit and user-tower calibration) and for validation.
    """

    def __init__(self, config: RetrievalConfig, items: ItemStatistics, loss: keras.losses.Loss | None = None):
        super().__init__()
        self.config = config
        self.user_tower = UserTower(
            items.num_items, config.embedding_dim, config.output_dim, config.interests,
            encoder_layers=config.encoder_layers, encoder_heads=config.encoder_heads,
            ffn_multiplier=config.encoder_ffn_multiplier, dropout=config.dropout,
            recency=config.recency, causal=config.train_on == "sequences", name="user_tower")
        self.item_tower = ItemTower(
            items.num_items, config.embedding_dim, config.item_hidden,
            item_categories=items.categories if config.use_item_category else None,
            num_categories=items.num_categories,
            item_embedding=self.user_tower.item_embedding if config.share_item_embedding else None,
            name="item_tower")
        self.sampling_probability = tf.constant(items.sampling_probability, dtype=tf.float32)
        self.item_weights = tf.Variable(tf.ones([items.num_items]), trainable=False, name="item_weights")
        self.item_margins = tf.Variable(tf.zeros([items.num_items]), trainable=False, name="item_margins")
        self.use_sample_weights = tf.Variable(False, trainable=False, name="use_sample_weights")
        self.per_example_loss = loss or keras.losses.CategoricalCrossentropy(
            from_logits=True, reduction=keras.losses.Reduction.NONE)
        with float32_scope():
            self.task = tfrs.tasks.Retrieval(
                loss=self.per_example_loss,
                remove_accidental_hits=config.remove_accidental_hits,
                temperature=config.temperature if config.temperature != 1.0 else None)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, features, training=False):
        """Scores of each example's history against its own target: ``[B]``."""
        users = self.user_tower(features[schema.HISTORY], training=training)
        items = self.item_tower(features[schema.TARGET_ITEM], training=training)
        per_interest = tf.einsum("bmd,bd->bm", users, items)[:, :, tf.newaxis]
        return SCORE_REDUCTIONS[self.config.scoring](per_interest)[:, 0]

    def queries(self, inputs, training=False):
        """The user representations ``[Q, M, D]`` a batch trains and their targets ``[Q]``.

        ``config.train_on == "examples"``: ``inputs`` is a dict of histories and
        targets, one query per example. ``"sequences"``: ``inputs`` is (history
        ``[B, L]``, position targets ``[B, L]``) (``retrieval.sequence_batches``), one
        query per position whose target is a real item, each the causal tower's
        representation of the prefix ending there (``UserTower.every_prefix``).
        """
        if self.config.train_on == "examples":
            return (self.user_tower(inputs[schema.HISTORY], training=training),
                    tf.cast(inputs[schema.TARGET_ITEM], tf.int64))
        history, position_targets = inputs
        position_targets = tf.cast(position_targets, tf.int64)
        scored = position_targets >= schema.FIRST_VALUE_ID
        users = tf.boolean_mask(self.user_tower.every_prefix(history, training=training), scored)
        return users, tf.boolean_mask(position_targets, scored)

    def batch_logits(self, inputs, training=False):
        """In-batch scores ``[Q, Q]``: row q = query q against every target of the batch
        (eq. 4 or max), with the target's margin subtracted on the diagonal."""
        return self._in_batch_scores(*self.queries(inputs, training=training), training=training)

    def candidate_logits(self, inputs, training=False):
        """Logits ``[Q, C]`` and one-hot labels ``[Q, C]`` of a non-in-batch negatives mode,
        temperature and the target's margin applied."""
        return self._candidate_logits(*self.queries(inputs, training=training), training=training)

    def compute_loss(self, inputs, training=False):
        """Mean over the global batch of (weighted) softmax losses (eqs. 1-3, 10) against
        the negatives of ``config.negatives`` (:mod:`retrieval.negatives`)."""
        users, targets = self.queries(inputs, training=training)
        weights = None
        if training:
            weights = tf.where(self.use_sample_weights, tf.gather(self.item_weights, targets),
                               tf.ones(tf.shape(targets), tf.float32))
        if self.config.negatives_for_model == "in-batch":
            per_example = self._in_batch_loss(users, targets, weights, training)
        else:
            per_example = self._sampled_loss(users, targets, weights, training)
        return tf.nn.compute_average_loss(per_example)

    def _in_batch_scores(self, users, targets, training):
        items = self.item_tower(targets, training=training)
        scores = interest_scores(users, items, self.config.scoring)
        margins = tf.gather(self.item_margins, targets)
        return scores - tf.linalg.diag(margins)

    def _candidate_logits(self, users, targets, training):
        scoring = SCORE_REDUCTIONS[self.config.scoring]
        num_items = self.sampling_probability.shape[0]

        def embed(ids):
            return self.item_tower(ids, training=training)

        def score(items):
            return interest_scores(users, items, self.config.scoring)

        def score_own(items):
            return scoring(tf.einsum("bmd,bd->bm", users, items)[:, :, tf.newaxis])[:, 0]

        batch = types.SimpleNamespace(
            score=score, score_own=score_own, embed=embed, targets=targets,
            sampling_probability=self.sampling_probability if self.config.logq_correction else None)
        candidates = negatives.CANDIDATES[self.config.negatives_for_model]
        logits, labels = candidates(batch, self.config.sampled_negatives, num_items)
        logits = logits / self.config.temperature
        margins = tf.gather(self.item_margins, targets)
        return logits - labels * margins[:, tf.newaxis], labels

    def _sampled_loss(self, users, targets, weights, training):
        logits, labels = self._candidate_logits(users, targets, training)
        if self.config.loss == "bce":
            per_example = negatives.binary_cross_entropy(labels, logits)
            return per_example if weights is None else per_example * weights
        return self.per_example_loss(labels, logits, sample_weight=weights)

    def _in_batch_loss(self, users, targets, weights, training):
        scores = self._in_batch_scores(users, targets, training)
        identity = tf.eye(tf.shape(scores)[1], dtype=scores.dtype)
        sampling = (tf.gather(self.sampling_probability, targets)
                    if self.config.logq_correction else None)
        with float32_scope():  # the task builds its correction layers at call time
            return self.task(scores, identity, sample_weight=weights,
                             candidate_sampling_probability=sampling,
                             candidate_ids=targets, compute_metrics=False,
                             compute_batch_metrics=False)

    def build_towers(self) -> None:
        """Create every variable by one forward pass on a dummy batch."""
        history = tf.zeros([1, schema.MAX_SEQUENCE_LENGTH], tf.int64)
        self({schema.HISTORY: history, schema.TARGET_ITEM: tf.constant([schema.OOV_ID], tf.int64)})
