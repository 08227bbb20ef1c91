"""Loading one export version for the service as a :class:`serving.bundle.ModelBundle`.

:func:`open_version` picks the newest complete version (one whose
``manifests/<v>.json`` exists) and refuses it with
:class:`serving.contract.SchemaMismatchError` when its models disagree with
each other or with this code on the schema fingerprint; :func:`load_bundle`
reads its ScaNN index, item and user tables and popular list around the model
calls a backend passes in (in-process signatures, or TF Serving over REST).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Mapping, Optional

import numpy as np
import pandas as pd

from funnel import schema
from retrieval.index import ScannIndex
from serving import contract
from serving.bundle import ModelBundle, QueryFn, RankFn, SampleUser

logger = logging.getLogger(__name__)

PERSONAS = 4
"""Demo users built from the most popular items of the largest categories."""
PERSONA_HISTORY = 5


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


def latest_version(export_dir: str | Path) -> Optional[int]:
    """Newest complete version of the export (a listing, no loading)."""
    versions = contract.complete_versions(export_dir)
    return versions[-1] if versions else None


def open_version(export_dir: str | Path, version: int | None = None) -> tuple[Path, int, dict]:
    """The export folder, ``version`` (default: newest complete) and its ``manifest.json``.

    Raises:
        FileNotFoundError: no complete version (or not the one asked for).
        contract.SchemaMismatchError: a model's or the manifest's schema fingerprint differs
            from this code's.
    """
    root = Path(export_dir)
    version = contract.resolve_version(root, version)
    manifest = contract.read_manifest(root, version)
    check_fingerprints(root, version)
    if manifest["schema"]["fingerprint"] != schema.fingerprint():
        raise contract.SchemaMismatchError(f"{root} version {version}: manifest fingerprint "
                                           f"{manifest['schema']['fingerprint']} != {schema.fingerprint()}")
    return root, version, manifest


def load_bundle(root: Path, version: int, manifest: Mapping, query: QueryFn, rank: RankFn,
                close: Callable[[], None] | None = None, order: str = "auto") -> ModelBundle:
    """The version :func:`open_version` opened, answering through ``query`` and ``rank``.

    ``close`` releases the backend's resources when the version retires; ``order``: see
    :func:`served_order`.
    """
    scann_index = ScannIndex.load(root / contract.SCANN / str(version))
    features = root / contract.FEATURES / str(version)
    items = pd.read_csv(features / schema.Layout.ITEMS, dtype={schema.ITEM_ID: str},
                        keep_default_na=False).set_index(schema.ITEM_ID, drop=False)
    users = pd.read_csv(features / schema.Layout.USERS, dtype=str, keep_default_na=False)
    users = users.set_index(schema.USER_ID, drop=False) if schema.USER_ID in users.columns else users
    popular_list = json.loads((features / contract.POPULAR_FILE).read_text())
    item_ids = np.asarray(scann_index.item_ids, dtype=object)
    rows, shares = popular(items, item_ids, np.array(popular_list["item_ids"], dtype=object),
                           np.array(popular_list["counts"], dtype=np.float64))
    user_table = user_attributes(users)
    titles = None
    if schema.TITLE in items.columns:
        titles = items.reindex(item_ids)[schema.TITLE].fillna("").astype(str).to_numpy(object)
    reference = root / contract.SAMPLES / str(version) / contract.SAMPLES_FILE
    logger.info("loaded export %s version %d (%d items)", root, version, manifest["catalog"]["items"])
    return ModelBundle(
        version=version, manifest=manifest,
        item_ids=item_ids, item_embeddings=np.asarray(scann_index.item_embeddings, np.float32),
        query=query, search=scann_index.search, rank=rank,
        item_attributes=item_attributes(items, item_ids), user_attributes=user_table,
        popular_rows=rows, popularity=shares, titles=titles,
        history_length=schema.MAX_SEQUENCE_LENGTH,
        samples=personas(items, item_ids, user_table, reference), close=close,
        candidate_features=bool(manifest.get("ranking_inputs", {}).get("candidate_features")),
        order=served_order(manifest, order))


def _numeric(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").fillna(0.0).to_numpy(np.float64)


def item_attributes(items: pd.DataFrame, item_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Item features the ranking model needs, aligned with the index rows ``[N]``."""
    aligned = items.reindex(item_ids)
    out = {}
    for f in schema.RANKING_FEATURES:
        if f.source is not schema.Source.ITEM or f.name == schema.ITEM_ID or f.name not in aligned.columns:
            continue
        column = aligned[f.name]
        out[f.name] = (_numeric(column) if f.kind is schema.Kind.NUMERIC
                       else column.fillna(schema.UNKNOWN_VALUE).astype(str).to_numpy(object))
    return out


def user_attributes(users: pd.DataFrame) -> dict[str, dict[str, object]]:
    """Raw user id -> the user's profile features (numbers as float)."""
    if users.empty or schema.USER_ID not in users.columns:
        return {}
    columns = {}
    for f in schema.RANKING_FEATURES:
        if f.source is schema.Source.USER and f.name not in (schema.USER_ID, schema.HISTORY) \
                and f.name in users.columns:
            columns[f.name] = (_numeric(users[f.name]) if f.kind is schema.Kind.NUMERIC
                               else users[f.name].astype(str).to_numpy(object))
    ids = users[schema.USER_ID].astype(str).to_numpy()
    return {user: {name: values[i] for name, values in columns.items()} for i, user in enumerate(ids)}


def popular(items: pd.DataFrame, item_ids: np.ndarray, popular_ids: np.ndarray,
            counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the popular items (those in the index) and their share of all interactions."""
    rows = pd.Index(item_ids).get_indexer(popular_ids)
    keep = rows >= 0
    total = float(items[schema.ITEM_FREQUENCY].sum()) if schema.ITEM_FREQUENCY in items else float(counts.sum())
    return rows[keep].astype(np.int64), counts[keep] / max(total, 1.0)


def personas(items: pd.DataFrame, item_ids: np.ndarray, users: dict, reference: Optional[Path]) -> tuple:
    """Demo requests: a persona per large category (its most popular items), a
    history from the export's samples, and a new user (popularity fallback)."""
    samples = []
    known = set(item_ids.tolist())
    if schema.ITEM_CATEGORY in items.columns and schema.ITEM_FREQUENCY in items.columns:
        table = items[items[schema.ITEM_ID].isin(known)]
        sizes = table[schema.ITEM_CATEGORY].value_counts()
        for category in sizes.index[:PERSONAS]:
            top = table[table[schema.ITEM_CATEGORY] == category].sort_values(
                schema.ITEM_FREQUENCY, ascending=False, kind="stable")[schema.ITEM_ID].head(PERSONA_HISTORY)
            samples.append(SampleUser(label=f"likes {category}", history=tuple(str(x) for x in top[::-1])))
    if reference is not None and reference.exists():
        histories = np.load(reference, allow_pickle=False).get(f"query/{schema.HISTORY}")
        if histories is not None:
            for i, row in enumerate(histories[:2]):
                history = tuple(str(x) for x in row if str(x) != schema.UNKNOWN_VALUE and str(x) in known)
                if history:
                    samples.append(SampleUser(label=f"export sample {i + 1}", history=history))
    if users:
        first = next(iter(users))
        if samples:
            samples.append(SampleUser(label=f"user {first} ({samples[0].label})",
                                      history=samples[0].history, user_id=first))
    samples.append(SampleUser(label="new user (empty history)", history=()))
    return tuple(samples)


def served_order(manifest, order: str = "auto") -> str:
    """The answers' order: ``order`` itself, or with ``auto`` the export's gate; an export
    without a gate (``funnel export`` without ``--data``) is answered in retrieval order, since
    nothing measured that its ranker beats it."""
    if order != "auto":
        return order
    return (manifest.get("gate") or {}).get("order", "retrieval")
