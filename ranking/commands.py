"""``funnel train ranking``, ``funnel evaluate ranking`` and ``funnel experiment ranking``."""

from __future__ import annotations

import argparse
import json
import sys

from funnel import distribute, flags, outdir, preflight, schema
from ranking import names
from ranking.config import LIST_DEFAULTS, RankingConfig

DEFAULTS = RankingConfig()


def _value(text: str):
    """A ``KEY=VALUE`` value: JSON when it parses (numbers, lists, null), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items, flag: str) -> list[tuple[str, object]]:
    pairs = []
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag}: expected KEY=VALUE, got {item!r}")
        pairs.append((key.strip(), _value(value)))
    return pairs


def config_from_args(args):
    """Flags -> :class:`RankingConfig`; ``--set`` overrides any field by name."""
    values = {"model": args.model, "seed": args.seed}
    if getattr(args, "candidates", None):
        values.update(lists=True, **LIST_DEFAULTS)
    for flag in ("loss", "negative_ratio", "epochs", "batch_size", "embedding_dim", "learning_rate",
                 "backbone", "ssem", "dfm"):
        value = getattr(args, flag, None)
        if value is not None:
            values[flag] = value
    if getattr(args, "loss_option", None):
        values["loss_options"] = tuple(_pairs(args.loss_option, "--loss-option"))
    values.update(_pairs(getattr(args, "set", None), "--set"))
    return RankingConfig.from_dict(values)


def _verbosity() -> int:
    return 1 if sys.stdout.isatty() else 2


def train_ranking(args) -> int:
    preflight.data_folder(args.data)
    if args.candidates:
        preflight.candidates_folder(args.candidates)
    outdir.check(args.out, args.overwrite)
    distribute.pool_cpu_memory()
    config = config_from_args(args)  # a bad --set fails before TensorFlow is imported
    from ranking.train import train

    metrics = train(config, args.data, args.out, verbose=_verbosity(), overwrite=args.overwrite,
                    candidates_dir=args.candidates)
    test = metrics["test"]
    if config.lists:
        print(f"trained {config.model} on candidate lists ({metrics['loss']}) in {metrics['epochs_trained']} "
              f"epochs (best {metrics['best_epoch']}): test lists HR@10 {test['hr@10']:.4f} "
              f"(retrieval order {metrics['test_retrieval_order']['hr@10']:.4f}), NDCG@10 "
              f"{test['ndcg@10']:.4f} (retrieval order {metrics['test_retrieval_order']['ndcg@10']:.4f}) "
              f"-> {args.out}")
        return 0
    print(f"trained {config.model} ({metrics['loss']}) in {metrics['epochs_trained']} epochs "
          f"(best {metrics['best_epoch']}): test auc {test['auc']:.4f}, gauc {test['gauc']:.4f}, "
          f"logloss {test['logloss']:.4f} -> {args.out}")
    return 0


def evaluate_ranking(args) -> int:
    preflight.run_folder(args.run, "--run", "funnel train ranking")
    preflight.data_folder(args.data)
    from ranking.evaluate import evaluate_run

    result = evaluate_run(args.run, args.data, split=args.split, threshold=args.threshold,
                          hr_scope=args.hr_scope)
    if args.json:
        print(json.dumps(result, sort_keys=False))
    else:
        for key, value in result.items():
            print(f"{key:>10}: {value:.4f}" if isinstance(value, float) else f"{key:>10}: {value}")
    return 0


def experiment_ranking(args) -> int:
    preflight.data_folder(args.data)
    if args.existing_only:
        preflight.folder("--out", args.out, "the report folder of an earlier `funnel experiment ranking`")
    else:
        preflight.output(args.out)
    distribute.pool_cpu_memory()
    from tqdm import tqdm

    from ranking.experiment import REPORTS, run_report

    overrides = dict(_pairs(args.set, "--set"))
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    total = len(REPORTS[args.report].cells()) * args.seeds
    with tqdm(total=total, desc=f"report {args.report}", unit="run") as bar:
        text = run_report(args.report, args.data, args.out, seeds=args.seeds, overrides=overrides,
                          verbose=0, on_run=lambda label: (bar.set_postfix_str(label), bar.update()),
                          existing_only=args.existing_only)
    print(text)
    return 0


def register(groups) -> None:
    """Add the ranking subcommands. Their choices are ``ranking.names`` (the registries'
    keys, checked equal by a test), so ``funnel --help`` does not import TensorFlow."""
    train = groups["train"].add_parser("ranking", help="train a CTR ranking model",
                                       description="Train a CTR ranking model into a run folder.")
    train.add_argument("--data", required=True, help="output folder of `funnel preprocess`")
    train.add_argument("--model", default="tf4ctr", choices=names.MODELS, help="ranking model")
    train.add_argument("--candidates", metavar="CANDS",
                       help="train on retrieval's candidate lists, the --out of `funnel candidates`; "
                       "encoders default to hidden_units=[128,64], simple_hidden_units=[64,32] and DIN to "
                       "the last 10 history items (attention_history=10) there "
                       "(default: the pointwise ranking examples of --data)")
    train.add_argument("--loss", choices=names.LOSSES + names.LIST_LOSSES,
                       help="training loss; softmax, pairwise and approx-ndcg need --candidates "
                       "(default: softmax with --candidates, else the model's own)")
    train.add_argument("--loss-option", action="append", metavar="KEY=VALUE",
                       help="override a loss parameter, e.g. gamma=3 (repeatable; default: none)")
    train.add_argument("--negative-ratio", type=flags.positive_float, metavar="R",
                       help="down-sample clicks to 1:R in every split (LAFAM Table 5; "
                            "default: keep every row)")
    train.add_argument("--seed", type=flags.non_negative_int, default=0,
                       help="seed of initialisation, shuffling and down-sampling")
    for flag, kind, what in (("--epochs", flags.positive_int, "most epochs (early stopping on "
                                                              "validation AUC)"),
                             ("--batch-size", flags.positive_int, "examples per batch"),
                             ("--embedding-dim", flags.positive_int, "size of every feature embedding"),
                             ("--learning-rate", flags.positive_float, "Adam learning rate")):
        field = flag[2:].replace("-", "_")
        train.add_argument(flag, type=kind, metavar="N" if kind is flags.positive_int else "X",
                           help=f"{what} (default: {getattr(DEFAULTS, field)})")
    train.add_argument("--backbone", choices=names.BACKBONES,
                       help=f"tf4ctr: whose encoders to wrap (default: {DEFAULTS.backbone})")
    train.add_argument("--ssem", choices=names.SSEMS,
                       help=f"tf4ctr: sample selection embedding (default: {DEFAULTS.ssem})")
    train.add_argument("--dfm", choices=names.DFMS,
                       help=f"tf4ctr: dynamic fusion module (default: {DEFAULTS.dfm})")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="set any RankingConfig field, e.g. hidden_units=[64,64] "
                            "(repeatable; default: none)")
    train.add_argument("--out", required=True, help="run folder to create")
    train.add_argument("--overwrite", action="store_true",
                       help="replace what --out holds (without it a non-empty --out is an error)")
    train.set_defaults(handler=train_ranking)

    evaluate = groups["evaluate"].add_parser("ranking", help="evaluate a ranking run",
                                             description="Evaluate a ranking run on a split.")
    evaluate.add_argument("--run", required=True, help="run folder of `funnel train ranking`")
    evaluate.add_argument("--data", required=True, help="the data folder the run was trained on")
    evaluate.add_argument("--split", default=schema.TEST, choices=schema.SPLITS,
                          help="split to evaluate on")
    evaluate.add_argument("--threshold", default="0.5", type=_threshold,
                          help="click threshold for precision/recall/f1/accuracy: a number in "
                               "[0, 1], or 'tuned' for the best F1 on the validation split")
    evaluate.add_argument("--hr-scope", default="user", choices=names.HR_SCOPES,
                          help="HR@k per user (LAFAM eq. 8) or over all rows")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=evaluate_ranking)

    experiment = groups["experiment"].add_parser("ranking", help="multi-seed ranking comparisons",
                                                 description="Run a paper-style ranking report.")
    experiment.add_argument("--data", required=True, help="output folder of `funnel preprocess`")
    experiment.add_argument("--report", required=True, choices=names.REPORTS,
                            help="table3 (SSEM x DFM), table4 (models), table5 (TF4CTR compatibility) "
                            "or lafam-table5 (networks x losses x imbalance)")
    experiment.add_argument("--seeds", type=flags.positive_int, default=3,
                            help="runs per cell, one seed each")
    experiment.add_argument("--epochs", type=flags.positive_int, metavar="N",
                            help=f"most epochs of every run (default: {DEFAULTS.epochs})")
    experiment.add_argument("--set", action="append", metavar="KEY=VALUE",
                            help="override a RankingConfig field for every run (repeatable; "
                                 "default: none)")
    experiment.add_argument("--existing-only", action="store_true",
                            help="train nothing: render the report from the runs already in --out")
    experiment.add_argument("--out", required=True, help="report folder (runs/, REPORT.md, REPORT.json)")
    experiment.set_defaults(handler=experiment_ranking)


def _threshold(text: str) -> str:
    """``--threshold``: ``tuned`` or a number in [0, 1], kept as text for ``evaluate_run``."""
    if text != "tuned":
        try:
            flags.fraction(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected a number in [0, 1] or 'tuned', got {text!r}") from None
    return text
