"""Loading one export version for the service: SavedModels, the ScaNN index, the tables.

``load_export(EXPORT)`` picks the newest complete version (one whose
``manifests/<v>.json`` exists), refuses it with :class:`serving.contract.SchemaMismatchError`
when its models disagree with each other or with this code on the schema
fingerprint, and returns a :class:`LoadedExport` whose callables take and
return NumPy arrays of raw values.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from funnel import schema
from retrieval.index import ScannIndex
from serving import contract
from serving.bundle import RankScores
from serving.ranking_rows import expand_candidates
from serving.signature_runner import SessionModel

logger = logging.getLogger(__name__)

def check_fingerprints(export_dir: str | Path, version: int) -> str:
    """The shared fingerprint of the version's models; raises when any differs from this code's."""
    expected = schema.fingerprint()
    found = contract.model_fingerprints(export_dir, version)
    wrong = {name: value for name, value in found.items() if value != expected}
    if wrong:
        raise contract.SchemaMismatchError(
            f"{export_dir} version {version}: schema fingerprint mismatch {wrong}; this funnel's "
            f"schema is {expected} (schema version {schema.SCHEMA_VERSION}). The models were "
            "exported under another feature contract: re-export them with this code")
    return expected


@dataclasses.dataclass(frozen=True)
class LoadedExport:
    """One export version, loaded.

    Attributes:
        root: the export folder; ``version``: the version loaded.
        model_versions: version of each model folder (all equal to ``version``).
        manifest: the version's ``manifest.json``.
        index: the native ScaNN index (``search``, ``item_ids``, ``item_embeddings``).
        items: item table keyed by raw ``item_id`` (``item_category``, ``frequency``, ...).
        users: user table keyed by raw ``user_id`` (the ``USER_ATTRIBUTES``), may be empty.
        popular_item_ids: most frequent raw item ids, most frequent first; ``popular_counts``
            their training counts.
        scoring: how interests combine (``"mixture"``, eq. 4, or ``"max"``).
        num_interests: M; ``embedding_dim``: D.
        query_fn, rank_fn, rank_candidates_fn: the query model's and the ranking model's
            ``serving_default`` and ``candidates`` signatures, each None when the export lacks it
            (or its model was not loaded); ``sessions``: the models' sessions, closed by :meth:`close`.
    """

    root: Path
    version: int
    model_versions: dict[str, int]
    manifest: dict
    index: ScannIndex
    items: pd.DataFrame
    users: pd.DataFrame
    popular_item_ids: np.ndarray
    popular_counts: np.ndarray
    scoring: str
    num_interests: int
    embedding_dim: int
    query_fn: object = dataclasses.field(repr=False, default=None)
    rank_fn: object = dataclasses.field(repr=False, default=None)
    rank_candidates_fn: object = dataclasses.field(repr=False, default=None)
    sessions: dict = dataclasses.field(repr=False, default_factory=dict)

    @property
    def candidate_features(self) -> bool:
        """The ranking model reads ``schema.CANDIDATE_FEATURES`` (``manifest.json`` ``ranking_inputs``)."""
        return bool(self.manifest.get("ranking_inputs", {}).get("candidate_features"))

    @property
    def item_ids(self) -> np.ndarray:
        """Raw item id of each index row, ``[N]``."""
        return self.index.item_ids

    @property
    def item_embeddings(self) -> np.ndarray:
        """Item embedding of each index row, ``[N, D]`` float32."""
        return self.index.item_embeddings

    def query(self, history: np.ndarray) -> np.ndarray:
        """Raw item-id histories ``[B, L]`` ("" = empty slot) -> interests ``[B, M, D]``."""
        history = np.asarray(history, dtype=object)
        if history.ndim != 2:
            raise ValueError(f"history: expected [batch, length] raw ids, got shape {history.shape}")
        return self.query_fn(**{schema.HISTORY: history.astype(str)})[contract.EMBEDDINGS]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """ScaNN top-``k`` rows ``[Q, k]`` and dot-product scores for queries ``[Q, D]``."""
        return self.index.search(queries, k)

    def rank(self, features: dict) -> np.ndarray:
        """Raw ranking features (every ``schema.RANKING_FEATURES`` name; ``[B]`` each,
        ``HISTORY`` ``[B, L]``) -> click probabilities ``[B]`` float32."""
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


def load_export(export_dir: str | Path, version: int | None = None,
                load_models: tuple[str, ...] = (contract.QUERY, contract.RANKING),
                threads: tuple[int, int] | None = None) -> LoadedExport:
    """Load ``version`` (default: newest complete) of ``export_dir``.

    ``threads``: the models' ``(intra_op, inter_op)`` session threads
    (``signature_runner.SessionModel``); default: TensorFlow's configured counts.

    Raises:
        FileNotFoundError: no complete version (or not the one asked for).
        contract.SchemaMismatchError: a model's schema fingerprint differs from this code's.
    """
    root = Path(export_dir)
    version = contract.resolve_version(root, version)
    manifest = contract.read_manifest(root, version)
    check_fingerprints(root, version)
    if manifest["schema"]["fingerprint"] != schema.fingerprint():
        raise contract.SchemaMismatchError(f"{root} version {version}: manifest fingerprint "
                                  f"{manifest['schema']['fingerprint']} != {schema.fingerprint()}")
    models = {name: SessionModel(root / name / str(version), *(threads or ())) for name in load_models}
    scann_index = ScannIndex.load(root / contract.SCANN / str(version))
    features = root / contract.FEATURES / str(version)
    items = pd.read_csv(features / schema.Layout.ITEMS, dtype={schema.ITEM_ID: str},
                        keep_default_na=False).set_index(schema.ITEM_ID, drop=False)
    users = pd.read_csv(features / schema.Layout.USERS, dtype=str, keep_default_na=False)
    users = users.set_index(schema.USER_ID, drop=False) if schema.USER_ID in users.columns else users
    popular = json.loads((features / contract.POPULAR_FILE).read_text())
    catalog = manifest["catalog"]
    logger.info("loaded export %s version %d (%d items)", root, version, catalog["items"])
    return LoadedExport(
        root=root, version=version,
        model_versions={name: info["version"] for name, info in manifest["models"].items()},
        manifest=manifest, index=scann_index, items=items, users=users,
        popular_item_ids=np.array(popular["item_ids"], dtype=object),
        popular_counts=np.array(popular["counts"], dtype=np.float64),
        scoring=catalog["scoring"], num_interests=catalog["interests"],
        embedding_dim=catalog["embedding_dim"],
        query_fn=_signature(models, contract.QUERY, contract.SERVING_DEFAULT),
        rank_fn=_signature(models, contract.RANKING, contract.SERVING_DEFAULT),
        rank_candidates_fn=_signature(models, contract.RANKING, contract.CANDIDATES),
        sessions=models)


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
