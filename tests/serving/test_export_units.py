"""Guards serving/export/build.py's pure pieces, serving/export/warmup.py and
serving/export/run_kinds.py without training anything."""

import json

import numpy as np
import pytest

from serving import contract
from funnel import config as config_lib
from funnel import runs
from ranking.config import RankingConfig
from retrieval.config import RetrievalConfig
from serving.export import build as export, recall, run_kinds, warmup


def test_models_config_is_tf_serving_text_proto():
    text = export.models_config({"query": 3, "ranking": 3}, "/models/", ("query", "ranking"))
    assert text == (
        "model_config_list {\n"
        "  config {\n"
        '    name: "query"\n'
        '    base_path: "/models/query"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { specific { versions: 3 } }\n"
        '    version_labels { key: "stable" value: 3 }\n'
        "  }\n"
        "  config {\n"
        '    name: "ranking"\n'
        '    base_path: "/models/ranking"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { specific { versions: 3 } }\n"
        '    version_labels { key: "stable" value: 3 }\n'
        "  }\n"
        "}\n")


def test_models_config_keeps_the_previous_version_loaded_beside_the_new_one():
    """The service still calls version 2 until TF Serving reports 3 AVAILABLE."""
    text = export.models_config({"query": 3}, "/models", ("query",), previous=2)
    assert "model_version_policy { specific { versions: 2 versions: 3 } }" in text
    assert 'version_labels { key: "stable" value: 3 }' in text


def test_next_version_counts_folders_and_manifests(tmp_path):
    assert export.next_version(tmp_path) == 1
    (tmp_path / "query" / "4").mkdir(parents=True)
    (tmp_path / "query" / "tmp").mkdir()
    (tmp_path / ".staging-9-abc").mkdir()  # staging folders never count
    assert export.next_version(tmp_path) == 5
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "7.json").write_text("{}")
    assert export.next_version(tmp_path) == 8
    assert contract.complete_versions(tmp_path) == [7]


def test_write_atomic_replaces_whole_file(tmp_path):
    path = tmp_path / "manifest.json"
    export.write_atomic(path, json.dumps({"version": 1}))
    export.write_atomic(path, json.dumps({"version": 2}))
    assert json.loads(path.read_text()) == {"version": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left


def test_run_kind_is_the_kind_the_config_records_even_where_keys_fit_both(tmp_path):
    layout = runs.RunLayout(tmp_path)
    layout.config.write_text(json.dumps({"kind": "ranking", "seed": 0, "epochs": 3}))
    assert run_kinds.run_kind(tmp_path) == "ranking"
    layout.config.write_text(json.dumps({"seed": 0, "epochs": 3}))
    assert run_kinds.run_kind(tmp_path) == "retrieval"  # matched by keys: the first config that fits


@pytest.mark.parametrize("kind, config", [("retrieval", RetrievalConfig()), ("ranking", RankingConfig())])
def test_run_kind_of_runs_saved_with_and_before_kinds(tmp_path, kind, config):
    layout = runs.RunLayout(tmp_path)
    layout.save_config(config, kind)
    assert json.loads(layout.config.read_text())["kind"] == kind
    assert run_kinds.run_kind(tmp_path) == kind
    config_lib.save(config, layout.config)  # as trainers saved it before runs recorded a kind
    assert run_kinds.run_kind(tmp_path) == kind
    other = "ranking" if kind == "retrieval" else "retrieval"
    with pytest.raises(ValueError, match=f"is a {kind} run; --{other} needs a {other} run"):
        run_kinds.require(tmp_path, other, f"--{other}")


def test_run_kind_refuses_an_unknown_kind_and_keys_of_no_config(tmp_path):
    layout = runs.RunLayout(tmp_path)
    layout.config.write_text(json.dumps({"kind": "scoring", "seed": 0}))
    with pytest.raises(ValueError, match="kind 'scoring' is not a run kind"):
        run_kinds.run_kind(tmp_path)
    layout.config.write_text(json.dumps({"seed": 0, "num_cross_layers": 3}))
    with pytest.raises(ValueError, match="fit neither"):
        run_kinds.run_kind(tmp_path)


def test_options_reject_bad_values():
    with pytest.raises(ValueError, match="min_recall"):
        export.ExportOptions(min_recall=1.5)
    with pytest.raises(ValueError, match="held_out_queries"):
        export.ExportOptions(held_out_queries=0)


def test_warmup_records_round_trip(tmp_path):
    history = np.array([["i1", ""]], dtype=object)
    record = warmup.prediction_log("query", "serving_default",
                                   {"history": history, "k": np.array([3], np.int32)})
    # PredictionLog.predict_log (field 6, length-delimited) -> PredictLog.request (field 1)
    # -> PredictRequest.model_spec (field 1) -> ModelSpec.name (field 1) = "query".
    assert record[0] == 0x32 and record[2] == 0x0a and record[4] == 0x0a
    assert record[6:8] == bytes([0x0a, 5]) and record[8:13] == b"query"
    warmup.write(tmp_path, [record, record])
    parsed = warmup.read(tmp_path)
    assert len(parsed) == 2
    name, signature, inputs = parsed[0]
    assert (name, signature) == ("query", "serving_default")
    assert inputs["history"].tolist() == [[b"i1", b""]] and inputs["k"].tolist() == [3]


def test_brute_force_calls_stay_under_the_score_budget():
    assert recall.histories_per_call(1_000_000, 5, max_elements=32 << 20) == 6
    assert recall.histories_per_call(1_682, 5, max_elements=32 << 20) == 3_989
    assert recall.histories_per_call(10_000_000, 5, max_elements=32 << 20) == 1  # never zero


def test_calls_in_blocks_join_to_the_answer_of_one_call():
    inputs = {"history": np.arange(14).reshape(7, 2), "k": np.full(7, 3)}

    def call(block):
        assert len(block["history"]) <= 3
        return {"ids": block["history"] * 10, "scores": block["k"][:, None] * np.ones((1, 2))}

    joined = recall.call_in_blocks(call, inputs, 3)
    np.testing.assert_array_equal(joined["ids"], inputs["history"] * 10)
    assert joined["scores"].shape == (7, 2)
