"""What every ranking model shares: heads, loss from the registry, AUC tracking.

A model writes ``__init__`` and ``forward`` (feature dict -> heads, each a click
probability ``[B]``); ``call`` returns the ``"prediction"`` head, so
``model(features)`` is the serving function, and ``compute_loss`` (TFRS'
``Model`` contract) hands the heads to the loss. Models whose loss mixes more
than heads (LAFAM, eq. 3) override ``compute_loss``.
"""

from __future__ import annotations

import abc
from typing import Mapping

import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras as keras

from funnel import schema


class RankingModel(tfrs.models.Model, metaclass=abc.ABCMeta):
    """Base of all ranking models.

    Args:
        loss: a loss from ``ranking.losses.LOSSES``; its ``heads`` must be a
            subset of this model's ``HEADS``.
    """

    HEADS: tuple = ("prediction",)

    def __init__(self, loss, **kwargs):
        super().__init__(**kwargs)
        missing = [h for h in loss.heads if h not in self.HEADS]
        if missing:
            raise ValueError(f"loss {type(loss).__name__} needs heads {missing} that "
                             f"{type(self).__name__} does not have (it has {list(self.HEADS)}); "
                             "the Twin Focus loss needs a model with simple and complex encoders")
        self.loss_fn = loss
        self.auc = keras.metrics.AUC(name="auc")

    @abc.abstractmethod
    def forward(self, features: Mapping[str, tf.Tensor], training: bool = False) -> dict:
        """Feature dict -> ``{head: probability [B]}``."""

    def call(self, features, training=False):
        """Click probability ``[B]`` (float32)."""
        return tf.cast(self.forward(features, training=training)["prediction"], tf.float32)

    def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
        labels = tf.cast(tf.reshape(inputs[schema.LABEL], [-1]), tf.float32)
        heads = self.forward(inputs, training=training)
        self.auc.update_state(labels, heads["prediction"])
        return self.loss_fn(labels, heads)
