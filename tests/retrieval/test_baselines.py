"""Guards retrieval/baselines.py: Markov transition counts with popularity backoff, written out by hand."""

import numpy as np

import funnel  # noqa: F401
from funnel import dataset
from retrieval import baselines, names
from retrieval.baselines import BASELINES, markov_scorer, popularity_scorer, transition_counts

# Ids 0 (padding) and 1 (OOV) are never items; real items are 2..5.
TRAIN_HISTORIES = np.array([[0, 0, 2],    # 2 -> 3
                            [0, 2, 3],    # 3 -> 4
                            [0, 0, 2],    # 2 -> 3
                            [0, 3, 2],    # 2 -> 4
                            [0, 0, 0]])   # empty history: no transition
TRAIN_TARGETS = np.array([3, 4, 3, 4, 5])
FREQUENCIES = np.array([0.0, 0.0, 0.0, 3.0, 1.0, 1.0])   # training popularity; sum 5, backoff = f / 6


def test_transition_counts_by_hand():
    counts = transition_counts(TRAIN_HISTORIES, TRAIN_TARGETS, num_items=6).toarray()
    expected = np.zeros((6, 6))
    expected[2, 3] = 2
    expected[2, 4] = 1
    expected[3, 4] = 1
    np.testing.assert_array_equal(counts, expected)


def test_markov_scores_are_counts_plus_popularity_backoff():
    scorer = markov_scorer(transition_counts(TRAIN_HISTORIES, TRAIN_TARGETS, 6), FREQUENCIES)
    histories = np.array([[0, 0, 2],      # last item 2: 3 twice, 4 once
                          [0, 2, 3],      # last item 3: 4 once; 4 (popularity 1) outranks 3 (popularity 3)
                          [3, 2, 4],      # last item 4 has no outgoing transition: popularity alone
                          [0, 0, 0]])     # empty history: popularity alone
    expected = np.array([[0, 0, 0, 2 + 3 / 6, 1 + 1 / 6, 1 / 6],
                         [0, 0, 0, 3 / 6, 1 + 1 / 6, 1 / 6],
                         [0, 0, 0, 3 / 6, 1 / 6, 1 / 6],
                         [0, 0, 0, 3 / 6, 1 / 6, 1 / 6]])
    np.testing.assert_allclose(scorer(histories), expected)


def test_most_popular_gives_everyone_the_frequencies():
    np.testing.assert_array_equal(popularity_scorer(FREQUENCIES)(np.zeros((2, 3), int)),
                                  np.stack([FREQUENCIES, FREQUENCIES]))


def test_markov_on_a_dataset_counts_every_training_transition(tiny_data):
    train = dataset.load_arrays(dataset.retrieval_dataset(tiny_data, "train", 1000))
    scores = BASELINES["markov"](tiny_data)(np.array([[0, 0, 5]]))[0]
    from_five = train["history"][:, -1] == 5
    expected = np.bincount(train["target_item"][from_five], minlength=len(scores))
    np.testing.assert_array_equal(np.floor(scores), expected)


def test_baseline_names_equal_the_registry_keys():
    assert sorted(names.BASELINES) == sorted(baselines.BASELINES)
