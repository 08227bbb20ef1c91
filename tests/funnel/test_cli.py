"""The ``funnel`` command line as a user meets it: fast help, flags checked before any work."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from funnel import cli, flags

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "apache_beam", "scann")


def _leaf_parsers(parser: argparse.ArgumentParser, path=()):
    """``(argv prefix, parser)`` of every command that runs something."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for name, child in subparsers[0].choices.items():
        yield from _leaf_parsers(child, (*path, name))


LEAVES = list(_leaf_parsers(cli.build_parser()))


def _options(parser):
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def test_building_the_parser_imports_no_tensorflow_beam_or_scann():
    code = ("import sys; from funnel import cli; cli.build_parser(); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_every_command_is_reachable():
    assert {" ".join(path) for path, _ in LEAVES} == {
        "generate", "preprocess", "candidates", "train retrieval", "train ranking", "evaluate retrieval",
        "evaluate ranking", "evaluate funnel", "experiment retrieval", "experiment ranking",
        "export", "serve", "build"}


@pytest.mark.parametrize("path, parser", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_flag_has_help_that_states_its_default(path, parser):
    formatter = parser._get_formatter()
    for action in _options(parser):
        assert action.help, f"{action.option_strings} has no help"
        if not action.required:
            shown = formatter._expand_help(action) if "%" in formatter._get_help_string(action) \
                else formatter._get_help_string(action)
            said = "default" in shown.lower() or "required" in shown.lower()
            assert said, f"{action.option_strings}: {shown!r} states no default"
    text = parser.format_help()
    assert "CONFIG_" not in text


@pytest.mark.parametrize("path, parser", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_numeric_flag_rejects_minus_one_while_parsing(path, parser, capsys):
    numeric = [a for a in _options(parser) if a.type is not None and a.type is not str]
    for action in numeric:
        assert action.type not in (int, float), f"{action.option_strings} is an unchecked {action.type}"
        with pytest.raises(SystemExit) as stopped:
            cli.build_parser().parse_args([*path, action.option_strings[0], "-1"])
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and action.option_strings[0] in err, err


def test_min_count_minus_one_fails_at_once_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["preprocess", "--input", str(tmp_path), "--format", "movielens-100k",
                  "--out", str(tmp_path / "out"), "--min-count", "-1"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == ("funnel preprocess: error: argument --min-count: expected an integer >= 1, "
                   "got '-1' (see `funnel preprocess --help`)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, flag", [
    (["train", "ranking", "--data", "d", "--out", "o", "--model", "gbdt"], "--model"),
    (["train", "ranking", "--data", "d", "--out", "o", "--ssem", "nope"], "--ssem"),
    (["train", "ranking", "--data", "d", "--out", "o", "--dfm", "nope"], "--dfm"),
    (["train", "ranking", "--data", "d", "--out", "o", "--loss", "hinge"], "--loss"),
    (["train", "retrieval", "--data", "d", "--out", "o", "--weighting", "nope"], "--weighting"),
    (["experiment", "ranking", "--data", "d", "--out", "o", "--report", "table9"], "--report"),
    (["experiment", "retrieval", "--data", "d", "--out", "o", "--methods", "sur,mur-magic"], "--methods"),
    (["evaluate", "ranking", "--run", "r", "--data", "d", "--threshold", "2"], "--threshold"),
])
def test_unknown_choice_is_a_one_line_error_listing_the_valid_ones(argv, flag, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"argument {flag}" in err


def test_keras_verbosity_is_its_own_flag_beside_the_global_verbose():
    args = cli.build_parser().parse_args(["-v", "train", "retrieval", "--data", "d", "--out", "o",
                                          "--keras-verbose", "0"])
    assert args.verbose is True and args.config_verbose == 0


def test_retrieval_interests_help_states_one_default():
    parser = dict((" ".join(p), x) for p, x in LEAVES)["train retrieval"]
    interests = next(a for a in parser._actions if "--interests" in a.option_strings)
    assert interests.help.lower().count("default") == 1


def test_export_help_shows_build_and_verify_flags_in_separate_groups():
    parser = dict((" ".join(p), x) for p, x in LEAVES)["export"]
    groups = {g.title: {o for a in g._group_actions for o in a.option_strings}
              for g in parser._action_groups}
    build = next(flags_ for title, flags_ in groups.items() if title.startswith("build"))
    verify = next(flags_ for title, flags_ in groups.items() if title.startswith("verify"))
    assert {"--retrieval", "--ranking", "--out", "--min-recall"} <= build
    assert {"--version", "--tolerance"} <= verify


def test_top_level_help_lists_the_commands_in_data_flow_order():
    text = cli.build_parser().format_help()
    order = ["generate", "preprocess", "train", "evaluate", "experiment", "export", "serve"]
    positions = [text.index(f"    {name} ") for name in order]
    assert positions == sorted(positions)
    assert "recommends" in text


def test_export_refuses_a_ranking_run_as_retrieval_before_creating_its_folder(tmp_path, capsys):
    from ranking.config import RankingConfig

    ranking_run = tmp_path / "ranking_run"
    ranking_run.mkdir()
    (ranking_run / "config.json").write_text(json.dumps(RankingConfig().to_dict()))
    out = tmp_path / "export"
    code = cli.main(["export", "--retrieval", str(ranking_run), "--ranking", str(ranking_run),
                     "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"funnel export: error: {ranking_run} is a ranking run; "
                   "--retrieval needs a retrieval run")
    assert not out.exists()


def test_export_verify_on_a_missing_folder_is_a_one_line_user_error(tmp_path, capsys):
    code = cli.main(["export", "verify", str(tmp_path / "nowhere")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.strip() == (f"funnel export: error: EXPORT {tmp_path / 'nowhere'}: no such folder; "
                                  "expected a folder written by `funnel export`")


def test_number_type_names_the_range_it_expects():
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected a number > 0.0 and <= 1.0, got '0'"):
        flags.number(0.0, 1.0, exclusive_minimum=True)("0")
    assert flags.fraction("1") == 1.0 and flags.non_negative_int("0") == 0
