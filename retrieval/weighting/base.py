"""The contract every weighting scheme fulfils, and the unweighted baseline.

A scheme changes the training loss only through the model's non-trainable
``item_weights`` (per-target sample weights) and ``item_margins`` (Qmargin),
through its Keras ``loss`` (focal), through item normalisation flags, and,
for procedures that are more than one ``fit`` (IDW's sleep/wake rounds and
calibration), by overriding :meth:`Weighting.train`. Each scheme only talks to
the trainer through a :class:`Session`, so it can be tested without files.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
import tf_keras as keras

from retrieval.config import RetrievalConfig
from retrieval.model import ItemStatistics, TwoTowerModel


class Session(Protocol):
    """What the trainer offers a weighting scheme (implemented by ``retrieval.train``)."""

    model: TwoTowerModel
    items: ItemStatistics
    clusters: np.ndarray | None
    """``[num_items]`` ground-truth cluster per item id (-1 when unknown), or None."""

    def fit(self, epochs: int, *, weighted: bool, phase: str,
            callbacks: Sequence[keras.callbacks.Callback] = ()) -> keras.callbacks.History:
        """Train ``epochs`` epochs (early stopping on validation) with or without sample weights."""

    def freeze_item_tower(self, learning_rate: float) -> None:
        """Make the item tower untrainable and recompile with a fresh Adam optimizer."""

    def record(self, key: str, value) -> None:
        """Keep ``value`` under ``key`` in the run's history (``idw_history.json``)."""


def example_normalised(item_weights: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """Rescale per-item weights so the mean weight over training examples is 1.

    ``sum_y n_y w_y / sum_y n_y = 1``. A constant factor does not change the
    minimiser of a weighted loss (eqs. 5, 10) but keeps the loss on the scale
    of the unweighted one, so one learning rate and early-stopping patience
    serve every scheme.
    """
    weights = np.asarray(item_weights, dtype=np.float64)
    mass = float(np.dot(frequencies, weights))
    if mass <= 0:
        raise ValueError("item_weights: zero total weight over the training items")
    return weights * (frequencies.sum() / mass)


class Weighting:
    """The contract of a scheme, each hook at its neutral choice.

    Every hook has a working default (no weights, no margins, the softmax loss
    of eq. 3, one ``fit``), as Keras' ``Callback`` does, so a scheme overrides
    only what it changes and nothing is abstract;
    :class:`~retrieval.weighting.none.NoWeighting` is the unweighted baseline.
    """

    item_norm_in_training = False
    item_norm_at_inference = False
    weighted = False
    """Whether ``fit`` applies ``model.item_weights`` as sample weights."""

    def __init__(self, config: RetrievalConfig):
        self.config = config

    def loss(self) -> keras.losses.Loss | None:
        """Per-example loss with ``Reduction.NONE``; None for softmax cross-entropy."""
        return None

    def item_weights(self, items: ItemStatistics) -> np.ndarray | None:
        """Static per-item sample weights ``[num_items]``, or None for no weights."""
        return None

    def item_margins(self, items: ItemStatistics) -> np.ndarray | None:
        """Per-item margins subtracted from the positive logit ``[num_items]``, or None."""
        return None

    def callbacks(self, model: TwoTowerModel, items: ItemStatistics) -> list[keras.callbacks.Callback]:
        """Callbacks that update weights while training (dynamic schemes)."""
        return []

    def prepare(self, model: TwoTowerModel, items: ItemStatistics) -> None:
        """Write the scheme's static state into the model before training."""
        model.item_tower.normalize = self.item_norm_in_training
        weights = self.item_weights(items)
        if weights is not None:
            model.item_weights.assign(weights.astype(np.float32))
        margins = self.item_margins(items)
        if margins is not None:
            model.item_margins.assign(margins.astype(np.float32))

    def train(self, session: Session) -> None:
        """One ``fit`` with this scheme's weights, loss and callbacks."""
        session.fit(self.config.epochs, weighted=self.weighted, phase="train",
                    callbacks=self.callbacks(session.model, session.items))

    def finish(self, model: TwoTowerModel) -> None:
        """Put the model in its inference state (e.g. post-hoc item norm)."""
        model.item_tower.normalize = self.item_norm_at_inference
