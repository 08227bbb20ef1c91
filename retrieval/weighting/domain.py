"""Dynamic per-domain loss weights for sparse domains (after "Adaptive Weighted Loss for
Sequential Recommendations on Sparse Domains", 2025; only its abstract is available).

A domain is the item's category (``schema.ITEM_CATEGORY``). With ``n_d`` the
training interactions of domain d, ``f_d = n_d / sum_d' n_d'`` its share and
``f_bar = 1 / |D|`` the share of a domain if all were equal, the sparsity
target is

    r_d = (f_bar / f_d) ^ alpha                    (sparser domain -> larger r_d)

and the weights move toward it at every epoch e, starting from 1:

    w_d^(0) = 1
    w_d^(e+1) = Pi( m * w_d^(e) + (1 - m) * r_d )

where ``Pi`` rescales so the mean weight over training examples is 1
(``sum_d f_d w_d = 1``) and clips to ``[w_min, w_max]`` (alternating a few
times so both hold up to clipping). Early epochs learn from the natural
distribution; later ones give sparse domains a gradient signal that the dense
ones cannot drown out, while the bounds keep the loss stable. The abstract
does not give its formula; this one follows its description (higher weight
for sparser domains, adapted during training, bounded, normalised).
"""

from __future__ import annotations

import logging

import numpy as np
import tf_keras as keras

from retrieval.model import ItemStatistics, TwoTowerModel
from retrieval.weighting.base import Weighting

logger = logging.getLogger(__name__)
PROJECTION_STEPS = 10


def domain_shares(frequencies: np.ndarray, domains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Domain ids present in training and their interaction shares f_d (both ``[|D|]``)."""
    seen = frequencies > 0
    ids, inverse = np.unique(domains[seen], return_inverse=True)
    counts = np.bincount(inverse, weights=frequencies[seen], minlength=len(ids))
    return ids, counts / counts.sum()


def sparsity_target(shares: np.ndarray, alpha: float) -> np.ndarray:
    """``r_d = (f_bar / f_d)^alpha`` with ``f_bar = 1/|D|``."""
    return (1.0 / (len(shares) * shares)) ** alpha


def project(weights: np.ndarray, shares: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pi: rescale to ``sum_d f_d w_d = 1``, clip to ``[low, high]``, repeat."""
    for _ in range(PROJECTION_STEPS):
        weights = np.clip(weights / np.dot(shares, weights), low, high)
    return weights


def next_weights(weights: np.ndarray, shares: np.ndarray, alpha: float, momentum: float,
                 low: float, high: float) -> np.ndarray:
    """One epoch's update ``w^(e+1) = Pi(m w^(e) + (1 - m) r)`` (see the module docstring)."""
    return project(momentum * weights + (1.0 - momentum) * sparsity_target(shares, alpha),
                   shares, low, high)


class DomainWeightUpdater(keras.callbacks.Callback):
    """At the start of each epoch, advances the domain weights and writes them per item."""

    def __init__(self, model_: TwoTowerModel, items: ItemStatistics, alpha: float, momentum: float,
                 low: float, high: float):
        super().__init__()
        self.target_model = model_
        self.domains = items.categories
        self.domain_ids, self.shares = domain_shares(items.frequencies, items.categories)
        self.weights = np.ones(len(self.domain_ids))
        self.alpha, self.momentum, self.low, self.high = alpha, momentum, low, high
        self.history: list[list[float]] = []

    def item_weights(self) -> np.ndarray:
        """``[num_items]``: each item gets its domain's weight (unseen domains 1)."""
        per_item = np.ones(len(self.domains))
        position = np.searchsorted(self.domain_ids, self.domains)
        position = np.clip(position, 0, len(self.domain_ids) - 1)
        known = self.domain_ids[position] == self.domains
        per_item[known] = self.weights[position[known]]
        return per_item

    def on_epoch_begin(self, epoch, logs=None):
        self.weights = next_weights(self.weights, self.shares, self.alpha, self.momentum,
                                    self.low, self.high)
        self.history.append(self.weights.tolist())
        self.target_model.item_weights.assign(self.item_weights().astype(np.float32))
        logger.debug("domain weights at epoch %d: %s", epoch, self.weights)


class DomainWeighting(Weighting):
    """Per-domain weights by sparsity, updated every epoch (module docstring)."""

    weighted = True

    def callbacks(self, model: TwoTowerModel, items: ItemStatistics) -> list[keras.callbacks.Callback]:
        config = self.config
        return [DomainWeightUpdater(model, items, config.domain_alpha, config.domain_momentum,
                                    config.domain_min_weight, config.domain_max_weight)]
