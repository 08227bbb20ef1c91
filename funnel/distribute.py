"""How training is spread over the hardware TensorFlow sees.

One rule for retrieval and ranking alike:
- ``TF_CONFIG`` naming two or more workers -> ``MultiWorkerMirroredStrategy``;
- one or more GPUs -> ``MirroredStrategy`` over all of them;
- otherwise the default strategy (CPU, no replication).

Mixed precision (``mixed_float16``) is an opt-in that only pays on GPUs.
"""

from __future__ import annotations

import json
import logging
import os

import funnel  # noqa: F401

logger = logging.getLogger(__name__)


def num_workers_in(tf_config: str | None) -> int:
    """Number of workers (chief included) named by a ``TF_CONFIG`` string."""
    if not tf_config:
        return 0
    cluster = json.loads(tf_config).get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def strategy_name(num_gpus: int, tf_config: str | None) -> str:
    """The strategy chosen for this hardware, by name (pure, for testing)."""
    if num_workers_in(tf_config) > 1:
        return "MultiWorkerMirroredStrategy"
    if num_gpus > 0:
        return "MirroredStrategy"
    return "default"


def pick_strategy(tf_config: str | None = None):
    """Return the ``tf.distribute.Strategy`` for the hardware TensorFlow sees."""
    import tensorflow as tf

    tf_config = os.environ.get("TF_CONFIG") if tf_config is None else tf_config
    name = strategy_name(len(tf.config.list_physical_devices("GPU")), tf_config)
    logger.info("distribution strategy: %s", name)
    if name == "MultiWorkerMirroredStrategy":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "MirroredStrategy":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


POOLED_CPU_MEMORY = {"TF_CPU_ALLOCATOR_USE_BFC": "true"}
"""TensorFlow's best-fit-with-coalescing allocator for CPU tensors, read once at its first allocation."""


def pool_cpu_memory() -> None:
    """Have TensorFlow reuse freed CPU buffers instead of taking fresh pages from the OS.

    Training allocates table-sized temporaries every step (an item table's
    optimizer update); with the default allocator each one is new memory the
    kernel must map and zero, most of an Adam step on a 1M-item table
    (docs/benchmarks.md, "Training on a 1M-item catalog"). Training commands call this before
    TensorFlow allocates; a value the user exported wins.
    """
    for name, value in POOLED_CPU_MEMORY.items():
        os.environ.setdefault(name, value)


def set_mixed_precision(enabled: bool) -> None:
    """Switch Keras to ``mixed_float16`` (GPU) or back to ``float32``."""
    import tf_keras as keras

    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")


def seed_everything(seed: int) -> None:
    """Make a run repeatable: Python, NumPy and TensorFlow seeds, deterministic ops."""
    import random

    import numpy as np
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
