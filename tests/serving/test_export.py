"""Guards serving/export/build.py and the service's loader (serving/artifacts.py, the embedded
backend's signatures) on tiny REAL trained runs.

One retrieval run and one ranking run are trained once per session
(tests/serving/tiny_runs.py) and exported once; the tests read that export,
copy it to break it, or export again to check versioning and atomicity.
"""

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from funnel import schema
from retrieval import index
from serving import artifacts, contract, ranking_rows
from serving.backends.embedded import SignatureModels, load_bundle
from serving.export import build as export, recall, staging, verify, warmup

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tiny_runs_module, tmp_path_factory):
    return tiny_runs_module.tiny_runs(tmp_path_factory.mktemp("tiny_runs"))


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    killed = out / f"{staging.STAGING_PREFIX}1-killed"  # an earlier export's, killed: unlocked
    killed.mkdir()
    (killed / staging.LOCK_FILE).touch()
    result = export.export(runs["retrieval"], runs["ranking"], out,
                           export.ExportOptions(data_dir=str(runs["data"])))
    return result


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_layout_manifest_and_models_config(exported, runs):
    root, version = exported.root, exported.version
    assert version == 1
    for name in contract.FOLDERS:
        assert (root / name / "1").is_dir(), name
    assert not list(root.glob(".staging-*"))  # its own, and the killed export's
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest == json.loads((root / "manifests" / "1.json").read_text())
    assert manifest["schema"] == {"version": schema.SCHEMA_VERSION, "fingerprint": schema.fingerprint()}
    item_vocab = runs["ranking"] / "dataset" / "vocab" / f"{schema.ITEM_ID}.txt"
    assert manifest["vocabularies"][schema.ITEM_ID]["sha256"] == hashlib.sha256(
        item_vocab.read_bytes()).hexdigest()
    assert manifest["catalog"] == {"items": 60, "embedding_dim": 8, "interests": 3,
                                   "scoring": "mixture"}
    # a pointwise ranker trained on no lists; no gate: the schema's default candidates
    assert manifest["candidates"] == {"list_width": None, "default": schema.DEFAULT_LIST_CANDIDATES}
    scann = manifest["scann"]
    assert scann["recall_k"] == 60 and scann["recall_at_60"] >= 0.95  # k capped at 60 items
    assert scann["min_recall"] == 0.95 and scann["min_recall_lowered"] is False
    assert scann["params"] == index.params_for_catalog(60).to_dict()
    # The recall check ran on the held-out test histories (one per user) x 3 interests, for the
    # native index and the tfrs layer alike, and verify measured the same on the same histories.
    assert scann["held_out_histories"] == 40 and scann["held_out_queries"] == 120
    assert scann["also"]["retrieval_scann"] >= 0.95
    assert manifest["verify"]["verified"] is True and manifest["verify"]["failures"] == 0
    assert manifest["verify"]["recall"] == {"index": scann["recall_at_60"],
                                            "retrieval_scann": scann["also"]["retrieval_scann"]}
    assert "0 failed check(s)" in exported.verify_output
    assert exported.verify_log == root / "verify" / f"{version}.log"  # the terminal gets a summary
    assert exported.verify_log.read_text() == exported.verify_output
    assert manifest["retrieval"]["config"]["num_interests"] == 3
    assert "final_val_loss" in manifest["retrieval"]["metrics"]
    config = (root / "models.config").read_text()
    assert re.findall(r'name: "(\w+)"', config) == list(export.STOCK_SERVABLES)
    assert config.count('version_labels { key: "stable" value: 1 }') == 4
    assert config.count("specific { versions: 1 }") == 4
    assert 'base_path: "/models/ranking"' in config
    assert 'name: "retrieval_scann"' in (root / "models_scann.config").read_text()


def test_signatures_have_named_inputs_and_outputs(exported):
    root = exported.root
    expected = {
        "query": {"serving_default": ({"history"}, {"embeddings"}),
                  "history_int64": ({"history"}, {"embeddings"})},
        "candidate": {"serving_default": ({"item_ids"}, {"embeddings"})},
        "retrieval": {"serving_default": ({"history", "k"}, {"item_ids", "scores"})},
        "retrieval_scann": {"serving_default": ({"history", "k"}, {"item_ids", "scores"})},
        "ranking": {"serving_default": (set(f.name for f in schema.RANKING_FEATURES), {"probability", "logit"}),
                    "context_int64": (set(f.name for f in schema.RANKING_FEATURES), {"probability", "logit"}),
                    "candidates": (set(f.name for f in schema.RANKING_FEATURES) | {"owner"},
                                   {"probability", "logit"})},
    }
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["models"]["ranking"]["signatures"] == ["candidates", "context_int64", "serving_default"]
    for name, signatures in expected.items():
        found = verify.read_signatures(root / name / "1")
        found = {s: (set(d.inputs), set(d.outputs)) for s, d in found.items() if not s.startswith("__")}
        assert found == signatures, name
    shape = verify.read_signatures(root / "query" / "1")["serving_default"].outputs["embeddings"]
    assert [d.size for d in shape.tensor_shape.dim] == [-1, 3, 8]  # [B, M, D]


def test_candidates_signature_scores_like_rows_expanded_per_candidate(exported, runs):
    """Two requests' features once each, five candidates tied by owner: the scores
    equal serving_default on every candidate's full row, and an export without
    the signature (older versions) is scored through that row path instead; one
    without the ``logit`` output answers ``logit`` None (the engine then inverts the probability)."""
    models = SignatureModels.load(*artifacts.open_version(exported.root))
    rows = export.sample_ranking_inputs(loaded_runs := export.load_runs(runs["retrieval"], runs["ranking"]), 5, 3)
    rows[schema.HISTORY] = export.sample_histories(loaded_runs, 5, 4)
    owner = np.array([1, 0, 1, 1, 0])
    grouped = {f.name: rows[f.name][:2] for f in ranking_rows.REQUEST_FEATURES}
    grouped.update({f.name: rows[f.name] for f in ranking_rows.ITEM_FEATURES})
    expected = models.rank(ranking_rows.expand_candidates(grouped, owner))
    assert len(set(np.round(expected, 6))) > 1
    ranked = models.rank_candidates(grouped, owner)
    np.testing.assert_allclose(ranked.probability, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ranked.logit, np.log(expected / (1.0 - expected)), rtol=1e-4, atol=1e-4)
    signature = models.rank_candidates_fn
    by_rows = dataclasses.replace(models, rank_candidates_fn=None).rank_candidates(grouped, owner)
    np.testing.assert_array_equal(by_rows.probability, expected)
    np.testing.assert_array_equal(by_rows.logit, ranked.logit)
    without_logit = lambda **inputs: {"probability": signature(**inputs)["probability"]}
    older = dataclasses.replace(models, rank_candidates_fn=without_logit).rank_candidates(grouped, owner)
    assert older.logit is None and np.array_equal(older.probability, ranked.probability)


def test_each_savedmodel_carries_vocabularies_schema_and_warmup(exported):
    root = exported.root
    for name in contract.SAVEDMODELS:
        assets = root / name / "1" / "assets"
        document = json.loads((assets / contract.SCHEMA_ASSET).read_text())
        assert document["fingerprint"] == schema.fingerprint()
        assert (assets / f"{schema.ITEM_ID}.txt").exists()
        requests = warmup.read(root / name / "1")
        assert {model for model, _, _ in requests} == {name}
        assert [inputs[next(iter(inputs))].shape[0] for _, _, inputs in requests][:2] == [1, 4]
    for vocabulary in schema.CATEGORICAL_VOCABULARIES:
        assert (root / "ranking" / "1" / "assets" / f"{vocabulary}.txt").exists()
    raw = (root / "query" / "1" / "assets.extra" / "tf_serving_warmup_requests").read_bytes()
    # TFRecord: 8-byte length, 4-byte CRC, then the PredictionLog: field 6 (predict_log),
    # wire type 2 -> tag byte 0x32; its PredictLog starts with field 1 (request) -> 0x0a.
    assert raw[12] == 0x32 and raw[12 + 1 + 1] == 0x0a


HERMETIC_CHECK = """
import sys, numpy as np, funnel
from serving.backends.embedded import load_bundle
bundle = load_bundle(sys.argv[1])
history = np.array([["", "i3", "i17"], ["i40", "nope", ""]], dtype=object)
interests = bundle.query(history)
rows, scores = bundle.search(interests.reshape(-1, interests.shape[-1]), 5)
features = {name: np.array(["u1", "u2"], dtype=object) for name in ["user_id"]}
features.update({"user_gender": np.array(["F", "M"], dtype=object),
                 "user_occupation": np.array(["writer", ""], dtype=object),
                 "user_region": np.array(["north", "south"], dtype=object),
                 "user_age": np.array([30.0, np.nan]), "item_id": bundle.item_ids[rows[:2, 0]],
                 "item_category": np.array(["c0", "c9"], dtype=object), "item_age": np.array([3.0, 1.0]),
                 "hour": np.array(["5", "23"], dtype=object), "weekday": np.array(["0", "6"], dtype=object),
                 "history": history})
probability = bundle.rank(features, np.arange(2)).probability
assert interests.shape == (2, 3, 8) and rows.shape == (6, 5)
assert probability.shape == (2,) and np.all((probability > 0) & (probability < 1))
print("answered", bundle.version, probability.round(4).tolist())
"""


def test_export_is_hermetic(exported, runs, tmp_path):
    """Move the dataset and both run folders away; a fresh process still answers raw requests."""
    moved = []
    try:
        for key in ("data", "retrieval", "ranking"):
            target = tmp_path / f"gone_{key}"
            shutil.move(str(runs[key]), target)
            moved.append((target, runs[key]))
        completed = subprocess.run([sys.executable, "-c", HERMETIC_CHECK, str(exported.root)],
                                   capture_output=True, text=True, cwd=Path(__file__).parents[2])
    finally:
        for target, original in moved:
            shutil.move(str(target), original)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "answered 1" in completed.stdout


def test_load_bundle_matches_manifest_and_tables(exported):
    bundle = load_bundle(exported.root)
    assert bundle.version == 1 and bundle.model_versions["query"] == 1
    assert bundle.item_ids.tolist() == [f"i{n}" for n in range(60)]
    assert bundle.item_embeddings.shape == (60, 8)
    assert bundle.item_attributes[schema.ITEM_CATEGORY][16] == "c1"  # items 15..29 are category c1
    assert bundle.user_attributes["u3"][schema.USER_OCCUPATION] == "writer"  # u % 3 == 0 -> writer
    shares = bundle.popularity
    assert np.all(np.diff(shares) <= 0) and len(bundle.popular_rows) == 60
    interests = bundle.query(np.array([["i1", "i2"]], dtype=object))
    rows, scores = bundle.search(interests[0], 60)
    # Exact reordering: the scores are the dot products of the returned rows.
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", interests[0], bundle.item_embeddings[rows]),
                               rtol=1e-4, atol=1e-5)


def test_load_bundle_refuses_a_schema_mismatch(exported, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(exported.root, copy)
    schema_file = copy / "ranking" / "1" / "assets" / contract.SCHEMA_ASSET
    document = json.loads(schema_file.read_text())
    schema_file.write_text(json.dumps({**document, "fingerprint": "0000000000000000"}))
    with pytest.raises(contract.SchemaMismatchError, match="ranking.*0000000000000000"):
        load_bundle(copy)


def test_recall_below_the_bar_fails_before_anything_is_written(runs, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise index.RecallTooLowError("ScaNN recall@60 = 0.5 is below the required 0.95")

    monkeypatch.setattr(index, "build_checked", fail)
    with pytest.raises(index.RecallTooLowError):
        export.export(runs["retrieval"], runs["ranking"], tmp_path / "export")
    assert not (tmp_path / "export").exists()  # not even an empty folder


def test_recall_reference_runs_in_blocks_and_measures_as_one_call(exported, runs, tmp_path, monkeypatch):
    histories_per_block = []
    real_call_in_blocks = recall.call_in_blocks

    def counted(call, inputs, size):
        def call_and_count(block):
            histories_per_block.append(len(block[schema.HISTORY]))
            return call(block)
        return real_call_in_blocks(call_and_count, inputs, size)

    monkeypatch.setattr(recall, "histories_per_call", lambda items, interests: 2)
    monkeypatch.setattr(recall, "call_in_blocks", counted)
    result = export.export(runs["retrieval"], runs["ranking"], tmp_path / "export",
                           export.ExportOptions(data_dir=str(runs["data"]), verify=False))
    assert len(histories_per_block) > 2 and max(histories_per_block) == 2
    assert result.manifest["scann"]["also"] == exported.manifest["scann"]["also"]


def test_interrupted_export_leaves_the_previous_version_intact(exported, runs, tmp_path, monkeypatch):
    root = tmp_path / "export"
    shutil.copytree(exported.root, root)
    before = tree_digest(root)
    renames = []
    real_rename = staging.os.rename

    def rename_then_fail(source, target):
        renames.append(target)
        if len(renames) == 3:  # two model folders already published
            raise OSError("disk full (simulated)")
        real_rename(source, target)

    monkeypatch.setattr(staging.os, "rename", rename_then_fail)
    with pytest.raises(OSError, match="simulated"):
        export.export(runs["retrieval"], runs["ranking"], root, export.ExportOptions(verify=False))
    assert len(renames) == 3
    assert tree_digest(root) == before  # version 1, manifest.json and models.config untouched
    assert not any((root / name / "2").exists() for name in contract.FOLDERS)
    assert not list(root.glob(".staging-*"))
    assert contract.resolve_version(root) == 1

    monkeypatch.setattr(staging.os, "rename", real_rename)
    second = export.export(runs["retrieval"], runs["ranking"], root, export.ExportOptions(verify=False))
    assert second.manifest["verify"] == {"verified": False}
    assert second.version == 2
    assert contract.resolve_version(root) == 2
    config = (root / "models.config").read_text()
    assert 'key: "stable" value: 2' in config and "specific { versions: 1 versions: 2 }" in config
    assert json.loads((root / "manifest.json").read_text())["version"] == 2
    assert (root / "query" / "1").is_dir()  # earlier versions stay for rollback


def test_a_version_failing_verify_is_never_published(exported, runs, tmp_path, monkeypatch, capsys):
    """Training-time references that disagree with the SavedModels make the staged version 2
    fail verify: `funnel export` exits 1 naming the failed checks, version 1 stays the
    newest everywhere (manifest, models.config, the service's backend) and nothing of 2 is left."""
    from funnel import cli
    from serving.backends.embedded import EmbeddedBackend
    from serving.settings import ServiceSettings

    root = tmp_path / "export"
    shutil.copytree(exported.root, root)
    before = tree_digest(root)
    write_samples = export._write_samples

    def wrong_references(*args, **kwargs):
        write_samples(*args, **kwargs)
        path = args[1] / export.SAMPLES_FILE
        arrays = dict(np.load(path))
        arrays["ranking/probability"] = 1.0 - arrays["ranking/probability"]
        np.savez(path, **arrays)

    monkeypatch.setattr(export, "_write_samples", wrong_references)
    code = cli.main(["export", "--retrieval", str(runs["retrieval"]), "--ranking", str(runs["ranking"]),
                     "--out", str(root), "--data", str(runs["data"])])
    out, err = capsys.readouterr()
    assert code == 1
    assert "FAIL ranking: probability vs training-time model" in out
    assert "version 2 failed verification, not published (version 1 stays the newest)" in err
    assert "  FAIL ranking: probability vs training-time model" in err
    assert tree_digest(root) == before
    assert not list(root.glob(".staging-*"))
    assert contract.resolve_version(root) == 1
    assert EmbeddedBackend(ServiceSettings(export_dir=str(root))).latest_version() == 1


def test_export_verify_command_passes_in_a_fresh_process(exported, capsys):
    from funnel import cli

    assert cli.main(["export", "verify", str(exported.root)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    log = exported.root / "verify" / f"{exported.version}.log"
    assert out.splitlines() == [f"verified export {exported.root} version {exported.version} in a fresh "
                                f"process: {log.read_text().count(chr(10) + 'OK ')} checks passed (every "
                                f"check and signature in {log})"]
    details = log.read_text()  # the signature dumps go to the log, not the terminal
    assert "signature_def['serving_default']:" in details
    assert "inputs['history'] tensor_info:" in details and "dtype: DT_STRING" in details
    assert "Method name is: tensorflow/serving/predict" in details
    assert "OK   query: batch 500" in details and "OK   ranking: batch 1" in details
    assert 'OK   ranking/serving_default: REST {"instances": ...}' in details
    assert "0 failed check(s)" in details


def test_export_verify_command_fails_on_a_corrupted_export(exported, tmp_path, capsys):
    from funnel import cli

    copy = tmp_path / "export"
    shutil.copytree(exported.root, copy)
    # A ranking model whose item vocabulary no longer matches its embeddings.
    vocabulary = copy / "ranking" / "1" / "assets" / f"{schema.ITEM_ID}.txt"
    vocabulary.write_text("".join(reversed(vocabulary.read_text().splitlines(keepends=True))))
    # A candidate model claiming another schema.
    schema_file = copy / "candidate" / "1" / "assets" / contract.SCHEMA_ASSET
    schema_file.write_text(json.dumps({**json.loads(schema_file.read_text()), "fingerprint": "bad"}))
    assert cli.main(["export", "verify", str(copy)]) == 1
    out, err = capsys.readouterr()
    assert "FAIL models share one schema fingerprint" in out
    assert "FAIL ranking: probability vs training-time model" in out
    assert all(line.startswith("FAIL") for line in out.splitlines())  # only the failures
    assert err.startswith("funnel export verify: FAILED (exit 1") and "Traceback" not in err
    assert str(copy / "verify" / "1.log") in err


def test_export_verify_command_refuses_a_missing_version_in_one_line(exported, capsys):
    from funnel import cli

    assert cli.main(["export", "verify", str(exported.root), "--version", "9"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("funnel export: error: ") and "9" in err


def test_evaluate_funnel_reports_both_orders_of_the_same_candidates(exported, runs, capsys):
    from funnel import cli

    code = cli.main(["evaluate", "funnel", "--export", str(exported.root), "--data", str(runs["data"]),
                     "--candidates", "20", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for order in ("retrieval", "funnel"):
        metrics = result[order]
        assert metrics["hr@5"] <= metrics["hr@10"] <= metrics["hr@20"] <= result["candidate_recall"] + 1e-9
        assert 0 <= metrics["ndcg@10"] <= metrics["ndcg@20"] <= metrics["hr@20"]
        # the same candidates in two orders: whoever was retrieved is found by both
        assert metrics["hr@20_retrieved"] == pytest.approx(1.0)
    assert result["examples"] == 40 and result["split"] == "test"  # one test example per user
