"""Vocabularies: counting over kept rows, order, min-count, OOV, time features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from funnel import schema
from pipelines.readers import base
from pipelines.vocab import Vocabularies, count_values, hours, merge_counts, weekdays


def test_utc_hour_and_weekday():
    # 2024-01-01 00:30 UTC was a Monday; 1970-01-01 23:00 a Thursday
    stamps = np.array([1_704_069_000, 82_800])
    assert hours(stamps).tolist() == [0, 23]
    assert weekdays(stamps).tolist() == [0, 3]


def test_counts_cover_attributes_and_skip_unknown_values():
    rows = pd.DataFrame({schema.USER_ID: ["u1", "u1", "u2"], schema.ITEM_ID: ["a", "b", "a"],
                         schema.TIMESTAMP: np.array([0, 3600, 7200], np.int64)})
    catalog = base.Catalog(base.users_frame(["u1", "u2"], {schema.USER_GENDER: ["F", ""]}),
                           base.items_frame(["a"], {schema.ITEM_CATEGORY: ["drama"]}), True, True)
    counts = count_values(rows, catalog)
    assert counts[schema.USER_GENDER].to_dict() == {"F": 2}  # u2's gender is unknown
    assert counts[schema.ITEM_CATEGORY].to_dict() == {"drama": 2}  # b is not in the items file
    assert counts[schema.HOUR].sort_index().to_dict() == {"0": 1, "1": 1, "2": 1}
    merged = merge_counts([counts, counts])
    assert merged[schema.ITEM_ID].to_dict() == {"a": 4, "b": 2}


def test_build_orders_by_count_then_value_and_applies_min_count():
    counts = {schema.ITEM_ID: pd.Series({"b": 3, "a": 3, "c": 1, "d": 2})}
    vocab = Vocabularies.build(counts, min_count=2)
    assert vocab.values[schema.ITEM_ID] == ["a", "b", "d"]
    assert vocab.size(schema.ITEM_ID) == 5
    assert vocab.distinct[schema.ITEM_ID] == 4
    assert vocab.lookup(schema.ITEM_ID, ["a", "d", "c", "zzz"]).tolist() == [2, 4, 1, 1]
    assert vocab.values[schema.USER_ID] == [] and vocab.size(schema.USER_ID) == 2
    with pytest.raises(ValueError, match="--min-count"):
        Vocabularies.build(counts, min_count=0)


def test_vocabularies_survive_pickling():
    import pickle

    vocab = Vocabularies.build({schema.ITEM_ID: pd.Series({"x": 1})}, 1)
    again = pickle.loads(pickle.dumps(vocab))
    assert again.lookup(schema.ITEM_ID, ["x", "y"]).tolist() == [2, 1]
