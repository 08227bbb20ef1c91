"""Guards funnel/build.py: the stages run in order, each printed as run, and a re-run resumes.

The fast tests inject a runner that writes each stage's completion marker without
training anything; the slow one runs the real ``funnel build`` (every stage in its own
process) on a tiny generated dataset.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from funnel import build, cli, demo

ROOT = Path(__file__).resolve().parents[2]
STAGE_WORDS = ["preprocess", "train retrieval", "candidates", "train ranking", "export", "evaluate funnel"]
EVALUATION = {"split": "test", "examples": 40, "candidates": 20, "candidate_recall": 0.5, "export_version": 1,
              "retrieval": {"hr@10": 0.25, "ndcg@10": 0.125}, "funnel": {"hr@10": 0.375, "ndcg@10": 0.1875},
              "bootstrap": {"ndcg@10": {"mean": 0.0625, "low": 0.01, "high": 0.1}}}
GATE = {"examples": 40, "order": "ranking", "funnel": {"hr@10": 0.3, "ndcg@10": 0.2},
        "retrieval": {"hr@10": 0.2, "ndcg@10": 0.1}}


class FakeRunner:
    """Records each command and writes what the real stage writes last (its marker); at
    the stage named ``fail_at`` it writes half its output and raises instead."""

    def __init__(self, fail_at: str | None = None):
        self.ran: list[list[str]] = []
        self.fail_at = fail_at

    def __call__(self, args, stdout=None):
        words = " ".join(args[:2]) if args[0] in ("train", "evaluate") else args[0]
        if words == self.fail_at:
            out = Path(args[args.index("--out") + 1])
            out.mkdir(parents=True)
            (out / "half-written").write_text("")
            raise build.StageFailedError(f"`funnel {words}` exited 1")
        self.ran.append(list(args))
        if stdout is not None:
            stdout.write_text(json.dumps(EVALUATION))
            return
        out = Path(args[args.index("--out") + 1])
        out.mkdir(parents=True, exist_ok=True)
        marker = next(stage.marker for stage in build.STAGES if stage.output == out.name)
        (out / marker).write_text(json.dumps({"gate": GATE} if out.name == "export" else {}))

    def words(self):
        return [" ".join(a[:2]) if a[0] in ("train", "evaluate") else a[0] for a in self.ran]


def _options(tmp_path, **stage_flags):
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    return build.BuildOptions(input=str(raw), format="synthetic", out=str(tmp_path / "build"),
                              stage_flags={name: tuple(shlex.split(text)) for name, text in stage_flags.items()})


def _printed_commands(text: str) -> list[str]:
    return [line[2:] for line in text.splitlines() if line.startswith("$ ")]


def test_a_build_runs_every_stage_in_order_and_prints_exactly_what_it_runs(tmp_path, capsys):
    runner = FakeRunner()
    options = _options(tmp_path, retrieval="--epochs 5", evaluate="--candidates 20")
    state = build.run_build(options, run=runner)
    assert runner.words() == STAGE_WORDS
    out = Path(options.out)
    expected = [shlex.join(["funnel", *args]) for args in runner.ran]
    expected[-1] += f" > {out / build.EVALUATION_FILE}"
    assert _printed_commands(capsys.readouterr().out) == expected
    retrieval = runner.ran[1]
    assert "--model" not in retrieval                  # the README's retrieval: the config's defaults
    assert retrieval[retrieval.index("--epochs") + 1] == "5"
    ranking = runner.ran[3]
    assert ranking[ranking.index("--candidates") + 1] == str(out / "candidates")  # the list ranker
    export = runner.ran[4]
    assert export[export.index("--data") + 1] == str(out / "data")  # the gate
    assert [stage for stage in state["stages"]] == list(build.STAGE_NAMES)
    assert state["stages"]["retrieval"]["command"] == retrieval


def test_a_rerun_resumes_at_the_stage_that_failed_and_skips_the_finished_ones(tmp_path, capsys):
    options = _options(tmp_path)
    failing = FakeRunner(fail_at="train ranking")
    with pytest.raises(build.StageFailedError):
        build.run_build(options, run=failing)
    assert failing.words() == STAGE_WORDS[:3]
    assert (Path(options.out) / "ranking" / "half-written").exists()
    capsys.readouterr()

    resumed = FakeRunner()
    build.run_build(options, run=resumed)
    assert resumed.words() == ["train ranking", "export", "evaluate funnel"]
    assert not (Path(options.out) / "ranking" / "half-written").exists()  # its folder was cleared
    printed = capsys.readouterr().out
    assert len(_printed_commands(printed)) == 3 and printed.count("finished earlier") == 3

    again = FakeRunner()
    build.run_build(options, run=again)
    assert again.ran == []


def test_changing_a_stages_flags_reruns_it_and_every_later_stage(tmp_path):
    build.run_build(_options(tmp_path), run=FakeRunner())
    rerun = FakeRunner()
    build.run_build(_options(tmp_path, candidates="--folds 3"), run=rerun)
    assert rerun.words() == STAGE_WORDS[2:]


def test_a_deleted_marker_makes_its_stage_unfinished(tmp_path):
    options = _options(tmp_path)
    build.run_build(options, run=FakeRunner())
    (Path(options.out) / "export" / "manifest.json").unlink()
    rerun = FakeRunner()
    build.run_build(options, run=rerun)
    assert rerun.words() == ["export", "evaluate funnel"]


def test_a_bad_stage_flag_is_refused_before_anything_runs(tmp_path):
    runner = FakeRunner()
    with pytest.raises(ValueError, match="--ranking-flags: .*--epoch-count"):
        build.run_build(_options(tmp_path, ranking="--epoch-count 2"), run=runner)
    with pytest.raises(ValueError, match="--retrieval-flags: .*epochs"):
        build.run_build(_options(tmp_path, retrieval="--epochs -1"), run=runner)
    assert runner.ran == [] and not (tmp_path / "build").exists()


def test_an_out_that_is_not_a_build_folder_is_refused(tmp_path, capsys):
    (tmp_path / "raw").mkdir()
    out = tmp_path / "elsewhere"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code = cli.main(["build", "--input", str(tmp_path / "raw"), "--format", "synthetic", "--out", str(out)])
    assert code == 2 and "not a `funnel build` folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_missing_input_is_one_line_exit_2_and_creates_nothing(tmp_path):
    out = tmp_path / "build"
    code = ("import sys; from funnel import cli; code = cli.main(sys.argv[1:]); "
            "print([m for m in ('tensorflow', 'apache_beam') if m in sys.modules]); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, "build", "--input", str(tmp_path / "nope"),
                           "--format", "movielens-100k", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"funnel build: error: --input {tmp_path / 'nope'}: "
                                                "no such file or folder"]
    assert done.stdout.strip() == "[]" and not out.exists()


def test_the_summary_shows_both_orders_the_gate_and_the_serve_command(tmp_path):
    options = _options(tmp_path)
    state = build.run_build(options, run=FakeRunner())
    text = build.summary(options, state)
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()
            if line.startswith("  r") and " - " not in line}
    assert rows["retrieval"] == ["0.2500", "0.1250"] and rows["ranking"] == ["0.3750", "0.1875"]
    assert "the service orders by ranking" in text
    assert f"funnel serve --export {Path(options.out) / 'export'}" in text
    assert len(text.splitlines()) <= 24  # one screen


@pytest.mark.slow
def test_funnel_build_runs_end_to_end_on_tiny_data_and_a_rerun_runs_nothing(tmp_path, capsys):
    raw, out = tmp_path / "raw", tmp_path / "build"
    assert cli.main(["generate", "--out", str(raw), "--seed", "7", *demo.TINY_OPTIONS["generate"]]) == 0
    arguments = demo.build_arguments(raw, out, tiny=True)
    capsys.readouterr()
    assert cli.main(["build", *arguments]) == 0  # the real thing: each stage its own process
    printed = capsys.readouterr().out
    assert len(_printed_commands(printed)) == 6
    assert "funnel build: done" in printed and f"funnel serve --export {out / 'export'}" in printed
    evaluation = json.loads((out / build.EVALUATION_FILE).read_text())
    assert evaluation["split"] == "test" and 0.0 <= evaluation["funnel"]["hr@10"] <= 1.0
    manifest = json.loads((out / "export" / "manifest.json").read_text())
    assert manifest["ranking_inputs"]["candidate_features"]  # the ranker learnt from candidate lists
    assert manifest["gate"]["order"] in ("ranking", "retrieval")

    assert cli.main(["build", *arguments]) == 0
    printed = capsys.readouterr().out
    assert _printed_commands(printed) == [] and printed.count("finished earlier") == 6
