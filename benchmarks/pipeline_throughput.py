"""Events per second of ``funnel preprocess`` on every runner, against pandas.

Writes ``--events`` synthetic events (numpy: Zipf-like items, users with about
``--events / --users`` events each, an events CSV read by ``--format events``),
then runs the same preprocessing with

* ``local``: the pandas reference (:mod:`pipelines.local`, the same steps in
  plain loops, no Beam),
* the DirectRunner in-process (``in_memory``),
* the DirectRunner with ``--direct_running_mode=multi_processing``,
* the DaskRunner on a local ``dask.distributed`` cluster (started before the
  timer; its start-up time is reported on its own),

checks that every run wrote byte-identical output, and prints a Markdown
table (also written to ``--report``). Example::

    .venv/bin/python benchmarks/pipeline_throughput.py --events 1000000 --workers 2
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from funnel import schema  # noqa: E402
from pipelines.pipeline import PreprocessOptions, preprocess  # noqa: E402

NOW = 2_000_000_000


def write_events(path: Path, events: int, users: int, items: int, seed: int,
                 chunk: int = 1_000_000) -> None:
    """An events CSV: ``user_id,item_id,timestamp`` with Zipf(1.1)-like item popularity.

    Lines are formatted ``chunk`` at a time, so 20M events need no more memory
    than 1M beyond the three integer columns.
    """
    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, size=events)
    weights = 1.0 / np.arange(1, items + 1) ** 1.1
    item = rng.choice(items, size=events, p=weights / weights.sum())
    timestamp = 1_600_000_000 + rng.integers(0, 86_400 * 365, size=events)
    with open(path, "w") as handle:
        handle.write(f"{schema.USER_ID},{schema.ITEM_ID},{schema.TIMESTAMP}\n")
        for start in range(0, events, chunk):
            part = slice(start, start + chunk)
            lines = np.char.add(np.char.add(np.char.add("u", user[part].astype(str)), ",i"),
                                item[part].astype(str))
            lines = np.char.add(np.char.add(lines, ","), timestamp[part].astype(str))
            handle.write("\n".join(lines.tolist()) + "\n")


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--num-shards", type=int, default=4)
    parser.add_argument("--runners", default="local,direct,multi_processing,dask")
    parser.add_argument("--report", default="")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    work = Path(tempfile.mkdtemp(prefix="funnel-bench-"))
    try:
        events = work / "events.csv"
        began = time.perf_counter()
        write_events(events, args.events, args.users, args.items, args.seed)
        print(f"wrote {args.events:,} events ({events.stat().st_size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - began:.1f} s", flush=True)
        runs = {
            "local": ("pandas reference (no Beam)", ["--runner=local"]),
            "direct": ("DirectRunner, in-process", []),
            "multi_processing": (f"DirectRunner, multi_processing x{args.workers}",
                                 ["--direct_running_mode=multi_processing",
                                  f"--direct_num_workers={args.workers}"]),
            "dask": (f"DaskRunner, LocalCluster {args.workers} processes", None),
        }
        rows, digests, cluster, startup = [], {}, None, 0.0
        for name in args.runners.split(","):
            label, beam_args = runs[name]
            if beam_args is None:
                from distributed import LocalCluster

                began = time.perf_counter()
                cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
                startup = time.perf_counter() - began
                beam_args = ["--runner=DaskRunner", f"--dask_client_address={cluster.scheduler_address}",
                             f"--dask_npartitions={args.workers * 2}"]
            out = work / f"out-{name}"
            options = PreprocessOptions(input=str(events), format="events", out=str(out), now=NOW,
                                        seed=args.seed, num_shards=args.num_shards)
            began = time.perf_counter()
            result = preprocess(options, beam_args)
            seconds = time.perf_counter() - began
            digests[name] = tree_digest(out)
            rows.append((label, seconds, args.events / seconds, digests[name]))
            print(f"{label:<40} {seconds:7.1f} s  {args.events / seconds:>10,.0f} events/s  "
                  f"output {digests[name]}", flush=True)
            shutil.rmtree(out)
            del result
        if cluster is not None:
            cluster.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    reference = next((r for r in rows if r[0].startswith("pandas")), rows[0])
    identical = len(set(digests.values())) == 1
    lines = [
        f"Preprocessing throughput, {args.events:,} synthetic events ({args.users:,} users, "
        f"{args.items:,} items), {args.num_shards} user buckets, {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}.",
        "",
        "| runner | seconds | events/s | x pandas time | output digest |",
        "|---|---:|---:|---:|---|",
    ]
    for label, seconds, rate, digest in rows:
        lines.append(f"| {label} | {seconds:.1f} | {rate:,.0f} | {seconds / reference[1]:.2f} | `{digest}` |")
    lines += ["", f"Every runner wrote byte-identical output: **{'yes' if identical else 'NO'}**."]
    if startup:
        lines.append(f"Starting the Dask LocalCluster took {startup:.1f} s (not in the table).")
    report = "\n".join(lines)
    print("\n" + report)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(report + "\n")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
