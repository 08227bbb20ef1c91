"""The keys of the retrieval stage's registries, without importing what they register.

``retrieval.weighting`` imports TensorFlow; the CLI builds its parser without
it (``funnel --help`` answers at once) and offers these names as ``choices=``.
``tests/retrieval/test_names.py`` checks each tuple equals its registry's keys.
"""

WEIGHTINGS = ("none", "frequency", "focal", "qmargin", "item-norm", "posthoc-item-norm", "idw",
              "domain")
"""``retrieval.weighting.WEIGHTINGS``."""
IDW_INITIAL_WEIGHTS = ("frequency", "uniform")
"""``retrieval.weighting.idw.INITIAL_WEIGHTS``: IDW's w^(0)."""
