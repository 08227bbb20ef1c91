"""funnel: a retrieve-then-rank recommender on TensorFlow Recommenders.

TFRS needs Keras 2, so the legacy-Keras switch is set here, once, before any
module of the project can import TensorFlow.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
