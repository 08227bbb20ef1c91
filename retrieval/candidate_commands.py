"""CLI of ``funnel candidates``: retrieval's own candidate lists for training the ranker."""

from __future__ import annotations

import argparse
import json

from funnel import distribute, flags, preflight, schema

MISSING_TARGET = ("drop", "add")
"""Keys of ``retrieval.candidate_lists.MISSING_TARGET`` (kept here: building the parser imports no TensorFlow)."""


def run_candidates(args: argparse.Namespace, beam_args: list[str]) -> int:
    preflight.data_folder(args.data)
    preflight.run_folder(args.retrieval, "--retrieval", "funnel train retrieval")
    preflight.output(args.out)
    distribute.pool_cpu_memory()  # it trains the out-of-fold retrieval models
    import logging

    from retrieval.candidate_job import build_candidate_lists
    from retrieval.candidate_lists import ListOptions

    if not getattr(args, "verbose", False):  # keep progress lines readable
        for noisy in ("distributed", "apache_beam"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    options = ListOptions(candidates=args.candidates, folds=args.folds,
                          positions_per_user=args.positions_per_user,
                          missing_target=args.missing_target, seed=args.seed)
    stats = build_candidate_lists(args.data, args.retrieval, args.out, options, beam_args)
    for split, part in stats["splits"].items():
        recall = part.get("recall_at_n")
        print(f"{split:>10}: {part.get('written', 0):>7} lists written of {part.get('lists', 0)}, "
              f"candidate recall@{options.candidates} "
              f"{'n/a' if recall is None else f'{recall:.3f}'}")
    print(json.dumps({"out": args.out}))
    return 0


def register(groups) -> None:
    parser = groups["candidates"]
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("--data", required=True, help="output folder of `funnel preprocess`")
    parser.add_argument("--retrieval", required=True, help="run folder of `funnel train retrieval`")
    parser.add_argument("--out", required=True, help="folder for the lists and stats.json")
    parser.add_argument("--folds", type=flags.positive_int, default=2,
                        help="out-of-fold retrieval models for the training lists (1: the run itself, leaks)")
    parser.add_argument("--candidates", type=flags.positive_int, default=schema.DEFAULT_LIST_CANDIDATES,
                        help="candidates per list")
    parser.add_argument("--positions-per-user", type=flags.non_negative_int, default=0,
                        help="at most this many training positions per user, drawn with --seed "
                             "(0: every position; more lists train a better ranker, measured in docs/quality.md)")
    parser.add_argument("--missing-target", choices=MISSING_TARGET, default="drop",
                        help="a list whose target retrieval missed: drop it, or add the target last")
    parser.add_argument("--seed", type=flags.non_negative_int, default=0, help="fold assignment and position sampling")
    parser.epilog = "Other flags are Beam pipeline options, e.g. --runner=DaskRunner."
    parser.set_defaults(handler=run_candidates, accepts_extra=True)
