"""The ``embedded`` backend: the export's SavedModels and ScaNN index in-process.

The query and ranking models run their signatures through session callables
(``serving.signature_runner``: graph execution, NumPy in and out, no tensor
conversion in Python) with small TensorFlow thread pools, the fastest at
batch 1 on two cores (``ServiceSettings``, docs/benchmarks.md).
"""

from __future__ import annotations

import logging

from serving import artifacts, contract
from serving.backends.export_bundle import bundle_from_export, latest_version
from serving.bundle import ModelBundle

log = logging.getLogger(__name__)


def configure_tensorflow_threads(intra_op: int, inter_op: int) -> None:
    """Set TensorFlow's own pools before its runtime starts (later it is too late: logged).

    The models' sessions are sized by :meth:`EmbeddedBackend.load`; these
    pools serve whatever else runs TensorFlow in the process. ``inter_op``
    ``signature_runner.INLINE`` keeps one thread there.
    """
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(max(inter_op, 1))
    except RuntimeError as error:
        log.warning("TensorFlow threads already fixed (%s); keeping %d intra-op / %d inter-op",
                    error, tf.config.threading.get_intra_op_parallelism_threads(),
                    tf.config.threading.get_inter_op_parallelism_threads())


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, settings):
        self.settings = settings
        self.export_dir = settings.export_dir

    def configure(self) -> None:
        configure_tensorflow_threads(self.settings.tf_intra_op_threads, self.settings.tf_inter_op_threads)

    def preflight(self) -> None:
        """Fail before serving when the newest version's models disagree on the schema."""
        artifacts.check_fingerprints(self.export_dir, contract.resolve_version(self.export_dir))

    def latest_version(self) -> int | None:
        return latest_version(self.export_dir)

    def load(self, version: int) -> ModelBundle:
        loaded = artifacts.load_export(
            self.export_dir, version,
            threads=(self.settings.tf_intra_op_threads, self.settings.tf_inter_op_threads))
        return bundle_from_export(loaded, query=loaded.query, rank=loaded.rank_candidates,
                                  close=loaded.close, order=self.settings.order)
