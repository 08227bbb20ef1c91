"""Guards serving/engine.py and retrieval/interests.py: eq. 4 merge, exclusion,
unknown ids, popularity fallback, one ranking call per batch."""

import dataclasses
import datetime
import math

import numpy as np
import pytest

from funnel import schema
from retrieval import interests
from serving.api import RecommendRequest
from serving.bundle import RankScores
from serving.ranking_rows import expand_candidates
from serving.engine import Engine, filled_columns, logits_of, ranking_logits
from serving.steps import ScoredCandidates


def test_mixture_matches_eq4_by_hand():
    # logits 1 and 3: w = softmax -> score = (e^1 * 1 + e^3 * 3) / (e^1 + e^3)
    expected = (math.e * 1 + math.e ** 3 * 3) / (math.e + math.e ** 3)
    assert interests.mixture(np.array([1.0, 3.0])) == pytest.approx(expected)
    assert interests.max_interest(np.array([1.0, 3.0])) == 3.0


def test_mixture_is_stable_for_large_logits():
    assert interests.mixture(np.array([1000.0, 1000.0])) == pytest.approx(1000.0)


def test_candidate_scores_shape_and_values():
    z = np.array([[[1.0, 0.0], [0.0, 1.0]]])            # [1, M=2, D=2]
    e = np.array([[[2.0, 0.0], [1.0, 1.0]]])            # [1, C=2, D=2]
    scores = interests.candidate_scores(z, e)
    first = interests.mixture(np.array([2.0, 0.0]))
    assert scores.shape == (1, 2)
    assert scores[0, 0] == pytest.approx(first)
    assert scores[0, 1] == pytest.approx(1.0)           # equal logits: mixture = the logit


def test_unknown_scoring_names_the_choices():
    with pytest.raises(ValueError, match="scoring.*max.*mixture"):
        interests.candidate_scores(np.zeros((1, 1, 2)), np.zeros((1, 1, 2)), "mean")


def test_first_occurrence_keeps_one_copy():
    rows = np.array([[3, 1, 3, 2, 1], [0, 0, 0, 5, 6]])
    assert interests.first_occurrence(rows).tolist() == [
        [True, True, False, True, False], [True, False, False, True, True]]


def test_excluded_is_per_request():
    rows = np.array([[1, 2, 3], [1, 2, 3]])
    mask = interests.excluded(rows, [np.array([2]), np.array([1, 3])], num_items=10)
    assert mask.tolist() == [[False, True, False], [True, False, True]]


def test_top_k_orders_best_first():
    scores = np.array([[0.1, 0.9, -np.inf, 0.5]])
    assert interests.top_k(scores, 2).tolist() == [[1, 3]]
    assert interests.top_k(scores, 10).tolist() == [[1, 3, 0, 2]]


def test_scorings_reduce_the_given_interest_axis():
    logits = np.array([[1.0, 5.0], [3.0, 5.0]])          # [M=2, C=2]: candidate 0 has logits 1 and 3
    expected = (math.e * 1 + math.e ** 3 * 3) / (math.e + math.e ** 3)
    np.testing.assert_allclose(interests.mixture(logits, axis=0), [expected, 5.0])
    assert interests.max_interest(logits, axis=0).tolist() == [3.0, 5.0]


def test_first_occurrence_handles_negative_and_huge_ids():
    # a span that packs into int64 with the column, and one that needs the stable-argsort path
    packed = np.array([[-7, 2 ** 40, -7, 3, 2 ** 40]])
    wide = np.array([[-2 ** 63, 2 ** 63 - 1, -2 ** 63, 5, 5]])
    assert interests.first_occurrence(packed).tolist() == [[True, True, False, True, False]]
    assert interests.first_occurrence(wide).tolist() == [[True, True, False, True, False]]


def test_merge_masks_match_a_plain_python_reference():
    rng = np.random.default_rng(7)
    rows = rng.integers(0, 12, size=(4, 30))              # many repeats per row
    history = [rng.integers(0, 12, size=n) for n in (0, 1, 5, 12)]
    seen = [set() for _ in rows]
    first = [[not (r in seen[b] or seen[b].add(r)) for r in row] for b, row in enumerate(rows.tolist())]
    hit = [[r in set(history[b].tolist()) for r in row] for b, row in enumerate(rows.tolist())]
    assert interests.first_occurrence(rows).tolist() == first
    assert interests.excluded(rows, history, num_items=12).tolist() == hit


@pytest.fixture
def calls():
    return []


@pytest.fixture
def toy_bundle(make_bundle):
    return make_bundle


@pytest.fixture
def engine(calls, toy_bundle):
    clock = lambda: datetime.datetime(2024, 1, 3, 17, 5, tzinfo=datetime.timezone.utc)  # a Wednesday
    return Engine(toy_bundle(calls=calls), clock=clock)


def _expected_candidates(bundle, history, candidates, exclude=True):
    """Independent re-computation: per-interest brute-force top hits, union, eq. 4."""
    rows = [int(h[1:]) for h in history]
    known = rows[-bundle.history_length:]
    z = np.zeros((2, bundle.item_embeddings.shape[1]), np.float32)
    for m, r in enumerate(reversed(known[-2:])):
        z[m] = bundle.item_embeddings[r]
    per_interest = candidates + (len(set(rows)) if exclude else 0)
    union = set()
    for m in range(2):
        logits = bundle.item_embeddings @ z[m]
        union |= set(np.argsort(-logits, kind="stable")[:per_interest].tolist())
    if exclude:
        union -= set(rows)
    scored = {r: float(interests.mixture(bundle.item_embeddings[r] @ z.T)) for r in union}
    return dict(sorted(scored.items(), key=lambda kv: -kv[1])[:candidates])


def test_candidates_are_the_eq4_best_of_the_per_interest_union(engine):
    history = ["i1", "i7", "i12"]
    answers, timings = engine.recommend([RecommendRequest(history=history, k=3, candidates=6, explain=True)])
    answer = answers[0]
    expected = _expected_candidates(engine.bundle, history, 6)
    got = {int(c.item_id[1:]): c.retrieval_score for c in answer.candidates}
    assert set(got) == set(expected)
    for row, score in expected.items():
        assert got[row] == pytest.approx(score, rel=1e-5)
    # ranking prefers higher rows (toy ranking model): the top 3 candidates by row
    assert [it.item_id for it in answer.items] == [f"i{r}" for r in sorted(expected, reverse=True)[:3]]
    assert [it.rank for it in answer.items] == [1, 2, 3]
    assert answer.items[0].score == pytest.approx((max(expected) + 1) / 41)
    assert answer.fallback is False and answer.warnings == []
    assert timings["retrieval"] > 0 and timings["ranking"] > 0


def test_history_is_excluded_unless_asked(engine):
    history = [f"i{r}" for r in range(30, 40)]
    kept, _ = engine.recommend([RecommendRequest(history=history, k=40, candidates=1000)])
    assert {it.item_id for it in kept[0].items} == {f"i{r}" for r in range(30)}
    assert [it.item_id for it in kept[0].items[:2]] == ["i29", "i28"]
    both, _ = engine.recommend([RecommendRequest(history=history, k=40, candidates=1000, exclude_history=False)])
    assert len(both[0].items) == 40 and both[0].items[0].item_id == "i39"


def test_unknown_ids_are_ignored_and_named(engine, calls):
    answers, _ = engine.recommend([RecommendRequest(history=["i3", "nope", "i4", "zz"], user_id="ghost")])
    warnings = " ".join(answers[0].warnings)
    assert "2 unknown item id(s)" in warnings and "'nope'" in warnings and "'zz'" in warnings
    assert "unknown user 'ghost'" in warnings
    query_shapes = [shape for kind, shape in calls if kind == "query"]
    assert query_shapes == [(1, 2)]          # two known items: the columns no row fills are left out
    assert answers[0].fallback is False


def test_query_sees_last_known_items_left_padded(toy_bundle):
    seen = []
    bundle = toy_bundle()
    original = bundle.query

    def spy(history):
        seen.append(history.copy())
        return original(history)

    engine = Engine(toy_bundle().__class__(**{**bundle.__dict__, "query": spy}))
    engine.recommend([RecommendRequest(history=["i1", "x", "i2"]), RecommendRequest(history=["i9"])])
    engine.recommend([RecommendRequest(history=[f"i{r}" for r in range(8)])])
    assert seen[0].tolist() == [["i1", "i2"], ["", "i9"]]       # no column that no row fills
    assert seen[1].tolist() == [["i3", "i4", "i5", "i6", "i7"]]


def test_filled_columns_drop_only_leading_columns_no_row_fills():
    history = np.array([["", "", "", "a", "b"], ["", "", "c", "", "d"]], dtype=object)
    assert filled_columns(history).tolist() == [["", "a", "b"], ["c", "", "d"]]
    assert filled_columns(np.full((2, 3), "", dtype=object)).shape == (2, 1)


def test_empty_or_unknown_history_falls_back_to_popular(engine):
    answers, _ = engine.recommend([RecommendRequest(history=[], k=3),
                                   RecommendRequest(history=["nope"], k=2)])
    shares = engine.bundle.popularity
    assert [it.item_id for it in answers[0].items] == ["i39", "i38", "i37"]
    assert answers[0].items[0].score == pytest.approx(shares[0])
    assert all(a.fallback for a in answers)
    assert "history is empty" in answers[0].warnings[-1]
    assert "'nope'" in answers[1].warnings[0] and len(answers[1].items) == 2


def test_one_ranking_call_per_batch_with_every_candidate(engine, calls):
    requests = [RecommendRequest(history=["i1"], candidates=5, k=2),
                RecommendRequest(history=[], k=2),
                RecommendRequest(history=["i2", "i3"], candidates=7, k=2, user_id="u1",
                                 context={schema.HOUR: 9})]
    answers, _ = engine.recommend(requests)
    ranks = [shapes for kind, shapes in calls if kind == "rank"]
    assert len(ranks) == 1
    assert ranks[0][schema.ITEM_ID] == (12,)            # 5 + 7 candidates, fallback not ranked
    assert ranks[0]["owner"] == (12,)
    assert ranks[0][schema.HISTORY] == (2, 5)           # request features once per ranked request
    assert ranks[0][schema.USER_ID] == (2,)
    assert set(ranks[0]) == {f.name for f in schema.RANKING_FEATURES} | {"owner"}
    assert [a.fallback for a in answers] == [False, True, False]


def test_user_and_context_features_reach_the_ranking_model(toy_bundle):
    seen = {}
    bundle = toy_bundle()
    original = bundle.rank

    def spy(features, owner):
        seen.update(expand_candidates(features, owner))
        return original(features, owner)

    clock = lambda: datetime.datetime(2024, 1, 3, 17, 5, tzinfo=datetime.timezone.utc)
    engine = Engine(bundle.__class__(**{**bundle.__dict__, "rank": spy}), clock=clock)
    engine.recommend([RecommendRequest(history=["i1"], candidates=2, k=1, user_id="u1",
                                       context={schema.HOUR: 9}),
                      RecommendRequest(history=["i2"], candidates=2, k=1)])
    assert seen[schema.HOUR].tolist() == ["9", "9", "17", "17"]
    assert seen[schema.WEEKDAY].tolist() == ["2"] * 4          # Wednesday, Monday = 0
    assert seen[schema.USER_ID].tolist() == ["u1", "u1", "", ""]
    assert seen[schema.USER_GENDER].tolist() == ["F", "F", "", ""]
    assert seen[schema.USER_AGE].tolist() == [31.0, 31.0, 0.0, 0.0]
    assert seen[schema.ITEM_CATEGORY].tolist() == [f"c{int(i[1:]) % 3}" for i in seen[schema.ITEM_ID]]
    assert seen[schema.ITEM_AGE].dtype == np.float64          # the ranking signature takes float64


def test_titles_and_history_view_in_explain(engine):
    answers, _ = engine.recommend([RecommendRequest(history=["i2", "bad"], explain=True, k=1)])
    assert [h.model_dump() for h in answers[0].history] == [
        {"item_id": "i2", "known": True, "title": "Title 2"}, {"item_id": "bad", "known": False, "title": None}]
    assert answers[0].items[0].title == f"Title {answers[0].items[0].item_id[1:]}"


def test_eq4_numpy_agrees_with_the_retrieval_model():
    from retrieval import model
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, 4, 8)).astype(np.float32)
    items = rng.normal(size=(10, 8)).astype(np.float32)
    ours = interests.candidate_scores(z, np.broadcast_to(items, (3, 10, 8)))
    theirs = np.asarray(model.interest_scores(z, items, "mixture"))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def _list_ranker(bundle, shift: float = 8.0, scale: float = 1.0, with_logits: bool = False):
    """``bundle`` as a ranker of candidate lists whose logits are the toy's times ``scale`` plus
    ``shift``. By default an export written before the ``logit`` output: only the float32 sigmoids,
    of 4.3..11.7, the 0.9999... the signature returned for every item of a real list ranker
    (float32 keeps such logits to about 1%: 1 - p is a few hundred ulps)."""
    def rank(features, owner):
        p = np.asarray(bundle.rank(features, owner).probability, np.float64)
        logits = scale * (np.log(p) - np.log1p(-p)) + shift
        probability = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return RankScores(probability, logits.astype(np.float32) if with_logits else None)

    return dataclasses.replace(bundle, candidate_features=True, rank=rank)


@pytest.mark.parametrize("order", ["ranking", "retrieval"])
def test_a_list_rankers_scores_are_its_softmax_over_the_candidates(toy_bundle, order):
    base = toy_bundle(order=order)
    engine = Engine(_list_ranker(base))
    request = RecommendRequest(history=["i1", "i7", "i12"], k=10, candidates=30, explain=True)
    answer = engine.recommend([request])[0][0]
    scores = [item.score for item in answer.items]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)  # distinct, ordered
    assert max(scores) < 0.5 and sum(scores) <= 1.0
    every = {c.item_id: c.score for c in answer.candidates}
    assert sum(every.values()) == pytest.approx(1.0)
    first, second = answer.items[:2]
    if order == "ranking":  # the toy's probability of i<r> is (r + 1) / 41: logits differ by hand
        r1, r2 = int(first.item_id[1:]), int(second.item_id[1:])
        logit = lambda r: math.log((r + 1) / 41) - math.log1p(-(r + 1) / 41)
        expected = math.exp(logit(r1) - logit(r2))
    else:  # softmax of the retrieval scores at temperature 1
        expected = math.exp(first.retrieval_score - second.retrieval_score)
    assert first.score / second.score == pytest.approx(expected, rel=1e-2)


def test_a_confident_list_rankers_logits_above_20_give_distinct_ordered_scores(toy_bundle):
    """Logits 20.3..41.8 (the toy's times 3, plus 30): every float32 sigmoid is 1.0, but the
    signature's ``logit`` keeps them apart, so the answer follows the logits and its scores are
    their softmax; inverting the probability (an export without ``logit``) ties them all."""
    base = toy_bundle()
    request = RecommendRequest(history=["i1", "i7", "i12"], k=10, candidates=30, explain=True)
    answer = Engine(_list_ranker(base, shift=30.0, scale=3.0, with_logits=True)).recommend([request])[0][0]
    scores = [item.score for item in answer.items]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)
    assert sum(scores) <= 1.0 and sum(c.score for c in answer.candidates) == pytest.approx(1.0)
    rows = [int(item.item_id[1:]) for item in answer.items]
    assert rows == sorted(rows, reverse=True)             # the toy's logits grow with the row
    logit = lambda r: 3.0 * (math.log((r + 1) / 41) - math.log1p(-(r + 1) / 41)) + 30.0
    assert logit(rows[-1]) > 20.0
    assert scores[0] / scores[1] == pytest.approx(math.exp(logit(rows[0]) - logit(rows[1])), rel=1e-5)
    old = Engine(_list_ranker(base, shift=30.0, scale=3.0)).recommend([request])[0][0]
    assert len({item.score for item in old.items}) == 1


def test_ranking_logits_prefer_the_signatures_logit_and_else_invert_the_probability():
    logits = np.array([-3.0, 0.5, 11.0, 25.0, 40.0], np.float32)
    probability = (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
    scored = lambda logits: ScoredCandidates(rows=np.arange(5), scores=np.zeros(5), interest=np.zeros(5, np.int64),
                                             history=np.array([], object), features={},
                                             probabilities=probability, logits=logits)
    assert ranking_logits(scored(logits)).tolist() == logits.tolist()
    inverted = ranking_logits(scored(None))
    np.testing.assert_array_equal(inverted, logits_of(probability))
    np.testing.assert_allclose(inverted[:3], logits[:3], rtol=1e-2)   # about 1% near 11
    assert inverted[3] == inverted[4] == pytest.approx(25 * math.log(2), rel=1e-3)  # capped: p rounds to 1.0


def test_a_pointwise_rankers_score_stays_its_click_probability(engine):
    answer = engine.recommend([RecommendRequest(history=["i1", "i7", "i12"], k=5, candidates=20)])[0][0]
    assert [item.score for item in answer.items] == pytest.approx(
        [(int(item.item_id[1:]) + 1) / 41 for item in answer.items])
