"""List-wise ranking losses on Keras: ``LIST_LOSSES[name]()(labels, logits, mask)``.

Each takes ``labels`` ``[B, N]`` (1 for the list's target, 0 otherwise),
``logits`` ``[B, N]`` and ``mask`` ``[B, N]`` (True on real candidates; padding
never counts) and returns the mean over lists with at least one relevant
candidate. TensorFlow Ranking pins TensorFlow < 2.16, so these are written here
from their published definitions:

- ``softmax``: list-wise softmax cross-entropy, ``-sum_i y_i log softmax(s)_i /
  sum_i y_i`` (Bruch et al., ICTIR 2019: it bounds NDCG and MRR for binary
  relevance), the default;
- ``pairwise``: pairwise logistic loss, the mean of ``log(1 + exp(-(s_i -
  s_j)))`` over pairs with ``y_i > y_j`` (RankNet, Burges et al. 2005);
- ``approx-ndcg``: ``-NDCG`` with each rank replaced by its smooth estimate
  ``1 + sum_{j != i} sigmoid((s_j - s_i) / T)`` (Qin et al. 2010, eq. 16;
  T = 0.1 as TensorFlow Ranking's default ``alpha = 10``), gains ``2^y - 1``.
"""

from __future__ import annotations

import tensorflow as tf

_NEG = -1e9


def _lists_with_relevance(labels, mask):
    return tf.reduce_sum(labels * tf.cast(mask, labels.dtype), axis=1) > 0


def _mean_over(values, keep):
    keep = tf.cast(keep, values.dtype)
    return tf.reduce_sum(values * keep) / tf.maximum(tf.reduce_sum(keep), 1.0)


class SoftmaxListLoss:
    """List-wise softmax cross-entropy (Bruch et al. 2019)."""

    def __call__(self, labels, logits, mask):
        labels = labels * tf.cast(mask, labels.dtype)
        logits = tf.where(mask, logits, _NEG)
        log_softmax = tf.nn.log_softmax(logits, axis=1)
        relevance = tf.reduce_sum(labels, axis=1)
        per_list = -tf.reduce_sum(labels * tf.where(mask, log_softmax, 0.0), axis=1) / tf.maximum(relevance, 1e-9)
        return _mean_over(per_list, relevance > 0)


class PairwiseLogisticLoss:
    """Mean of ``log(1 + exp(-(s_i - s_j)))`` over pairs with ``y_i > y_j`` (RankNet)."""

    def __call__(self, labels, logits, mask):
        valid = tf.logical_and(mask[:, :, None], mask[:, None, :])
        pairs = tf.logical_and(valid, labels[:, :, None] > labels[:, None, :])   # [B, i, j]
        differences = logits[:, :, None] - logits[:, None, :]
        losses = tf.math.softplus(-differences)
        return _mean_over(losses, pairs)


class ApproxNDCGLoss:
    """``-ApproxNDCG`` (Qin et al. 2010): smooth ranks ``1 + sum_j sigmoid((s_j - s_i) / T)``."""

    def __init__(self, temperature: float = 0.1):
        if temperature <= 0:
            raise ValueError(f"temperature: must be > 0, got {temperature}")
        self.temperature = temperature

    def __call__(self, labels, logits, mask):
        maskf = tf.cast(mask, logits.dtype)
        labels = labels * maskf
        pair = tf.sigmoid((logits[:, None, :] - logits[:, :, None]) / self.temperature)  # [B, i, j]: s_j > s_i
        pair = pair * maskf[:, None, :] * (1.0 - tf.eye(tf.shape(logits)[1], dtype=logits.dtype))[None]
        ranks = 1.0 + tf.reduce_sum(pair, axis=2)                                       # [B, N]
        gains = tf.pow(2.0, labels) - 1.0
        dcg = tf.reduce_sum(gains / (tf.math.log(1.0 + ranks) / tf.math.log(2.0)) * maskf, axis=1)
        ideal_gains = tf.sort(gains, axis=1, direction="DESCENDING")
        positions = tf.cast(tf.range(1, tf.shape(logits)[1] + 1), logits.dtype)
        idcg = tf.reduce_sum(ideal_gains / (tf.math.log(1.0 + positions) / tf.math.log(2.0)), axis=1)
        return _mean_over(-dcg / tf.maximum(idcg, 1e-9), _lists_with_relevance(labels, mask))


LIST_LOSSES = {
    "softmax": SoftmaxListLoss,
    "pairwise": PairwiseLogisticLoss,
    "approx-ndcg": ApproxNDCGLoss,
}
DEFAULT_LIST_LOSS = "softmax"
