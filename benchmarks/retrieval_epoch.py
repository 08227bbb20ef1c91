"""Training time per epoch of each retrieval negatives mode, of whole-sequence training
and of SASRec on a data folder.

Each variant is the default config (``retrieval.config.build``) with one change
(``sequences``: two; whole sequences come in batches of 64).
It is trained for ``--warm-steps`` steps (tracing), then timed over ``--steps``
steps of its own training data (``retrieval.train.TRAINING_DATA``: examples
batched by history length, or whole sequences); the
epoch estimate is the measured time per step times the epoch's steps.

Usage::

    .venv/bin/python benchmarks/retrieval_epoch.py --data DATA [--variants in-batch,full,mixed,sasrec]
        [--steps 60] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import funnel  # noqa: E402,F401

VARIANTS = {
    "in-batch": {"negatives": "in-batch"},
    "full": {"negatives": "full"},
    "mixed": {"negatives": "mixed"},
    "sampled": {"negatives": "sampled"},
    "sequences": {"train_on": "sequences", "batch_size": 64},
    "sasrec": {"model": "sasrec"},
}
"""Variant name -> the config values it changes from the defaults."""


def time_variant(data_dir: Path, values: dict, steps: int, warm_steps: int) -> dict:
    """Wall and CPU ms per training step of one config, and the epoch they add up to."""
    import tensorflow as tf

    from funnel import distribute
    from funnel.optimizer import FusedAdam
    from retrieval.config import build
    from retrieval.run import build_model, item_statistics
    from retrieval.train import TRAINING_DATA

    distribute.seed_everything(0)
    config = build({**values, "verbose": 0})
    model, _ = build_model(config, item_statistics(data_dir))
    model.compile(optimizer=FusedAdam(config.learning_rate))
    train, _ = TRAINING_DATA[config.train_on](data_dir, config)
    steps_per_epoch = int(sum(1 for _ in train))
    batches = train.repeat()
    model.fit(batches, steps_per_epoch=warm_steps, epochs=1, verbose=0)
    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    del tf
    return {"config": values, "batch_size": config.batch_size, "steps_per_epoch": steps_per_epoch,
            "ms_per_step": round(1000 * seconds / steps, 1),
            "cpu_ms_per_step": round(1000 * cpu_seconds / steps, 1),
            "epoch_seconds": round(seconds / steps * steps_per_epoch, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="output folder of `funnel preprocess`")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per variant (default: 60)")
    parser.add_argument("--warm-steps", type=int, default=10, help="untimed first steps (default: 10)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    unknown = [name for name in args.variants.split(",") if name not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {unknown}; choose from {list(VARIANTS)}")
    results = {}
    print("| variant | batch | steps/epoch | ms/step | CPU ms/step | s/epoch |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.variants.split(","):
        result = results[name] = time_variant(args.data, VARIANTS[name], args.steps, args.warm_steps)
        print(f"| {name} | {result['batch_size']} | {result['steps_per_epoch']} | {result['ms_per_step']} | "
              f"{result['cpu_ms_per_step']} | {result['epoch_seconds']} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
