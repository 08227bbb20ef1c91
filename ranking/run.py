"""A ranking run folder: what ``funnel train ranking`` writes and how it loads back.

Layout: ``config.json`` (the :class:`RankingConfig`), ``metrics.json`` (history,
best epoch, validation and test metrics, and test classification at the
validation's best-F1 threshold: ``test_tuned``), ``weights/`` (TF checkpoint),
``kept.json`` (what ``--negative-ratio`` kept) and ``dataset/`` (the data
folder's small files, :func:`funnel.outdir.copy_dataset_files`). The evaluator,
experiments and the exporter load runs here, never through the trainer.
"""

from __future__ import annotations

import json
from pathlib import Path

from funnel import config as config_lib
from funnel import schema
from funnel.outdir import DATASET_COPY
from ranking.config import RankingConfig
from ranking.features import dummy_features
from ranking.models import build_model

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
KEPT_FILE = "kept.json"
WEIGHTS = Path("weights") / "model"


def load_config(run_dir) -> RankingConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {run_dir} the --out of `funnel train ranking`?")
    values = json.loads(path.read_text())
    config_lib.require_saved_by(RankingConfig, values, path, "funnel train ranking")
    return RankingConfig.from_dict(values)


def load_trained(run_dir):
    """``(model, config)`` of a run; ``model(features)`` returns click probabilities ``[B]``."""
    config = load_config(run_dir)
    feature_map = schema.FeatureMap.load(Path(run_dir) / DATASET_COPY)
    model = build_model(config, feature_map)
    model(dummy_features(candidate_features=config.lists))
    model.load_weights(str(Path(run_dir) / WEIGHTS)).expect_partial()
    return model, config
