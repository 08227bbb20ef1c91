"""A retrieval run folder: what ``funnel train retrieval`` writes and how it loads back.

Everything that reads a trained run (the evaluator, ``funnel candidates``, the
exporter, experiments) goes through :func:`load_trained`, so none of them
imports the trainer. Besides the files of every run (:class:`funnel.runs.RunLayout`:
``config.json`` the frozen RetrievalConfig with kind "retrieval", ``metrics.json``
per-phase losses, epochs, time, examples/s, ``weights/``, ``dataset/``)::

    RUN/idw_history.json    IDW rounds: weight change, silhouette (IDW only)
    RUN/idw_embeddings.npz  item embeddings at every IDW round (IDW only, small catalogs)
    RUN/logs/, RUN/checkpoints/   TensorBoard logs and per-phase best checkpoints
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from funnel import config as config_lib
from funnel import dataset, schema
from funnel.runs import RunLayout
from retrieval import weighting as weighting_lib
from retrieval.config import RetrievalConfig
from retrieval.config import load as load_config
from retrieval.model import ItemStatistics, TwoTowerModel
from retrieval.sasrec import SasRecModel

IDW_HISTORY = "idw_history.json"
IDW_EMBEDDINGS = "idw_embeddings.npz"

RetrievalModel = TwoTowerModel | SasRecModel
MODEL_CLASSES: dict[str, type[RetrievalModel]] = {
    "sur": TwoTowerModel,
    "mur": TwoTowerModel,
    "sasrec": SasRecModel,
}
"""``config.model`` -> the class built for it (same towers, item statistics and weighting variables)."""


def item_statistics(data_dir: str | Path) -> ItemStatistics:
    """Training frequencies and category ids of every item id, from ``items.csv``."""
    feature_map = schema.FeatureMap.load(data_dir)
    frequencies = dataset.item_frequencies(data_dir, feature_map.num_items)
    table = dataset.item_table(data_dir)
    categories = np.full(feature_map.num_items, schema.OOV_ID, dtype=np.int64)
    num_categories = feature_map.vocab_sizes.get(schema.ITEM_CATEGORY, schema.FIRST_VALUE_ID)
    if schema.ITEM_CATEGORY in table.columns and schema.Layout(data_dir).vocab_file(schema.ITEM_CATEGORY).exists():
        vocabulary = dataset.read_vocabulary(data_dir, schema.ITEM_CATEGORY)
        ids = {value: schema.FIRST_VALUE_ID + i for i, value in enumerate(vocabulary)}
        categories[table.index.to_numpy()] = [ids.get(value, schema.OOV_ID)
                                              for value in table[schema.ITEM_CATEGORY].astype(str)]
    return ItemStatistics(frequencies, categories, num_categories)


def item_clusters(data_dir: str | Path) -> np.ndarray | None:
    """``[num_items]`` ground-truth cluster per item id (-1 unknown), or None without clusters."""
    table = dataset.item_table(data_dir)
    if schema.CLUSTER not in table.columns:
        return None
    clusters = np.full(schema.FeatureMap.load(data_dir).num_items, -1, dtype=np.int64)
    clusters[table.index.to_numpy()] = table[schema.CLUSTER].to_numpy(dtype=np.int64)
    return clusters


def build_model(config: RetrievalConfig, items: ItemStatistics) -> tuple[RetrievalModel, weighting_lib.Weighting]:
    """The ``MODEL_CLASSES`` model of ``config.model`` with the loss of ``config.weighting``,
    variables created."""
    scheme = weighting_lib.build(config)
    model = MODEL_CLASSES[config.model](config, items, loss=scheme.loss())
    model.build_towers()
    return model, scheme


def load_trained(run_dir: str | Path) -> tuple[RetrievalModel, RetrievalConfig]:
    """Rebuild a trained model from its run folder alone (``RUN/dataset`` holds the item tables).

    The model is in its inference state: post-hoc item norm switched on where
    the run's weighting says so. ``model.user_tower`` maps HISTORY ``[B, L]``
    int64 to ``[B, M, D]``; ``model.item_tower`` maps item ids ``[N]`` to ``[N, D]``.
    """
    layout = RunLayout(run_dir)
    if not layout.config.exists():
        raise FileNotFoundError(f"{layout.config} not found: is {run_dir} a `funnel train retrieval` run?")
    config = load_config(layout.config, command="funnel train retrieval")
    config = config_lib.from_dict(RetrievalConfig, {**config_lib.to_dict(config), "mixed_precision": False})
    items = item_statistics(layout.dataset)
    model, scheme = build_model(config, items)
    model.load_weights(str(layout.weights)).expect_partial()
    scheme.finish(model)
    return model, config
