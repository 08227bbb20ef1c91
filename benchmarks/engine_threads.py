"""The service's engine under several TensorFlow session thread settings, interleaved in one process.

Load tables on this VM move by up to 2x between minutes for the same server
(docs/benchmarks.md), too much to compare thread settings run after
run. This script loads one export once per setting, each as the service loads
it (``embedded.load_bundle(threads=...)``, the ``Engine``), and answers the
same request bodies ``benchmarks/serve_load.py`` sends with each engine in
turn, round after round, so every setting sees the same machine. It reports
the median wall milliseconds of ``Engine.recommend`` and CPU milliseconds per
call (``time.process_time``: every thread of the process).

    python benchmarks/engine_threads.py --export EXPORT [--setting 1,2 --setting 1,0] [--batches 1,8]

A setting is ``INTRA,INTER`` (``funnel serve --tf-threads`` and ``--tf-inter-threads``; INTER 0: no pool).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import serve_load  # noqa: E402  (same request bodies as the load benchmark)


def load_engine(export: str, threads: tuple[int, int], batches: list[int]):
    """An ``Engine`` on ``export`` whose sessions use ``threads`` (intra-op, inter-op), warmed."""
    from serving.backends.embedded import load_bundle
    from serving.engine import Engine

    engine = Engine(load_bundle(export, threads=threads), warm_batch_sizes=batches)
    engine.warm()
    return engine


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", required=True, help="export folder (newest complete version)")
    parser.add_argument("--setting", action="append", default=None,
                        help="INTRA,INTER session threads (repeat; default: 1,2 and 1,0)")
    parser.add_argument("--batches", default="1,8", help="requests per engine call")
    serve_load.add_request_arguments(parser)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=30, help="calls per setting per round")
    args = parser.parse_args(argv)

    from serving.api import RecommendRequest
    from serving.backends.embedded import configure_tensorflow_threads

    settings = [tuple(int(x) for x in s.split(",")) for s in (args.setting or ["1,2", "1,0"])]
    batches = [int(b) for b in args.batches.split(",")]
    configure_tensorflow_threads(1, 1)
    engines = {setting: load_engine(args.export, setting, batches) for setting in settings}
    count = args.calls * max(batches)
    bodies = serve_load.recommend_bodies(serve_load.catalog_ids(args.export), count, 0, args.history, 10,
                                         args.candidates)
    requests = [RecommendRequest.model_validate_json(body) for body in bodies]
    print(f"{serve_load.machine()}; load average {os.getloadavg()[0]:.2f}; "
          f"history {args.history[0]}-{args.history[1]} items, "
          f"{args.candidates} candidates; {args.rounds} interleaved rounds of {args.calls} calls\n")
    print("| intra-op, inter-op threads | " + " | ".join(
        f"batch {b}: wall ms (median) | batch {b}: CPU ms per call" for b in batches) + " |")
    print("|---|" + "---:|---:|" * len(batches))
    walls = {(s, b): [] for s in settings for b in batches}
    cpu = dict.fromkeys(walls, 0.0)
    for batch in batches:
        for _ in range(args.rounds):
            for setting, engine in engines.items():
                started = time.process_time()
                for call in range(args.calls):
                    first = call * batch % (count - batch + 1)
                    start = time.perf_counter()
                    engine.recommend(requests[first:first + batch])
                    walls[setting, batch].append(time.perf_counter() - start)
                cpu[setting, batch] += time.process_time() - started
    calls = args.rounds * args.calls
    for setting in settings:
        cells = [f"{statistics.median(walls[setting, b]) * 1e3:.2f} | {cpu[setting, b] / calls * 1e3:.2f}"
                 for b in batches]
        label = f"{setting[0]}, {setting[1]}" + (" (no pool)" if setting[1] == 0 else "")
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
