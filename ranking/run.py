"""A ranking run folder: what ``funnel train ranking`` writes and how it loads back.

Layout (:class:`funnel.runs.RunLayout`): ``config.json`` (the :class:`RankingConfig`,
kind "ranking"), ``metrics.json`` (history, best epoch, validation and test
metrics, and test classification at the validation's best-F1 threshold:
``test_tuned``), ``weights/`` (TF checkpoint), ``dataset/`` (the data folder's
small files), and ``kept.json`` (what ``--negative-ratio`` kept). The evaluator, experiments and the exporter load runs here, never
through the trainer.
"""

from __future__ import annotations

import json

from funnel import config as config_lib
from funnel import schema
from funnel.runs import RunLayout
from ranking import lists
from ranking.config import RankingConfig
from ranking.features import dummy_features
from ranking.models import build_model

LIST_WIDTH = "list_width"
"""``metrics.json`` key of a ranker of candidate lists: the candidates per list it trained on."""
KEPT_FILE = "kept.json"


def load_config(run_dir) -> RankingConfig:
    path = RunLayout(run_dir).config
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {run_dir} the --out of `funnel train ranking`?")
    values = config_lib.saved_values(path)
    config_lib.require_saved_by(RankingConfig, values, path, "funnel train ranking")
    return RankingConfig.from_dict(values)


def list_width(run_dir) -> int | None:
    """Candidates per list a ranker of candidate lists trained on, None for a pointwise ranker.

    Runs trained before ``metrics.json`` recorded it read their candidates
    folder's ``stats.json`` while it still exists (None once it is gone).
    """
    path = RunLayout(run_dir).metrics
    if not load_config(run_dir).lists or not path.exists():
        return None
    metrics = json.loads(path.read_text())
    if LIST_WIDTH in metrics:
        return int(metrics[LIST_WIDTH])
    candidates_dir = metrics.get("candidates")
    if candidates_dir and schema.Layout(candidates_dir).stats.exists():
        return lists.list_width(candidates_dir)
    return None


def load_trained(run_dir):
    """``(model, config)`` of a run; ``model(features)`` returns click probabilities ``[B]``."""
    config, layout = load_config(run_dir), RunLayout(run_dir)
    feature_map = schema.FeatureMap.load(layout.dataset)
    model = build_model(config, feature_map)
    model(dummy_features(candidate_features=config.lists))
    model.load_weights(str(layout.weights)).expect_partial()
    return model, config
