"""Log-log plots of ``benchmarks/scale.py``'s curves, one PNG per curve.

Usage::

    python benchmarks/scale_plots.py --json OUT.json --out docs/img/scale

Writes ``pipeline.png`` (seconds and peak RSS per process against events, one
line per runner), ``scann.png`` (build seconds and ms per query against
items, clustered and isotropic), ``idw_sleep.png`` (seconds against items, one
line per number of kernel centres), ``training.png`` (examples/s against
batch size, retrieval and ranking), ``optimizer_step.png`` (ms per Adam step
against item-table rows, one line per optimizer and allocator) and
``serving.png`` (p50, p99 and the worker's resident memory against catalog
items, one line per concurrency).
Points that failed are left out; points measured at a load average of 8
or more get dashed lines of their own.
``--markdown`` also prints each curve as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


LOADED = 8.0
"""A point that ended at this 1-minute load average or above was measured on a saturated
machine: it gets a line of its own, so one line never joins loaded and idle points."""


def lines(points: list[dict], group: str, x: str, y: str) -> dict:
    """``{(group value, loaded): ([x], [y])}`` of the points that have ``y``, sorted by ``x``."""
    grouped = defaultdict(list)
    for point in points:
        if y in point and "error" not in point:
            loaded = point.get("load_average", 0.0) >= LOADED
            grouped[(point[group], loaded)].append((point[x], point[y]))
    return {key: tuple(zip(*sorted(values))) for key, values in sorted(grouped.items())}


def panel(axis, points, group, x, y, xlabel, ylabel, label=str):
    for (name, loaded), (xs, ys) in lines(points, group, x, y).items():
        axis.plot(xs, ys, marker="o", linestyle="--" if loaded else "-",
                  label=label(name) + (f" (load >= {LOADED:g})" if loaded else ""))
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)


PLOTS = {
    "pipeline": [("runner", "events", "seconds", "events", "seconds"),
                 ("runner", "events", "peak_rss_mb", "events", "peak RSS of one process (MiB)")],
    "scann": [("catalog", "items", "build_seconds", "items", "build + recall check (s)"),
              ("catalog", "items", "scann_ms", "items", "ms per query (1 query)")],
    "idw_sleep": [("centres", "items", "seconds", "items", "seconds per sleep phase")],
    "training": [("stage", "batch_size", "examples_per_second", "batch size", "examples/s (wall)"),
                 ("stage", "batch_size", "examples_per_cpu_second", "batch size",
                  "examples per CPU-second")],
    "optimizer_step": [("setting", "rows", "ms_per_step", "item table rows", "ms per Adam step")],
    "serving": [("concurrency", "items", "p50_ms", "catalog items", "p50 latency (ms)"),
                ("concurrency", "items", "p99_ms", "catalog items", "p99 latency (ms)"),
                ("concurrency", "items", "rss_mb", "catalog items", "resident memory of the worker (MiB)")],
}
LABELS = {"idw_sleep": lambda centres: f"{centres:,} centres",
          "serving": lambda concurrency: f"c = {concurrency}"}


def plot(results: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for key, panels in PLOTS.items():
        points = results.get(key, [])
        if not points:
            continue
        figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
        for axis, spec in zip(axes[0], panels):
            panel(axis, points, *spec, label=LABELS.get(key, str))
        figure.suptitle(f"benchmarks/scale.py: {key}")
        figure.tight_layout()
        path = out / f"{key}.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(path)
    return written


COLUMNS = {
    "pipeline": ("events", "runner", "buckets", "seconds", "seconds_per_event", "peak_rss_mb",
                 "peak_rss_total_mb", "load_average", "error"),
    "scann": ("items", "catalog", "leaves", "leaves_searched", "reorder", "widenings",
              "recall_at_100", "scann_ms", "bruteforce_ms", "speedup_vs_bruteforce", "build_seconds",
              "load_average"),
    "idw_sleep": ("items", "centres", "kernel_evaluations", "seconds", "load_average"),
    "training": ("stage", "model", "batch_size", "examples", "examples_per_second",
                 "examples_per_cpu_second", "load_average"),
    "optimizer_step": ("rows", "setting", "ms_per_step", "user_ms_per_step", "system_ms_per_step",
                       "peak_rss_mb", "load_average"),
    "serving": ("items", "concurrency", "candidates", "rps", "p50_ms", "p99_ms", "errors",
                "startup_seconds", "rss_mb", "load_average"),
}


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if abs(value) >= 1_000:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 1e-2 else f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def tables(results: dict) -> str:
    """One Markdown table per curve, the JSON's points in its order."""
    parts = []
    for key, columns in COLUMNS.items():
        points = results.get(key, [])
        if not points:
            continue
        shown = [c for c in columns if any(c in p for p in points)]
        parts += [f"`{key}`:", "", "| " + " | ".join(shown) + " |",
                  "|" + "|".join("---" for _ in shown) + "|"]
        parts += ["| " + " | ".join(cell(p.get(c)) for c in shown) + " |" for p in points]
        parts.append("")
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--markdown", action="store_true", help="also print the tables")
    args = parser.parse_args(argv)
    results = json.loads(args.json.read_text())
    for path in plot(results, args.out):
        print(path)
    if args.markdown:
        print(tables(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
