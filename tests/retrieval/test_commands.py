"""Guards retrieval/commands.py: flags from RetrievalConfig, and ``--preset``."""

import argparse

import pytest

import funnel  # noqa: F401
from retrieval.commands import add_config_flags, config_from_args


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    return config_from_args(parser.parse_args(argv))


def test_idw_synthetic_preset_is_the_authors_synthetic_config_and_flags_win():
    config = _parse(["--preset", "idw-synthetic", "--epochs", "3"])
    assert (config.model, config.interests, config.output_dim, config.item_hidden) == ("mur", 3, 2, ())
    assert (config.learning_rate, config.batch_size, config.encoder_layers) == (0.1, 128, 0)
    assert config.epochs == 3


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
