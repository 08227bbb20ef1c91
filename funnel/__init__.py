"""funnel: a retrieve-then-rank recommender on TensorFlow Recommenders.

TFRS needs Keras 2, so the legacy-Keras switch is set here, once, before any
module of the project can import TensorFlow; :mod:`funnel.noise` silences the
two known non-errors (cuInit without a GPU, Beam's apitools warning) here too.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from funnel import noise  # noqa: E402  (imports neither TensorFlow nor Beam)

noise.install()  # before TensorFlow or Beam logs anything: no cuInit line, no apitools warning

__version__ = "0.1.0"
