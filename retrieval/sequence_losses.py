"""SASRec's per-position losses, one function per (negatives, loss) pair.

Every function scores P non-padding positions at once: ``states`` ``[P, D]``
are the encoder outputs ``F_t`` at those positions, ``targets`` ``[P]`` their
next items, ``table`` ``[N, D]`` the shared item embedding ``M`` (SASRec
scores item i at position t by ``r_{i,t} = F_t M_i^T``, Kang & McAuley 2018,
§III-D, shared item embedding), and each returns the loss of every position
``[P]`` float32. Padding and OOV ids (``< schema.FIRST_VALUE_ID``) are never
negatives:

- ``full`` + ``softmax``: cross-entropy of the target against every real item
  (Klenitskiy & Vasilev, RecSys 2023, "Turning Dross Into Gold Loss", eq. 3);
- ``sampled`` + ``softmax``: cross-entropy over the target and ``S`` uniformly
  drawn items shared by the batch, a negative equal to the target masked;
- ``sampled`` + ``bce``: ``-log sigma(r_target) - sum_j log(1 - sigma(r_j))``
  over ``S`` uniform items drawn for each position (§III-E's binary
  cross-entropy; S = 1 is the original SASRec, one negative per position).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import tensorflow as tf

from funnel import schema

MASK_LOGIT = -1e9
"""Logit of an item that must not compete (padding, OOV, a sampled copy of the target)."""


def full_softmax(states, targets, table, negatives=None):
    """Softmax cross-entropy over the whole catalog: ``[P, D]``, ``[P]``, ``[N, D]`` -> ``[P]``."""
    logits = tf.matmul(states, table, transpose_b=True)                      # [P, N]
    real = tf.range(tf.shape(table)[0]) >= schema.FIRST_VALUE_ID
    logits = tf.where(real[tf.newaxis, :], logits, MASK_LOGIT)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)


def _target_and_sampled_logits(states, targets, table, negatives):
    """Target logits ``[P]`` and sampled logits ``[P, S]`` (copies of the target masked).

    ``negatives``: ``[S]`` shared by every position, or ``[P, S]`` one row per position.
    """
    targets = tf.convert_to_tensor(targets, tf.int64)
    negatives = tf.convert_to_tensor(negatives, tf.int64)
    positive = tf.reduce_sum(states * tf.gather(table, targets), axis=-1)
    if negatives.shape.rank == 1:      # one [S, D] gather and a matmul, not a [P, S, D] copy
        sampled = tf.matmul(states, tf.gather(table, negatives), transpose_b=True)
        hit = tf.equal(negatives[tf.newaxis, :], targets[:, tf.newaxis])
        return positive, tf.where(hit, MASK_LOGIT, sampled)
    sampled = tf.einsum("pd,psd->ps", states, tf.gather(table, negatives))
    hit = tf.equal(negatives, targets[:, tf.newaxis])
    return positive, tf.where(hit, MASK_LOGIT, sampled)


def sampled_softmax(states, targets, table, negatives):
    """Softmax cross-entropy over the target and ``negatives`` ``[S]``: -> ``[P]``."""
    positive, sampled = _target_and_sampled_logits(states, targets, table, negatives)
    logits = tf.concat([positive[:, tf.newaxis], sampled], axis=1)
    return -tf.nn.log_softmax(logits, axis=1)[:, 0]


def sampled_bce(states, targets, table, negatives):
    """Binary cross-entropy of the target (label 1) and each of its ``negatives`` ``[P, S]``
    (or ``[S]`` shared; label 0): -> ``[P]``.

    ``-log sigma(x) = softplus(-x)`` and ``-log(1 - sigma(x)) = softplus(x)``;
    a masked copy of the target adds ``softplus(MASK_LOGIT) = 0``.
    """
    positive, sampled = _target_and_sampled_logits(states, targets, table, negatives)
    return tf.nn.softplus(-positive) + tf.reduce_sum(tf.nn.softplus(sampled), axis=1)


def shared_negatives(count: int, num_items: int, positions):
    """``count`` item ids drawn uniformly from the real items ``[FIRST_VALUE_ID, num_items)``,
    shared by the batch's ``positions``: ``[S]`` int64."""
    return tf.random.uniform([count], minval=schema.FIRST_VALUE_ID, maxval=num_items, dtype=tf.int64)


def position_negatives(count: int, num_items: int, positions):
    """``count`` uniform real item ids for each of ``positions`` (a scalar P): ``[P, S]`` int64."""
    return tf.random.uniform([positions, count], minval=schema.FIRST_VALUE_ID, maxval=num_items,
                             dtype=tf.int64)


@dataclasses.dataclass(frozen=True)
class SequenceLoss:
    """A per-position loss and how its negatives are drawn for each batch (None: no sampling).

    ``draw(count, num_items, positions)`` returns the ``negatives`` argument of ``per_position``.
    """

    per_position: Callable
    draw: Callable | None = None


SEQUENCE_LOSSES = {
    ("full", "softmax"): SequenceLoss(full_softmax),
    ("sampled", "softmax"): SequenceLoss(sampled_softmax, draw=shared_negatives),
    ("sampled", "bce"): SequenceLoss(sampled_bce, draw=position_negatives),
}
"""(negatives, loss) -> SASRec's loss; ``retrieval.config.MODEL_NEGATIVES`` lists the same negatives."""


def sequence_loss(negatives: str, loss: str) -> SequenceLoss:
    """The :data:`SEQUENCE_LOSSES` entry of a config's ``negatives_for_model`` and ``loss``."""
    try:
        return SEQUENCE_LOSSES[(negatives, loss)]
    except KeyError:
        supported = ", ".join(f"--negatives {n} --loss {l}" for n, l in SEQUENCE_LOSSES)
        raise ValueError(f"negatives/loss: sasrec does not train with negatives {negatives!r} and "
                         f"loss {loss!r}; use one of: {supported}") from None
