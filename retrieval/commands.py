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

from funnel import distribute, flags, outdir, preflight
from retrieval import names
from retrieval.config import (AUTO, IDW_UPDATES, LOSSES, MODEL_NEGATIVES,
                              MODEL_TRAIN_ON, MODELS, NEGATIVES, PRESETS, RECENCIES, SCORINGS,
                              TRAIN_ON, RetrievalConfig)

HELP = {
    "model": "sur (one user representation), mur (M of them) or sasrec (causal self-attention, the last position's state; Kang & McAuley 2018)",
    "num_interests": "M, the user representations of mur (sur has one)",
    "embedding_dim": "size of the item-id embeddings inside both towers",
    "item_hidden": "item MLP sizes, comma separated; the last is the representation size D; "
                   "none: no MLP, the item-id embedding is the representation",
    "encoder_layers": "self-attention layers of the user tower",
    "encoder_heads": "attention heads per encoder layer",
    "encoder_ffn_multiplier": "encoder feed-forward width, as a multiple of --embedding-dim",
    "dropout": "dropout on the user tower's input embeddings and inside the encoder",
    "recency": "how the user tower weighs the most recent item: none, or last-state (its encoder "
               "state added to every interest)",
    "share_item_embedding": "one item-id embedding table for both towers, as SASRec shares its item table",
    "use_item_category": "feed the item category to the item tower",
    "scoring": "how M interests score an item: mixture (IDW eq. 4) or their max",
    "weighting": "loss weighting scheme",
    "logq_correction": "subtract log p(y) from in-batch logits (eq. 2)",
    "remove_accidental_hits": "mask in-batch negatives equal to the positive",
    "train_on": "examples (one history and its next item per row, a bidirectional encoder) or "
                "sequences (every position of a sequence at once, a causal encoder; sasrec's only)",
    "bucket_by_length": "batch training examples of similar history length and cut their common "
                        "padding (same model, less work per step)",
    "learning_rate": "Adam learning rate",
    "batch_size": "examples per training batch (the in-batch negatives)",
    "epochs": "max epochs of each fit (early stopping on validation loss)",
    "patience": "epochs without a better validation loss before a fit stops",
    "seed": "seed of initialisation and shuffling",
    "mixed_precision": "train in mixed_float16 (pays on GPUs)",
    "verbose": "Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch",
    "focal_gamma": "focal weighting: focusing exponent gamma (Lin et al.)",
    "qmargin_max": "qmargin: the largest per-item margin (LDAM, Cao et al.)",
    "idw_momentum": "IDW: momentum of the item-weight update (Algorithm 2)",
    "idw_initial_weights": "IDW: w^(0), item frequencies (Algorithm 1) or uniform",
    "idw_eta": "IDW: KDE bandwidth eta (eqs. 7-9)",
    "idw_max_rounds": "IDW: most wake/sleep rounds",
    "idw_wake_epochs": "IDW: epochs of each wake phase",
    "idw_calibration_epochs": "IDW: epochs of the final calibration with the item tower frozen",
    "idw_calibration_lr_scale": "IDW: learning rate of calibration, as a share of --learning-rate",
    "kde_batch_elements": "IDW: kernel evaluations per KDE batch (memory bound)",
    "kde_centres": "IDW: kernel centres drawn by weight; 0: every item up to 10,000 items (exact), "
                   "then 10,000 down to 2,000 centres as the catalog grows",
    "domain_alpha": "domain weighting: exponent of the per-domain loss ratio",
    "domain_min_weight": "domain weighting: smallest domain weight",
    "domain_max_weight": "domain weighting: largest domain weight",
    "domain_momentum": "domain weighting: momentum of the weight update",
    "negatives": "negatives of the training softmax: in-batch (logQ-corrected), full (every item), "
                 "mixed (in-batch plus --sampled-negatives uniform items) or sampled (uniform items only)",
    "sampled_negatives": "uniformly drawn negatives per batch for --negatives mixed|sampled",
    "loss": "softmax (cross-entropy over target and negatives) or bce (SASRec's binary loss; "
            "needs --negatives sampled)",
    "temperature": "softmax temperature of the training loss (the authors' MovieLens config: 0.01)",
    "idw_update": "IDW sleep phase: paper (h = 1 - p', eq. 8) or official (authors' 1/(p + 1e-4))",
}
"""Help of every ``RetrievalConfig`` field's flag (``test_every_flag_has_help`` checks all have one)."""
DEFAULT_TEXT = {"num_interests": f"{MODELS['mur']} for mur",
                "negatives": f"{AUTO}: " + ", ".join(f"{choices[0]} for {model}" for model, choices
                                                          in MODEL_NEGATIVES.items()),
                "train_on": f"{AUTO}: " + ", ".join(f"{choices[0]} for {model}" for model, choices
                                                    in MODEL_TRAIN_ON.items())}
"""Defaults said in words where the field's value is a placeholder (0 = the model's own)."""
CHOICES = {"model": sorted(MODELS), "scoring": list(SCORINGS), "weighting": list(names.WEIGHTINGS),
           "idw_initial_weights": list(names.IDW_INITIAL_WEIGHTS), "verbose": [0, 1, 2],
           "idw_update": list(IDW_UPDATES), "negatives": [AUTO, *NEGATIVES], "loss": list(LOSSES),
           "recency": list(RECENCIES), "train_on": [AUTO, *TRAIN_ON]}
FLAG_TYPES = {
    "embedding_dim": flags.positive_int, "encoder_layers": flags.non_negative_int,
    "encoder_heads": flags.positive_int, "encoder_ffn_multiplier": flags.positive_int,
    "batch_size": flags.positive_int, "epochs": flags.positive_int,
    "sampled_negatives": flags.positive_int,
    "idw_max_rounds": flags.positive_int, "idw_wake_epochs": flags.positive_int,
    "kde_batch_elements": flags.positive_int, "verbose": flags.non_negative_int,
    "learning_rate": flags.positive_float, "idw_eta": flags.positive_float,
    "temperature": flags.positive_float,
    "idw_calibration_lr_scale": flags.positive_float, "dropout": flags.number(0.0, 0.99),
    "idw_momentum": flags.fraction, "domain_momentum": flags.fraction,
    "domain_min_weight": flags.number(0.0, 1.0, exclusive_minimum=True),
    "domain_max_weight": flags.number(1.0),
}
"""Argparse types checking each numeric field; other ints and floats must be >= 0."""
DEFAULT_TYPES = {int: flags.non_negative_int, float: flags.non_negative_float}
FLAG_NAMES = {"num_interests": "--interests", "use_item_category": "--item-category",
              "verbose": "--keras-verbose"}
"""Flags not spelt like their field (``--verbose`` would clash with ``funnel -v/--verbose``)."""


def _int_tuple(text: str) -> tuple[int, ...]:
    """``--item-hidden``: comma-separated sizes, or ``none`` for no MLP (the embedding itself)."""
    if text.strip().lower() == "none":
        return ()
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 1, got {text!r}")
    return values


def _methods(text: str) -> list[str]:
    """``--methods``: comma-separated method names, each checked by ``names.parse_method``."""
    methods = [method.strip() for method in text.split(",") if method.strip()]
    if not methods:
        raise argparse.ArgumentTypeError(f"expected one or more comma-separated methods, got {text!r}")
    for method in methods:
        try:
            names.parse_method(method)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return methods


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ``RetrievalConfig`` field, and ``--preset``; unset flags stay out of the namespace."""
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="a named group of settings (retrieval.config.PRESETS); flags given "
                             "beside it win (default: none)")
    hints = typing.get_type_hints(RetrievalConfig)
    for field in dataclasses.fields(RetrievalConfig):
        flag = FLAG_NAMES.get(field.name, "--" + field.name.replace("_", "-"))
        kind = hints[field.name]
        default = DEFAULT_TEXT.get(field.name, field.default)
        if typing.get_origin(kind) is tuple:
            default = ",".join(str(size) for size in field.default) or "none"
        options = dict(dest=f"config_{field.name}", default=argparse.SUPPRESS,
                       help=f"{HELP[field.name]} (default: {default})")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
            continue
        if typing.get_origin(kind) is tuple:
            options.update(type=_int_tuple, metavar="N,N")
        else:
            options["type"] = FLAG_TYPES.get(field.name) or DEFAULT_TYPES.get(kind, kind)
        if field.name in CHOICES:
            options["choices"] = CHOICES[field.name]
        else:
            options.setdefault("metavar", flag[2:].replace("-", "_").upper())
        parser.add_argument(flag, **options)


def chosen_settings(args: argparse.Namespace) -> dict:
    """The config values the user chose: the preset's, then the flags given beside it."""
    values = {name[len("config_"):]: value for name, value in vars(args).items()
              if name.startswith("config_")}
    preset = PRESETS[args.preset] if getattr(args, "preset", None) else {}
    return {**preset, **values}


def config_from_args(args: argparse.Namespace, **overrides) -> RetrievalConfig:
    """The user's settings on top of their model's defaults (``retrieval.config.build``)."""
    from retrieval.config import build

    return build({**chosen_settings(args), **overrides})


def train_command(args) -> int:
    preflight.data_folder(args.data)
    outdir.check(args.out, args.overwrite)
    distribute.pool_cpu_memory()
    from retrieval.train import train

    metrics = train(config_from_args(args), args.data, args.out, overwrite=args.overwrite)
    best = (f"; kept epoch {metrics['best_epoch']}, best val loss {metrics['best_val_loss']:.4f} "
            f"(last epoch {metrics['final_val_loss']:.4f})" if metrics.get("best_val_loss") is not None else "")
    print(f"trained in {metrics['seconds']:.1f}s over {metrics['epochs']} epochs "
          f"({metrics['train_examples']} examples){best}; run folder: {args.out}")
    return 0


def evaluate_command(args) -> int:
    preflight.run_folder(args.run, "--run", "funnel train retrieval")
    preflight.data_folder(args.data)
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
    preflight.data_folder(args.data)
    preflight.output(args.out)
    distribute.pool_cpu_memory()
    from retrieval.experiment import run_experiment

    overrides = flags.Parser(prog="funnel experiment retrieval (config flags)")
    add_config_flags(overrides)
    config_args = overrides.parse_args(extra)
    config_from_args(config_args)  # a bad setting fails before any method trains
    report = run_experiment(args.data, args.methods, args.seeds, args.out,
                            settings=chosen_settings(config_args), first_seed=args.first_seed,
                            reference=args.reference)
    print(report.markdown)
    print(f"report written to {args.out}")
    return 0


def register(groups) -> None:
    train = groups["train"].add_parser(
        "retrieval", help="train a two-tower retrieval model (SUR/MUR, weighting schemes)",
        description="Train a two-tower retrieval model (Mehta et al. 2023).")
    train.add_argument("--data", required=True, help="output folder of `funnel preprocess`")
    train.add_argument("--out", required=True, help="run folder to write")
    train.add_argument("--overwrite", action="store_true",
                       help="replace what --out holds (without it a non-empty --out is an error)")
    add_config_flags(train)
    train.set_defaults(handler=train_command)

    evaluate = groups["evaluate"].add_parser(
        "retrieval", help="HR/NDCG@5,20 (sampled, head/tail), full-catalog recall, silhouette")
    evaluate.add_argument("--run", required=True, help="run folder of `funnel train retrieval`")
    evaluate.add_argument("--data", required=True, help="the data folder the run was trained on")
    evaluate.add_argument("--split", default="test", choices=["validation", "test"],
                          help="split to evaluate on")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=evaluate_command)

    experiment = groups["experiment"].add_parser(
        "retrieval", help="multi-seed comparison of methods; markdown + JSON report and plots",
        description="Compare methods over seeds. Methods: the baselines (most-popular, markov), "
                    "the models (sur, mur, sasrec) and <model>-<weighting> (e.g. mur-idw, "
                    "mur-qmargin). Any training flag (e.g. --epochs 5) applies to every method.")
    experiment.add_argument("--data", required=True, help="output folder of `funnel preprocess`")
    experiment.add_argument("--methods", type=_methods, default="most-popular,sur,mur,mur-idw",
                            help="comma-separated methods to compare")
    experiment.add_argument("--seeds", type=flags.positive_int, default=3,
                            help="runs per method, one seed each")
    experiment.add_argument("--first-seed", type=flags.non_negative_int, default=0,
                            help="seed of the first run; the others count up from it")
    experiment.add_argument("--out", required=True, help="report folder")
    experiment.add_argument("--reference", default=None, metavar="METHOD",
                            help="method every other is compared with by a paired bootstrap of "
                                 "HR@10/NDCG@10 (full catalog) on the same test users "
                                 "(default: sasrec if among --methods, else the first method)")
    experiment.set_defaults(handler=experiment_command, accepts_extra=True)
