"""Guards the ranker of candidate lists end to end: ``funnel candidates`` (Beam, out of fold)
-> list training -> export with its candidate features -> verify in a fresh process -> the
gate in the manifest -> ``funnel evaluate funnel`` -> the service's answers."""

import json

import numpy as np
import pytest

from funnel import ranks, schema
from funnel.cli import main as cli_main
from serving import artifacts
from serving.api import RecommendRequest
from serving.backends.embedded import SignatureModels, load_bundle
from serving.engine import Engine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def list_export(tmp_path_factory, tiny_runs_module):
    root = tmp_path_factory.mktemp("list_export")
    runs = tiny_runs_module.tiny_list_ranker(root / "runs")
    export_dir = root / "export"
    status = cli_main(["export", "--retrieval", str(runs["retrieval"]), "--ranking", str(runs["ranking"]),
                       "--data", str(runs["data"]), "--out", str(export_dir), "--held-out-queries", "50"])
    assert status == 0
    return export_dir, runs


def test_candidate_stats_count_every_list_and_training_lists_come_from_fold_models(list_export):
    _, runs = list_export
    stats = json.loads((runs["candidates"] / "stats.json").read_text())
    for split, part in stats["splits"].items():
        assert part["lists"] == part["written"] + part.get("dropped_target_missing", 0), split
        found, missed = part.get("target_retrieved", 0), part.get("dropped_target_missing", 0)
        assert found + missed + part.get("added_target", 0) == part["lists"], split  # one outcome per list
        assert part["recall_at_n"] == pytest.approx(found / part["lists"]), split
    assert (runs["candidates"] / "folds" / "0" / "run" / "weights").exists()
    assert (runs["candidates"] / "folds" / "1" / "run" / "weights").exists()


def test_export_records_candidate_inputs_and_the_gate(list_export):
    export_dir, _ = list_export
    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert manifest["ranking_inputs"]["candidate_features"] is True
    assert manifest["ranking_inputs"]["names"] == list(schema.CANDIDATE_FEATURES)
    gate = manifest["gate"]
    assert gate["order"] in ("ranking", "retrieval") and gate["split"] == "validation"
    expected = "ranking" if (gate["funnel"]["ndcg@10"], gate["funnel"]["hr@10"]) > (
        gate["retrieval"]["ndcg@10"], gate["retrieval"]["hr@10"]) else "retrieval"
    assert gate["order"] == expected


def test_manifest_carries_the_list_width_the_ranker_trained_on_and_the_gates_default(list_export):
    """The lists are 20 wide (``tiny_list_ranker``); without ``--gate-candidates`` the gate ranks
    that many, and the service and ``evaluate funnel`` default to it."""
    export_dir, runs = list_export
    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert json.loads((runs["candidates"] / "stats.json").read_text())["candidates"] == 20
    assert manifest["candidates"] == {"list_width": 20, "default": 20}
    assert manifest["gate"]["candidates"] == 20
    engine = Engine(load_bundle(export_dir))
    request = RecommendRequest(history=["i1", "i2", "i17"], k=5)
    assert engine.candidates(request) == 20
    assert len(engine.score([request])[0][0].rows) == 20


def test_evaluate_funnel_reports_both_orders(list_export, capsys, tmp_path):
    export_dir, runs = list_export
    ranks_file = tmp_path / "funnel_ranks.npz"
    assert cli_main(["evaluate", "funnel", "--export", str(export_dir), "--data", str(runs["data"]),
                     "--json", "--ranks-out", str(ranks_file)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["candidates"] == 20                          # the export's default
    for order in ("retrieval", "funnel"):                      # the saved ranks give the reported metrics
        users, order_ranks = ranks.load(ranks_file, order)
        assert len(users) == len(np.unique(users)) == result["examples"]
        assert np.mean(order_ranks < 10) == pytest.approx(result[order]["hr@10"])
        assert np.all((order_ranks < 20) | (order_ranks == ranks.MISSED))
    for order in ("retrieval", "funnel"):
        assert set(result[order]) >= {"hr@5", "hr@10", "hr@20", "ndcg@10", "ndcg@20", "mrr", "hr@10_retrieved"}
        assert result[order]["hr@20"] <= result["candidate_recall"] + 1e-9   # nothing beyond the candidates
    assert set(result["bootstrap"]) == {"hr@10", "ndcg@10"}
    for interval in result["bootstrap"].values():
        assert interval["low"] <= interval["mean"] <= interval["high"]


def test_service_scores_equal_the_savedmodel_called_with_the_same_features(list_export):
    export_dir, _ = list_export
    bundle = load_bundle(export_dir, order="ranking")
    engine = Engine(bundle)
    request = RecommendRequest(history=["i1", "i2", "i17"], k=5, candidates=12)
    scored, _ = engine.score([request])
    found = scored[0]
    rows = {f.name: np.full(len(found.rows), schema.UNKNOWN_VALUE, dtype=object)
            for f in schema.RANKING_FEATURES if f.kind is schema.Kind.CATEGORICAL}
    rows.update({f.name: np.full(len(found.rows), np.nan) for f in schema.RANKING_FEATURES
                 if f.kind is schema.Kind.NUMERIC})
    rows[schema.ITEM_ID] = np.asarray(bundle.item_ids)[found.rows].astype(object)
    rows[schema.ITEM_CATEGORY] = bundle.item_attributes[schema.ITEM_CATEGORY][found.rows]
    rows[schema.HISTORY] = np.repeat(found.history[None], len(found.rows), axis=0)
    rows.update(found.features)
    direct = SignatureModels.load(*artifacts.open_version(export_dir)).rank(rows)  # serving_default
    np.testing.assert_allclose(found.probabilities, direct, rtol=1e-5, atol=1e-6)
    answer = engine.recommend([request])[0][0]
    assert answer.order == "ranking" and len(answer.items) == 5
