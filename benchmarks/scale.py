"""How each stage's time and memory grow with its work.

Usage::

    python benchmarks/scale.py --json OUT [--quick] [--parts pipeline,scann,...]

Curves (each written to ``OUT`` under its key; an existing ``OUT`` is updated
point by point, so parts can be run separately and in any order):

- ``pipeline``: ``funnel preprocess --format events`` on 1M, 5M and 20M
  synthetic events (:func:`pipeline_throughput.write_events`: Zipf(1.1) items,
  50k-200k users), DirectRunner ``multi_processing`` x2 and DaskRunner with 2
  local workers; each run is the CLI in its own process, and the peak resident
  memory of every process of its tree is sampled (:class:`PeakRss`).
- ``scann``: recall@100 and speed-up over NumPy brute force for one query, at
  100k, 1M and 2M items, clustered and isotropic 32-d embeddings
  (:func:`scann_recall_speed.measure`, the index ``funnel export`` builds).
- ``idw_sleep``: one IDW sleep phase at 100k and 1M items with sampled kernel
  centres (:func:`retrieval_speed.sleep_phase`).
- ``training``: retrieval (MUR) and ranking (DNN) examples/s against batch
  size on MovieLens 100K (``--data``, a ``funnel preprocess`` output).
- ``optimizer_step``: one Adam step on a 100k- and a 1M-row item table,
  Keras' Adam and ``FusedAdam``, default and pooled CPU allocator
  (``benchmarks/optimizer_step.py``).
- ``serving``: ``benchmarks/serve_load.py`` against each ``--export`` (the
  goal's is a 1M-item catalog), c = 1 and c = 8, 200 candidates ranked.

``--quick`` runs only the 1M-item ScaNN point and the 1M and 5M event points
of the pipeline.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

import pipeline_throughput  # noqa: E402
from funnel import schema  # noqa: E402

NOW = pipeline_throughput.NOW
EVENTS = (1_000_000, 5_000_000, 20_000_000)
QUICK_EVENTS = (1_000_000, 5_000_000)
USERS_PER_EVENTS = {1_000_000: 50_000, 5_000_000: 100_000, 20_000_000: 200_000}
PIPELINE_ITEMS = 100_000
RUNNERS = {
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    "dask": ["--runner=DaskRunner", "--direct_num_workers=2"],
}
SCANN_ITEMS = (100_000, 1_000_000, 2_000_000)
QUICK_SCANN_ITEMS = (1_000_000,)
IDW_POINTS = ((1_000_000, 2_000), (100_000, 2_000), (100_000, 10_000), (1_000_000, 1_000),
              (1_000_000, 10_000))
"""(items, sampled kernel centres), cheapest decisive point first."""
RANKING_EXAMPLES = 80_000
BATCH_SIZES = (256, 512, 1024, 2048, 4096)
PARTS = ("pipeline", "scann", "idw_sleep", "training", "optimizer_step", "serving")
MIB = 1 << 20


class PeakRss:
    """Samples the resident memory of a process and all its descendants every ``interval`` s.

    ``peak_mb`` is the largest RSS any one process of the tree reached;
    ``peak_total_mb`` the largest sum over the tree at one sample.
    """

    def __init__(self, pid: int, interval: float = 0.25):
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_mb = 0.0
        self.peak_total_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            sizes = []
            for process in tree:
                try:
                    sizes.append(process.memory_info().rss / MIB)
                except psutil.NoSuchProcess:
                    continue
            if sizes:
                self.peak_mb = max(self.peak_mb, max(sizes))
                self.peak_total_mb = max(self.peak_total_mb, sum(sizes))
            self._stop.wait(self.interval)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def events_csv(work: Path, events: int) -> Path:
    """The synthetic events CSV of ``events`` rows (written once, kept in ``work``)."""
    path = work / f"events-{events}.csv"
    if not path.exists():
        partial = path.with_suffix(".partial")
        pipeline_throughput.write_events(partial, events, USERS_PER_EVENTS.get(events, events // 100),
                                         PIPELINE_ITEMS, seed=0)
        partial.rename(path)
    return path


PREPROCESS_SECONDS = re.compile(r"funnel preprocess: .*\(([\d.]+) s, ")


def pipeline_point(work: Path, events: int, runner: str) -> dict:
    """One ``funnel preprocess`` run in a fresh process: its own seconds and the tree's peak RSS.

    ``seconds`` is what the CLI reports (planning to commit; includes starting
    the Dask cluster, excludes Python's imports).
    """
    source = events_csv(work, events)
    out = work / f"out-{events}-{runner}"
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "funnel.cli", "preprocess", "--format", "events",
               "--input", str(source), "--out", str(out), "--now", str(NOW), *RUNNERS[runner]]
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    with PeakRss(process.pid) as peak:
        stdout, stderr = process.communicate()
    wall = time.perf_counter() - began
    if process.returncode != 0:  # recorded, not raised: the other points still run
        error = [line for line in stderr.splitlines() if line.strip()][-1:]
        return {"events": events, "runner": runner, "error": error[0] if error else "failed",
                "wall_seconds": round(wall, 1), "peak_rss_mb": round(peak.peak_mb),
                "load_average": load_average()}
    seconds = float(PREPROCESS_SECONDS.search(stdout).group(1))
    stats = json.loads(schema.Layout(out).stats.read_text())
    shutil.rmtree(out, ignore_errors=True)
    return {"events": events, "runner": runner, "seconds": round(seconds, 1),
            "seconds_per_event": seconds / events, "peak_rss_mb": round(peak.peak_mb),
            "peak_rss_total_mb": round(peak.peak_total_mb), "wall_seconds": round(wall, 1),
            "buckets": stats["shards_per_split"], "users": stats["users"],
            "input_mb": round(source.stat().st_size / MIB, 1), "load_average": load_average()}


def pipeline_curve(work: Path, sizes, runners):
    """Yield one point per (size, runner), smallest size first."""
    for events in sizes:
        for runner in runners:
            yield pipeline_point(work, events, runner)


def scann_point(kind: str, items: int) -> dict:
    """The export's index at ``items`` items (rule + widenings), against NumPy brute force."""
    import scann_recall_speed

    measured = scann_recall_speed.measure(kind, items, dim=32, k=100, interests=5, seed=0)
    if "error" in measured:
        return {"items": items, "catalog": kind, "error": measured["error"],
                "load_average": load_average()}
    params = measured["params"]
    return {"items": items, "catalog": kind, "recall_at_100": measured["recall_test"],
            "speedup_vs_bruteforce": measured["speedup_1"], "build_seconds": measured["build_s"],
            "leaves": params["num_leaves"], "leaves_searched": params["num_leaves_to_search"],
            "reorder": params["reordering_candidates"], "widenings": measured["widenings"],
            "scann_ms": measured["scann_ms_1"], "bruteforce_ms": measured["bruteforce_ms_1"],
            "recall_held_out": measured["recall_held_out"], "load_average": load_average()}


def idw_point(items: int, centres: int) -> dict:
    """One IDW sleep phase over ``items`` items (16-d, clustered) with ``centres`` sampled centres."""
    import retrieval_speed

    measured = retrieval_speed.sleep_phase(items, centres=centres)
    return {"items": items, "seconds": measured["seconds"], "centres": measured["centres"],
            "kernel_evaluations": measured["kernel_evaluations"], "load_average": load_average()}


def training_points(data: Path, batch_sizes, stages=("retrieval", "ranking")):
    """Examples/s of one warm epoch of MUR retrieval and of the DNN ranker, per batch size.

    Also per CPU-second of this process (all threads): on a shared machine
    the steadier reading, since wall time moves with the other jobs' load.
    """
    import ranking_speed
    import retrieval_speed

    for batch_size in batch_sizes if "retrieval" in stages else ():
        measured = retrieval_speed.training_throughput(data, "mur", batch_size=batch_size)
        yield {"stage": "retrieval", "model": "mur", "batch_size": batch_size,
               "examples_per_second": measured["examples_per_second"],
               "examples_per_cpu_second": measured["examples_per_cpu_second"],
               "examples": measured["examples"], "load_average": load_average()}
    if "ranking" not in stages:
        return
    arrays = ranking_speed.load_rows(str(data), RANKING_EXAMPLES)
    for batch_size in batch_sizes:
        measured = ranking_speed.epoch_throughput("dnn", str(data), arrays, batch_size)
        yield {"stage": "ranking", "model": "dnn", "batch_size": batch_size,
               "examples_per_second": round(measured["examples_per_second"], 1),
               "examples_per_cpu_second": round(measured["examples_per_cpu_second"], 1),
               "examples": measured["examples"], "load_average": load_average()}


OPTIMIZER_ROWS = (100_000, 1_000_000)
OPTIMIZER_SETTINGS = (("keras", False), ("keras", True), ("fused", False), ("fused", True))
"""(optimizer, pooled CPU memory): Keras' Adam and :class:`funnel.optimizer.FusedAdam`, each
with TensorFlow's default CPU allocator and with the pooled one training now uses."""


def optimizer_step_points(rows_list=OPTIMIZER_ROWS):
    """One Adam step on a ``[rows, 32]`` item table (``benchmarks/optimizer_step.py``), per setting.

    Each setting runs in a process of its own: TensorFlow reads its allocator
    choice once, at the first allocation.
    """
    script = Path(__file__).resolve().parent / "optimizer_step.py"
    for rows in rows_list:
        for optimizer, pooled in OPTIMIZER_SETTINGS:
            env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "true" if pooled else "false"}
            output = subprocess.run([sys.executable, str(script), "--rows", str(rows), "--optimizer", optimizer],
                                    env=env, capture_output=True, text=True, check=True).stdout
            point = json.loads(output.strip().splitlines()[-1])
            point["setting"] = f"{optimizer}, {'pooled' if pooled else 'default'} allocator"
            yield {**point, "load_average": load_average()}


READY = re.compile(r"^ready after ([\d.]+) s", re.MULTILINE)


SERVING_CANDIDATES = 200
"""Candidates ranked per request on the serving curve."""


def serving_points(export: Path, work: Path, seconds: int = 20):
    """``serve_load.py`` against ``export`` at c = 1 and c = 8, 200 candidates, in its own process tree.

    ``rss_mb`` is the peak of the largest process of that tree (the service's
    worker: the client is far smaller); ``startup_seconds`` is start to ``/readyz``.
    """
    raw = work / "serve_load.json"
    raw.unlink(missing_ok=True)  # a previous run's results must not pass for this one's
    command = [sys.executable, str(Path(__file__).resolve().parent / "serve_load.py"),
               "--export", str(export), "--concurrency", "1,8", "--seconds", str(seconds),
               "--candidates", str(SERVING_CANDIDATES),
               "--no-floor", "--json", str(raw)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    with PeakRss(process.pid) as peak:
        output, _ = process.communicate()
    if not raw.exists():
        raise RuntimeError(f"serve_load.py on {export} wrote no results:\n{output[-3000:]}")
    rows = json.loads(raw.read_text())["rows"]
    import serve_load

    items = len(serve_load.catalog_ids(str(export)))
    for row in rows:
        yield {"items": items, "concurrency": row["concurrency"], "candidates": SERVING_CANDIDATES,
               "rps": round(row["rps"], 1),
               "p50_ms": round(row["p50_ms"], 2), "p99_ms": round(row["p99_ms"], 2),
               "errors": row["errors"], "startup_seconds": float(READY.search(output).group(1)),
               "rss_mb": round(peak.peak_mb), "load_average": load_average()}


# ------------------------------------------------------------------ output
IDENTITY = {"pipeline": ("events", "runner"), "scann": ("items", "catalog"),
            "serving": ("items", "concurrency"), "idw_sleep": ("items", "centres"),
            "training": ("stage", "batch_size"), "optimizer_step": ("rows", "setting")}


def record(path: Path, key: str, point: dict) -> None:
    """Add ``point`` to ``path``'s ``key`` list, replacing the point of the same identity."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:  # parts may run at the same time
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(path.read_text()) if path.exists() else {}
        identity = tuple(point.get(name) for name in IDENTITY[key])
        kept = [p for p in results.get(key, [])
                if tuple(p.get(name) for name in IDENTITY[key]) != identity]
        results[key] = [*kept, point]
        path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({key: point}), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, type=Path, help="results file (updated in place)")
    parser.add_argument("--quick", action="store_true",
                        help="only the 1M-item ScaNN point and the 1M and 5M pipeline points")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"subset of {','.join(PARTS)}")
    parser.add_argument("--events", type=int, nargs="+", help="pipeline sizes (default 1M 5M 20M)")
    parser.add_argument("--runners", default=",".join(RUNNERS), help="pipeline runners")
    parser.add_argument("--scann-items", type=int, nargs="+", help="ScaNN sizes (default 100k 1M 2M)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/w/ml100k"),
                        help="a `funnel preprocess` output for the training curve (MovieLens 100K)")
    parser.add_argument("--training-stages", default="retrieval,ranking",
                        help="which training curves: retrieval, ranking or both")
    parser.add_argument("--export", type=Path, nargs="+", default=[],
                        help="`funnel export` folders for the serving curve, one point per catalog "
                        "(a 1M-item one for the goal; skipped without any)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/funnel-scale"),
                        help="scratch folder (event CSVs are kept there between runs)")
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"--parts: unknown {unknown}; choose from {list(PARTS)}")
    args.work.mkdir(parents=True, exist_ok=True)
    if "scann" in parts:
        for items in (QUICK_SCANN_ITEMS if args.quick else args.scann_items or SCANN_ITEMS):
            for kind in ("clustered", "isotropic"):
                record(args.json, "scann", scann_point(kind, items))
    if "pipeline" in parts:
        sizes = args.events or (QUICK_EVENTS if args.quick else EVENTS)
        for point in pipeline_curve(args.work, sizes, args.runners.split(",")):
            record(args.json, "pipeline", point)
    if args.quick:
        return 0
    if "idw_sleep" in parts:
        for items, centres in IDW_POINTS:
            record(args.json, "idw_sleep", idw_point(items, centres))
    if "training" in parts:
        for point in training_points(args.data, BATCH_SIZES, args.training_stages.split(",")):
            record(args.json, "training", point)
    if "optimizer_step" in parts:
        for point in optimizer_step_points():
            record(args.json, "optimizer_step", point)
    if "serving" in parts:
        if not args.export:
            print("serving: skipped, no --export (a 1M-item export; see docs/benchmarks.md)")
        for export in args.export:
            for point in serving_points(export, args.work):
                record(args.json, "serving", point)
    return 0


if __name__ == "__main__":
    sys.exit(main())
