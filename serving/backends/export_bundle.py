"""A loaded export version (``serving.artifacts.LoadedExport``) as a :class:`ModelBundle`.

Shared by both backends: the ScaNN index, the item and user tables and the
popular list always come from the export folder; only where the query and
ranking models run differs (in-process signatures, or TF Serving over REST).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd

from funnel import schema
from serving import contract
from serving.bundle import ModelBundle, QueryFn, RankFn, SampleUser

PERSONAS = 4
"""Demo users built from the most popular items of the largest categories."""
PERSONA_HISTORY = 5


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


def bundle_from_export(loaded, query: QueryFn, rank: RankFn,
                       close: Callable[[], None] | None = None, order: str = "auto") -> ModelBundle:
    """Wrap ``loaded`` (an ``artifacts.LoadedExport``) with the given model callables."""
    item_ids = np.asarray(loaded.item_ids, dtype=object)
    rows, shares = popular(loaded.items, item_ids, loaded.popular_item_ids, loaded.popular_counts)
    users = user_attributes(loaded.users)
    titles = None
    if schema.TITLE in loaded.items.columns:
        titles = loaded.items.reindex(item_ids)[schema.TITLE].fillna("").astype(str).to_numpy(object)
    reference = Path(loaded.root) / contract.SAMPLES / str(loaded.version) / contract.SAMPLES_FILE
    return ModelBundle(
        version=loaded.version, manifest=loaded.manifest,
        item_ids=item_ids, item_embeddings=np.asarray(loaded.item_embeddings, np.float32),
        query=query, search=loaded.search, rank=rank,
        item_attributes=item_attributes(loaded.items, item_ids), user_attributes=users,
        popular_rows=rows, popularity=shares, titles=titles,
        history_length=schema.MAX_SEQUENCE_LENGTH,
        samples=personas(loaded.items, item_ids, users, reference), close=close,
        candidate_features=bool(loaded.manifest.get("ranking_inputs", {}).get("candidate_features")),
        order=served_order(loaded.manifest, order))


def latest_version(export_dir: str | Path) -> Optional[int]:
    """Newest complete version of the export (a listing, no loading)."""
    versions = contract.complete_versions(export_dir)
    return versions[-1] if versions else None
