"""What an export is, by name: its folders and files, its signatures and their inputs and outputs.

The exporter (``serving.export``) writes by these names and the service
(``serving.artifacts``, ``serving.backends``) reads by them, so neither
imports the other to learn one; nothing here imports TensorFlow.

TF Serving's ``<base>/<model>/<version>/``, one version number per export::

    EXPORT/query/<v>/            SavedModel: history -> M interest embeddings
    EXPORT/candidate/<v>/        SavedModel: item ids -> item embeddings
    EXPORT/retrieval/<v>/        SavedModel: history, k -> top-k (tfrs BruteForce, eq. 4)
    EXPORT/retrieval_scann/<v>/  SavedModel: the same through the tfrs ScaNN layer
    EXPORT/ranking/<v>/          SavedModel: raw feature dict -> click probability
    EXPORT/scann/<v>/            native ScaNN index + row -> item id + item embeddings
    EXPORT/features/<v>/         items.csv, users.csv (raw ids), popular.json
    EXPORT/samples/<v>/          sample inputs and the training-time models' outputs (for verify)
    EXPORT/manifests/<v>.json    the manifest of version v (its presence marks v complete)
    EXPORT/manifest.json         the manifest of the newest version
    EXPORT/models.config         TF Serving model config (stock servables, label ``stable``)
    EXPORT/models_scann.config   the same plus ``retrieval_scann`` (TF Serving with ScaNN ops)
    EXPORT/verify/<v>.log        what verify printed for version v (every check, every signature)

The signatures (``serving.export.modules`` builds them; its docstring gives
shapes) are named by :data:`SERVING_DEFAULT`, :data:`HISTORY_INT64`,
:data:`CONTEXT_INT64` and :data:`CANDIDATES`; their inputs and outputs by
:data:`K`, :data:`OWNER`, :data:`EMBEDDINGS`, :data:`ITEM_IDS`,
:data:`SCORES`, :data:`PROBABILITY` and :data:`LOGIT` (feature inputs by
``funnel.schema``); :func:`ranking_inputs` lists the ranking signatures' inputs.

Reading a version by name, without loading a model: :func:`resolve_version`,
:func:`read_manifest` and :func:`model_fingerprints` (verify checks an export
with them, and the service before it loads one).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
from pathlib import Path
from typing import Mapping

from funnel import preflight, schema

QUERY, CANDIDATE, RETRIEVAL, RETRIEVAL_SCANN, RANKING = (
    "query", "candidate", "retrieval", "retrieval_scann", "ranking")
SAVEDMODELS = (QUERY, CANDIDATE, RETRIEVAL, RETRIEVAL_SCANN, RANKING)
SCANN, FEATURES, SAMPLES = "scann", "features", "samples"
FOLDERS = SAVEDMODELS + (SCANN, FEATURES, SAMPLES)
STOCK_SERVABLES = (QUERY, CANDIDATE, RETRIEVAL, RANKING)
"""Models a stock TF Serving binary loads (``retrieval_scann`` needs ScaNN's ops)."""
SCHEMA_ASSET = "schema.json"
MANIFEST = "manifest.json"
MANIFEST_DIR = "manifests"
MANIFEST_CANDIDATES = "candidates"
"""``manifest.json`` section: ``list_width``, the candidates per list the ranker trained on (None for a
pointwise ranker), and ``default``, the ``candidates`` the gate evaluated: the default of the service
and of ``funnel evaluate funnel`` (:func:`default_candidates`)."""
MODELS_CONFIG = "models.config"
MODELS_SCANN_CONFIG = "models_scann.config"
POPULAR_FILE = "popular.json"
SAMPLES_FILE = "reference.npz"
VERIFY_LOG_DIR = "verify"


def default_candidates(manifest: Mapping | None) -> int:
    """Candidates ranked per request unless a request says otherwise: the manifest's
    ``candidates.default``, else (an export written before it) ``schema.DEFAULT_LIST_CANDIDATES``."""
    section = (manifest or {}).get(MANIFEST_CANDIDATES) or {}
    return int(section.get("default") or schema.DEFAULT_LIST_CANDIDATES)


def verify_log(export_dir: str | Path, version: int) -> Path:
    """``EXPORT/verify/<version>.log``: verify's whole output, which the terminal gets summarised."""
    return Path(export_dir) / VERIFY_LOG_DIR / f"{version}.log"


def require_export(path: str | Path, flag: str = "--export") -> Path:
    """``path`` as an export with a complete version (a ``manifests/<v>.json``), checked by name
    before anything heavy is imported; else :class:`funnel.preflight.PathRefused` naming ``flag``."""
    return preflight.folder(flag, path, "a folder written by `funnel export`",
                            holds=(f"{MANIFEST_DIR}/*.json",))


def complete_versions(export_dir: str | Path) -> list[int]:
    """Versions whose manifest was written (the last step of an export), ascending."""
    folder = Path(export_dir) / MANIFEST_DIR
    if not folder.is_dir():
        return []
    return sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit())


FINGERPRINTED = (QUERY, CANDIDATE, RETRIEVAL, RETRIEVAL_SCANN, RANKING)
"""SavedModels carrying the schema fingerprint they were built under (``assets/schema.json``)."""


class SchemaMismatchError(ValueError):
    """The export's models were built under a different feature contract."""


def resolve_version(export_dir: str | Path, version: int | None = None) -> int:
    """``version`` if it is complete in ``export_dir``, else the newest complete one."""
    versions = complete_versions(export_dir)
    if not versions:
        raise FileNotFoundError(f"{export_dir}: no complete export version "
                                f"({MANIFEST_DIR}/<version>.json); run `funnel export`")
    if version is None:
        return versions[-1]
    if int(version) not in versions:
        raise FileNotFoundError(f"{export_dir}: version {version} is not a complete export; "
                                f"complete versions: {versions}")
    return int(version)


def read_manifest(export_dir: str | Path, version: int) -> dict:
    """``EXPORT/manifests/<version>.json``."""
    return json.loads((Path(export_dir) / MANIFEST_DIR / f"{version}.json").read_text())


def model_fingerprints(export_dir: str | Path, version: int) -> dict[str, str]:
    """The schema fingerprint each SavedModel of ``version`` carries in ``assets/schema.json``."""
    found = {}
    for name in FINGERPRINTED:
        path = Path(export_dir) / name / str(version) / "assets" / SCHEMA_ASSET
        if not path.exists():
            raise SchemaMismatchError(f"{path} missing: {name} carries no schema; re-export")
        found[name] = json.loads(path.read_text())["fingerprint"]
    return found


SERVING_DEFAULT = "serving_default"
HISTORY_INT64 = "history_int64"
"""The query model's signature taking item ids as int64 (negative = empty)."""
CONTEXT_INT64 = "context_int64"
"""The ranking model's signature taking the context features as int64."""
CANDIDATES = "candidates"
"""The ranking model's signature scoring every candidate of B requests in one call."""

EMBEDDINGS = "embeddings"
ITEM_IDS = "item_ids"
SCORES = "scores"
PROBABILITY = "probability"
LOGIT = "logit"
K = "k"
OWNER = "owner"
"""Name of the candidate -> request row index ``[N]`` (the ranking ``candidates`` signature's input)."""

NUMERIC_DTYPE = "float64"
"""Raw numbers arrive as float64 so bucket edges match ``schema.log_square_bucket``."""


@dataclasses.dataclass(frozen=True)
class Input:
    """One signature input: its dtype's name (``tf.as_dtype`` reads it) and its rank
    (1: ``[B]`` or ``[N]``, 2: ``[B, T]``)."""

    dtype: str
    rank: int = 1


@functools.cache
def ranking_inputs(int_context: bool = False, candidate_features: bool = False) -> Mapping[str, Input]:
    """Raw ranking inputs by feature: strings, float64 numbers, a string history [B, T] (read-only, cached).

    ``int_context``: context features as int64 (the ``context_int64``
    signature); ``candidate_features`` adds the ``schema.CANDIDATE_FEATURES``
    (float32 [B]) a ranker trained on retrieval's candidate lists reads.
    """
    inputs = {}
    for f in schema.RANKING_FEATURES:
        if f.kind is schema.Kind.SEQUENCE:
            inputs[f.name] = Input("string", rank=2)
        elif f.kind is schema.Kind.NUMERIC:
            inputs[f.name] = Input(NUMERIC_DTYPE)
        elif int_context and f.source is schema.Source.CONTEXT:
            inputs[f.name] = Input("int64")
        else:
            inputs[f.name] = Input("string")
    if candidate_features:
        inputs.update({name: Input("float32") for name in schema.CANDIDATE_FEATURES})
    return types.MappingProxyType(inputs)


@functools.cache
def candidates_inputs(candidate_features: bool = False) -> Mapping[str, Input]:
    """Inputs of the ``candidates`` signature: :func:`ranking_inputs` plus ``owner`` int64 [N]."""
    return types.MappingProxyType({**ranking_inputs(candidate_features=candidate_features),
                                   OWNER: Input("int64")})
