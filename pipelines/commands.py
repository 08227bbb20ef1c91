"""CLI of the pipelines stage: ``funnel preprocess`` (and ``funnel generate``)."""

from __future__ import annotations

import argparse
import logging

from funnel import schema
from pipelines.sequences import NEGATIVE_SAMPLINGS, SPLITS

FORMATS = ("movielens-100k", "movielens-1m", "movielens-latest", "events", "synthetic")


def add_preprocess_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="dataset folder or events file")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True, help="output folder (replaced only when complete)")
    parser.add_argument("--min-count", type=int, default=1,
                        help="values seen fewer times map to OOV (default 1)")
    parser.add_argument("--max-len", type=int, default=schema.MAX_SEQUENCE_LENGTH,
                        help="longest history; longer training sequences are split")
    parser.add_argument("--eval-negatives", type=int, default=schema.EVAL_NEGATIVES,
                        help="sampled negatives per validation/test example")
    parser.add_argument("--seed", type=int, default=0, help="seed of negative sampling")
    parser.add_argument("--split-per-sequence", action="store_true",
                        help="the IDW paper's leave-one-out per split sequence (leaks; not default); "
                             "same as --split per-sequence")
    parser.add_argument("--split", choices=SPLITS, default="user",
                        help="user: last = test, second-last = validation, the rest trains; "
                             "windows: the authors' windows of --max-len items with --window-stride, "
                             "one training target (third from last) each, users with >= 5 interactions")
    parser.add_argument("--window-stride", type=int, default=5, help="stride of --split windows")
    parser.add_argument("--eval-negatives-sampling", choices=NEGATIVE_SAMPLINGS, default="uniform",
                        help="draw evaluation negatives uniformly or in proportion to item "
                             "popularity (the authors' protocol), without replacement")
    parser.add_argument("--column-mapping", default="",
                        help="events format: user_id=COL,item_id=COL,timestamp=COL,...")
    parser.add_argument("--num-shards", type=int, default=4,
                        help="user buckets = output shards per split (parallelism of the group-by-user)")
    parser.add_argument("--shard-mb", type=float, default=8.0, help="input read shard size")
    parser.add_argument("--now", type=int, default=None,
                        help="unix seconds treated as now for the future-timestamp check")


def options_from_args(args: argparse.Namespace):
    from pipelines.pipeline import PreprocessOptions

    return PreprocessOptions(
        input=args.input, format=args.format, out=args.out, min_count=args.min_count,
        max_len=args.max_len, eval_negatives=args.eval_negatives, seed=args.seed,
        split_per_sequence=args.split_per_sequence, split=args.split,
        window_stride=args.window_stride, eval_negatives_sampling=args.eval_negatives_sampling,
        column_mapping=args.column_mapping,
        num_shards=args.num_shards, shard_mb=args.shard_mb, now=args.now)


def run_preprocess(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.pipeline import preprocess
    from pipelines.summary import format_summary

    if not getattr(args, "verbose", False):  # keep progress lines readable
        for noisy in ("distributed", "apache_beam"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    result = preprocess(options_from_args(args), beam_args)
    print(format_summary(result))
    return 0


def register(groups) -> None:
    parser = groups["preprocess"]
    add_preprocess_arguments(parser)
    parser.epilog = ("Other flags are Beam pipeline options, e.g. --runner=DaskRunner "
                     "[--dask_client_address=HOST:PORT], --direct_running_mode=multi_processing "
                     "--direct_num_workers=2, or --runner=local (no Beam).")
    parser.set_defaults(handler=run_preprocess, accepts_extra=True)
    try:
        from pipelines.synthetic import register_generate
    except ImportError:
        return
    register_generate(groups)
