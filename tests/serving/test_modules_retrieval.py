"""Guards serving/export/modules.py's retrieval signatures: one eq.-4 merge in the graph, equal to
the numpy one the service and the candidates job run, and brute force exact over the catalog."""

import numpy as np
import pytest
import tensorflow as tf

from retrieval import candidates
from retrieval.model import interest_scores
from serving.export import modules
from tests.serving.conftest import brute_force_search


@pytest.mark.parametrize("scoring", ["mixture", "max"])
def test_graph_merge_equals_the_numpy_merge_on_the_same_per_interest_hits(scoring):
    rng = np.random.default_rng(4)
    users = rng.normal(size=(3, 4, 8)).astype(np.float32)             # [B, M, D]
    items = rng.normal(size=(50, 8)).astype(np.float32)               # [N, D]
    k = 6
    search = brute_force_search(items)  # per-interest hits overlap: the merge drops the repeats
    ours = candidates.retrieve(users, items, search, exclude=[np.array([], np.int64)] * 3, count=k,
                               scoring=scoring)
    hits, _ = search(users.reshape(12, 8), k)
    rows, scores = modules.merge_candidates(tf.constant(users), tf.constant(hits.reshape(3, -1)),
                                            tf.constant(items), k, scoring)
    assert len(set(hits.reshape(3, -1)[0])) < hits.shape[1] * 4
    np.testing.assert_array_equal(rows.numpy(), ours.rows)
    np.testing.assert_allclose(scores.numpy(), ours.scores, rtol=1e-5, atol=1e-6)


class LastItemInterests(tf.keras.layers.Layer):
    """User tower stand-in: the M interests are rows of a fixed table picked by the last history id."""

    def __init__(self, interests: np.ndarray):
        super().__init__()
        self.interests = tf.constant(interests)                        # [vocabulary ids, M, D]

    def call(self, ids, training=False):
        return tf.gather(self.interests, ids[:, -1])


def test_brute_force_is_exact_eq4_where_per_interest_hits_miss_the_best_item(tmp_path):
    """x scores (5, 5) on the two interests, a (5.1, 3) and b (3, 5.1): each interest's top 1 is
    a or b, yet x's mixture, 5, beats theirs (about 4.87); brute force returns x."""
    items = np.array([[5.0, 5.0], [5.1, 3.0], [3.0, 5.1], [-1.0, -1.0]], np.float32)
    item_ids = np.array(["x", "a", "b", "u"])
    vocabulary = tmp_path / "items.txt"
    vocabulary.write_text("\n".join(item_ids) + "\n")
    schema_file = tmp_path / "schema.json"
    schema_file.write_text("{}")
    interests = np.tile(np.eye(2, dtype=np.float32), (len(item_ids) + 2, 1, 1))  # z_1 = e_1, z_2 = e_2
    query = modules.QueryModel(LastItemInterests(interests), str(vocabulary), str(schema_file))
    brute = modules.BruteForceRetrieval(query, items, item_ids, "mixture", str(schema_file))
    got = brute.signatures()[modules.SERVING_DEFAULT](history=tf.constant([["", "u"]]), k=tf.constant([1]))
    hits, _ = brute_force_search(items)(np.eye(2, dtype=np.float32), 1)
    assert set(item_ids[hits[:, 0]]) == {"a", "b"}
    assert got[modules.ITEM_IDS].numpy().astype(str).tolist() == [["x"]]
    expected = interest_scores(np.eye(2, dtype=np.float32)[None], items, "mixture").numpy()[0, :1]
    np.testing.assert_allclose(got[modules.SCORES].numpy()[0], expected, rtol=1e-6)
