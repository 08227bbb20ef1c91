"""Guards serving/ranking_rows.py: the grouped layout (the ``candidates`` signature's) and the
per-row layout (``serving_default``'s) carry the same candidates, and each row keeps its request."""

import numpy as np

from funnel import schema
from serving import contract
from serving.ranking_rows import ITEM_FEATURES, REQUEST_FEATURES, candidate_inputs, expand_candidates


def per_row(requests: int, count: int) -> dict[str, np.ndarray]:
    """``count`` candidate rows of ``requests`` requests, row ``r`` owned by request ``r % requests``;
    a request feature's value names its request (``u0``), an item feature's its row (``i3``)."""
    rows = {}
    for f in REQUEST_FEATURES:
        owner = np.arange(count) % requests
        rows[f.name] = (np.stack([np.array([f"h{o}a", f"h{o}b"]) for o in owner])
                        if f.kind is schema.Kind.SEQUENCE else np.array([f"u{o}" for o in owner]))
    rows.update({f.name: np.array([f"i{r}" for r in range(count)]) for f in ITEM_FEATURES})
    rows[schema.CANDIDATE_FEATURES[0]] = np.arange(count, dtype=np.float32)
    return rows


def test_every_ranking_feature_is_per_request_or_per_candidate_once():
    names = [f.name for f in REQUEST_FEATURES + ITEM_FEATURES]
    assert sorted(names) == sorted(f.name for f in schema.RANKING_FEATURES)
    assert schema.ITEM_ID in [f.name for f in ITEM_FEATURES]
    assert schema.HISTORY in [f.name for f in REQUEST_FEATURES]


def test_grouping_then_expanding_gives_back_the_rows():
    rows = per_row(requests=2, count=5)
    grouped = candidate_inputs(rows, 2)
    assert grouped[contract.OWNER].tolist() == [0, 1, 0, 1, 0]
    assert grouped[schema.USER_ID].tolist() == ["u0", "u1"]
    assert grouped[schema.HISTORY].shape == (2, 2)
    assert grouped[schema.ITEM_ID].tolist() == ["i0", "i1", "i2", "i3", "i4"]
    expanded = expand_candidates(grouped, grouped.pop(contract.OWNER))
    assert set(expanded) == set(rows)
    for name, values in rows.items():
        np.testing.assert_array_equal(expanded[name], values, err_msg=name)
