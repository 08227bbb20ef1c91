"""``make demo``: ``funnel generate``, then ``funnel build`` on the synthetic data.

Every command is printed before it runs, so the demo doubles as a worked example of
what a user types on their own data: ``funnel build`` prints each stage's command
and resumes an interrupted demo at its first unfinished stage. It ends with the
service running and a sample recommendation printed; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from funnel import build, cli

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
SEED = ("--seed", "7")


def build_arguments(raw: Path, build_dir: Path, tiny: bool) -> list[str]:
    """``funnel build``'s arguments: the demo's few-epoch options (or ``--tiny``'s) as stage flags."""
    options = TINY_OPTIONS if tiny else {}
    stage_flags = {
        "preprocess": (*options.get("preprocess", ()), *SEED),
        "retrieval": (*options.get("retrieval", DEMO_RETRIEVAL_OPTIONS), *SEED),
        "candidates": (*options.get("candidates", DEMO_CANDIDATE_OPTIONS), *SEED),
        "ranking": (*options.get("ranking", DEMO_RANKING_OPTIONS), *SEED),
        "export": options.get("export", ()),
        "evaluate": options.get("evaluate", ()),
    }
    arguments = ["--input", str(raw), "--format", "synthetic", "--out", str(build_dir)]
    for stage, flags in stage_flags.items():
        if flags:
            arguments.append(f"--{stage}-flags={shlex.join(flags)}")
    return [*arguments, "--no-serve"]


def main(argv: list[str] | None = None, run: build.Runner = build.run_in_subprocess) -> int:
    """Run the demo; ``run`` executes one ``funnel`` command line (a test runs them in-process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo", help="folder for everything the demo writes")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-serve", action="store_true", help="stop after the export")
    parser.add_argument("--tiny", action="store_true",
                        help="a tiny dataset and tiny models: a smoke run of every step")
    args = parser.parse_args(argv)
    out = Path(args.out)
    raw, build_dir = out / "raw", out / "build"
    export = build_dir / "export"

    generate = ["generate", "--out", str(raw), *SEED, *(TINY_OPTIONS["generate"] if args.tiny else ())]
    print(f"\n$ {shlex.join(['funnel', *generate])}", flush=True)
    run(generate, None)
    build_args = build_arguments(raw, build_dir, args.tiny)
    print(f"\n$ {shlex.join(['funnel', 'build', *build_args])}", flush=True)
    options = build.options_from_args(cli.build_parser().parse_args(["build", *build_args]))
    state = build.run_build(options, run=run)
    print(build.summary(options, state), flush=True)
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
