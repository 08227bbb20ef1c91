"""``funnel build``: one command from raw data to a servable export, resumable.

It runs, each as its own ``funnel`` process and each writing its own subfolder of
``--out``: preprocess (``data/``) -> train retrieval (``retrieval/``) -> candidates
(``candidates/``) -> train ranking, the list ranker on those candidates
(``ranking/``) -> export with the gate on ``--data`` (``export/``) -> ``evaluate
funnel --json`` (``evaluation.json``). Every command is printed before it runs, so
a user can re-run or vary one stage by hand.

``OUT/build.json`` records each finished stage's exact command. Re-run, a build
skips a stage whose recorded command is unchanged and whose completion marker
(the file the stage writes last) exists, and resumes at the first other one,
clearing its folder first; every stage after it runs again, since it reads what
that stage writes. Changing a stage's flags therefore re-runs it and what follows; new
data under the same ``--input`` path is not noticed (use a new ``--out``).

The orchestrator sits above every stage and imports none of them: no TensorFlow,
no Beam; it only shells out to ``funnel`` commands and reads their JSON files.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Mapping, Optional

from funnel import cli, flags, schema
from funnel.runs import RunLayout
from pipelines.names import FORMATS

STATE_FILE = "build.json"
"""``OUT/build.json``: the build's input and each finished stage's command and seconds."""
EVALUATION_FILE = "evaluation.json"


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage: its name (``--NAME-flags``), its output under OUT, and the file it writes last."""

    name: str
    output: str
    marker: str
    help: str


STAGES = (
    Stage("preprocess", "data", schema.Layout.STATS, "funnel preprocess"),
    Stage("retrieval", "retrieval", RunLayout.METRICS, "funnel train retrieval"),
    Stage("candidates", "candidates", schema.Layout.STATS, "funnel candidates"),
    Stage("ranking", "ranking", RunLayout.METRICS, "funnel train ranking"),
    Stage("export", "export", "manifest.json", "funnel export"),
    Stage("evaluate", EVALUATION_FILE, "", "funnel evaluate funnel"),
)
"""The stages in data-flow order; an empty ``marker`` means the output is the marker itself."""
STAGE_NAMES = tuple(stage.name for stage in STAGES)
RANKING_DEFAULTS = ("--model", "tf4ctr")
"""The README's ranker, the TF4CTR list ranker; retrieval trains its defaults (the README's
multi-interest two-tower) unless ``--retrieval-flags`` say otherwise."""

Runner = Callable[[list, Optional[Path]], None]
"""Runs ``funnel ARGS``; with a path, the command's standard output goes to that file.
Raises on a non-zero exit."""


@dataclasses.dataclass(frozen=True)
class Step:
    stage: Stage
    args: tuple[str, ...]
    output: Path
    stdout: Optional[Path] = None

    @property
    def marker(self) -> Path:
        return self.output / self.stage.marker if self.stage.marker else self.output

    def shell(self) -> str:
        """The command as a user types it (``> FILE`` when its output is kept)."""
        text = shlex.join(["funnel", *self.args])
        return f"{text} > {shlex.quote(str(self.stdout))}" if self.stdout else text


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    input: str
    format: str
    out: str
    stage_flags: Mapping[str, tuple[str, ...]]
    """Stage name -> flags added to its command, after build's own defaults (so they win)."""
    serve: bool = False
    port: int = 8000


class StageFailedError(RuntimeError):
    """A stage's command exited non-zero; what it wrote stays for inspection."""


def run_in_subprocess(args: list[str], stdout: Optional[Path] = None) -> None:
    """Run ``funnel ARGS`` as a user would, in its own process; a failure raises."""
    command = [sys.executable, "-m", "funnel.cli", *args]
    with open(stdout, "w") if stdout else contextlib.nullcontext() as handle:
        completed = subprocess.run(command, stdout=handle)
    if completed.returncode:
        raise StageFailedError(f"`funnel {' '.join(args[:2])}` exited {completed.returncode}")


def plan(options: BuildOptions) -> list[Step]:
    """The commands of every stage, in order, with ``--out``'s subfolders."""
    out = Path(options.out)
    data, retrieval, candidates, ranking, export, evaluation = (out / stage.output for stage in STAGES)
    extra = {name: tuple(options.stage_flags.get(name, ())) for name in STAGE_NAMES}
    commands = {
        "preprocess": ("preprocess", "--input", options.input, "--format", options.format,
                       *extra["preprocess"], "--out", str(data)),
        "retrieval": ("train", "retrieval", "--data", str(data), *extra["retrieval"],
                      "--out", str(retrieval), "--overwrite"),
        "candidates": ("candidates", "--data", str(data), "--retrieval", str(retrieval), *extra["candidates"],
                       "--out", str(candidates)),
        "ranking": ("train", "ranking", "--data", str(data), "--candidates", str(candidates),
                    *RANKING_DEFAULTS, *extra["ranking"], "--out", str(ranking), "--overwrite"),
        "export": ("export", "--retrieval", str(retrieval), "--ranking", str(ranking), "--data", str(data),
                   *extra["export"], "--out", str(export)),
        "evaluate": ("evaluate", "funnel", "--export", str(export), "--data", str(data), *extra["evaluate"],
                     "--json"),
    }
    return [Step(stage, commands[stage.name], out / stage.output,
                 evaluation if stage.name == "evaluate" else None) for stage in STAGES]


def check_commands(steps: list[Step]) -> None:
    """Parse every stage's command now, so a bad ``--NAME-flags`` fails in a second, not after
    the stages before it ran (Beam options of preprocess and candidates are checked by Beam)."""
    parser = cli.build_parser()
    for step in steps:
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors):
                args, extra = parser.parse_known_args(list(step.args))
        except SystemExit:
            message = errors.getvalue().strip().splitlines()[-1:] or ["does not parse"]
            raise ValueError(f"--{step.stage.name}-flags: {message[0]}") from None
        if extra and not getattr(args, "accepts_extra", False):
            raise ValueError(f"--{step.stage.name}-flags: `{step.stage.help}` does not know "
                             f"{' '.join(extra)} (see `{step.stage.help} --help`)")


def claim(out: Path) -> dict:
    """The build state in ``out`` (empty for a new build); refuses a folder that is not a build's."""
    state_file = out / STATE_FILE
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out}: exists and is not a folder")
    if state_file.exists():
        return json.loads(state_file.read_text())
    if out.is_dir() and any(out.iterdir()):
        raise FileExistsError(f"--out {out} holds files but no {STATE_FILE}: it is not a `funnel build` "
                              "folder; refusing to write beside what it holds (choose a new folder)")
    return {"stages": {}}


def save_state(out: Path, state: dict) -> None:
    partial = out / (STATE_FILE + ".partial")
    partial.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(partial, out / STATE_FILE)


def is_finished(step: Step, state: dict) -> bool:
    record = state["stages"].get(step.stage.name)
    return record is not None and record["command"] == list(step.args) and step.marker.exists()


def _clear(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def run_build(options: BuildOptions, run: Runner = run_in_subprocess,
              echo: Callable[[str], None] = print) -> dict:
    """Run the stages not finished yet; return the build state (every stage recorded)."""
    out = Path(options.out)
    steps = plan(options)
    check_commands(steps)
    state = claim(out)
    out.mkdir(parents=True, exist_ok=True)
    state.update(input=options.input, format=options.format)
    resuming = False
    for step in steps:
        if not resuming and is_finished(step, state):
            echo(f"\n# {step.stage.name}: finished earlier ({step.marker} exists), skipped")
            continue
        if not resuming and step.stage.name in state["stages"]:
            echo(f"\n# {step.stage.name}: its command changed since it ran; it and every later stage run again")
        resuming = True
        state["stages"].pop(step.stage.name, None)
        save_state(out, state)
        _clear(step.output)
        echo(f"\n$ {step.shell()}")
        started = time.perf_counter()
        if step.stdout is None:
            run(list(step.args), None)
        else:
            partial = step.stdout.with_name(step.stdout.name + ".partial")
            run(list(step.args), partial)
            os.replace(partial, step.stdout)
        seconds = time.perf_counter() - started
        echo(f"  ({seconds:.1f} s)")
        state["stages"][step.stage.name] = {"command": list(step.args), "seconds": round(seconds, 1)}
        save_state(out, state)
    state["serve"] = ["serve", "--export", str(out / "export"), *(
        ("--port", str(options.port)) if options.port != 8000 else ())]
    return state


def summary(options: BuildOptions, state: dict) -> str:
    """One screen: time per stage, both orders on the test users, the gate, how to serve."""
    out = Path(options.out)
    evaluation = json.loads((out / EVALUATION_FILE).read_text())
    manifest = json.loads((out / "export" / "manifest.json").read_text())
    seconds = sum(state["stages"][stage.name]["seconds"] for stage in STAGES)
    lines = [f"\nfunnel build: done ({out}; stages {seconds:.0f} s in all)"]
    for stage in STAGES:
        record = state["stages"][stage.name]
        lines.append(f"  {stage.help:24s} {record['seconds']:>8.1f} s   {out / stage.output}")
    lines.append(f"\n{evaluation['split']} users: {evaluation['examples']}, full catalog, "
                 f"{evaluation['candidates']} candidates (candidate recall {evaluation['candidate_recall']:.4f})")
    lines.append(f"  {'order':10s} {'HR@10':>7s} {'NDCG@10':>8s}")
    for label, key in (("retrieval", "retrieval"), ("ranking", "funnel")):
        lines.append(f"  {label:10s} {evaluation[key]['hr@10']:7.4f} {evaluation[key]['ndcg@10']:8.4f}")
    for name, interval in evaluation.get("bootstrap", {}).items():
        lines.append(f"  ranking - retrieval {name}: {interval['mean']:+.4f} "
                     f"(95% CI {interval['low']:+.4f} .. {interval['high']:+.4f})")
    gate = manifest.get("gate")
    if gate:
        lines.append(f"gate ({gate['examples']} validation users): NDCG@10 ranking "
                     f"{gate['funnel']['ndcg@10']:.4f} vs retrieval {gate['retrieval']['ndcg@10']:.4f}, "
                     f"HR@10 {gate['funnel']['hr@10']:.4f} vs {gate['retrieval']['hr@10']:.4f} "
                     f"-> the service orders by {gate['order']}")
    lines.append(f"export: {out / 'export'} (version {evaluation['export_version']})")
    lines.append(f"serve it: {shlex.join(['funnel', *state['serve']])}")
    return "\n".join(lines)


def build_command(args: argparse.Namespace) -> int:
    if not Path(args.input).exists():  # before any folder is created or anything heavy imported
        raise FileNotFoundError(f"--input {args.input}: no such file or folder")
    options = options_from_args(args)
    resume = "run the same `funnel build` again: it resumes at that stage"
    try:
        state = run_build(options)
    except StageFailedError as error:
        print(f"funnel build: {error}; fix it and {resume}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nfunnel build: interrupted; {resume}", file=sys.stderr)
        return 130
    print(summary(options, state), flush=True)
    if args.serve:
        print(f"\n$ {shlex.join(['funnel', *state['serve']])}", flush=True)
        try:
            run_in_subprocess(state["serve"])
        except KeyboardInterrupt:
            pass
        except StageFailedError as error:
            print(f"funnel build: {error}", file=sys.stderr)
            return 1
    return 0


def options_from_args(args: argparse.Namespace) -> BuildOptions:
    return BuildOptions(
        input=args.input, format=args.format, out=args.out, serve=args.serve, port=args.port,
        stage_flags={name: tuple(token for text in getattr(args, f"{name}_flags") or ()
                                 for token in shlex.split(text)) for name in STAGE_NAMES})


DESCRIPTION = """\
From raw data to a servable export in one command: preprocess -> train retrieval (MUR with
IDW) -> candidates -> train ranking (the TF4CTR list ranker on those candidates) -> export
(gate on the data's validation users) -> evaluate funnel (test users), each stage a `funnel`
command in its own process, printed before it runs, writing its own part of --out:
data/, retrieval/, candidates/, ranking/, export/, evaluation.json. Ends with both orders'
HR@10 and NDCG@10, the gate's decision and the `funnel serve` command."""
FLAGS_HELP = """\
Each --STAGE-flags TEXT adds TEXT (split like a shell line) to that stage's command, after
build's own defaults, so it can override them; repeat it for more. E.g.
  --retrieval-flags "--epochs 5 --seed 7" --ranking-flags "--set hidden_units=[64]"
  --export-flags=--no-verify   (one word alone needs the = form)
Re-running the same funnel build resumes at the first unfinished stage; changing a stage's
flags re-runs that stage and every later one."""


def register(groups) -> None:
    parser: argparse.ArgumentParser = groups["build"]
    parser.description = DESCRIPTION
    parser.epilog = FLAGS_HELP
    parser.add_argument("--input", required=True, help="the raw data, as `funnel preprocess --input`")
    parser.add_argument("--format", required=True, choices=FORMATS, help="as `funnel preprocess --format`")
    parser.add_argument("--out", required=True,
                        help="the build folder: new, empty, or an earlier build to resume")
    for stage in STAGES:
        parser.add_argument(f"--{stage.name}-flags", action="append", metavar="TEXT",
                            help=f"flags added to `{stage.help}` (default: none)")
    parser.add_argument("--serve", action=argparse.BooleanOptionalAction, default=False,
                        help="start `funnel serve` on the export when the build is done")
    parser.add_argument("--port", type=flags.integer(0, 65535), default=8000, help="port of --serve")
    parser.set_defaults(handler=build_command)
