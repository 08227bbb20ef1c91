"""Row validation: each reason, first reason wins, counts add up, duplicates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnel import schema
from pipelines import rows as R
from pipelines import validate

NOW = 2_000_000_000
SPEC = R.SourceSpec("log.csv", (schema.USER_ID, schema.ITEM_ID, schema.TIMESTAMP, schema.CLICK,
                                schema.REQUEST_ID), retrieval=R.RETRIEVAL_CLICKED)
RULES = validate.Rules(now=NOW, known_users=frozenset({"u1", "u2"}), known_items=frozenset({"i1"}))


def raw(rows: list[tuple], reasons=None):
    columns = list(zip(*rows))
    fields = {name: columns[i] for i, name in enumerate(SPEC.columns)}
    return R.RawRows.build(SPEC, np.arange(1, len(rows) + 1), [",".join(map(str, r)) for r in rows],
                           fields, reasons)


def test_each_reason_and_the_kept_rows():
    rows = [("u1", "i1", "1500000000", "1", "r1"),            # kept, a click -> retrieval
            ("u2", "i1", "2001-09-09T01:46:40Z", "0", "r1"),   # kept, ISO time, not a click
            ("u1", "", "1500000000", "1", "r1"),              # missing item
            ("u1", "i1", "soon", "1", "r1"),                  # unparseable time
            ("u1", "i1", "1500000000", "2", "r1"),            # click not 0/1
            ("u9", "i1", "1500000000", "1", "r1"),            # unknown user
            ("u1", "i9", "1500000000", "1", "r1"),            # unknown item
            ("u1", "i1", "-1", "1", "r1"),                    # before 1970
            ("u1", "i1", str(NOW + 86_401), "1", "r1"),       # more than a day ahead
            ("u9", "i9", "-1", "1", "r1")]                    # several: the first reason wins
    kept, dead = validate.validate(raw(rows), RULES)
    assert len(kept) + len(dead) == len(rows)
    assert kept[schema.TIMESTAMP].tolist() == [1_500_000_000, 1_000_000_000]
    assert kept[R.IN_RETRIEVAL].tolist() == [True, False]
    assert kept[schema.LABEL].tolist() == [1.0, 0.0]
    assert dead[R.REASON].tolist() == [validate.MISSING_FIELD, validate.UNPARSEABLE,
                                       validate.UNPARSEABLE, validate.UNKNOWN_USER,
                                       validate.UNKNOWN_ITEM, validate.BEFORE_1970,
                                       validate.IN_FUTURE, validate.UNKNOWN_USER]
    assert dead[R.LINE].tolist() == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "item_id is empty" in dead[R.DETAIL].iloc[0]
    assert "click '2' is not 0 or 1" in dead[R.DETAIL].iloc[2]


def test_reader_reasons_are_kept():
    reasons = np.array([None, validate.FIELD_COUNT], dtype=object)
    kept, dead = validate.validate(raw([("u1", "i1", "1", "1", "r"), ("u1", "i1", "1", "1", "r")],
                                       reasons), RULES)
    assert len(kept) == 1 and dead[R.REASON].tolist() == [validate.FIELD_COUNT]


def test_exactly_one_day_ahead_is_still_valid():
    kept, dead = validate.validate(raw([("u1", "i1", str(NOW + 86_400), "1", "r")]), RULES)
    assert len(kept) == 1 and len(dead) == 0


def test_duplicates_keep_the_earliest_line_of_each_file():
    rows = pd.DataFrame({R.SOURCE: ["a", "a", "b", "a"], R.LINE: [7, 3, 1, 9],
                         R.RAW: ["x", "x", "x", "y"]})
    kept, dead = validate.drop_duplicates(rows)
    assert list(zip(kept[R.SOURCE], kept[R.LINE])) == [("a", 3), ("a", 9), ("b", 1)]
    assert dead[R.LINE].tolist() == [7] and dead[R.DETAIL].tolist() == ["same as line 3"]
