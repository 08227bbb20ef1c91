"""Paired comparison of two rankers on the same test examples: HR@10, NDCG@10, gain, bootstrap.

Each argument is a ranks file (:mod:`funnel.ranks`) with an optional ranker
key: ``runs/sasrec/seed_0/test_ranks.npz`` (written by ``funnel experiment
retrieval``; key ``ranks``) or ``funnel_ranks.npz:funnel`` (written by
``funnel evaluate funnel --ranks-out``; keys ``retrieval`` and ``funnel``).
Examples are paired by user id; the interval is the paired bootstrap 95%
interval of B - A (``funnel.metrics.paired_bootstrap``, users resampled).

Run: ``.venv/bin/python benchmarks/compare_ranks.py A.npz[:key] B.npz[:key] [--samples 1000] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from funnel import ranks  # noqa: E402


def parse_source(text: str) -> tuple[str, str | None]:
    """``"file.npz:key"`` -> ``("file.npz", "key")``; ``"file.npz"`` -> ``("file.npz", None)``."""
    path, colon, key = text.rpartition(":")
    if colon and path.endswith(".npz"):
        return path, key or None
    return text, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", metavar="A.npz[:key]", help="the reference ranker")
    parser.add_argument("second", metavar="B.npz[:key]", help="the ranker compared with A")
    parser.add_argument("--k", type=int, default=ranks.BOOTSTRAP_AT, help="cut-off of HR and NDCG")
    parser.add_argument("--samples", type=int, default=ranks.BOOTSTRAP_SAMPLES, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=ranks.BOOTSTRAP_SEED, help="bootstrap seed")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        first, second = (ranks.load(*parse_source(text)) for text in (args.first, args.second))
        result = ranks.compare(*first, *second, k=args.k, samples=args.samples, seed=args.seed)
    except (OSError, ValueError) as error:
        print(f"compare_ranks: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['examples']} paired examples ({result['unpaired']} unpaired); A = {args.first}, "
          f"B = {args.second}")
    for name, entry in result.items():
        if not isinstance(entry, dict):
            continue
        interval = entry["difference"]
        gain = "n/a" if entry["gain_percent"] is None else f"{entry['gain_percent']:+.1f}%"
        print(f"  {name:8s} A {entry['first']:.4f}  B {entry['second']:.4f}  gain {gain}  "
              f"B - A {interval['mean']:+.4f} (95% CI {interval['low']:+.4f} .. {interval['high']:+.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
