"""A SavedModel's signatures run through TF1 session callables: NumPy in, NumPy out.

The service calls its two models from several threads, and everything a call
does in Python holds the GIL. Calling a TF2-loaded signature converts each
input with ``tf.constant`` and binds the arguments to the signature's
structure in Python; with two batch threads that GIL-held time, not the
cores, capped throughput (docs/benchmarks.md, "Serving"). A session callable, made once per signature, feeds the
arrays from C++, so a call's Python is a dtype cast per input; the graph, and
so every output, is the one the signature holds (equal to the last bit).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np


INLINE = 0
"""``inter_op_threads`` that runs a call's whole graph on the thread making the call."""


class SessionModel:
    """The SavedModel at ``path`` loaded once into its own graph and session.

    ``intra_op_threads`` and ``inter_op_threads`` size the session's pools;
    ``None`` takes TensorFlow's configured counts (``tf.config.threading``).
    ``inter_op_threads=INLINE`` gives the session no inter-op pool: every op
    of a call runs on the caller's thread (TensorFlow's negative
    ``inter_op_parallelism_threads``). Called back to back, small models
    cost less CPU a call that way than with a pool of two; a wide ranker
    answers a lone request sooner with the pool (docs/benchmarks.md, "Serving").
    """

    def __init__(self, path: str | Path, intra_op_threads: int | None = None,
                 inter_op_threads: int | None = None):
        import tensorflow as tf

        self.path = Path(path)
        if intra_op_threads is None:
            intra_op_threads = tf.config.threading.get_intra_op_parallelism_threads()
        if inter_op_threads is None:
            inter_op_threads = tf.config.threading.get_inter_op_parallelism_threads()
        elif inter_op_threads == INLINE:
            inter_op_threads = -1
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=intra_op_threads,
                                          inter_op_parallelism_threads=inter_op_threads)
        graph = tf.Graph()
        self._session = tf.compat.v1.Session(graph=graph, config=config)
        level = tf.get_logger().level
        tf.get_logger().setLevel(logging.ERROR)  # the TF1 loader's deprecation notice, once per model
        try:
            with graph.as_default():
                meta = tf.compat.v1.saved_model.loader.load(self._session, [tf.saved_model.SERVING], str(path))
        finally:
            tf.get_logger().setLevel(level)
        self._definitions = dict(meta.signature_def)

    @property
    def signature_names(self) -> tuple[str, ...]:
        return tuple(sorted(self._definitions))

    def signature(self, name: str) -> Callable[..., dict[str, np.ndarray]]:
        """``call(**arrays) -> {output: array}``; a missing or unknown input raises ``ValueError``.

        Inputs are converted to the signature's dtypes; strings stay Python
        objects (TensorFlow encodes them as UTF-8).
        """
        if name not in self._definitions:
            raise KeyError(f"{self.path}: no signature {name!r} (has {list(self.signature_names)})")
        definition = self._definitions[name]
        inputs, outputs = sorted(definition.inputs), sorted(definition.outputs)
        expected = set(inputs)
        types = [_numpy_type(definition.inputs[key].dtype) for key in inputs]
        run = self._session.make_callable([definition.outputs[key].name for key in outputs],
                                          feed_list=[definition.inputs[key].name for key in inputs])

        def call(**arrays) -> dict[str, np.ndarray]:
            if arrays.keys() != expected:
                raise ValueError(f"{name} inputs: missing {sorted(expected - arrays.keys())}, "
                                 f"unknown {sorted(arrays.keys() - expected)}")
            values = [np.asarray(arrays[key], dtype=numpy_type) for key, numpy_type in zip(inputs, types)]
            return dict(zip(outputs, run(*values)))

        return call

    def close(self) -> None:
        self._session.close()


def _numpy_type(dtype_enum: int):
    """The NumPy type a signature input of ``DataType`` ``dtype_enum`` is fed as (``object`` for strings)."""
    import tensorflow as tf

    return tf.dtypes.as_dtype(dtype_enum).as_numpy_dtype
