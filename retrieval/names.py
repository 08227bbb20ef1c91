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
BASELINES = (MOST_POPULAR, "markov")
"""``retrieval.baselines.BASELINES``: methods scored without training."""


def parse_method(method: str) -> tuple[str, str] | None:
    """``"mur-idw"`` -> ``("mur", "idw")``; ``"sasrec"`` -> ``("sasrec", "none")``; a baseline -> None.

    Any model of ``retrieval.config.MODELS`` alone means weighting ``none``.

    Raises:
        ValueError: not a method name (lists the baselines, models and weightings).
    """
    if method in BASELINES:
        return None
    model, _, weighting = method.partition("-")
    weighting = weighting or "none"
    if model not in MODELS or weighting not in WEIGHTINGS:
        models = "|".join(sorted(MODELS))
        raise ValueError(f"methods: unknown method {method!r}; use a baseline ({', '.join(BASELINES)}), "
                         f"a model ({models}) or <{models}>-<weighting> with weighting in "
                         f"{sorted(WEIGHTINGS)}")
    return model, weighting
