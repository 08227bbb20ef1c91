"""Frequency balance (Mehta et al. 2023, eq. 5; He and Garcia 2009)."""

from __future__ import annotations

import numpy as np

from retrieval.model import ItemStatistics
from retrieval.weighting.base import Weighting, example_normalised


class FrequencyBalance(Weighting):
    """Static weights ``w_y = 1 / p(y)`` with ``p(y) = n_y / |U|`` (eq. 5).

    Every item then carries the same total loss. Weights are rescaled to mean 1
    over training examples (:func:`example_normalised`); items never seen in
    training (n_y = 0, so never a training target) get the weight of a
    once-seen item.
    """

    weighted = True

    def item_weights(self, items: ItemStatistics) -> np.ndarray:
        inverse = 1.0 / np.maximum(items.frequencies, 1.0)
        return example_normalised(inverse, items.frequencies)
