"""Run folder, load_trained, SavedModel export, negative ratio and the CLI."""

import json

import numpy as np
import pytest
import tensorflow as tf

from funnel import cli, schema
from ranking import data
from ranking.features import input_signature
from ranking.run import load_config, load_trained
from ranking.train import train




def _batch(tiny_data, config, size=16):
    dataset, _ = data.split_dataset(tiny_data, schema.TEST, config)
    batch = next(iter(dataset.unbatch().batch(size)))
    return {k: v for k, v in batch.items() if k != schema.LABEL}


def test_run_folder_and_load_trained_reproduce_predictions(tiny_data, tmp_path, make_config):
    config = make_config(model="tf4ctr", dfm="vf", epochs=2)
    metrics = train(config, tiny_data, tmp_path / "run", verbose=0)
    for name in ("config.json", "metrics.json", "kept.json", "dataset/feature_map.json"):
        assert (tmp_path / "run" / name).exists(), name
    assert metrics["loss"] == "tf" and 1 <= metrics["best_epoch"] <= metrics["epochs_trained"] <= 2
    model, loaded_config = load_trained(tmp_path / "run")
    assert loaded_config == config
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved.pop("kind") == "ranking"
    (tmp_path / "run" / "config.json").write_text(json.dumps(saved))  # as saved before runs had a kind
    assert load_config(tmp_path / "run") == config
    features = _batch(tiny_data, config)
    probabilities = model(features).numpy()
    assert probabilities.shape == (16,) and np.all((probabilities > 0) & (probabilities < 1))
    again, _ = load_trained(tmp_path / "run")
    np.testing.assert_allclose(again(features).numpy(), probabilities, rtol=1e-6)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["test"]["auc"] == pytest.approx(metrics["test"]["auc"])


@pytest.mark.parametrize("name", ["tf4ctr", "lafam", "eain"])
def test_savedmodel_round_trip(name, tiny_data, tmp_path, make_config):
    config = make_config(model=name)
    train(config, tiny_data, tmp_path / "run", verbose=0)
    model, _ = load_trained(tmp_path / "run")
    module = tf.Module()
    module.model = model
    # as serving/export/modules.py traces it: without AutoGraph
    module.serve = tf.function(lambda features: {"probability": model(features, training=False)},
                               input_signature=[input_signature()], autograph=False)
    tf.saved_model.save(module, str(tmp_path / "saved"), signatures={"serving_default": module.serve})
    restored = tf.saved_model.load(str(tmp_path / "saved"))
    features = _batch(tiny_data, config, size=5)
    np.testing.assert_allclose(restored.signatures["serving_default"](**features)["probability"].numpy(),
                               model(features).numpy(), rtol=1e-5)


def test_negative_ratio_is_applied_to_every_split_and_recorded(tiny_data, tmp_path, make_config):
    config = make_config(model="dnn", negative_ratio=5.0)
    train(config, tiny_data, tmp_path / "run", verbose=0)
    kept = json.loads((tmp_path / "run" / "kept.json").read_text())
    assert kept["negative_ratio"] == 5.0 and set(kept["splits"]) == set(schema.SPLITS)
    for split, summary in kept["splits"].items():
        assert summary["clicks_kept"] == min(summary["clicks"], summary["non_clicks"] // 5), split
    dataset, _ = data.split_dataset(tiny_data, schema.TRAIN, config)
    labels = np.concatenate([b[schema.LABEL].numpy() for b in dataset])
    assert labels.sum() == kept["splits"][schema.TRAIN]["clicks_kept"]


def test_cli_train_then_evaluate_json(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    code = cli.main(["train", "ranking", "--data", str(tiny_data), "--model", "dcnv2", "--epochs", "1",
                     "--batch-size", "128", "--embedding-dim", "4", "--set", "hidden_units=[8,8]",
                     "--out", str(run)])
    assert code == 0
    capsys.readouterr()
    assert cli.main(["evaluate", "ranking", "--run", str(run), "--data", str(tiny_data), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("auc", "gauc", "logloss", "precision", "recall", "f1", "accuracy", "hr@50", "hr@100", "hr@200",
                "f1@0.5", "f1_tuned", "threshold_tuned", "f1_all_positive"):
        assert key in result
    assert result["f1@0.5"] == pytest.approx(result["f1"])
    rate = result["clicks"] / result["examples"]
    assert result["f1_all_positive"] == pytest.approx(2 * rate / (1 + rate))
    stored = json.loads((run / "metrics.json").read_text())
    assert result["auc"] == pytest.approx(stored["test"]["auc"], abs=1e-6)
    assert cli.main(["evaluate", "ranking", "--run", str(run), "--data", str(tiny_data), "--json",
                     "--threshold", "tuned"]) == 0
    tuned = json.loads(capsys.readouterr().out)
    assert tuned["threshold"] == pytest.approx(stored["test_tuned"]["threshold"])
    assert tuned["f1"] == pytest.approx(stored["test_tuned"]["f1"])
    assert tuned["f1_tuned"] == pytest.approx(tuned["f1"]) and tuned["threshold_tuned"] == tuned["threshold"]
    with pytest.raises(SystemExit) as stopped:  # checked while parsing, before the run loads
        cli.main(["evaluate", "ranking", "--run", str(run), "--data", str(tiny_data),
                  "--threshold", "high"])
    assert stopped.value.code == 2
    assert "argument --threshold: expected a number in [0, 1] or 'tuned', got 'high'" in \
        capsys.readouterr().err


def test_cli_reports_a_bad_option_in_one_line(tiny_data, tmp_path, capsys):
    code = cli.main(["train", "ranking", "--data", str(tiny_data), "--model", "dnn", "--loss", "tf",
                     "--out", str(tmp_path / "run")])
    assert code == 2
    assert "simple" in capsys.readouterr().err
    code = cli.main(["train", "ranking", "--data", str(tiny_data), "--set", "hiden_units=[8]",
                     "--out", str(tmp_path / "run")])
    assert code == 2 and "hiden_units" in capsys.readouterr().err
