"""The ``embedded`` backend: the export's SavedModels and ScaNN index in-process.

The query and ranking models run their signatures through session callables
(``serving.signature_runner``: graph execution, NumPy in and out, no tensor
conversion in Python) with small TensorFlow thread pools, the fastest at
batch 1 on two cores (``ServiceSettings``, docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Mapping

import numpy as np

from funnel import schema
from serving import artifacts, contract
from serving.bundle import ModelBundle, RankScores
from serving.ranking_rows import expand_candidates
from serving.signature_runner import SessionModel

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


@dataclasses.dataclass(frozen=True)
class SignatureModels:
    """The query and ranking models' signatures of one export version, called in-process.

    Attributes:
        query_fn, rank_fn, rank_candidates_fn: the query model's and the ranking model's
            ``serving_default`` and ``candidates`` signatures, each None when the export lacks it
            (or its model was not loaded).
        candidate_features: the ranking model reads ``schema.CANDIDATE_FEATURES``
            (``manifest.json`` ``ranking_inputs``).
        sessions: the models' sessions, closed by :meth:`close`.
    """

    query_fn: object = dataclasses.field(repr=False, default=None)
    rank_fn: object = dataclasses.field(repr=False, default=None)
    rank_candidates_fn: object = dataclasses.field(repr=False, default=None)
    candidate_features: bool = False
    sessions: dict = dataclasses.field(repr=False, default_factory=dict)

    @classmethod
    def load(cls, root: Path, version: int, manifest: Mapping,
             threads: tuple[int, int] | None = None) -> "SignatureModels":
        """The query and ranking SavedModels of ``version`` (``artifacts.open_version``'s).

        ``threads``: the models' ``(intra_op, inter_op)`` session threads
        (``signature_runner.SessionModel``); default: TensorFlow's configured counts.
        """
        models = {name: SessionModel(root / name / str(version), *(threads or ()))
                  for name in (contract.QUERY, contract.RANKING)}
        return cls(query_fn=_signature(models, contract.QUERY, contract.SERVING_DEFAULT),
                   rank_fn=_signature(models, contract.RANKING, contract.SERVING_DEFAULT),
                   rank_candidates_fn=_signature(models, contract.RANKING, contract.CANDIDATES),
                   candidate_features=bool(manifest.get("ranking_inputs", {}).get("candidate_features")),
                   sessions=models)

    def query(self, history: np.ndarray) -> np.ndarray:
        """Raw item-id histories ``[B, L]`` ("" = empty slot) -> interests ``[B, M, D]``
        (a ``bundle.QueryFn``)."""
        history = np.asarray(history, dtype=object)
        if history.ndim != 2:
            raise ValueError(f"history: expected [batch, length] raw ids, got shape {history.shape}")
        return self.query_fn(**{schema.HISTORY: history.astype(str)})[contract.EMBEDDINGS]

    def rank(self, features: dict) -> np.ndarray:
        """Raw ranking features (every ``schema.RANKING_FEATURES`` name; ``[B]`` each,
        ``HISTORY`` ``[B, L]``) -> click probabilities ``[B]`` float32, through ``serving_default``."""
        specs = contract.ranking_inputs(candidate_features=self.candidate_features)
        return self.rank_fn(**_inputs(features, specs))[contract.PROBABILITY]

    def rank_candidates(self, features: dict, owner: np.ndarray) -> RankScores:
        """The candidates of several requests in one call (a ``bundle.RankFn``).

        ``features``: ``ranking_rows.REQUEST_FEATURES`` one row per request (``HISTORY``
        ``[B, L]``), ``ranking_rows.ITEM_FEATURES`` one row per candidate ``[N]``;
        ``owner [N]``: the request row of each candidate. Returns the ``[N]``
        float32 probabilities and logits (None from an export without the
        ``logit`` output). Exports without the ranking ``candidates`` signature
        are scored row by row through ``serving_default`` instead.
        """
        if self.rank_candidates_fn is None:
            specs = contract.ranking_inputs(candidate_features=self.candidate_features)
            outputs = self.rank_fn(**_inputs(expand_candidates(features, owner), specs))
        else:
            outputs = self.rank_candidates_fn(**_inputs({**features, contract.OWNER: owner},
                                                         contract.candidates_inputs(self.candidate_features)))
        return RankScores(outputs[contract.PROBABILITY], outputs.get(contract.LOGIT))

    def close(self) -> None:
        """Release the models' sessions (the version must no longer be called)."""
        for model in self.sessions.values():
            model.close()


def load_bundle(export_dir: str | Path, version: int | None = None,
                threads: tuple[int, int] | None = None, order: str = "auto") -> ModelBundle:
    """``version`` (default: newest complete) of ``export_dir`` with its models in-process, as the
    service loads it; ``threads`` as in :meth:`SignatureModels.load`, ``order`` as in
    ``artifacts.served_order``. Raises as ``artifacts.open_version`` does."""
    root, version, manifest = artifacts.open_version(export_dir, version)
    models = SignatureModels.load(root, version, manifest, threads)
    return artifacts.load_bundle(root, version, manifest, query=models.query, rank=models.rank_candidates,
                                 close=models.close, order=order)


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
        return artifacts.latest_version(self.export_dir)

    def load(self, version: int) -> ModelBundle:
        return load_bundle(self.export_dir, version, order=self.settings.order,
                           threads=(self.settings.tf_intra_op_threads, self.settings.tf_inter_op_threads))


def _signature(models: dict, name: str, signature: str):
    """The call of ``signature`` of model ``name``, or None when either is absent."""
    model = models.get(name)
    return model.signature(signature) if model is not None and signature in model.signature_names else None


def _inputs(features: dict, specs: dict) -> dict:
    """The signature's inputs from ``features`` (non-string values of string inputs as
    their text); raises naming missing inputs. ``specs``: :class:`serving.contract.Input` by name."""
    missing = sorted(set(specs) - set(features))
    if missing:
        raise ValueError(f"rank: missing feature(s) {missing}")
    inputs = {}
    for name, spec in specs.items():
        value = np.asarray(features[name])
        if spec.dtype == "string" and value.dtype.kind not in "SU":
            value = value.astype(str)
        inputs[name] = value
    return inputs
