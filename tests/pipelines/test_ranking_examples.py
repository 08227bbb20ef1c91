"""Ranking examples: Skive-Above, the chronological split, features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnel import schema
from pipelines import rows as R
from pipelines.ranking_examples import build_ranking, skive_above, split_of_groups
from pipelines.readers import base
from pipelines.vocab import Vocabularies, bucketize, count_values


def impressions(rows):
    """rows: (user, request, item, time, click, retrieval?)."""
    n = len(rows)
    users, requests, items, times, clicks, in_retrieval = zip(*rows)
    return pd.DataFrame({R.SOURCE: ["imp"] * n, R.LINE: np.arange(1, n + 1), R.RAW: [""] * n,
                         schema.USER_ID: list(users), schema.ITEM_ID: list(items),
                         schema.TIMESTAMP: np.array(times, np.int64),
                         schema.LABEL: np.array(clicks, np.float32), schema.REQUEST_ID: list(requests),
                         R.IN_RETRIEVAL: list(in_retrieval), R.IN_RANKING: [True] * n})


def test_skive_above_drops_negatives_after_the_last_click_and_clickless_requests():
    rows = impressions([("u", "r1", "a", 10, 0, False), ("u", "r1", "b", 10, 1, True),
                        ("u", "r1", "c", 10, 0, False), ("u", "r1", "d", 10, 1, True),
                        ("u", "r1", "e", 10, 0, False),
                        ("u", "r2", "a", 20, 0, False), ("u", "r2", "b", 20, 0, False),
                        ("u", "", "c", 30, 0, False)])  # no request id: always kept
    assert skive_above(rows).tolist() == [True, True, True, True, False, False, False, True]


def test_split_of_groups_is_80_10_10_in_time_order():
    assert split_of_groups(np.arange(10), np.full(10, 10)).tolist() == [0] * 8 + [1, 2]
    assert split_of_groups(np.arange(5), np.full(5, 5)).tolist() == [0, 0, 0, 0, 1]
    assert split_of_groups(np.arange(1), np.ones(1, np.int64)).tolist() == [0]


def test_bucketize_is_the_schema_rule_clipped():
    values = np.array([np.nan, -3, 2, 2.5, 8, 30, 1e30])
    # floor(log(2.5)^2) = 0 would be the padding id: schema folds it into bucket 1
    assert bucketize(values).tolist() == [1, 1, 1, 1, 4, 11, schema.MAX_NUMERIC_BUCKET]
    assert bucketize(values).tolist() == [min(schema.log_square_bucket(v), schema.MAX_NUMERIC_BUCKET)
                                          for v in values]


def test_requests_stay_together_and_history_is_strictly_earlier():
    rows = []
    for r in range(10):  # ten requests of two rows; the second row of each is clicked
        rows += [("u", f"r{r}", f"j{r}", 100 * r, 0, False), ("u", f"r{r}", f"i{r}", 100 * r, 1, True)]
    frame = impressions(rows)
    catalog = base.Catalog(base.users_frame(["u"], {schema.USER_AGE: ["30"]}),
                           base.items_frame([], {}), False, False)
    counts = count_values(frame, catalog)
    vocab = Vocabularies.build(counts, 1)
    out = build_ranking(frame, vocab, catalog, max_len=3)
    sizes = {s: len(out.examples[s][schema.LABEL]) for s in schema.SPLITS}
    assert sizes == {"train": 16, "validation": 2, "test": 2}
    items = ["", ""] + vocab.values[schema.ITEM_ID]
    test = out.examples[schema.TEST]
    assert [items[i] for i in test[schema.ITEM_ID]] == ["j9", "i9"]
    # history = clicks strictly before request 9: i6 i7 i8 (max_len 3), none from request 9
    assert [[items[i] for i in row] for row in test[schema.HISTORY].tolist()] == [["i6", "i7", "i8"]] * 2
    assert out.examples[schema.TRAIN][schema.HISTORY_LENGTH][:4].tolist() == [0, 0, 1, 1]
    assert set(test[schema.USER_AGE].tolist()) == {11}
    assert set(test[schema.ITEM_AGE].tolist()) == {1}  # unknown age -> bucket 1
    assert out.skived == 0
