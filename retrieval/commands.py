"""CLI of the retrieval stage: ``funnel train|evaluate|experiment retrieval``.

Training flags are generated from :class:`retrieval.config.RetrievalConfig`'s
fields (``--embedding-dim`` sets ``embedding_dim``), so the CLI and the config
can never drift apart; only flags the user gives override the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing

from retrieval.config import MODELS, SCORINGS, RetrievalConfig

HELP = {
    "model": "sur (one user representation) or mur (M of them)",
    "num_interests": "M for mur (default 5)",
    "weighting": "loss weighting scheme",
    "scoring": "mixture (IDW eq. 4) or max over interests",
    "item_hidden": "item MLP sizes, comma separated; the last is the representation size",
    "use_item_category": "feed the item category to the item tower",
    "logq_correction": "subtract log p(y) from in-batch logits (eq. 2)",
    "remove_accidental_hits": "mask in-batch negatives equal to the positive",
    "mixed_precision": "train in mixed_float16 (pays on GPUs)",
    "epochs": "max epochs of each fit (early stopping on validation loss)",
    "verbose": "Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch",
}
CHOICES = {"model": sorted(MODELS), "scoring": list(SCORINGS),
           "idw_initial_weights": ["frequency", "uniform"]}
FLAG_NAMES = {"num_interests": "--interests", "use_item_category": "--item-category"}


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def add_config_flags(parser: argparse.ArgumentParser, choices: dict | None = None) -> None:
    """One flag per ``RetrievalConfig`` field; unset flags stay out of the namespace."""
    hints = typing.get_type_hints(RetrievalConfig)
    for field in dataclasses.fields(RetrievalConfig):
        flag = FLAG_NAMES.get(field.name, "--" + field.name.replace("_", "-"))
        kind = hints[field.name]
        options = dict(dest=f"config_{field.name}", default=argparse.SUPPRESS,
                       help=f"{HELP.get(field.name, field.name.replace('_', ' '))} (default: {field.default})")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
            continue
        if typing.get_origin(kind) is tuple:
            options["type"] = _int_tuple
        else:
            options["type"] = kind
        if field.name in {**CHOICES, **(choices or {})}:
            options["choices"] = {**CHOICES, **(choices or {})}[field.name]
        parser.add_argument(flag, **options)


def config_from_args(args: argparse.Namespace, **overrides) -> RetrievalConfig:
    from funnel import config as config_lib

    values = {name[len("config_"):]: value for name, value in vars(args).items()
              if name.startswith("config_")}
    return config_lib.from_dict(RetrievalConfig, {**values, **overrides})


def train_command(args) -> int:
    from retrieval.train import train

    metrics = train(config_from_args(args), args.data, args.out)
    best = (f"; kept epoch {metrics['best_epoch']}, best val loss {metrics['best_val_loss']:.4f} "
            f"(last epoch {metrics['final_val_loss']:.4f})" if metrics.get("best_val_loss") is not None else "")
    print(f"trained in {metrics['seconds']:.1f}s over {metrics['epochs']} epochs "
          f"({metrics['train_examples']} examples){best}; run folder: {args.out}")
    return 0


def evaluate_command(args) -> int:
    from retrieval.evaluate import evaluate_run

    metrics = evaluate_run(args.run, args.data, args.split)
    if args.json:
        print(json.dumps(metrics, sort_keys=True))
        return 0
    for name in sorted(metrics):
        value = metrics[name]
        print(f"{name:>18}  {value:.4f}" if isinstance(value, float) else f"{name:>18}  {value}")
    return 0


def experiment_command(args, extra) -> int:
    from retrieval.experiment import run_experiment

    overrides = argparse.ArgumentParser(prog="funnel experiment retrieval (config flags)")
    add_config_flags(overrides)
    config_args = overrides.parse_args(extra)
    report = run_experiment(args.data, args.methods.split(","), args.seeds, args.out,
                            base=config_from_args(config_args), first_seed=args.first_seed)
    print(report.markdown)
    print(f"report written to {args.out}")
    return 0


def register(groups) -> None:
    from retrieval.weighting import WEIGHTINGS

    train = groups["train"].add_parser(
        "retrieval", help="train a two-tower retrieval model (SUR/MUR, weighting schemes)",
        description="Train a two-tower retrieval model (Mehta et al. 2023).")
    train.add_argument("--data", required=True, help="output folder of `funnel preprocess`")
    train.add_argument("--out", required=True, help="run folder to write")
    add_config_flags(train, {"weighting": sorted(WEIGHTINGS)})
    train.set_defaults(handler=train_command)

    evaluate = groups["evaluate"].add_parser(
        "retrieval", help="HR/NDCG@5,20 (sampled, head/tail), full-catalog recall, silhouette")
    evaluate.add_argument("--run", required=True, help="run folder of `funnel train retrieval`")
    evaluate.add_argument("--data", required=True, help="the data folder the run was trained on")
    evaluate.add_argument("--split", default="test", choices=["validation", "test"])
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=evaluate_command)

    experiment = groups["experiment"].add_parser(
        "retrieval", help="multi-seed comparison of methods; markdown + JSON report and plots",
        description="Compare methods over seeds. Methods: sur, mur, most-popular, and "
                    "<sur|mur>-<weighting> (e.g. mur-idw, mur-qmargin). Any training flag "
                    "(e.g. --epochs 5) applies to every method.")
    experiment.add_argument("--data", required=True)
    experiment.add_argument("--methods", default="most-popular,sur,mur,mur-idw")
    experiment.add_argument("--seeds", type=int, default=3)
    experiment.add_argument("--first-seed", type=int, default=0)
    experiment.add_argument("--out", required=True, help="report folder")
    experiment.set_defaults(handler=experiment_command, accepts_extra=True)
