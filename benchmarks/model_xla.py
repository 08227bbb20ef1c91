"""Does XLA (``jit_compile``) make the served models cheaper?

Loads a trained ranking run (and optionally a retrieval run), wraps the model
in a plain ``tf.function`` and in one with ``jit_compile=True``, feeds both
the same random vocabulary ids (the rows the ``candidate_codes`` and
``history_codes`` signatures pass on), and reports per call the median wall
and CPU milliseconds (``time.process_time``: every thread, so other jobs on
the machine stretch wall time but hardly CPU time) and the largest
difference between the two outputs. TensorFlow runs with one intra-op and
one inter-op thread, as ``funnel serve`` does by default.

    python benchmarks/model_xla.py --ranking RUN [--retrieval RUN] [--rows 200,1600] [--calls 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import funnel  # noqa: E402,F401  (legacy Keras switch before TensorFlow loads)


def median_ms(function, calls: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``function()`` after two unrecorded calls."""
    function(), function()
    wall, cpu = [], []
    for _ in range(calls):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)) * 1000, float(np.median(cpu)) * 1000


def ranking_rows(rows: int, num_items: int, rng: np.random.Generator) -> dict:
    """``rows`` ranking rows of random ids: every ``schema.RANKING_FEATURES`` name and the
    candidate features, as the ``candidate_codes`` signature hands them to the model."""
    import tensorflow as tf

    from funnel import schema

    features = {}
    for f in schema.RANKING_FEATURES:
        if f.kind is schema.Kind.SEQUENCE:
            features[f.name] = tf.constant(rng.integers(schema.FIRST_VALUE_ID, num_items, (rows, schema.MAX_SEQUENCE_LENGTH)))
            features[schema.HISTORY_LENGTH] = tf.fill([rows], tf.constant(schema.MAX_SEQUENCE_LENGTH, tf.int64))
        else:
            features[f.name] = tf.constant(rng.integers(1, 3, rows))
    for name in schema.CANDIDATE_FEATURES:
        features[name] = tf.constant(rng.random(rows).astype(np.float32))
    return features


def compare(name: str, model_call, inputs, calls: int) -> str:
    import tensorflow as tf

    plain = tf.function(model_call)
    compiled = tf.function(model_call, jit_compile=True)
    difference = float(np.abs(plain(inputs).numpy() - compiled(inputs).numpy()).max())
    plain_ms, compiled_ms = median_ms(lambda: plain(inputs), calls), median_ms(lambda: compiled(inputs), calls)
    return (f"| {name} | {plain_ms[0]:.2f} | {plain_ms[1]:.2f} | {compiled_ms[0]:.2f} | {compiled_ms[1]:.2f} | "
            f"{difference:.1e} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranking", required=True, help="ranking run folder (funnel train ranking --out)")
    parser.add_argument("--retrieval", help="retrieval run folder: also time its user tower")
    parser.add_argument("--rows", default="200,1600", help="ranking rows per call (200 = one request)")
    parser.add_argument("--histories", default="1,8", help="histories per user-tower call")
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args(argv)
    try:
        rows = [int(x) for x in args.rows.split(",")]
        histories = [int(x) for x in args.histories.split(",")]
    except ValueError:
        parser.error(f"--rows/--histories: comma-separated integers expected, got {args.rows!r}, {args.histories!r}")
    import tensorflow as tf

    from funnel import schema
    from ranking.train import load_trained

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    rng = np.random.default_rng(0)
    model, _ = load_trained(args.ranking)
    num_items = int(model.num_items) if hasattr(model, "num_items") else 1000
    lines = [f"{type(model).__name__} ({args.ranking}); load average {os.getloadavg()[0]:.2f}", "",
             "| model, rows | plain wall ms | plain CPU ms | XLA wall ms | XLA CPU ms | max difference |",
             "|---|---:|---:|---:|---:|---:|"]
    for count in rows:
        lines.append(compare(f"ranking, {count} rows", lambda f: model(f, training=False),
                             ranking_rows(count, num_items, rng), args.calls))
    if args.retrieval:
        from retrieval.train import load_trained as load_retrieval

        retrieval, _ = load_retrieval(args.retrieval)
        for count in histories:
            history = np.full((count, schema.MAX_SEQUENCE_LENGTH), schema.PADDING_ID, np.int64)
            history[:, -12:] = rng.integers(schema.FIRST_VALUE_ID, num_items, (count, 12))
            lines.append(compare(f"user tower, {count} histories", lambda h: retrieval.user_tower(h, training=False),
                                 tf.constant(history), args.calls))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
