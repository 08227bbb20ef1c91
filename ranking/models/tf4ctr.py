"""TF4CTR (Li et al. 2024): a model-agnostic wrapper around any backbone's encoders.

``TF4CTR`` is the parallel structure with TF4CTR's parts plugged in: an SSEM
(eqs. 3-5) below the backbone's simple and complex encoders (eq. 6), a DFM
(eqs. 8-11) above them, and the Twin Focus loss added to the CTR loss
(eqs. 7, 12; ``--loss tf``, the default). The encoders are not copied: the
backbone module's ``encoders(config)`` builds them and the constructor receives
them, so ``BACKBONES`` lists every model TF4CTR can wrap.
"""

from __future__ import annotations

from ranking.layers.dfm import build_fusion
from ranking.layers.ssem import SSEMS
from ranking.models import dcnv2, deepfm, dnn, dualmlp
from ranking.models.parallel import ParallelModel

BACKBONES = {
    "dnn": dnn.encoders,
    "dualmlp": dualmlp.encoders,
    "dcnv2": dcnv2.encoders,
    "deepfm": deepfm.encoders,
}
"""Backbone name -> ``encoders(config) -> (simple_encoder, complex_encoder)``."""


class TF4CTR(ParallelModel):
    """TF4CTR around given encoders.

    Args:
        ssem: a ``ranking.layers.ssem`` module (SER by default).
        simple_encoder, complex_encoder: the backbone's encoders.
        fusion: a ``ranking.layers.dfm`` module (WSF by default).
        loss: normally ``TwinFocusLoss`` (eq. 12).
    """

    @classmethod
    def around(cls, backbone: str, config, feature_map, loss) -> "TF4CTR":
        """TF4CTR around the encoders of ``BACKBONES[backbone]``, with ``config.ssem`` and ``config.dfm``."""
        if config.ssem not in SSEMS:
            raise ValueError(f"ssem: unknown value {config.ssem!r}; choose one of {sorted(SSEMS)}")
        if backbone not in BACKBONES:
            raise ValueError(f"backbone: unknown value {backbone!r}; choose one of {sorted(BACKBONES)}")
        simple, complex_ = BACKBONES[backbone](config)
        return cls(SSEMS[config.ssem](feature_map, config.embedding_dim), simple, complex_,
                   build_fusion(config.dfm, config.gumbel_temperature), loss, name=f"tf4ctr_{backbone}")


def build(config, feature_map, loss):
    return TF4CTR.around(config.backbone, config, feature_map, loss)
