"""``funnel train ranking``, ``funnel evaluate ranking`` and ``funnel experiment ranking``."""

from __future__ import annotations

import json
import sys


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
    from ranking.config import RankingConfig

    values = {"model": args.model, "seed": args.seed}
    if getattr(args, "candidates", None):
        values["lists"] = True
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
    from ranking.train import train

    config = config_from_args(args)
    metrics = train(config, args.data, args.out, verbose=_verbosity(), candidates_dir=args.candidates)
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
    from ranking.experiment import run_report

    overrides = dict(_pairs(args.set, "--set"))
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    from tqdm import tqdm

    from ranking.experiment import REPORTS

    if args.report not in REPORTS:
        raise ValueError(f"report: unknown value {args.report!r}; choose one of {sorted(REPORTS)}")
    total = len(REPORTS[args.report].cells()) * args.seeds
    with tqdm(total=total, desc=f"report {args.report}", unit="run") as bar:
        text = run_report(args.report, args.data, args.out, seeds=args.seeds, overrides=overrides,
                          verbose=0, on_run=lambda label: (bar.set_postfix_str(label), bar.update()),
                          existing_only=args.existing_only)
    print(text)
    return 0


def register(groups) -> None:
    """Add the ranking subcommands. Names are checked against the registries when
    the command runs (an unknown one is an error listing the valid ones), so
    ``funnel --help`` does not import TensorFlow."""
    train = groups["train"].add_parser("ranking", help="train a CTR ranking model",
                                       description="Train a CTR ranking model into a run folder.")
    train.add_argument("--data", required=True, help="output folder of `funnel preprocess`")
    train.add_argument("--model", default="tf4ctr",
                       help="dnn, dualmlp, dcnv2, deepfm, tf4ctr, lafam or eain (default tf4ctr)")
    train.add_argument("--candidates", metavar="CANDS",
                       help="train on retrieval's candidate lists (the --out of `funnel candidates`)")
    train.add_argument("--loss", help="logloss, focal, shrinkage, suppression or tf; with --candidates "
                       "also softmax, pairwise or approx-ndcg (default: softmax with --candidates, "
                       "else the model's own)")
    train.add_argument("--loss-option", action="append", metavar="KEY=VALUE",
                       help="override a loss parameter, e.g. gamma=3 (repeatable)")
    train.add_argument("--negative-ratio", type=float, metavar="R",
                       help="down-sample clicks to 1:R in every split (LAFAM Table 5)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--embedding-dim", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--backbone", help="tf4ctr: whose encoders to wrap (dnn, dualmlp, dcnv2, deepfm)")
    train.add_argument("--ssem", help="tf4ctr: sample selection embedding (ser, gm, mmoe, share)")
    train.add_argument("--dfm", help="tf4ctr: dynamic fusion module (wsf, vf, cf, moef, sum)")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="set any RankingConfig field, e.g. hidden_units=[64,64] (repeatable)")
    train.add_argument("--out", required=True, help="run folder to create")
    train.set_defaults(handler=train_ranking)

    evaluate = groups["evaluate"].add_parser("ranking", help="evaluate a ranking run",
                                             description="Evaluate a ranking run on a split.")
    evaluate.add_argument("--run", required=True)
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--threshold", default="0.5",
                          help="click threshold for precision/recall/f1/accuracy: a number, or "
                          "'tuned' for the best F1 on the validation split (default 0.5)")
    evaluate.add_argument("--hr-scope", default="user",
                          help="HR@k per user (LAFAM eq. 8) or over all rows")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=evaluate_ranking)

    experiment = groups["experiment"].add_parser("ranking", help="multi-seed ranking comparisons",
                                                 description="Run a paper-style ranking report.")
    experiment.add_argument("--data", required=True)
    experiment.add_argument("--report", required=True,
                            help="table3 (SSEM x DFM), table4 (models), table5 (TF4CTR compatibility) "
                            "or lafam-table5 (networks x losses x imbalance)")
    experiment.add_argument("--seeds", type=int, default=3)
    experiment.add_argument("--epochs", type=int)
    experiment.add_argument("--set", action="append", metavar="KEY=VALUE",
                            help="override a RankingConfig field for every run (repeatable)")
    experiment.add_argument("--existing-only", action="store_true",
                            help="train nothing: render the report from the runs already in --out")
    experiment.add_argument("--out", required=True, help="report folder (runs/, REPORT.md, REPORT.json)")
    experiment.set_defaults(handler=experiment_ranking)

