"""Focal balance (Lin et al. 2018) on the in-batch softmax."""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from retrieval.weighting.base import Weighting


class FocalSoftmaxLoss(keras.losses.Loss):
    """``-(1 - p_y)^gamma log p_y`` per example, p the in-batch softmax probability of the positive.

    A dynamic weight: examples the model already gets right (p_y near 1) are
    down-weighted. ``y_true`` is the one-hot ``[B, C]`` label matrix and
    ``y_pred`` the ``[B, C]`` logits that ``tfrs.tasks.Retrieval`` passes in.
    Returns ``[B]`` (reduction is left to the model).
    """

    def __init__(self, gamma: float = 2.0, name: str = "focal_softmax"):
        super().__init__(reduction=keras.losses.Reduction.NONE, name=name)
        self.gamma = gamma

    def call(self, y_true, y_pred):
        log_probability = tf.reduce_sum(tf.cast(y_true, y_pred.dtype) * tf.nn.log_softmax(y_pred), axis=-1)
        modulation = tf.pow(1.0 - tf.exp(log_probability), self.gamma)
        return -modulation * log_probability


class FocalBalance(Weighting):
    """Focal loss with ``config.focal_gamma`` (gamma = 0 is the plain softmax loss)."""

    def loss(self) -> keras.losses.Loss:
        return FocalSoftmaxLoss(self.config.focal_gamma)
