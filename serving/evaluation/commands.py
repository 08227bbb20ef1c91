"""CLI of the funnel evaluation: ``funnel evaluate funnel``, both orders of an export's candidates."""

from __future__ import annotations

import json

from funnel import flags, preflight
from serving import contract


def evaluate_funnel(args) -> int:
    preflight.data_folder(args.data)
    contract.require_export(args.export)
    from serving.evaluation.orders import evaluate_funnel as evaluate

    result = evaluate(args.export, args.data, candidates=args.candidates, split=args.split,
                      version=args.version, ranks_out=args.ranks_out)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"export version {result['export_version']}, {result['examples']} {result['split']} examples, "
          f"full catalog, {result['candidates']} candidates; candidate recall "
          f"{result['candidate_recall']:.4f}")
    names = ("hr@5", "hr@10", "hr@20", "ndcg@10", "ndcg@20", "mrr")
    for order in ("retrieval", "funnel"):
        print(f"  {order:10s} " + "  ".join(f"{k} {result[order][k]:.4f}" for k in names))
    for name, interval in result["bootstrap"].items():
        print(f"  funnel - retrieval {name}: {interval['mean']:+.4f} "
              f"(95% CI {interval['low']:+.4f} .. {interval['high']:+.4f})")
    return 0


def register(groups) -> None:
    evaluate = groups["evaluate"].add_parser(
        "funnel", help="retrieval order vs ranking order of the same candidates, full catalog, as the service answers")
    evaluate.add_argument("--export", required=True, metavar="EXPORT",
                          help="folder written by `funnel export`")
    evaluate.add_argument("--data", required=True, metavar="DIR", help="pipeline output folder")
    evaluate.add_argument("--candidates", type=flags.positive_int, default=None,
                          help="retrieved candidates the ranking model re-orders (default: the export's, "
                               "manifest.json candidates.default)")
    evaluate.add_argument("--split", choices=("validation", "test"), default="test",
                          help="whose examples (one per user) are evaluated")
    evaluate.add_argument("--version", type=flags.positive_int, default=None,
                          help="export version (default: the newest complete one)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--ranks-out", default=None, metavar="FILE.npz",
                          help="also write each example's user id and 0-based full-catalog rank in "
                               "both orders (arrays user_ids, retrieval, funnel; a target outside the "
                               "candidates gets a huge rank), for benchmarks/compare_ranks.py "
                               "(default: none, no file)")
    evaluate.set_defaults(handler=evaluate_funnel)
