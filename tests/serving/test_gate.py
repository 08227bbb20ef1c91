"""Guards serving/evaluation/gate.py and the order the service answers in: the export's gate picks
retrieval order when ranking loses on validation users, and the engine follows it."""

import dataclasses

import numpy as np
import pytest

from serving.api import RecommendRequest
from serving.artifacts import served_order
from serving.engine import Engine
from serving.evaluation.gate import choose_order

from tests.serving.conftest import toy_bundle


def _result(retrieval, funnel):
    return {"retrieval": {"ndcg@10": retrieval[0], "hr@10": retrieval[1]},
            "funnel": {"ndcg@10": funnel[0], "hr@10": funnel[1]}}


def test_gate_chooses_retrieval_when_ranking_loses_or_ties():
    assert choose_order(_result((0.10, 0.20), (0.08, 0.25))) == "retrieval"
    assert choose_order(_result((0.10, 0.20), (0.10, 0.20))) == "retrieval"
    assert choose_order(_result((0.10, 0.20), (0.12, 0.15))) == "ranking"
    assert choose_order(_result((0.10, 0.20), (0.10, 0.21))) == "ranking"


def test_auto_order_follows_the_manifest_gate_and_a_flag_overrides_it():
    assert served_order({"gate": {"order": "retrieval"}}) == "retrieval"
    assert served_order({"gate": {"order": "retrieval"}}, "ranking") == "ranking"
    assert served_order({}) == "retrieval"                    # no gate: nothing says ranking is better
    assert served_order({"gate": None}, "auto") == "retrieval"
    assert served_order({}, "ranking") == "ranking"


def test_engine_answers_in_retrieval_order_when_the_gate_says_so():
    # the toy ranking model prefers high rows whatever retrieval says, so the two orders differ
    request = RecommendRequest(history=["i1", "i2", "i3"], k=5, candidates=20, explain=True)
    by_ranking = Engine(toy_bundle()).recommend([request])[0][0]
    by_retrieval = Engine(dataclasses.replace(toy_bundle(), order="retrieval")).recommend([request])[0][0]
    retrieval_ids = [c.item_id for c in by_retrieval.candidates][:5]
    assert [i.item_id for i in by_retrieval.items] == retrieval_ids
    assert [i.item_id for i in by_ranking.items] != retrieval_ids
    scores = [i.score for i in by_ranking.items]
    assert scores == sorted(scores, reverse=True)
    assert (by_ranking.order, by_retrieval.order) == ("ranking", "retrieval")


def test_bundle_refuses_an_unknown_order():
    with pytest.raises(ValueError, match="order"):
        dataclasses.replace(toy_bundle(), order="random")


def test_engine_passes_candidate_features_only_to_rankers_that_read_them():
    calls = []
    request = RecommendRequest(history=["i1", "i2"], k=3, candidates=6)
    Engine(toy_bundle(calls=calls)).recommend([request])
    plain = [c for name, c in calls if name == "rank"][0]
    calls.clear()
    Engine(dataclasses.replace(toy_bundle(calls=calls), candidate_features=True)).recommend([request])
    listwise = [c for name, c in calls if name == "rank"][0]
    assert "retrieval_score" not in plain
    assert listwise["retrieval_score"] == listwise["item_id"] == (6,)
