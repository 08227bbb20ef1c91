"""``retrieval.names`` (the CLI's choices) lists exactly the keys of each retrieval registry."""

from __future__ import annotations

from retrieval import names
from retrieval.weighting import WEIGHTINGS, idw


def test_weighting_names_equal_the_registry_keys():
    assert sorted(names.WEIGHTINGS) == sorted(WEIGHTINGS)


def test_idw_initial_weight_names_equal_the_registry_keys():
    assert sorted(names.IDW_INITIAL_WEIGHTS) == sorted(idw.INITIAL_WEIGHTS)
