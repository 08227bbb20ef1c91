"""Qmargin: label-distribution-aware margins (Cao et al. 2019, LDAM), as in IDW §4.3."""

from __future__ import annotations

import numpy as np

from retrieval.model import ItemStatistics
from retrieval.weighting.base import Weighting


class QMargin(Weighting):
    """Per-item margin ``delta_y = C * p(y)^(-1/4)`` subtracted from the positive logit.

    ``C`` is set so the rarest training item gets ``config.qmargin_max``:
    ``delta_y = qmargin_max * (n_min / n_y)^(1/4)``. Rare items must beat their
    in-batch negatives by a wider margin, which pushes their scores up.
    Items with n_y = 0 get the largest margin.
    """

    def item_margins(self, items: ItemStatistics) -> np.ndarray:
        counts = items.frequencies
        seen = counts[counts > 0]
        if seen.size == 0:
            raise ValueError("frequencies: no item has a positive training count")
        return self.config.qmargin_max * (seen.min() / np.maximum(counts, seen.min())) ** 0.25
