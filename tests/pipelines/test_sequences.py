"""Sequences: leave-one-out, splitting long histories, negatives (hand-computed)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from funnel import schema
from pipelines import rows as R
from pipelines.sequences import (SequenceOptions, build_retrieval, history_matrix,
                                 sample_negatives, user_rng)
from pipelines.vocab import Vocabularies


def interactions(events: list[tuple[str, str, int]]) -> pd.DataFrame:
    n = len(events)
    users, items, times = zip(*events)
    return pd.DataFrame({R.SOURCE: ["f"] * n, R.LINE: np.arange(1, n + 1), R.RAW: [""] * n,
                         schema.USER_ID: list(users), schema.ITEM_ID: list(items),
                         schema.TIMESTAMP: np.array(times, dtype=np.int64),
                         schema.LABEL: np.ones(n, np.float32), schema.REQUEST_ID: [""] * n,
                         R.IN_RETRIEVAL: [True] * n, R.IN_RANKING: [True] * n})


def vocab_of(items: list[str]) -> Vocabularies:
    return Vocabularies({**{name: [] for name in schema.CATEGORICAL_VOCABULARIES},
                         schema.ITEM_ID: items, schema.USER_ID: ["u", "v"]}, {}, 1)


ITEMS = [str(k) for k in range(10)]  # raw item k has id k + 2


def examples_of(output, split):
    e = output.examples[split]
    return [([i - 2 for i in row if i], target - 2)
            for row, target in zip(e[schema.HISTORY].tolist(), e[schema.TARGET_ITEM].tolist())]


def test_history_matrix_left_pads_and_keeps_the_most_recent():
    items = np.array([5, 6, 7, 8])
    matrix = history_matrix(items, np.array([0, 1, 0]), np.array([0, 3, 4]), 3)
    assert matrix.tolist() == [[0, 0, 0], [0, 6, 7], [6, 7, 8]]


def test_default_rule_splits_training_into_overlapping_pieces():
    # user u: items 0..7 in time order (written shuffled); max_len 3
    rows = interactions([("u", str(k), 100 + k) for k in (3, 0, 7, 1, 5, 2, 6, 4)])
    out = build_retrieval(rows, vocab_of(ITEMS), SequenceOptions(max_len=3, eval_negatives=0))
    assert examples_of(out, schema.TRAIN) == [([0], 1), ([0, 1], 2), ([0, 1, 2], 3), ([3], 4),
                                              ([3, 4], 5)]
    assert examples_of(out, schema.VALIDATION) == [([3, 4, 5], 6)]
    assert examples_of(out, schema.TEST) == [([4, 5, 6], 7)]
    assert out.examples[schema.TRAIN][schema.HISTORY_LENGTH].tolist() == [1, 2, 3, 1, 2]
    # training interactions are items 0..5 (the last two are held out)
    assert out.train_item_counts[2:].tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert (out.users, out.users_too_short) == (1, 0)


def test_split_per_sequence_applies_leave_one_out_to_each_piece():
    rows = interactions([("u", str(k), 100 + k) for k in range(8)])
    out = build_retrieval(rows, vocab_of(ITEMS),
                          SequenceOptions(max_len=3, eval_negatives=0, split_per_sequence=True))
    assert examples_of(out, schema.TRAIN) == [([6], 7)]
    assert examples_of(out, schema.VALIDATION) == [([0], 1), ([3], 4)]
    assert examples_of(out, schema.TEST) == [([0, 1], 2), ([3, 4], 5)]


def test_ties_in_time_follow_file_order_and_short_users_only_train():
    rows = interactions([("v", "1", 5), ("v", "0", 5), ("u", "2", 9)])
    out = build_retrieval(rows, vocab_of(ITEMS), SequenceOptions(max_len=3, eval_negatives=0))
    assert examples_of(out, schema.TRAIN) == [([1], 0)]  # v: line 1 then line 2 at the same time
    assert (out.users, out.users_too_short) == (2, 2)
    assert len(out.examples[schema.TEST][schema.TARGET_ITEM]) == 0


def test_negatives_are_distinct_unseen_and_owned_by_the_user():
    rows = interactions([("u", str(k), 100 + k) for k in range(4)] +
                        [("v", str(k), 100 + k) for k in (9, 8, 7)])
    options = SequenceOptions(max_len=3, eval_negatives=4, seed=3)
    out = build_retrieval(rows, vocab_of(ITEMS), options)
    for split in (schema.VALIDATION, schema.TEST):
        e = out.examples[split]
        for user, negatives in zip(e[schema.USER_ID].tolist(), e[schema.NEGATIVES].tolist()):
            seen = {2, 3, 4, 5} if user == 2 else {11, 10, 9}
            assert len(set(negatives)) == 4 and not set(negatives) & seen
            assert all(schema.FIRST_VALUE_ID <= n < 12 for n in negatives)
    # the same user alone (another bucket) draws the same negatives
    alone = build_retrieval(rows.iloc[:4], vocab_of(ITEMS), options)
    np.testing.assert_array_equal(alone.examples[schema.TEST][schema.NEGATIVES],
                                  out.examples[schema.TEST][schema.NEGATIVES][:1])
    other_seed = build_retrieval(rows.iloc[:4], vocab_of(ITEMS), SequenceOptions(3, 4, seed=4))
    assert not np.array_equal(other_seed.examples[schema.TEST][schema.NEGATIVES],
                              alone.examples[schema.TEST][schema.NEGATIVES])


def test_sample_negatives_dense_users_and_impossible_requests():
    rng = user_rng(0, "u")
    seen = np.arange(2, 10)  # 8 of 10 items seen
    drawn = sample_negatives(rng, 12, seen, 2)
    assert sorted(drawn.tolist()) == [10, 11]
    with pytest.raises(ValueError, match="only 2 items"):
        sample_negatives(rng, 12, seen, 3, "u")


def test_windows_give_one_training_target_per_window_third_from_last():
    # u: 12 items, windows of 6 with stride 2: starts 0, 2, 4 (end before item 11), then the last 6 (6..11)
    # v: 4 items (< 5) is left out; w: 5 items, one window = the whole sequence
    rows = interactions([("u", str(k % 10), 100 + k) for k in range(12)] +
                        [("v", str(k), 100 + k) for k in range(4)] +
                        [("w", str(k), 200 + k) for k in (5, 6, 7, 8, 9)])
    vocab = vocab_of(ITEMS)
    vocab.values[schema.USER_ID] = ["u", "v", "w"]
    vocab.__post_init__()
    out = build_retrieval(rows, vocab, SequenceOptions(max_len=6, eval_negatives=0, split="windows",
                                                       window_stride=2))
    # u's items are 0..9, 0, 1 (ids wrap at 10): window [s, s+6) trains target s+3 on history s..s+2
    assert examples_of(out, schema.TRAIN) == [
        ([0, 1, 2], 3), ([2, 3, 4], 5), ([4, 5, 6], 7), ([6, 7, 8], 9),   # u: starts 0, 2, 4, 6
        ([5, 6], 7)]                                                      # w: one window of 5
    assert examples_of(out, schema.VALIDATION) == [([4, 5, 6, 7, 8, 9], 0), ([5, 6, 7], 8)]
    assert examples_of(out, schema.TEST) == [([5, 6, 7, 8, 9, 0], 1), ([5, 6, 7, 8], 9)]
    assert (out.users, out.users_too_short) == (3, 1)
    # item counts are training-target counts: 3, 5, 7 (twice), 9
    assert out.train_item_counts[2:].tolist() == [0, 0, 0, 1, 0, 1, 0, 2, 0, 1]


def test_windows_count_matches_the_authors_loop_for_long_users():
    length, L, stride = 47, 30, 5
    rows = interactions([("u", str(k % 10), k) for k in range(length)])
    out = build_retrieval(rows, vocab_of(ITEMS), SequenceOptions(max_len=L, eval_negatives=0,
                                                                 split="windows", window_stride=stride))
    starts, split = [], 0
    while split * stride + L < length:      # the notebook's loop
        starts.append(split * stride)
        split += 1
    starts.append(length - L)
    train = out.examples[schema.TRAIN]
    assert len(train[schema.TARGET_ITEM]) == len(starts) == 5
    assert train[schema.HISTORY_LENGTH].tolist() == [L - 3] * 5


def test_popularity_negatives_follow_the_frequency_distribution():
    counts = np.array([0, 0, 50, 20, 10, 10, 5, 3, 2, 0, 0, 0])   # ids 9-11 never seen
    seen = np.array([3])
    draws = np.concatenate([sample_negatives(np.random.default_rng(i), 12, seen, 1, popularity=counts)
                            for i in range(20_000)])
    expected = counts.astype(float)
    expected[3] = 0
    expected /= expected.sum()            # 50/80, 0, 10/80, 10/80, 5/80, 3/80, 2/80
    empirical = np.bincount(draws, minlength=12) / len(draws)
    np.testing.assert_allclose(empirical, expected, atol=0.01)
    # without replacement: distinct, unseen, only items with a count
    several = sample_negatives(np.random.default_rng(0), 12, seen, 6, popularity=counts)
    assert sorted(several.tolist()) == [2, 4, 5, 6, 7, 8]
    with pytest.raises(ValueError, match="only 6 unseen items with a count"):
        sample_negatives(np.random.default_rng(0), 12, seen, 7, "u", popularity=counts)


def test_popularity_sampling_reads_the_vocabulary_counts():
    vocab = Vocabularies.build({schema.ITEM_ID: pd.Series({"a": 30, "b": 1, "c": 1, "d": 1, "e": 1}),
                                schema.USER_ID: pd.Series({"u": 5})}, 1)
    assert vocab.frequencies(schema.ITEM_ID).tolist() == [0, 0, 30, 1, 1, 1, 1]
    rows = interactions([("u", "b", 1), ("u", "c", 2), ("u", "d", 3)])
    options = SequenceOptions(max_len=3, eval_negatives=1, split="user", negatives_sampling="popularity")
    picks = [build_retrieval(rows, vocab, dataclasses.replace(options, seed=s))
             .examples[schema.TEST][schema.NEGATIVES][0, 0] for s in range(200)]
    # a (id 2) has 30 of the 31 unseen counts
    assert np.mean(np.array(picks) == 2) > 0.9
    with pytest.raises(ValueError, match="--eval-negatives-sampling: unknown value 'zipf'"):
        SequenceOptions(negatives_sampling="zipf")
