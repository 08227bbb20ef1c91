"""``ranking.names`` (the CLI's choices) lists exactly the keys of each ranking registry."""

from __future__ import annotations

import pytest

from ranking import experiment, list_losses, losses, metrics, names
from ranking.layers import dfm, ssem
from ranking.models import MODELS, tf4ctr


@pytest.mark.parametrize("listed, registry", [
    (names.MODELS, MODELS), (names.LOSSES, losses.LOSSES), (names.BACKBONES, tf4ctr.BACKBONES),
    (names.LIST_LOSSES, list_losses.LIST_LOSSES),
    (names.SSEMS, ssem.SSEMS), (names.DFMS, dfm.FUSIONS), (names.REPORTS, experiment.REPORTS),
    (names.HR_SCOPES, metrics.HR_SCOPES),
], ids=["models", "losses", "backbones", "list_losses", "ssems", "dfms", "reports", "hr_scopes"])
def test_names_equal_the_registry_keys(listed, registry):
    assert sorted(listed) == sorted(registry)  # a duplicate or a missing name both fail
