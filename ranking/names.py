"""The keys of the ranking stage's registries, without importing what they register.

The CLI offers these as ``choices=`` while it builds its parser, which must not
import TensorFlow (``funnel --help`` answers at once). Each tuple equals the keys
of the registry named in its comment; ``tests/ranking/test_names.py`` guards
that, so adding a model, loss or module is still one class, one registry line
and one name here.
"""

MODELS = ("dnn", "dualmlp", "dcnv2", "deepfm", "tf4ctr", "lafam", "eain")
"""``ranking.models.MODELS``."""
LOSSES = ("logloss", "focal", "shrinkage", "suppression", "tf")
"""``ranking.losses.LOSSES``."""
LIST_LOSSES = ("softmax", "pairwise", "approx-ndcg")
"""``ranking.list_losses.LIST_LOSSES``: for training on candidate lists only."""
BACKBONES = ("dnn", "dualmlp", "dcnv2", "deepfm")
"""``ranking.models.tf4ctr.BACKBONES``: the encoders TF4CTR can wrap."""
SSEMS = ("share", "ser", "gm", "mmoe")
"""``ranking.layers.ssem.SSEMS``: TF4CTR's sample selection embedding modules."""
DFMS = ("sum", "wsf", "vf", "cf", "moef")
"""``ranking.layers.dfm.FUSIONS``: TF4CTR's dynamic fusion modules."""
REPORTS = ("table4", "table3", "table5", "lafam-table5")
"""``ranking.experiment.REPORTS``."""
HR_SCOPES = ("user", "global")
"""``ranking.metrics.HR_SCOPES``."""
