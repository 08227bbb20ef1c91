"""Retrieval speed on this machine: training throughput, one IDW sleep phase, evaluation time.

Usage::

    .venv/bin/python benchmarks/retrieval_speed.py --data /tmp/ml100k [--json OUT.json]

- training: warm examples/s of one epoch of SUR and MUR (defaults of the IDW
  paper: embedding 16, 2 encoder layers x 4 heads, batch 256), on CPU;
- IDW sleep phase (Algorithm 2: item-tower outputs -> batched weighted KDE ->
  eqs. 8-9) on 10,000 and 100,000 items with 16-d clustered embeddings;
- evaluation: ``retrieval.evaluate.evaluate`` of a trained MUR model on the
  test split (sampled + full-catalog metrics), and full-catalog scoring of
  1,000 users against 100,000 items.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import funnel  # noqa: E402,F401


def training_throughput(data_dir: Path, model_name: str, batch_size: int | None = None) -> dict:
    """Examples/s of one warm epoch of ``model_name`` (the config's batch size unless given)."""
    import tensorflow as tf

    from funnel import dataset, distribute, schema
    from retrieval.config import RetrievalConfig
    from retrieval.run import build_model, item_statistics
    from retrieval.train import count_examples
    from funnel.optimizer import FusedAdam

    distribute.seed_everything(0)
    config = RetrievalConfig(model=model_name, verbose=0,
                             **({"batch_size": batch_size} if batch_size else {}))
    model, _ = build_model(config, item_statistics(data_dir))
    model.compile(optimizer=FusedAdam(config.learning_rate))
    train = dataset.retrieval_dataset(data_dir, schema.TRAIN, config.batch_size, shuffle=True, seed=0)
    examples = count_examples(data_dir, schema.TRAIN)
    model.fit(train.take(20), epochs=1, verbose=0)          # trace and warm up
    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit(train, epochs=1, verbose=0)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    del tf
    return {"model": model_name, "examples": examples, "seconds": round(seconds, 2),
            "examples_per_second": round(examples / seconds, 1),
            "examples_per_cpu_second": round(examples / cpu_seconds, 1)}


def clustered_embeddings(num_items: int, dim: int = 16, clusters: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(clusters, dim))
    labels = rng.integers(clusters, size=num_items)
    embeddings = centres[labels] + rng.normal(size=(num_items, dim))
    frequencies = rng.zipf(1.5, size=num_items).astype(np.float64)
    return embeddings.astype(np.float32), frequencies


def sleep_phase(num_items: int, centres: int = 0) -> dict:
    """One Algorithm-2 update; ``centres`` = 0 is the exact O(N^2) KDE."""
    from retrieval.weighting import idw

    embeddings, frequencies = clustered_embeddings(num_items)
    weights = idw.initial_weights(frequencies)
    start = time.perf_counter()
    idw.update_weights(weights, embeddings, momentum=0.9, centres=centres)
    seconds = time.perf_counter() - start
    kernel_centres = centres if 0 < centres < num_items else num_items
    return {"items": num_items, "centres": kernel_centres, "seconds": round(seconds, 2),
            "kernel_evaluations": num_items * kernel_centres}


def evaluation_time(data_dir: Path, run_dir: Path) -> dict:
    from funnel import schema
    from funnel.runs import RunLayout
    from retrieval.config import RetrievalConfig
    from retrieval.evaluate import evaluate, model_scorer
    from retrieval.run import load_trained
    from retrieval.train import train

    if not RunLayout(run_dir).config.exists():
        train(RetrievalConfig(model="mur", epochs=1, verbose=0), data_dir, run_dir, overwrite=True)
    model, config = load_trained(run_dir)
    scorer = model_scorer(model)
    evaluate(scorer, data_dir, schema.VALIDATION, config.interests)   # warm up
    start = time.perf_counter()
    metrics = evaluate(scorer, data_dir, schema.TEST, config.interests)
    seconds = time.perf_counter() - start
    return {"examples": metrics["examples"], "seconds": round(seconds, 3),
            "examples_per_second": round(metrics["examples"] / seconds, 1)}


def full_catalog_scoring(num_items: int = 100_000, users: int = 1000, interests: int = 5) -> dict:
    import tensorflow as tf

    from retrieval.model import interest_scores

    rng = np.random.default_rng(0)
    items = tf.constant(rng.normal(size=(num_items, 16)).astype(np.float32))
    batch = 64
    queries = tf.constant(rng.normal(size=(batch, interests, 16)).astype(np.float32))
    score = tf.function(lambda q: tf.math.top_k(interest_scores(q, items), k=100).indices)
    score(queries)
    start = time.perf_counter()
    for _ in range(users // batch):
        score(queries).numpy()
    seconds = time.perf_counter() - start
    scored = batch * (users // batch)
    return {"items": num_items, "users": scored, "interests": interests, "seconds": round(seconds, 2),
            "users_per_second": round(scored / seconds, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="a `funnel preprocess` output folder")
    parser.add_argument("--run", type=Path, help="a trained MUR run to time evaluation (trained if absent)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--skip-100k", action="store_true",
                        help="skip the exact (100,000 x 100,000) sleep phase")
    args = parser.parse_args(argv)
    results = {"cpus": os.cpu_count()}
    results["training"] = [training_throughput(args.data, name) for name in ("sur", "mur")]
    for row in results["training"]:
        print(f"training {row['model']}: {row['examples_per_second']:.0f} examples/s "
              f"({row['examples']} examples in {row['seconds']} s)")
    cases = [(10_000, 0), (100_000, 10_000)] + ([] if args.skip_100k else [(100_000, 0)])
    results["idw_sleep_phase"] = []
    for size, centres in cases:
        row = sleep_phase(size, centres)
        results["idw_sleep_phase"].append(row)
        print(f"IDW sleep phase, {size} items, {row['centres']} kernel centres: {row['seconds']} s")
    run = args.run or Path(tempfile.mkdtemp()) / "mur"
    results["evaluation"] = evaluation_time(args.data, run)
    print(f"evaluation: {results['evaluation']['examples']} test examples in "
          f"{results['evaluation']['seconds']} s")
    results["full_catalog_scoring"] = full_catalog_scoring()
    row = results["full_catalog_scoring"]
    print(f"full-catalog top-100 of {row['items']} items, M={row['interests']}: "
          f"{row['users_per_second']} users/s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
