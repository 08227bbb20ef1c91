"""Guards retrieval/train.py and commands.py: run folder, reload, determinism, strategies, CLI."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import funnel  # noqa: F401
from funnel import cli, schema
from retrieval.config import load as load_config
from retrieval.run import load_trained
from retrieval.train import train

def _history(rows=3):
    history = np.zeros((rows, schema.MAX_SEQUENCE_LENGTH), np.int64)
    history[:, -3:] = [[2, 3, 4], [10, 11, 12], [30, 20, 2]][:rows]
    return history


def test_run_folder_is_self_contained_and_reloads_the_same_model(tiny_data, tmp_path, make_config):
    run = tmp_path / "run"
    metrics = train(make_config(weighting="none"), tiny_data, run)
    for name in ("config.json", "metrics.json", "weights", "logs", "checkpoints",
                 "dataset/feature_map.json", "dataset/items.csv", "dataset/vocab/item_id.txt"):
        assert (run / name).exists(), name
    assert metrics["strategy"] == "default" and metrics["replicas"] == 1
    assert metrics["phases"][0]["examples_per_second"] > 0
    model, config = load_trained(run)
    assert config == make_config(weighting="none")
    saved = json.loads((run / "config.json").read_text())
    assert saved["kind"] == "retrieval"
    assert load_config(run / "config.json", command="funnel train retrieval") == config
    del saved["kind"]                       # a run saved before configs recorded their kind
    (run / "config.json").write_text(json.dumps(saved))
    assert load_config(run / "config.json", command="funnel train retrieval") == config
    users = model.user_tower(_history())
    assert users.shape == (3, 5, 8) and users.dtype == tf.float32
    assert model.item_tower(tf.constant([2, 3], tf.int64)).shape == (2, 8)
    again, _ = load_trained(run)
    np.testing.assert_array_equal(again.user_tower(_history()).numpy(), users.numpy())


def test_same_seed_same_weights_different_seed_different_weights(tiny_data, tmp_path, make_config):
    runs = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        train(make_config(model="sur", seed=seed), tiny_data, tmp_path / name)
        model, _ = load_trained(tmp_path / name)
        runs[name] = model.item_embeddings()
    np.testing.assert_array_equal(runs["a"], runs["b"])
    assert not np.allclose(runs["a"], runs["c"])


def test_best_val_loss_is_the_validation_loss_of_the_kept_weights(tiny_data, tmp_path, make_config):
    """metrics.json's best_val_loss/best_epoch describe the weights EarlyStopping restored
    (what load_trained returns), not the last epoch: a learning rate this large makes the
    validation loss overshoot, so the last epoch is not the best one."""
    import tf_keras as keras

    from funnel import dataset

    config = make_config(model="sur", weighting="none", epochs=4, patience=4, learning_rate=0.3)
    metrics = train(config, tiny_data, tmp_path / "run")
    val_loss = metrics["phases"][-1]["val_loss"]
    assert metrics["best_epoch"] == int(np.argmin(val_loss)) + 1
    assert metrics["best_val_loss"] == pytest.approx(min(val_loss), rel=1e-6)
    assert metrics["final_val_loss"] == val_loss[-1] != metrics["best_val_loss"]
    model, _ = load_trained(tmp_path / "run")
    model.compile(optimizer=keras.optimizers.Adam())
    validation = dataset.retrieval_dataset(tiny_data, schema.VALIDATION, config.batch_size)
    restored = model.evaluate(validation, verbose=0, return_dict=True)["loss"]
    assert restored == pytest.approx(metrics["best_val_loss"], rel=1e-5)


def test_progress_bar_becomes_one_line_per_epoch_when_stdout_is_not_a_terminal(tiny_data, tmp_path,
                                                                               make_config, capfd):
    """verbose=1 (the CLI default) redraws a bar after every batch; captured output is
    not a terminal, so each epoch must print one line and no bar ('[====' or '\\r')."""
    train(make_config(model="sur", weighting="none", epochs=2, patience=2, verbose=1, batch_size=16),
          tiny_data, tmp_path / "run")
    out = capfd.readouterr().out
    assert "\r" not in out and "\b" not in out and "[==" not in out
    epoch_lines = [line for line in out.splitlines() if "val_loss" in line]
    assert len(epoch_lines) == 2, out


def test_mixed_precision_trains_and_restores_float32_policy(tiny_data, tmp_path, make_config):
    import tf_keras as keras

    metrics = train(make_config(model="sur", mixed_precision=True), tiny_data, tmp_path / "mp")
    assert np.isfinite(metrics["final_val_loss"])
    assert keras.mixed_precision.global_policy().name == "float32"
    model, _ = load_trained(tmp_path / "mp")
    assert model.user_tower(_history()).dtype == tf.float32


def test_cli_trains_and_evaluate_prints_the_metric_names(tiny_data, tmp_path, capsys, tiny_flags):
    run = tmp_path / "cli"
    assert cli.main(["train", "retrieval", "--data", str(tiny_data), "--out", str(run), "--model", "sur",
                     "--weighting", "qmargin", "--seed", "3", *tiny_flags]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["weighting"] == "qmargin" and config["item_hidden"] == [8, 8] and config["seed"] == 3
    capsys.readouterr()
    assert cli.main(["evaluate", "retrieval", "--run", str(run), "--data", str(tiny_data), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    expected = {f"{m}@{k}{s}" for m in ("hr", "ndcg") for k in (5, 20) for s in ("", "_head", "_tail")}
    expected |= {"recall@20_full", "recall@100_full", "ndcg@20_full", "mean_silhouette"}
    assert expected <= set(metrics)


def test_cli_rejects_unknown_weighting(tiny_data, tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["train", "retrieval", "--data", str(tiny_data), "--out", str(tmp_path / "x"),
                  "--weighting", "magic"])


def _free_ports(count):
    """Ports probed free: TF_CONFIG must name every worker's port before any starts, and TF's
    gRPC server refuses SO_REUSEPORT, so neither port 0 nor a held socket can be used here."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_multi_worker_mirrored_strategy_trains_with_two_local_workers(tiny_data, tmp_path, tiny_flags):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                                     "task": {"type": "worker", "index": index}}),
                   CUDA_VISIBLE_DEVICES="-1")
        command = [sys.executable, "-m", "funnel.cli", "train", "retrieval", "--data", str(tiny_data),
                   "--out", str(tmp_path / f"worker{index}"), "--model", "sur", *tiny_flags]
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=200)[0].decode(errors="replace"))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    metrics = json.loads((tmp_path / "worker0" / "metrics.json").read_text())
    assert metrics["strategy"] == "MultiWorkerMirroredStrategy" and metrics["replicas"] == 2
    chief, _ = load_trained(tmp_path / "worker0")
    other, _ = load_trained(tmp_path / "worker1")
    # synchronous training: both workers end with the same variables
    np.testing.assert_allclose(chief.item_embeddings(), other.item_embeddings(), rtol=1e-5, atol=1e-6)


def test_max_scoring_and_item_category_options_train_and_reload(tiny_data, tmp_path, make_config):
    from retrieval.evaluate import evaluate_run

    run = tmp_path / "options"
    train(make_config(scoring="max", use_item_category=True), tiny_data, run)
    model, config = load_trained(run)
    assert config.scoring == "max" and model.item_tower.category_table is not None
    # the category table maps item ids to category ids c0..c3 -> vocabulary ids 2..5
    assert set(model.item_tower.category_table.numpy()[2:].tolist()) == {2, 3, 4, 5}
    assert np.isfinite(evaluate_run(run, tiny_data)["ndcg@20_full"])
