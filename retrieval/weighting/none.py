"""No weighting: the plain in-batch softmax loss of eq. 3 (SUR and MUR baselines)."""

from retrieval.weighting.base import Weighting


class NoWeighting(Weighting):
    """Every training example counts once (Mehta et al. 2023, eq. 3)."""
