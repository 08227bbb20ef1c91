"""Cost of one optimizer step on an item embedding table, against the table's rows.

Usage::

    python benchmarks/optimizer_step.py --rows 1000000 [--optimizer keras|fused] [--steps 20]

Applies a sparse gradient of 12,288 rows (a batch of 1,024 examples touching
12 item rows each) to a ``[rows, 32]`` table, ``--steps`` times after one
warm-up step, and prints one JSON line: wall, user and system milliseconds per
step and the peak resident memory. Which CPU allocator TensorFlow uses is read
from ``TF_CPU_ALLOCATOR_USE_BFC`` when the process starts, so each setting is a
process of its own (``benchmarks/scale.py --parts optimizer_step`` runs the grid).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import funnel  # noqa: E402,F401  (legacy Keras switch before TensorFlow loads)

DIM = 32
TOUCHED_ROWS = 1024 * 12


def measure(rows: int, optimizer_name: str, steps: int) -> dict:
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras

    from funnel.optimizer import FusedAdam

    optimizer = FusedAdam(0.01) if optimizer_name == "fused" else keras.optimizers.Adam(0.01)
    table = tf.Variable(tf.zeros([rows, DIM]))
    rng = np.random.default_rng(0)
    gradients = [tf.IndexedSlices(tf.constant(rng.normal(size=(TOUCHED_ROWS, DIM)), tf.float32),
                                  tf.constant(rng.integers(0, rows, TOUCHED_ROWS), tf.int64),
                                  tf.constant([rows, DIM], tf.int64)) for _ in range(steps + 1)]
    step = tf.function(lambda gradient: optimizer.apply_gradients([(gradient, table)]))
    step(gradients[0])
    began, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    for gradient in gradients[1:]:
        step(gradient)
    wall, after = time.perf_counter() - began, resource.getrusage(resource.RUSAGE_SELF)
    return {"rows": rows, "optimizer": optimizer_name,
            "pooled_cpu_memory": os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "false") == "true",
            "ms_per_step": round(1e3 * wall / steps, 1),
            "user_ms_per_step": round(1e3 * (after.ru_utime - before.ru_utime) / steps, 1),
            "system_ms_per_step": round(1e3 * (after.ru_stime - before.ru_stime) / steps, 1),
            "peak_rss_mb": round(after.ru_maxrss / 1024)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--optimizer", choices=("keras", "fused"), default="fused")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.rows, args.optimizer, args.steps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
