"""Guards the service's coded path (issue 15): catalog strings looked up once at load,
vocabulary ids per request. The candidates, scores and interests must equal the
SavedModels' raw-value signatures on the same request."""

import dataclasses

import numpy as np
import pytest

from funnel import schema
from serving import artifacts
from serving.api import RecommendRequest
from serving.backends.export_bundle import bundle_from_export
from serving.engine import Engine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(tiny_export):
    return artifacts.load_export(tiny_export[0])


@pytest.fixture(scope="module")
def engines(loaded):
    """The same export served on raw values (no coded models) and on vocabulary ids."""
    coded = loaded.coded_models()
    assert coded is not None, "the export lacks the *_codes signatures"
    raw = Engine(bundle_from_export(loaded, query=loaded.query, rank=loaded.rank_candidates, order="ranking"))
    return raw, Engine(dataclasses.replace(raw.bundle, coded=coded))


def test_coded_engine_scores_equal_the_raw_signatures_for_a_mixed_batch(engines, loaded):
    raw, coded = engines
    ids = [str(x) for x in loaded.item_ids]
    requests = [RecommendRequest(history=ids[20:23], user_id="u2", k=5, candidates=12,
                                 context={schema.HOUR: 7, schema.WEEKDAY: 4}),
                RecommendRequest(history=ids[:40], user_id="nobody", k=3, candidates=30),
                RecommendRequest(history=["no-such-item", ids[5]], k=4, candidates=7, exclude_history=False),
                RecommendRequest(history=["no-such-item"], k=2)]
    expected, _ = raw.score(requests)
    got, _ = coded.score(requests)
    assert got[3] is None and expected[3] is None  # fallback: no known history item
    for mine, theirs in zip(got[:3], expected[:3]):
        np.testing.assert_array_equal(mine["rows"], theirs["rows"])
        np.testing.assert_allclose(mine["scores"], theirs["scores"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(mine["probabilities"], theirs["probabilities"], rtol=1e-5, atol=1e-6)


def test_coded_query_equals_the_query_signature_on_raw_ids(loaded):
    coded = loaded.coded_models()
    ids = np.asarray(loaded.item_ids).astype(str)
    history = np.full((3, schema.MAX_SEQUENCE_LENGTH), schema.UNKNOWN_VALUE, dtype=object)
    history[0, -2:] = ids[:2]
    history[1, :] = ids[:schema.MAX_SEQUENCE_LENGTH]
    history[2, -5:] = ids[10:15]
    codes = coded.history_codes(ids)
    ids_of = dict(zip(ids, codes))
    history_codes = np.vectorize(lambda v: ids_of.get(v, schema.PADDING_ID), otypes=[np.int64])(history)
    np.testing.assert_allclose(coded.query(history_codes), loaded.query(history), rtol=1e-5, atol=1e-6)
