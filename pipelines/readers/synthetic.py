"""The folder ``funnel generate`` writes (:mod:`pipelines.synthetic`).

``events.csv`` rows are the retrieval interactions (every event is a click);
``impressions.csv`` rows are the ranking examples (label = click flag, grouped
by request id so Skive-Above applies). ``users.csv`` and ``items.csv`` are the
reference files ids are checked against; ``clusters.csv`` gives each item's
ground-truth cluster for the item table (mean-silhouette scoring).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from funnel import schema
from pipelines import rows as R
from pipelines.readers import base

EVENTS_FILE = "events.csv"
IMPRESSIONS_FILE = "impressions.csv"
USERS_FILE = "users.csv"
ITEMS_FILE = "items.csv"
CLUSTERS_FILE = "clusters.csv"

EVENTS = R.SourceSpec(EVENTS_FILE, (schema.USER_ID, schema.ITEM_ID, schema.TIMESTAMP),
                      retrieval=R.RETRIEVAL_ALL, ranking=False)
IMPRESSIONS = R.SourceSpec(IMPRESSIONS_FILE, (schema.REQUEST_ID, schema.USER_ID, schema.ITEM_ID,
                                              schema.TIMESTAMP, schema.CLICK),
                           retrieval=R.RETRIEVAL_NONE, ranking=True)


def _table(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    table = pd.read_csv(base.require(path, "synthetic file"), dtype=str, keep_default_na=False)
    if missing := [c for c in required if c not in table.columns]:
        raise ValueError(f"{path.name}: column(s) {missing} missing; found {list(table.columns)}")
    return table


class Synthetic(base.Reader):
    """Reader of the synthetic dataset folder."""

    format_name = "synthetic"
    folder_files = (EVENTS_FILE, IMPRESSIONS_FILE, USERS_FILE, ITEMS_FILE, CLUSTERS_FILE)
    files_help = f"folder written by `funnel generate`: {', '.join(folder_files)}"

    def plan(self) -> base.Plan:
        users = _table(self.input_path / USERS_FILE, (schema.USER_ID, *schema.USER_ATTRIBUTES))
        items = _table(self.input_path / ITEMS_FILE, (schema.ITEM_ID, schema.ITEM_CATEGORY,
                                                      schema.ITEM_AGE))
        clusters = _table(self.input_path / CLUSTERS_FILE, (schema.ITEM_ID, schema.CLUSTER))
        cluster_of = dict(zip(clusters[schema.ITEM_ID], clusters[schema.CLUSTER]))
        if missing := [i for i in items[schema.ITEM_ID] if i not in cluster_of][:3]:
            raise ValueError(f"{CLUSTERS_FILE}: no cluster for item(s) {missing}")
        catalog = base.Catalog(
            base.users_frame(users[schema.USER_ID].tolist(),
                             {name: users[name].tolist() for name in schema.USER_ATTRIBUTES}),
            base.items_frame(items[schema.ITEM_ID].tolist(), {
                schema.ITEM_CATEGORY: items[schema.ITEM_CATEGORY].tolist(),
                schema.ITEM_AGE: items[schema.ITEM_AGE].tolist(),
                schema.CLUSTER: [int(cluster_of[i]) for i in items[schema.ITEM_ID]]}),
            check_users=True, check_items=True)
        shards = []
        for spec in (EVENTS, IMPRESSIONS):
            shards += base.plan_text(self.input_path / spec.name, spec, len(shards), header=True,
                                     shard_bytes=self.shard_bytes)
        files = [self.input_path / name for name in
                 (EVENTS_FILE, IMPRESSIONS_FILE, USERS_FILE, ITEMS_FILE, CLUSTERS_FILE)]
        return base.Plan(shards, catalog, base.combined_checksum(files), [str(f) for f in files])

    def read_shard(self, shard: R.Shard) -> R.RawRows:
        wanted = {name: name for name in shard.source.columns}
        positions, width = base.header_positions(Path(shard.path), ",", wanted)
        return base.parse_delimited(shard, base.read_lines(shard, "utf-8"), ",", positions, width)
