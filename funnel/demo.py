"""``make demo``: the whole funnel on a synthetic dataset, one CLI command per stage.

Each step is printed before it runs, so the demo doubles as a worked example of
the commands a user types; it replaces the runs of an earlier demo in ``--out``. It ends with the service running and a sample
recommendation printed; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

DEMO_RETRIEVAL_OPTIONS = ("--epochs", "3", "--idw-max-rounds", "2", "--idw-wake-epochs", "1",
                          "--idw-calibration-epochs", "1")
"""Few epochs and IDW rounds: the demo shows the flow in minutes, not the best model."""
DEMO_RANKING_OPTIONS = ("--epochs", "2")
DEMO_CANDIDATE_OPTIONS = ("--folds", "2", "--positions-per-user", "10")
TINY_OPTIONS = {
    "generate": ("--users", "40", "--items", "60", "--clusters", "4", "--length", "12"),
    "preprocess": ("--eval-negatives", "20", "--num-shards", "1"),
    "retrieval": ("--epochs", "1", "--idw-max-rounds", "1", "--idw-wake-epochs", "1",
                  "--idw-calibration-epochs", "1", "--embedding-dim", "8", "--item-hidden", "8",
                  "--encoder-layers", "1", "--encoder-heads", "2", "--batch-size", "64",
                  "--keras-verbose", "0"),
    "candidates": ("--folds", "2", "--positions-per-user", "3", "--candidates", "20"),
    "ranking": ("--epochs", "1", "--embedding-dim", "4", "--set", "hidden_units=[8]",
                "--set", "simple_hidden_units=[8]"),
    "export": ("--held-out-queries", "50", "--gate-candidates", "20", "--no-verify"),
    "evaluate": ("--candidates", "20"),
}
"""``--tiny``: the same commands on a tiny dataset with tiny models, a smoke run (the test
suite's) that shows every step works, not what the models can do. The export skips its
fresh-process verify (the end-to-end test verifies every format's export)."""


def run_in_subprocess(args: list[str]) -> None:
    """Run ``funnel ARGS`` as a user would, in its own process; a failure stops the demo."""
    subprocess.run([sys.executable, "-m", "funnel.cli", *args], check=True)


def _step(run: Callable[[list[str]], None], args: list[str]) -> None:
    print(f"\n$ {shlex.join(['funnel', *args])}", flush=True)
    started = time.perf_counter()
    run(args)
    print(f"  ({time.perf_counter() - started:.1f} s)", flush=True)


def main(argv: list[str] | None = None, run: Callable[[list[str]], None] = run_in_subprocess) -> int:
    """Run the demo; ``run`` executes one ``funnel`` command line (a test runs them in-process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo", help="folder for everything the demo writes")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-serve", action="store_true", help="stop after the export")
    parser.add_argument("--tiny", action="store_true",
                        help="a tiny dataset and tiny models: a smoke run of every step")
    args = parser.parse_args(argv)
    out = Path(args.out)
    raw, data, runs, export = out / "raw", out / "data", out / "runs", out / "export"
    tiny = TINY_OPTIONS if args.tiny else {}

    _step(run, ["generate", "--out", str(raw), "--seed", "7", *tiny.get("generate", ())])
    _step(run, ["preprocess", "--input", str(raw), "--format", "synthetic", "--out", str(data),
                "--seed", "7", *tiny.get("preprocess", ())])
    retrieval_run, ranking_run = runs / "retrieval", runs / "ranking"
    _step(run, ["train", "retrieval", "--data", str(data), "--model", "mur", "--weighting", "idw",
                *tiny.get("retrieval", DEMO_RETRIEVAL_OPTIONS), "--seed", "7", "--out", str(retrieval_run),
                "--overwrite"])
    _step(run, ["evaluate", "retrieval", "--run", str(retrieval_run), "--data", str(data)])
    candidates = out / "candidates"
    _step(run, ["candidates", "--data", str(data), "--retrieval", str(retrieval_run),
                *tiny.get("candidates", DEMO_CANDIDATE_OPTIONS), "--seed", "7", "--out", str(candidates)])
    _step(run, ["train", "ranking", "--data", str(data), "--candidates", str(candidates), "--model", "tf4ctr",
                *tiny.get("ranking", DEMO_RANKING_OPTIONS), "--seed", "7", "--out", str(ranking_run),
                "--overwrite"])
    _step(run, ["export", "--retrieval", str(retrieval_run), "--ranking", str(ranking_run),
                "--data", str(data), "--out", str(export), *tiny.get("export", ())])
    _step(run, ["evaluate", "funnel", "--export", str(export), "--data", str(data), *tiny.get("evaluate", ())])
    if args.no_serve:
        print(f"\nDemo done: the export is in {export}.")
        return 0

    from serving import launch

    url = f"http://127.0.0.1:{args.port}"
    print(f"\n$ funnel serve --export {export} --port {args.port}   (log: {out / 'serve.log'})", flush=True)
    server = launch.start(export, port=args.port, log_file=out / "serve.log")
    try:
        waited = launch.wait_ready(url, server)
        user, answer = launch.sample_recommendation(url)
        print(f"\nReady after {waited:.1f} s. Sample recommendation for the history {user['history'][-10:]}:")
        print(json.dumps(answer, indent=2)[:3000])
        print(f"\nThe service is running: open {url}/ for the demo page. Ctrl-C stops it.", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        launch.stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
