"""CLI of the pipelines stage: ``funnel preprocess`` (and ``funnel generate``)."""

from __future__ import annotations

import argparse
import dataclasses
import logging

from funnel import config as config_lib
from funnel import flags, preflight, schema
from pipelines.generator_config import FLAG_HELP, GeneratorConfig
from pipelines.names import FORMAT_FILES, FORMATS, NEGATIVE_SAMPLINGS, SPLITS

GENERATE_TYPES = {"users": flags.positive_int, "clusters": flags.positive_int,
                  "length": flags.positive_int, "interests_per_user": flags.positive_int,
                  "impressions_per_request": flags.positive_int, "items": flags.positive_int,
                  "alpha": flags.fraction, "gamma": flags.fraction, "epsilon": flags.fraction}
"""Argparse type of each ``GeneratorConfig`` field; the others are ints or floats >= 0.
Checks between fields (``--items`` >= ``--clusters``) are the config's, also before any work."""


def format_help() -> str:
    """``--format`` help: every format and the files it reads (``pipelines.names.FORMAT_FILES``)."""
    return "; ".join(f"{name}: {files}" for name, files in FORMAT_FILES.items())


def add_preprocess_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True,
                        help="the dataset folder (a MovieLens file given here reads its folder), "
                             "or for events one file or a folder of them")
    parser.add_argument("--format", required=True, choices=FORMATS, help=format_help())
    parser.add_argument("--out", required=True, help="output folder (replaced only when complete)")
    parser.add_argument("--min-count", type=flags.positive_int, default=1,
                        help="values seen fewer times map to OOV")
    parser.add_argument("--max-len", type=flags.positive_int, default=schema.MAX_SEQUENCE_LENGTH,
                        help="longest history; longer training sequences are split")
    parser.add_argument("--eval-negatives", type=flags.non_negative_int,
                        default=schema.EVAL_NEGATIVES,
                        help="sampled negatives per validation/test example")
    parser.add_argument("--seed", type=flags.non_negative_int, default=0,
                        help="seed of negative sampling")
    parser.add_argument("--split-per-sequence", action="store_true",
                        help="the IDW paper's leave-one-out per split sequence (leaks; not default); "
                             "same as --split per-sequence")
    parser.add_argument("--split", choices=SPLITS, default="user",
                        help="user: last = test, second-last = validation, the rest trains; "
                             "windows: the authors' windows of --max-len items with --window-stride, "
                             "one training target (third from last) each, users with >= 5 interactions")
    parser.add_argument("--window-stride", type=flags.positive_int, default=5,
                        help="stride of --split windows")
    parser.add_argument("--eval-negatives-sampling", choices=NEGATIVE_SAMPLINGS, default="uniform",
                        help="draw evaluation negatives uniformly or in proportion to item "
                             "popularity (the authors' protocol), without replacement")
    parser.add_argument("--column-mapping", default="",
                        help="events format: user_id=COL,item_id=COL,timestamp=COL,... "
                             "(also rating, click, request_id and the users table's user_gender, "
                             "user_age, user_occupation, user_region; default: those names)")
    parser.add_argument("--num-shards", type=flags.positive_int, default=None,
                        help="user buckets = output shards per split (parallelism of the group-by-user; "
                             "default: one per 8 MiB of input, at least 4)")
    parser.add_argument("--shard-mb", type=flags.positive_float, default=8.0,
                        help="input read shard size in MiB")
    parser.add_argument("--now", type=flags.non_negative_int, default=None,
                        help="unix seconds treated as now for the future-timestamp check "
                             "(default: the clock)")


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
    preflight.existing("--input", args.input, f"the input of --format {args.format} "
                       "(`funnel preprocess --help` says what it holds)")
    preflight.output(args.out)
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
    register_generate(groups)


def register_generate(groups) -> None:
    """Add ``funnel generate`` flags (one per :class:`GeneratorConfig` field) and its handler."""
    parser: argparse.ArgumentParser = groups["generate"]
    parser.add_argument("--out", required=True, help="folder to write the dataset to")
    for field in dataclasses.fields(GeneratorConfig):
        default_type = {"int": flags.non_negative_int, "float": flags.non_negative_float}[str(field.type)]
        parser.add_argument("--" + field.name.replace("_", "-"), dest=field.name,
                            type=GENERATE_TYPES.get(field.name, default_type),
                            metavar=field.name.upper(), default=field.default,
                            help=FLAG_HELP[field.name])
    parser.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    preflight.output(args.out)
    from pipelines.synthetic import generate

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(GeneratorConfig)}
    summary = generate(config_lib.from_dict(GeneratorConfig, values), args.out)
    print(f"wrote {summary.events:,} events and {summary.impressions:,} impressions "
          f"({summary.requests:,} requests, positive rate {summary.positive_rate:.3f}) for "
          f"{summary.users:,} users and {summary.items:,} items to {summary.out_dir} "
          f"in {summary.seconds:.1f} s")
    return 0
