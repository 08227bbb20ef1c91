"""Guards retrieval/evaluate.py: ranks, HR/NDCG by hand, full-catalog exclusions, silhouette."""

import numpy as np

import funnel  # noqa: F401
from funnel import dataset
from funnel.metrics import mean_silhouette
from retrieval.evaluate import (evaluate, full_ranks, hits_and_ndcg, popularity_scorer, sampled_ranks,
                                tied_ranks)


def test_hits_and_ndcg_by_hand():
    hit, ndcg = hits_and_ndcg(np.array([0, 1, 4, 5]), k=5)
    np.testing.assert_array_equal(hit, [1, 1, 1, 0])
    np.testing.assert_allclose(ndcg, [1.0, 1 / np.log2(3), 1 / np.log2(6), 0.0])


def test_ties_take_the_mid_rank():
    assert tied_ranks(np.array([[1.0, 1.0, 1.0, 1.0, 0.0]]), np.array([1.0]))[0] == 2


def test_sampled_rank_counts_negatives_that_outscore_the_target():
    scores = np.array([[0.0, 0.0, 5.0, 6.0, 4.0, 7.0]])
    assert sampled_ranks(scores, np.array([2]), np.array([[3, 4, 5]]))[0] == 2


def test_full_rank_excludes_padding_oov_and_history():
    scores = np.array([[9.0, 9.0, 1.0, 8.0, 2.0, 3.0]])     # ids 0 and 1 are padding and OOV
    history = np.array([[0, 0, 3]])                          # item 3 (score 8) was already seen
    assert full_ranks(scores, np.array([4]), history)[0] == 1  # only item 5 outscores item 4


def test_silhouette_is_high_for_separated_clusters_and_skips_unknown():
    rng = np.random.default_rng(0)
    embeddings = np.vstack([rng.normal(0, 0.01, (5, 2)), rng.normal(5, 0.01, (5, 2)), [[100.0, 100.0]]])
    clusters = np.array([0] * 5 + [1] * 5 + [-1])
    assert mean_silhouette(embeddings, clusters) > 0.99
    assert mean_silhouette(embeddings, np.zeros(11, int)) is None


def test_most_popular_baseline_hits_head_targets(tiny_data):
    metrics = evaluate(popularity_scorer(dataset.item_frequencies(tiny_data)), tiny_data)
    assert metrics["hr@5_head"] > metrics["hr@5_tail"]
    assert metrics["examples"] == 60                          # one test example per user
    assert "mean_silhouette" not in metrics


def test_full_rank_excludes_every_item_seen_before_not_only_the_history():
    from scipy import sparse

    scores = np.array([[9.0, 9.0, 1.0, 8.0, 2.0, 3.0, 7.0]])
    history = np.array([[0, 0, 3]])
    # item 6 (score 7) was seen long before (out of the history window); item 5 outscores item 4 too
    assert full_ranks(scores, np.array([4]), history)[0] == 2
    seen = sparse.csr_matrix(np.array([[0, 0, 0, 0, 0, 0, 1]], dtype=bool))
    assert full_ranks(scores, np.array([4]), history, seen)[0] == 1


def test_items_seen_before_collect_the_earlier_splits_of_the_same_user(tiny_data):
    from retrieval.evaluate import items_seen_before

    num_items = len(dataset.head_items(tiny_data))
    test_seen = items_seen_before(tiny_data, "test", num_items)
    validation_seen = items_seen_before(tiny_data, "validation", num_items)
    arrays = {split: dataset.load_arrays(dataset.retrieval_dataset(tiny_data, split, 1000))
              for split in ("train", "validation", "test")}
    train, validation = arrays["train"], arrays["validation"]
    user = int(validation["user_id"][0])
    expected = set(train["target_item"][train["user_id"] == user].tolist())
    expected |= set(train["history"][train["user_id"] == user].ravel().tolist()) - {0}
    assert set(validation_seen[user].indices.tolist()) == expected
    expected |= {int(validation["target_item"][0])} | (set(validation["history"][0].tolist()) - {0})
    assert set(test_seen[user].indices.tolist()) == expected
    assert items_seen_before(tiny_data, "train", num_items).nnz == 0
