"""Log-log plots of ``benchmarks/scale.py``'s curves, one PNG per curve.

Usage::

    python benchmarks/scale_plots.py --json OUT.json --out docs/img/scale

Writes ``pipeline.png`` (seconds and peak RSS per process against events, one
line per runner), ``scann.png`` (build seconds and ms per query against
items, clustered and isotropic), ``idw_sleep.png`` (seconds against items, one
line per number of kernel centres) and ``training.png`` (examples/s against
batch size, retrieval and ranking). Points that failed are left out.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def lines(points: list[dict], group: str, x: str, y: str) -> dict:
    """``{group value: ([x], [y])}`` of the points that have ``y``, sorted by ``x``."""
    grouped = defaultdict(list)
    for point in points:
        if y in point:
            grouped[point[group]].append((point[x], point[y]))
    return {name: tuple(zip(*sorted(values))) for name, values in sorted(grouped.items())}


def panel(axis, points, group, x, y, xlabel, ylabel, label=str):
    for name, (xs, ys) in lines(points, group, x, y).items():
        axis.plot(xs, ys, marker="o", label=label(name))
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
    "training": [("stage", "batch_size", "examples_per_second", "batch size", "examples/s")],
}
LABELS = {"idw_sleep": lambda centres: f"{centres:,} centres"}


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    for path in plot(json.loads(args.json.read_text()), args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
