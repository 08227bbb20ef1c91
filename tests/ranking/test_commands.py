"""``funnel train ranking`` refuses bad output folders and empty splits before it trains."""

from __future__ import annotations

import shutil

from funnel import cli, schema


def test_train_refuses_a_non_empty_out_without_overwrite(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code = cli.main(["train", "ranking", "--data", str(tiny_data), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"funnel train: error: --out {out} is not empty") and len(err.splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_train_refuses_a_split_without_examples(tiny_data, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    for path in schema.Layout(data).ranking_files(schema.VALIDATION):
        path.write_bytes(b"")
    out = tmp_path / "run"
    code = cli.main(["train", "ranking", "--data", str(data), "--out", str(out)])
    assert code == 2
    assert "the validation split has no ranking examples" in capsys.readouterr().err
    assert not out.exists()


def _parsed(argv):
    return cli.build_parser().parse_args(["train", "ranking", "--data", "d", "--out", "o", *argv])


def test_rankers_of_candidate_lists_default_to_small_encoders_that_flags_override():
    from ranking.commands import config_from_args

    pointwise = config_from_args(_parsed([]))
    lists = config_from_args(_parsed(["--candidates", "c"]))
    chosen = config_from_args(_parsed(["--candidates", "c", "--set", "hidden_units=[400,400,400]"]))
    assert pointwise.hidden_units == (400, 400, 400) and not pointwise.lists
    assert (lists.hidden_units, lists.simple_hidden_units, lists.lists) == ((128, 64), (64, 32), True)
    assert chosen.hidden_units == (400, 400, 400) and chosen.simple_hidden_units == (64, 32)
    assert (pointwise.attention_history, lists.attention_history) == (0, 10)
    whole = config_from_args(_parsed(["--candidates", "c", "--set", "attention_history=0"]))
    assert whole.attention_history == 0


def test_a_run_saved_before_attention_history_keeps_its_whole_history():
    """Configs written before the field existed load with 0 (all slots), as they were trained."""
    from ranking.config import RankingConfig

    saved = RankingConfig(model="tf4ctr", lists=True, attention_history=10).to_dict()
    del saved["attention_history"]
    assert RankingConfig.from_dict(saved).attention_history == 0
