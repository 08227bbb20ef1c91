"""Item-norm schemes: L2-normalised item representations (Kim and Kim 2020; Kang et al. 2020)."""

from retrieval.weighting.base import Weighting


class ItemNorm(Weighting):
    """Normalise item representations in training and serving (IDW §4.3, "Item Norm").

    A popular item can no longer win by a large norm, which lifts rare items.
    """

    item_norm_in_training = True
    item_norm_at_inference = True


class PostHocItemNorm(Weighting):
    """Train unnormalised, normalise item representations only at inference (Kang et al. 2020)."""

    item_norm_in_training = False
    item_norm_at_inference = True
