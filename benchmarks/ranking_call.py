"""CPU time of one ranking call, several exports on the very same inputs.

Load-test tables move by about 15% between runs on a shared VM, too much to
tell two versions of the ranking model apart. This script loads every export
given in one process, builds the ranking inputs of the same requests once
(through the first export's engine, as the service does: retrieval, candidate
features, request and item features), and calls each export's
ranking call (the bundle's ``rank``, as the service calls it: its inputs, then the
``candidates`` signature) on them in turn, round after round, so every export
sees the same load. The exports must take the same ranking inputs. It
reports CPU milliseconds per call (``time.process_time``: every thread of the
process), the median and the minimum over the rounds.

    python benchmarks/ranking_call.py --export OLD --export NEW [--batches 1,8] [--candidates 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import serve_load  # noqa: E402  (same request bodies as the load benchmark)


def ranking_inputs(bundle, bodies: list[bytes]) -> tuple[dict, object]:
    """The ``(features, owner)`` the engine passes to ``bundle``'s ranking call for ``bodies``."""
    from serving.api import RecommendRequest
    from serving.engine import Engine

    seen = {}

    def capture(features, owner):
        seen.update(features=features, owner=owner)
        return bundle.rank(features, owner)

    engine = Engine(dataclasses.replace(bundle, rank=capture))
    engine.recommend([RecommendRequest.model_validate_json(body) for body in bodies])
    return seen["features"], seen["owner"]


def cpu_ms_per_call(call, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - started) / calls * 1000.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", action="append", required=True, help="an export folder (repeat)")
    parser.add_argument("--batches", default="1,8", help="requests per ranking call")
    serve_load.add_request_arguments(parser)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100, help="calls per round at batch 1 (fewer for larger)")
    args = parser.parse_args(argv)

    from serving.backends.embedded import load_bundle

    exports = [load_bundle(path) for path in args.export]
    batches = [int(b) for b in args.batches.split(",")]
    bodies = serve_load.recommend_bodies(serve_load.catalog_ids(args.export[0]), 64, 0, args.history, 10,
                                         args.candidates)
    print(f"{serve_load.machine()}; load average {os.getloadavg()[0]:.2f}; "
          f"history {args.history[0]}-{args.history[1]} items, "
          f"{args.candidates} candidates; CPU ms per ranking call, {args.rounds} interleaved rounds\n")
    print("| export | " + " | ".join(f"batch {b}: median | batch {b}: min" for b in batches) + " |")
    print("|---|" + "---:|---:|" * len(batches))
    results = {path: [] for path in args.export}
    for batch in batches:
        features, owner = ranking_inputs(exports[0], bodies[:batch])
        calls = max(5, args.calls // batch)
        rounds = {path: [] for path in args.export}
        for bundle in exports:
            cpu_ms_per_call(lambda: bundle.rank(features, owner), 5)  # warm
        for _ in range(args.rounds):
            for path, bundle in zip(args.export, exports):
                rounds[path].append(cpu_ms_per_call(lambda: bundle.rank(features, owner), calls))
        for path in args.export:
            results[path] += [statistics.median(rounds[path]), min(rounds[path])]
    for path in args.export:
        print(f"| {path} | " + " | ".join(f"{v:.2f}" for v in results[path]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
