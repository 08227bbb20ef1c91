"""The items a training example's softmax contrasts its target with, beyond the batch.

The two-tower model's default, in-batch negatives with the logQ correction of
eq. 2 (Mehta et al. 2023), is ``tfrs.tasks.Retrieval``'s own and stays in
:mod:`retrieval.model`. The other ``RetrievalConfig.negatives`` modes build
their logits here, each as ``[B, C]`` logits and a one-hot ``[B, C]`` label
matrix for the same per-example loss:

- ``full``: every item of the catalog (padding and OOV masked), the exact
  softmax of eq. 1; the item tower runs over the whole catalog once a step.
- ``mixed``: the batch's targets plus ``sampled_negatives`` items drawn
  uniformly from the catalog (Yang et al., WWW 2020 companion, "Mixed
  Negative Sampling"). A candidate ``y`` is in the set ``B p(y) + N / |I|``
  times in expectation (p the training frequency of eq. 2), and that
  expectation's log is subtracted from its logit: the logQ correction of the
  mixture.
- ``sampled``: each example's target against ``sampled_negatives`` uniform
  items shared by the batch (uniform: the correction is a constant and drops out).

Candidates equal to an example's target other than its own positive column are
masked (accidental hits), as in-batch does.
"""

from __future__ import annotations

import tensorflow as tf

from funnel import schema

MASKED_LOGIT = -1e9
"""Logit of a candidate that must not compete (padding, OOV, an accidental hit)."""


def uniform_items(count: int, num_items: int) -> tf.Tensor:
    """``count`` item ids drawn uniformly from the real items ``[FIRST_VALUE_ID, num_items)``: ``[count]`` int64."""
    return tf.random.uniform([count], schema.FIRST_VALUE_ID, num_items, dtype=tf.int64)


def mask_accidental_hits(logits, labels, targets, candidate_ids):
    """Mask ``[B, C]`` logits whose candidate id equals the row's target but is not its positive."""
    hits = tf.equal(targets[:, tf.newaxis], candidate_ids[tf.newaxis, :])
    hits &= tf.equal(labels, 0.0)
    return tf.where(hits, MASKED_LOGIT, logits)


def full_candidates(score, embed, targets, num_items: int):
    """Every item id as a candidate: ``[B, num_items]`` logits, labels one-hot at each target.

    ``embed(ids [C]) -> [C, D]`` is the item tower; ``score(items [C, D]) -> [B, C]``
    scores the batch's users against items.
    """
    ids = tf.range(num_items, dtype=tf.int64)
    logits = score(embed(ids))
    logits = tf.where(ids[tf.newaxis, :] < schema.FIRST_VALUE_ID, MASKED_LOGIT, logits)
    return logits, tf.one_hot(targets, num_items, dtype=logits.dtype)


def mixed_candidates(score, embed, targets, count: int, num_items: int,
                     sampling_probability=None):
    """The batch's targets and ``count`` uniform items: ``[B, B + count]`` logits.

    ``sampling_probability``: ``[num_items]`` p(y) for the mixture's logQ
    correction, or None to leave logits uncorrected.
    """
    batch = tf.shape(targets)[0]
    ids = tf.concat([targets, uniform_items(count, num_items)], axis=0)
    logits = score(embed(ids))
    labels = tf.eye(batch, batch + count, dtype=logits.dtype)
    if sampling_probability is not None:
        real_items = float(num_items - schema.FIRST_VALUE_ID)
        expected = (tf.cast(batch, tf.float32) * tf.gather(sampling_probability, ids)
                    + count / real_items)
        logits -= tf.math.log(expected)[tf.newaxis, :]
    return mask_accidental_hits(logits, labels, targets, ids), labels


def sampled_candidates(score, score_own, embed, targets, count: int, num_items: int):
    """Each row's target (column 0) and ``count`` uniform items: ``[B, 1 + count]`` logits.

    ``score_own(items [B, D]) -> [B]`` scores each user against their own target.
    """
    sampled = uniform_items(count, num_items)
    positives = score_own(embed(targets))
    negatives = score(embed(sampled))
    logits = tf.concat([positives[:, tf.newaxis], negatives], axis=1)
    labels = tf.one_hot(tf.zeros_like(targets), 1 + count, dtype=logits.dtype)
    ids = tf.concat([tf.fill([1], tf.constant(-1, tf.int64)), sampled], axis=0)
    return mask_accidental_hits(logits, labels, targets, ids), labels


def binary_cross_entropy(labels, logits):
    """Per-example ``-log sigmoid(s_target) - sum_neg log(1 - sigmoid(s_neg))``: ``[B]``.

    SASRec's loss (Kang & McAuley 2018, eq. 7) on the target and its sampled
    negatives; masked candidates (logit ``MASKED_LOGIT``) contribute 0.
    """
    return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=-1)


def _full(batch, count: int, num_items: int):
    return full_candidates(batch.score, batch.embed, batch.targets, num_items)


def _mixed(batch, count: int, num_items: int):
    return mixed_candidates(batch.score, batch.embed, batch.targets, count, num_items,
                            batch.sampling_probability)


def _sampled(batch, count: int, num_items: int):
    return sampled_candidates(batch.score, batch.score_own, batch.embed, batch.targets, count, num_items)


CANDIDATES = {"full": _full, "mixed": _mixed, "sampled": _sampled}
"""``RetrievalConfig.negatives`` (other than in-batch) -> ``(batch, count, num_items)`` ->
(logits ``[B, C]``, labels ``[B, C]``). ``batch`` carries the step's ``score``, ``score_own``,
``embed``, ``targets`` and ``sampling_probability`` (None: no logQ correction)."""
