"""Loss weighting schemes, one module each; ``WEIGHTINGS`` maps a CLI name to its class.

Adding a scheme is one class (a :class:`~retrieval.weighting.base.Weighting`)
and one line here; ``funnel train retrieval --weighting`` offers the keys.
"""

from __future__ import annotations

from funnel import config as config_lib
from retrieval.config import RetrievalConfig
from retrieval.weighting.base import Weighting
from retrieval.weighting.domain import DomainWeighting
from retrieval.weighting.focal import FocalBalance
from retrieval.weighting.frequency import FrequencyBalance
from retrieval.weighting.idw import IterativeDensityWeighting
from retrieval.weighting.item_norm import ItemNorm, PostHocItemNorm
from retrieval.weighting.none import NoWeighting
from retrieval.weighting.qmargin import QMargin

WEIGHTINGS: dict[str, type[Weighting]] = {
    "none": NoWeighting,
    "frequency": FrequencyBalance,
    "focal": FocalBalance,
    "qmargin": QMargin,
    "item-norm": ItemNorm,
    "posthoc-item-norm": PostHocItemNorm,
    "idw": IterativeDensityWeighting,
    "domain": DomainWeighting,
}


def build(config: RetrievalConfig) -> Weighting:
    """The weighting scheme ``config.weighting`` names, configured by ``config``."""
    return config_lib.choice("weighting", config.weighting, WEIGHTINGS)(config)
