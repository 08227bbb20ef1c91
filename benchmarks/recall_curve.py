"""Candidate recall against the candidate count: the ceiling of the ranking stage.

The ranker can only re-order what retrieval hands it, so the share of test
targets among retrieval's top N items bounds every metric of the funnel at N
candidates. Each argument is a ranks file (:mod:`funnel.ranks`) with an
optional ranker key, e.g. ``REPORT/runs/mur/seed_0/test_ranks.npz`` written by
``funnel experiment retrieval``; several seeds of one method average.

Run: ``.venv/bin/python benchmarks/recall_curve.py NAME=A.npz[:key][,B.npz...] ... [--counts 10,20,50,100,200,500]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.compare_ranks import parse_source  # noqa: E402
from funnel import ranks  # noqa: E402

COUNTS = (10, 20, 50, 100, 200, 500)


def recall_at(rank_arrays: list[np.ndarray], counts) -> list[float]:
    """Mean over the arrays of the share of ranks below each count, in %."""
    return [100.0 * float(np.mean([np.mean(r < n) for r in rank_arrays])) for n in counts]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("series", nargs="+", metavar="NAME=A.npz[:key][,B.npz]",
                        help="a name and its ranks files (one per seed)")
    parser.add_argument("--counts", default=",".join(map(str, COUNTS)),
                        help=f"candidate counts (default: {','.join(map(str, COUNTS))})")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.counts.split(",")]
    print("| ranker | " + " | ".join(f"recall@{n}" for n in counts) + " |")
    print("|---" * (len(counts) + 1) + "|")
    for series in args.series:
        name, _, files = series.partition("=")
        try:
            arrays = [ranks.load(*parse_source(text))[1] for text in files.split(",")]
        except (OSError, ValueError) as error:
            print(f"recall_curve: {error}", file=sys.stderr)
            return 2
        cells = " | ".join(f"{value:.1f}" for value in recall_at(arrays, counts))
        print(f"| {name} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
