"""Sequences: leave-one-out, splitting long histories, negatives (hand-computed)."""

from __future__ import annotations

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
