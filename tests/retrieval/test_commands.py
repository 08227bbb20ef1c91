"""Guards retrieval/commands.py: flags from RetrievalConfig, ``--preset``, and the refusal of
bad output folders and empty splits before training."""

from __future__ import annotations

import argparse
import shutil

import pytest

from funnel import cli, schema
from retrieval.commands import add_config_flags, config_from_args


def test_train_refuses_a_non_empty_out_without_overwrite(tiny_data, tmp_path, capsys, tiny_flags):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code = cli.main(["train", "retrieval", "--data", str(tiny_data), "--out", str(out), *tiny_flags])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"funnel train: error: --out {out} is not empty") and len(err.splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_overwrite_replaces_an_earlier_run(tiny_data, tmp_path, tiny_flags):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.json").write_text("{}")
    assert cli.main(["train", "retrieval", "--data", str(tiny_data), "--out", str(out), "--model", "sur",
                     "--overwrite", *tiny_flags]) == 0
    assert (out / "config.json").exists() and not (out / "stale.json").exists()


def test_train_refuses_a_split_without_examples(tiny_data, tmp_path, capsys, tiny_flags):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    for path in schema.Layout(data).retrieval_files(schema.TRAIN):
        path.write_bytes(b"")
    out = tmp_path / "run"
    code = cli.main(["train", "retrieval", "--data", str(data), "--out", str(out), *tiny_flags])
    assert code == 2
    assert "the train split has no retrieval examples" in capsys.readouterr().err
    assert not out.exists()



def _parse(argv):
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    return config_from_args(parser.parse_args(argv))


def test_idw_synthetic_preset_is_the_authors_synthetic_config_and_flags_win():
    config = _parse(["--preset", "idw-synthetic", "--epochs", "3"])
    assert (config.model, config.interests, config.output_dim, config.item_hidden) == ("mur", 3, 2, ())
    assert (config.learning_rate, config.batch_size, config.encoder_layers) == (0.1, 128, 0)
    assert config.epochs == 3


def test_item_hidden_none_is_the_identity_item_tower_and_bad_sizes_are_refused(capsys):
    config = _parse(["--item-hidden", "none", "--embedding-dim", "32"])
    assert (config.item_hidden, config.output_dim) == ((), 32)
    assert _parse(["--item-hidden", "64,32"]).item_hidden == (64, 32)
    for bad in ("", "0", "a,b"):
        with pytest.raises(SystemExit):
            _parse(["--item-hidden", bad])
        assert "--item-hidden" in capsys.readouterr().err


def test_idw_official_preset_sets_the_authors_loop():
    config = _parse(["--preset", "idw-official"])
    assert (config.weighting, config.idw_update, config.idw_momentum, config.idw_eta,
            config.idw_max_rounds) == ("idw", "official", 0.8, 2e-4, 5)
    assert _parse([]).idw_update == "paper"


def test_idw_movielens_preset_has_the_authors_temperature():
    config = _parse(["--preset", "idw-movielens", "--model", "mur"])
    assert (config.temperature, config.interests, config.output_dim, config.learning_rate,
            config.batch_size) == (0.01, 3, 4, 0.001, 512)


def test_unknown_preset_and_update_are_refused(capsys):
    with pytest.raises(SystemExit):
        _parse(["--preset", "idw-fast"])
    assert "invalid choice: 'idw-fast'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parse(["--idw-update", "kde"])


def test_sasrec_trains_with_its_own_defaults_unless_a_flag_says_otherwise():
    from retrieval.config import PRESETS, RetrievalConfig

    sasrec = _parse(["--model", "sasrec"])
    assert sasrec.batch_size == PRESETS["sasrec"]["batch_size"] != RetrievalConfig().batch_size
    assert sasrec.encoder_heads == PRESETS["sasrec"]["encoder_heads"] != RetrievalConfig().encoder_heads
    assert _parse(["--model", "sasrec", "--batch-size", "7"]).batch_size == 7
    assert _parse([]).batch_size == RetrievalConfig().batch_size      # the two towers keep theirs
