"""Ranking stage of funnel: CTR models that score the retrieved candidates.

Where things live:

- ``embedding.py``: one ``[B, F, d]`` field embedding built from ``funnel.schema``;
- ``losses.py``: ``LOSSES`` (logloss, focal, shrinkage, suppression, tf);
- ``layers/``: MLP, FM, cross network, SSEM, DFM, DIN, SE-Net, MaskBlock, PAIM;
- ``models/``: ``MODELS`` (dnn, dualmlp, dcnv2, deepfm, tf4ctr, lafam, eain);
- ``train.py``, ``run.py`` (the run folder, ``load_trained``), ``evaluate.py`` + ``metrics.py``,
  ``sampling.py`` (``--negative-ratio``), ``experiment.py`` (paper-style reports),
  ``commands.py`` (``funnel train|evaluate|experiment ranking``).
"""

import funnel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
