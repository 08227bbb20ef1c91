"""Every command refuses a missing input folder before importing TensorFlow or Beam and before
creating anything: a real ``python -m funnel.cli`` process exits 2 with one line naming the flag
and the path, imports neither library (read from ``-X importtime``, which lists every module the
process imported), and leaves ``--out`` absent.

The wall-time bound is generous (3 s) so a loaded 2-core machine does not fail it; the imports
are the robust check. Idle, each refusal takes about 0.1 s (it took 8-17 s when the handlers
imported TensorFlow or Beam first)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "apache_beam", "scann")
TIME_BOUND_S = 3.0

COMMANDS = {
    # command: (argv with {missing} and {out}, the flag the error line must name)
    "preprocess": ("preprocess --input {missing} --format events --out {out}", "--input"),
    "generate": ("generate --out {file}", "--out"),
    "train retrieval": ("train retrieval --data {missing} --out {out}", "--data"),
    "train ranking": ("train ranking --data {missing} --out {out}", "--data"),
    "train ranking --candidates": ("train ranking --data {data} --candidates {missing} --out {out}",
                                   "--candidates"),
    "evaluate retrieval": ("evaluate retrieval --run {missing} --data {data}", "--run"),
    "evaluate ranking": ("evaluate ranking --run {missing} --data {data}", "--run"),
    "evaluate funnel": ("evaluate funnel --export {missing} --data {data}", "--export"),
    "experiment retrieval": ("experiment retrieval --data {missing} --out {out}", "--data"),
    "experiment ranking": ("experiment ranking --data {missing} --report table4 --out {out}", "--data"),
    "candidates": ("candidates --data {data} --retrieval {missing} --out {out}", "--retrieval"),
    "export": ("export --retrieval {missing} --ranking {missing} --out {out}", "--retrieval"),
    "export verify": ("export verify {missing}", "EXPORT"),
    "serve": ("serve --export {missing}", "--export"),
}


def preprocess_output(root: Path) -> Path:
    """A folder with the feature map `funnel preprocess` writes (its presence is all preflight reads)."""
    from funnel import schema

    folder = root / "data"
    folder.mkdir()
    schema.Layout(folder).feature_map.write_text("{}")
    return folder


def imported_modules(importtime_stderr: str) -> set[str]:
    """Module names of ``-X importtime`` lines (``import time: self | cumulative | name``)."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime_stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_missing_input_is_refused_at_once_without_tensorflow_or_beam(command, tmp_path):
    argv_text, flag = COMMANDS[command]
    (tmp_path / "a_file").write_text("not a folder")
    places = {"missing": tmp_path / "nowhere", "out": tmp_path / "out", "file": tmp_path / "a_file",
              "data": preprocess_output(tmp_path)}
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = argv_text.format(**places).split()

    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "funnel.cli", *argv],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    seconds = time.perf_counter() - start

    lines = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stdout == ""
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"funnel {command.split()[0]}: error: {flag} "), lines[0]
    assert "Errno" not in lines[0]
    modules = imported_modules(done.stderr)
    assert "funnel.preflight" in modules  # the importtime listing is read right
    assert not {name for name in modules if name.split(".")[0] in HEAVY}
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # --out not created
    assert seconds < TIME_BOUND_S, f"{command}: {seconds:.2f} s"
