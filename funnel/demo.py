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

DEMO_RETRIEVAL_OPTIONS = ("--epochs", "3", "--idw-max-rounds", "2", "--idw-wake-epochs", "1",
                          "--idw-calibration-epochs", "1")
"""Few epochs and IDW rounds: the demo shows the flow in minutes, not the best model."""
DEMO_RANKING_OPTIONS = ("--epochs", "2")
DEMO_CANDIDATE_OPTIONS = ("--folds", "2", "--positions-per-user", "10")


def _run(args: list[str]) -> None:
    command = ["funnel", *args]
    print(f"\n$ {shlex.join(command)}", flush=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "funnel.cli", *args], check=True)
    print(f"  ({time.perf_counter() - started:.1f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo", help="folder for everything the demo writes")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-serve", action="store_true", help="stop after the export")
    args = parser.parse_args(argv)
    out = Path(args.out)
    raw, data, runs, export = out / "raw", out / "data", out / "runs", out / "export"

    _run(["generate", "--out", str(raw), "--seed", "7"])
    _run(["preprocess", "--input", str(raw), "--format", "synthetic", "--out", str(data),
          "--seed", "7"])
    retrieval_run, ranking_run = runs / "retrieval", runs / "ranking"
    _run(["train", "retrieval", "--data", str(data), "--model", "mur", "--weighting", "idw",
          *DEMO_RETRIEVAL_OPTIONS, "--seed", "7", "--out", str(retrieval_run), "--overwrite"])
    _run(["evaluate", "retrieval", "--run", str(retrieval_run), "--data", str(data)])
    candidates = out / "candidates"
    _run(["candidates", "--data", str(data), "--retrieval", str(retrieval_run), *DEMO_CANDIDATE_OPTIONS,
          "--seed", "7", "--out", str(candidates)])
    _run(["train", "ranking", "--data", str(data), "--candidates", str(candidates), "--model", "tf4ctr",
          *DEMO_RANKING_OPTIONS, "--seed", "7", "--out", str(ranking_run), "--overwrite"])
    _run(["export", "--retrieval", str(retrieval_run), "--ranking", str(ranking_run),
          "--data", str(data), "--out", str(export)])
    _run(["evaluate", "funnel", "--export", str(export), "--data", str(data)])
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
