"""Ranking speed: training examples per second and inference latency per model.

Usage:
    python benchmarks/ranking_speed.py --data DIR [--examples 40000] [--epochs 3] [--repeats 50] [--json OUT]

Every registered model is built with its default config (and loss) and warmed
up with one epoch over ``--examples`` training rows (graph tracing, filling the
cache). Then ``--epochs`` rounds time one epoch of every model in turn (round
robin, so load from other processes hits all models alike), and the median is
reported both as wall-clock examples/s and as examples per CPU-second of this
process (``time.process_time``, all threads), which is far less sensitive to a
shared, busy machine. "vs DNN" is the ratio of CPU time per epoch to the DNN's
(TF4CTR Table 6 reports 1.30x for TF4CTR's training time). Inference: a
``tf.function`` of ``model(features)`` at batch 1, 100 and 500, warmed up, then
the median and p95 wall-clock latency of ``--repeats`` calls.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import funnel  # noqa: F401  (legacy Keras switch before TensorFlow loads)

BATCHES = (1, 100, 500)


def load_rows(data_dir: str, examples: int) -> dict:
    from funnel import dataset, schema

    arrays = dataset.load_arrays(dataset.ranking_dataset(data_dir, schema.TRAIN, 8192).take(
        -(-examples // 8192)))
    return {k: v[:examples] for k, v in arrays.items()}


def build(name: str, data_dir: str, arrays: dict, batch_size: int):
    import tensorflow as tf
    from funnel.optimizer import FusedAdam

    from funnel import distribute, schema
    from ranking.config import RankingConfig
    from ranking.features import dummy_features
    from ranking.models import build_model

    distribute.seed_everything(0)
    config = RankingConfig(model=name, batch_size=batch_size)
    model = build_model(config, schema.FeatureMap.load(data_dir))
    model(dummy_features())
    model.compile(optimizer=FusedAdam(config.learning_rate))
    train = tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size).cache()
    model.fit(train, epochs=1, verbose=0)
    return model, train


def latency(model, arrays: dict, repeats: int) -> dict:
    import tensorflow as tf

    from funnel import schema

    serve = tf.function(lambda features: model(features, training=False))
    result = {}
    for batch in BATCHES:
        features = {k: tf.constant(v[:batch]) for k, v in arrays.items() if k != schema.LABEL}
        for _ in range(3):
            serve(features).numpy()
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            serve(features).numpy()
            timings.append(time.perf_counter() - started)
        result[batch] = {"median_ms": 1e3 * float(np.median(timings)),
                         "p95_ms": 1e3 * float(np.percentile(timings, 95))}
    return result


def epoch_throughput(name: str, data_dir: str, arrays: dict, batch_size: int) -> dict:
    """Examples/s of one warm training epoch of ``name`` over ``arrays`` at ``batch_size``."""
    model, train = build(name, data_dir, arrays, batch_size)  # the first epoch warms up
    rows = len(next(iter(arrays.values())))
    started, cpu_started = time.perf_counter(), time.process_time()
    model.fit(train, epochs=1, verbose=0)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return {"model": name, "examples": rows, "batch_size": batch_size, "seconds": seconds,
            "examples_per_second": rows / seconds, "examples_per_cpu_second": rows / cpu_seconds}


def measure(names, data_dir: str, examples: int, epochs: int, repeats: int, batch_size: int) -> list[dict]:
    arrays = load_rows(data_dir, examples)
    rows = len(next(iter(arrays.values())))
    built = {name: build(name, data_dir, arrays, batch_size) for name in names}
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for _ in range(epochs):
        for name, (model, train) in built.items():
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            model.fit(train, epochs=1, verbose=0)
            wall[name].append(time.perf_counter() - wall_start)
            cpu[name].append(time.process_time() - cpu_start)
    results = []
    for name, (model, _) in built.items():
        results.append({
            "model": name, "examples": rows,
            "epoch_wall_seconds": float(np.median(wall[name])),
            "epoch_cpu_seconds": float(np.median(cpu[name])),
            "train_examples_per_second": rows / float(np.median(wall[name])),
            "train_examples_per_cpu_second": rows / float(np.median(cpu[name])),
            "parameters": int(sum(np.prod(w.shape) for w in model.trainable_variables)),
            "latency": latency(model, arrays, repeats),
        })
    return results


def table(results: list[dict]) -> str:
    base = next((r["epoch_cpu_seconds"] for r in results if r["model"] == "dnn"), None)
    lines = ["| Model | Params | Train ex/s (wall) | Train ex per CPU-s | CPU time vs DNN | "
             + " | ".join(f"Latency b={b} (ms, median / p95)" for b in BATCHES) + " |",
             "|---" * (5 + len(BATCHES)) + "|"]
    for r in results:
        ratio = f"{r['epoch_cpu_seconds'] / base:.2f}x" if base else "n/a"
        cells = " | ".join(f"{r['latency'][b]['median_ms']:.2f} / {r['latency'][b]['p95_ms']:.2f}"
                           for b in BATCHES)
        lines.append(f"| {r['model']} | {r['parameters']:,} | {r['train_examples_per_second']:,.0f} | "
                     f"{r['train_examples_per_cpu_second']:,.0f} | {ratio} | {cells} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from ranking.models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="output folder of `funnel preprocess`")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--examples", type=int, default=40000)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per model (median)")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args(argv)
    results = measure(args.models, args.data, args.examples, args.epochs, args.repeats, args.batch_size)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(table(results))
    print(f"\n{results[0]['examples']:,} examples, batch {args.batch_size}; "
          f"1-minute load average at the end: {load:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
