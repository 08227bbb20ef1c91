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


def test_full_catalog_hr_ndcg_and_recall_keys_equal_a_hand_loop(tiny_data):
    from retrieval.evaluate import evaluate_examples, items_seen_before

    frequencies = dataset.item_frequencies(tiny_data)
    evaluation = evaluate_examples(popularity_scorer(frequencies), tiny_data)
    test = dataset.load_arrays(dataset.retrieval_dataset(tiny_data, "test", 1000))
    seen = items_seen_before(tiny_data, "test", len(frequencies))
    expected_ranks = []
    for user, history, target in zip(test["user_id"], test["history"], test["target_item"]):
        excluded = set(history.tolist()) | set(seen[user].indices.tolist()) | {0, 1, int(target)}
        others = np.array([frequencies[i] for i in range(len(frequencies)) if i not in excluded])
        expected_ranks.append(int((others > frequencies[target]).sum() + (others == frequencies[target]).sum() // 2))
    expected_ranks = np.array(expected_ranks)
    np.testing.assert_array_equal(evaluation.user_ids, test["user_id"])
    np.testing.assert_array_equal(evaluation.ranks, expected_ranks)
    metrics = evaluation.metrics
    assert metrics["hr@10_full"] == np.mean(expected_ranks < 10)
    assert metrics["recall@200_full"] == 1.0                         # 40 items: every target is in the top 200
    assert metrics["ndcg@10_full"] == np.mean(np.where(expected_ranks < 10, 1 / np.log2(expected_ranks + 2), 0))
    head = dataset.head_items(tiny_data)[test["target_item"]]
    assert metrics["hr@10_full_tail"] == np.mean(expected_ranks[~head] < 10)
    for key in ("hr@10_full_head", "ndcg@10_full_head", "ndcg@10_full_tail", "recall@200_full_head",
                "recall@20_full", "recall@100_full", "ndcg@20_full", "hr@20"):
        assert key in metrics


def test_full_catalog_hr_and_ndcg_at_10_on_a_score_matrix_by_hand():
    scores = np.array([[0.0, 0.0] + list(range(20, 0, -1))])   # item 2 scores highest, item 21 lowest
    ranks = full_ranks(scores, np.array([13]), np.array([[0, 0, 0]]))
    assert ranks[0] == 11                                        # items 2..12 outscore item 13
    assert hits_and_ndcg(ranks, 10)[0][0] == 0.0
    ranks = full_ranks(scores, np.array([13]), np.array([[2, 3, 4]]))  # three seen items excluded
    assert ranks[0] == 8
    np.testing.assert_allclose(hits_and_ndcg(ranks, 10)[1], [1 / np.log2(10)])
