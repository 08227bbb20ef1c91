"""The keys of the retrieval stage's registries, without importing what they register.

``retrieval.weighting`` imports TensorFlow; the CLI builds its parser without
it (``funnel --help`` answers at once) and offers these names as ``choices=``.
``tests/retrieval/test_names.py`` checks each tuple equals its registry's keys.
"""

from __future__ import annotations

from retrieval.config import MODELS

WEIGHTINGS = ("none", "frequency", "focal", "qmargin", "item-norm", "posthoc-item-norm", "idw",
              "domain")
"""``retrieval.weighting.WEIGHTINGS``."""
IDW_INITIAL_WEIGHTS = ("frequency", "uniform")
"""``retrieval.weighting.idw.INITIAL_WEIGHTS``: IDW's w^(0)."""
MOST_POPULAR = "most-popular"
"""The popularity baseline of ``funnel experiment retrieval``."""


def parse_method(method: str) -> tuple[str, str] | None:
    """``"mur-idw"`` -> ``("mur", "idw")``; ``"sur"`` -> ``("sur", "none")``; most-popular -> None.

    Raises:
        ValueError: not a method name (lists the valid forms and weightings).
    """
    if method == MOST_POPULAR:
        return None
    model, _, weighting = method.partition("-")
    weighting = weighting or "none"
    if model not in MODELS or weighting not in WEIGHTINGS:
        raise ValueError(f"methods: unknown method {method!r}; use {MOST_POPULAR}, sur, mur or "
                         f"<sur|mur>-<weighting> with weighting in {sorted(WEIGHTINGS)}")
    return model, weighting
