"""Bad input to ``train``, ``evaluate``, ``export``, ``serve`` and ``generate``, as preprocess
already handles it: exit 2, one line on stderr naming the flag or path and the problem, no
traceback, and nothing created. In-process through ``cli.main``; the last test runs the
installed entry point in a subprocess to show the same holds for a real process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from funnel import cli
from funnel import config as config_lib

ROOT = Path(__file__).resolve().parents[2]


def run_folder(root: Path, kind: str) -> Path:
    """A folder holding only the ``config.json`` a ``funnel train <kind>`` run writes."""
    from ranking.config import RankingConfig
    from retrieval.config import RetrievalConfig

    folder = root / f"{kind}_run"
    folder.mkdir()
    config = {"ranking": RankingConfig, "retrieval": RetrievalConfig}[kind]()
    (folder / "config.json").write_text(json.dumps(config_lib.to_dict(config)))
    return folder


def preprocess_output(root: Path) -> Path:
    """A folder that looks like a `funnel preprocess` output (feature_map.json, stats.json)."""
    from funnel import schema

    folder = root / "data"
    folder.mkdir()
    feature_map = schema.FeatureMap(schema_version=schema.SCHEMA_VERSION, vocab_sizes={schema.ITEM_ID: 5},
                                    max_sequence_length=schema.MAX_SEQUENCE_LENGTH,
                                    eval_negatives=schema.EVAL_NEGATIVES, min_count=1,
                                    dataset_format="events", has_clusters=False)
    schema.Layout(folder).feature_map.write_text(feature_map.to_json())
    schema.Layout(folder).stats.write_text(json.dumps({"rows_read": 1}))
    return folder


CASES = {
    # id: (argv with {tmp}, {ranking_run}, {retrieval_run}, {data} placeholders, expected error line;
    # "<three keys>" stands for three of the other stage's option names)
    "train retrieval, no data": (
        "train retrieval --data {tmp}/nowhere --out {tmp}/out",
        "funnel train: error: --data {tmp}/nowhere: no such folder; expected the output folder of "
        "`funnel preprocess`"),
    "train ranking, no data": (
        "train ranking --data {tmp}/nowhere --out {tmp}/out",
        "funnel train: error: --data {tmp}/nowhere: no such folder; expected the output folder of "
        "`funnel preprocess`"),
    "train ranking, data given as candidates": (
        "train ranking --data {data} --candidates {data} --out {tmp}/out",
        "funnel train: error: --candidates {data}: holds no lists/*.tfrecord; expected the --out folder "
        "of `funnel candidates`"),
    "evaluate retrieval, a ranking run": (
        "evaluate retrieval --run {ranking_run} --data {data}",
        "funnel evaluate: error: {ranking_run}/config.json was not written by `funnel train retrieval` "
        "(unknown option(s) <three keys>, ...): is {ranking_run} a run "
        "of another stage?"),
    "evaluate ranking, a retrieval run": (
        "evaluate ranking --run {retrieval_run} --data {data}",
        "funnel evaluate: error: {retrieval_run}/config.json was not written by `funnel train ranking` "
        "(unknown option(s) <three keys>, ...): is {retrieval_run} a run "
        "of another stage?"),
    "evaluate funnel, no data": (
        "evaluate funnel --export {tmp}/export --data {tmp}/nowhere",
        "funnel evaluate: error: --data {tmp}/nowhere: no such folder; expected the output folder of "
        "`funnel preprocess`"),
    "evaluate funnel, no export": (
        "evaluate funnel --export {tmp}/export --data {data}",
        "funnel evaluate: error: --export {tmp}/export: no such folder; expected a folder written by "
        "`funnel export`"),
    "export, no run": (
        "export --retrieval {tmp}/nowhere --ranking {ranking_run} --out {tmp}/out",
        "funnel export: error: --retrieval {tmp}/nowhere: no such folder; expected a run folder of "
        "`funnel train retrieval`"),
    "export, runs swapped": (
        "export --retrieval {retrieval_run} --ranking {retrieval_run} --out {tmp}/out",
        "funnel export: error: {retrieval_run} is a retrieval run; --ranking needs a ranking run"),
    "export, no --retrieval": (
        "export --ranking {ranking_run} --out {tmp}/out",
        "funnel export: error: funnel export needs --retrieval"),
    "export, an unfinished run": (
        "export --retrieval {retrieval_run} --ranking {ranking_run} --out {tmp}/out",
        "funnel export: error: {retrieval_run}/dataset has no feature_map.json: {retrieval_run} is not a "
        "complete training run"),
    "serve, no export": (
        "serve --export {tmp}/nowhere",
        "funnel serve: error: --export {tmp}/nowhere: no such folder; expected a folder written by "
        "`funnel export`"),
    "serve, tfserving without its url": (
        "serve --export {tmp}/nowhere --backend tfserving",
        "funnel serve: error: tfserving_url: required with backend 'tfserving'"),
    "serve, workers that would never reload": (
        "serve --export {tmp}/nowhere --workers 2 --reload-interval 0",
        "funnel serve: error: reload_interval_s: must be > 0 with several workers: /admin/reload reaches "
        "one worker, the others see a new version only by polling"),
    "generate, fewer items than clusters": (
        "generate --out {tmp}/out --items 2 --clusters 4",
        "funnel generate: error: items (--items): got 2, expected at least --clusters (4) so every "
        "cluster has an item"),
}


@pytest.fixture
def places(tmp_path):
    return {"tmp": str(tmp_path), "data": str(preprocess_output(tmp_path)),
            "ranking_run": str(run_folder(tmp_path, "ranking")),
            "retrieval_run": str(run_folder(tmp_path, "retrieval"))}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_creates_nothing(case, places, capsys):
    argv, expected = (text.format(**places) for text in CASES[case])
    before = sorted(p.name for p in Path(places["tmp"]).iterdir())
    assert cli.main(argv.split()) == 2
    captured = capsys.readouterr()
    pattern = re.escape(expected).replace(re.escape("<three keys>"), "[a-z_0-9]+, [a-z_0-9]+, [a-z_0-9]+")
    assert re.fullmatch(pattern, captured.err.strip()), captured.err
    assert captured.out == ""
    assert sorted(p.name for p in Path(places["tmp"]).iterdir()) == before  # no out, export, ...


def test_the_installed_command_exits_2_with_one_line_and_no_traceback(tmp_path):
    out = tmp_path / "export"
    done = subprocess.run([sys.executable, "-m", "funnel.cli", "export", "--ranking", str(tmp_path),
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == ["funnel export: error: funnel export needs --retrieval"]
    assert not out.exists()
