"""Guards funnel/demo.py: ``funnel generate``, then ``funnel build``'s every stage, in data-flow
order, on tiny data.

The steps run in-process through the real CLI entry point (``cli.main``), so one
TensorFlow import serves them all; ``make demo`` runs the same command lines in
subprocesses.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from funnel import cli, demo

pytestmark = pytest.mark.slow


def test_the_demo_runs_every_command_on_tiny_data(tmp_path, capsys):
    ran = []

    def run(args, stdout=None):
        with contextlib.ExitStack() as stack:
            if stdout:  # `evaluate funnel --json > FILE`
                stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(stdout, "w"))))
            code = cli.main(args)
        assert code == 0, f"funnel {' '.join(args)} exited {code}: {capsys.readouterr().err[-2000:]}"
        ran.append(" ".join(args[:2]) if args[0] in ("train", "evaluate") else args[0])

    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--tiny", "--no-serve"], run=run) == 0
    printed = capsys.readouterr().out
    assert ran == ["generate", "preprocess", "train retrieval", "candidates", "train ranking", "export",
                   "evaluate funnel"]
    assert f"$ funnel generate --out {out / 'raw'}" in printed and "Traceback" not in printed
    assert f"$ funnel build --input {out / 'raw'} --format synthetic --out {out / 'build'}" in printed
    assert "funnel build: done" in printed and "HR@10" in printed
    assert f"Demo done: the export is in {out / 'build' / 'export'}." in printed
    evaluation = json.loads((out / "build" / "evaluation.json").read_text())
    assert evaluation["split"] == "test" and evaluation["candidates"] == 20  # --tiny's evaluate flags
    manifest = json.loads((out / "build" / "export" / "manifest.json").read_text())
    assert manifest["verify"] == {"verified": False}  # --tiny skips it; the end-to-end test verifies
    assert manifest["ranking_inputs"]["candidate_features"]  # the ranker learnt from candidate lists
    assert manifest["gate"]["order"] in ("ranking", "retrieval")
