"""Ranking examples: one labelled row per interaction or impression.

Each example carries the user profile, the item's attributes, the context
(UTC hour and weekday) and the user's recent history (the retrieval
interactions strictly before the example's time, most recent ``max_len``, for
DIN / GRU encoders), all as ids: categorical values through their vocabulary,
numbers through the TF4CTR rule ``floor(log(x)^2)`` (x > 2, else 1; TF4CTR
§4.1, :func:`funnel.schema.log_square_bucket`).

Impression logs with a request id get Skive-Above filtering (EAIN §3.6.2):
within a request, in display order (file order), negatives after the last
positive are dropped, ``D' = {(x_i, y_i) : i <= p}`` with ``p`` the index of
the last positive. A request without any positive has no ``p``: the formula
keeps nothing, and such requests carry no signal about what the user prefers
among the shown items, so they are dropped whole (counted in ``stats.json`` as
``ranking_rows_skived``).

Splits follow :data:`funnel.schema.RANKING_SPLIT_FRACTIONS` per user and in
time: the user's requests (a row without request id is its own request) are
ordered by time, the first 80% train, the next 10% validate, the rest test;
rows of one request stay together, so nothing of the future leaks into
training.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pandas as pd

from funnel import schema
from pipelines import rows as R
from pipelines.readers.base import RELEASE_YEAR, Catalog
from pipelines.sequences import history_matrix, sort_interactions
from pipelines.vocab import Vocabularies, bucketize, raw_categoricals

SECONDS_PER_YEAR = 365.2425 * 86_400
_GROUP = "_group"
_GROUP_TIME = "_group_time"


@dataclasses.dataclass
class RankingOutput:
    """Examples of one bucket: split -> feature -> array ``[E]`` or ``[E, max_len]``."""

    examples: dict[str, dict[str, np.ndarray]]
    skived: int
    """Rows dropped by Skive-Above (negatives after the last click, or no click)."""


def skive_above(rows: pd.DataFrame) -> np.ndarray:
    """Boolean mask ``[N]`` of rows Skive-Above keeps (EAIN §3.6.2).

    Rows without a request id are always kept. Within a request, a row is kept
    iff its line is not after the request's last positive; requests with no
    positive keep nothing.
    """
    has_request = (rows[schema.REQUEST_ID] != "").to_numpy()
    if not has_request.any():
        return np.ones(len(rows), dtype=bool)
    positive_line = rows[R.LINE].where(rows[schema.LABEL] > 0)
    keys = [rows[R.SOURCE], rows[schema.USER_ID], rows[schema.REQUEST_ID]]
    last_positive = positive_line.groupby(keys, sort=False).transform("max").to_numpy()
    with np.errstate(invalid="ignore"):
        within = rows[R.LINE].to_numpy() <= last_positive
    return ~has_request | within


def split_of_groups(group_index: np.ndarray, group_count: np.ndarray) -> np.ndarray:
    """Split (0 train, 1 validation, 2 test) of the ``g``-th of ``G`` groups of a user.

    Group ``g`` (0-based, time order) trains when ``g < 0.8 G``, validates when
    ``g < 0.9 G``, else tests; exact rational arithmetic, so 10 groups split
    8 / 1 / 1 and a user with 1 group only trains.
    """
    bounds = np.cumsum([Fraction(f).limit_denominator(1000) for f in schema.RANKING_SPLIT_FRACTIONS])
    split = np.full(len(group_index), 2, dtype=np.int64)
    for s in (1, 0):
        bound = bounds[s]
        inside = group_index * bound.denominator < group_count * bound.numerator
        split[inside] = s
    return split


def _group_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Sort by user, request time, request, line and number each user's requests."""
    has_request = rows[schema.REQUEST_ID] != ""
    group = np.where(has_request, rows[R.SOURCE] + "\0" + rows[schema.REQUEST_ID],
                     rows[R.SOURCE] + "\0#" + rows[R.LINE].astype(str))
    rows = rows.assign(**{_GROUP: group})
    rows[_GROUP_TIME] = rows.groupby([schema.USER_ID, _GROUP], sort=False)[schema.TIMESTAMP].transform("min")
    return rows.sort_values([schema.USER_ID, _GROUP_TIME, _GROUP, R.LINE], kind="stable",
                            ignore_index=True)


def item_age_years(rows: pd.DataFrame, catalog: Catalog) -> np.ndarray:
    """``ITEM_AGE`` per row ``[N]``: the item's static age, else event year - release year."""
    attributes = catalog.items.reindex(pd.Index(rows[schema.ITEM_ID].to_numpy(dtype=object), dtype=object))
    static = attributes[schema.ITEM_AGE].to_numpy(dtype=np.float64)
    event_year = 1970 + np.floor(rows[schema.TIMESTAMP].to_numpy(dtype=np.float64) / SECONDS_PER_YEAR)
    released = attributes[RELEASE_YEAR].to_numpy(dtype=np.float64)
    return np.where(np.isnan(static), event_year - released, static)


def build_ranking(rows: pd.DataFrame, vocab: Vocabularies, catalog: Catalog,
                  max_len: int) -> RankingOutput:
    """Ranking examples of every user in ``rows`` (one bucket's kept rows)."""
    ranked = rows[rows[R.IN_RANKING].to_numpy()]
    keep = skive_above(ranked)
    skived = int((~keep).sum())
    ranked = _group_rows(ranked[keep])

    users = ranked[schema.USER_ID].to_numpy(dtype=object)
    n = len(ranked)
    new_group = np.r_[True, (users[1:] != users[:-1]) | (ranked[_GROUP].to_numpy()[1:] !=
                                                          ranked[_GROUP].to_numpy()[:-1])] if n \
        else np.zeros(0, dtype=bool)
    group_number = np.cumsum(new_group) - 1
    user_first = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if n else np.zeros(0, np.int64)
    user_lengths = np.diff(np.r_[user_first, n])
    first_group_of_user = np.repeat(group_number[user_first], user_lengths)
    groups_of_user = np.repeat(np.add.reduceat(new_group.astype(np.int64), user_first)
                               if n else np.zeros(0, np.int64), user_lengths)
    split = split_of_groups(group_number - first_group_of_user, groups_of_user)

    features = _features(ranked, rows, vocab, catalog, max_len)
    examples = {name: {f: v[split == s] for f, v in features.items()}
                for s, name in enumerate(schema.SPLITS)}
    return RankingOutput(examples, skived)


def _features(ranked: pd.DataFrame, rows: pd.DataFrame, vocab: Vocabularies, catalog: Catalog,
              max_len: int) -> dict[str, np.ndarray]:
    raw = raw_categoricals(ranked, catalog)
    features = {name: vocab.lookup(name, values) for name, values in raw.items()}
    ages = catalog.users.reindex(pd.Index(ranked[schema.USER_ID].to_numpy(dtype=object), dtype=object))
    features[schema.USER_AGE] = bucketize(pd.to_numeric(ages[schema.USER_AGE], errors="coerce")
                                          .to_numpy(dtype=np.float64))
    features[schema.ITEM_AGE] = bucketize(item_age_years(ranked, catalog))

    interactions = sort_interactions(rows)
    codes, uniques = pd.factorize(pd.concat([interactions[schema.USER_ID], ranked[schema.USER_ID]],
                                            ignore_index=True), sort=True)
    interaction_code = codes[:len(interactions)].astype(np.int64)
    ranked_code = codes[len(interactions):].astype(np.int64)
    key = (interaction_code << 32) + interactions[schema.TIMESTAMP].to_numpy(dtype=np.int64)
    history_items = vocab.lookup(schema.ITEM_ID, interactions[schema.ITEM_ID])
    end = np.searchsorted(key, (ranked_code << 32) + ranked[schema.TIMESTAMP].to_numpy(np.int64),
                          side="left")
    segment_start = np.searchsorted(key, ranked_code << 32, side="left")
    start = np.maximum(segment_start, end - max_len)
    features[schema.HISTORY] = history_matrix(history_items, start, end, max_len)
    features[schema.HISTORY_LENGTH] = (end - start).astype(np.int64)
    features[schema.LABEL] = ranked[schema.LABEL].to_numpy(dtype=np.float32)
    return features
