"""CLI of the pipelines stage: ``funnel preprocess`` (and ``funnel generate``)."""

from __future__ import annotations

import argparse
import logging

from funnel import schema


def format_help() -> str:
    """``--format`` help: every reader's name and the files it reads (from the registry)."""
    from pipelines.readers import READERS

    return "; ".join(f"{name}: {reader.files_help}" for name, reader in READERS.items())


def add_preprocess_arguments(parser: argparse.ArgumentParser) -> None:
    from pipelines.readers import READERS

    parser.add_argument("--input", required=True,
                        help="the dataset folder (a MovieLens file given here reads its folder), "
                             "or for events one file or a folder of them")
    parser.add_argument("--format", required=True, choices=tuple(READERS), help=format_help())
    parser.add_argument("--out", required=True, help="output folder (replaced only when complete)")
    parser.add_argument("--min-count", type=int, default=1,
                        help="values seen fewer times map to OOV (default 1)")
    parser.add_argument("--max-len", type=int, default=schema.MAX_SEQUENCE_LENGTH,
                        help="longest history; longer training sequences are split")
    parser.add_argument("--eval-negatives", type=int, default=schema.EVAL_NEGATIVES,
                        help="sampled negatives per validation/test example")
    parser.add_argument("--seed", type=int, default=0, help="seed of negative sampling")
    parser.add_argument("--split-per-sequence", action="store_true",
                        help="the IDW paper's leave-one-out per split sequence (leaks; not default)")
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
        split_per_sequence=args.split_per_sequence, column_mapping=args.column_mapping,
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
