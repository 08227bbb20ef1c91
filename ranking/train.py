"""Train a ranking model into the self-contained run folder :mod:`ranking.run` describes."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import tf_keras as keras

from funnel import dataset, distribute, outdir, runs, schema
from funnel.optimizer import FusedAdam
from ranking import data, evaluate, lists, listwise
from ranking.config import RankingConfig
from ranking.features import dummy_features
from ranking.models import build_model, loss_name
from ranking.run import KEPT_FILE, LIST_WIDTH

logger = logging.getLogger(__name__)


def _fit(config: RankingConfig, feature_map, train_data, validation_data, monitor: str, verbose: int,
         candidate_features: bool = False):
    """Build, compile and fit the model; early stopping on ``monitor`` (max) restores the best epoch.

    Returns:
        ``(model, history, stopper, seconds)``.
    """
    strategy = distribute.pick_strategy()
    with strategy.scope():
        model = build_model(config, feature_map)
        model(dummy_features(candidate_features=candidate_features))
        model.compile(optimizer=FusedAdam(config.learning_rate))
    stopper = keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=config.patience,
                                            restore_best_weights=True)
    started = time.perf_counter()
    history = model.fit(train_data, validation_data=validation_data, epochs=config.epochs,
                        callbacks=[stopper], verbose=verbose)
    return model, history, stopper, time.perf_counter() - started


def _save_run(model, config: RankingConfig, data_dir, run_dir: Path) -> None:
    layout = runs.RunLayout(run_dir)
    model.save_weights(str(layout.weights))
    layout.save_config(config, runs.RANKING)
    outdir.copy_dataset_files(data_dir, run_dir)


def train(config: RankingConfig, data_dir, run_dir, verbose: int = 1, overwrite: bool = False,
          candidates_dir=None) -> dict:
    """Train ``config.model`` on ``data_dir`` and write the run folder; returns ``metrics.json``.

    Early stopping watches validation AUC with ``config.patience`` and restores
    the best epoch's weights (TF4CTR §4.1). With ``config.lists`` the model
    trains on retrieval's candidate lists in ``candidates_dir`` instead
    (:func:`train_lists`).

    Raises:
        FileExistsError: ``run_dir`` holds files and ``overwrite`` is False.
        ValueError: a split has no examples.
    """
    if config.lists:
        if candidates_dir is None:
            raise ValueError("lists: a list-trained config needs --candidates (the --out of `funnel candidates`)")
        return train_lists(config, data_dir, candidates_dir, run_dir, verbose, overwrite)
    feature_map = schema.FeatureMap.load(data_dir)
    dataset.require_examples(data_dir, dataset.RANKING, schema.SPLITS)
    run_dir = outdir.claim(run_dir, overwrite)
    distribute.seed_everything(config.seed)
    kept = {}
    train_data, kept[schema.TRAIN] = data.split_dataset(data_dir, schema.TRAIN, config, shuffle=True)
    validation_data, kept[schema.VALIDATION] = data.split_dataset(data_dir, schema.VALIDATION, config)

    logger.info("training %s (loss %s) on %s", config.model, loss_name(config), data_dir)
    model, history, stopper, seconds = _fit(config, feature_map, train_data, validation_data, "val_auc", verbose)
    _save_run(model, config, data_dir, run_dir)
    validation = evaluate.evaluate_model(model, validation_data)
    test_data, kept[schema.TEST] = data.split_dataset(data_dir, schema.TEST, config)
    test = evaluate.evaluate_model(model, test_data)
    test_tuned = evaluate.tuned_test_classification(model, validation_data, test_data)
    kept_report = {"negative_ratio": config.negative_ratio, "seed": config.seed,
                   "splits": {split: summary for split, summary in kept.items() if summary is not None}}
    if config.negative_ratio is None:
        kept_report["note"] = "no --negative-ratio: every row of every split kept"
    (run_dir / KEPT_FILE).write_text(json.dumps(kept_report, indent=1) + "\n")
    metrics = {
        "model": config.model, "loss": loss_name(config),
        "epochs_trained": len(history.history.get("loss", [])),
        "best_epoch": int(stopper.best_epoch) + 1,
        "train_seconds": seconds,
        "history": {k: [float(v) for v in values] for k, values in history.history.items()},
        "validation": validation, "test": test, "test_tuned": test_tuned,
    }
    runs.RunLayout(run_dir).save_metrics(metrics)
    return metrics


def train_lists(config: RankingConfig, data_dir, candidates_dir, run_dir, verbose: int = 1,
                overwrite: bool = False) -> dict:
    """Train a ``CandidateRanker`` on the candidate lists of ``candidates_dir``.

    Early stopping watches the validation lists' NDCG@10 and restores the best
    epoch. ``metrics.json`` holds HR@10/NDCG@10 within the validation and test
    lists for the ranker and for retrieval order on the same lists.
    """
    feature_map = schema.FeatureMap.load(data_dir)
    width = lists.list_width(candidates_dir)
    for split in schema.SPLITS:
        if lists.count_lists(candidates_dir, split) == 0:
            raise ValueError(f"{candidates_dir}: no {split} candidate lists; rerun `funnel candidates` "
                             "(more positions per user, or --missing-target add)")
    run_dir = outdir.claim(run_dir, overwrite)
    distribute.seed_everything(config.seed)
    train_data = lists.list_dataset(candidates_dir, schema.TRAIN, config.list_batch_size, width,
                                    shuffle=True, seed=config.seed, negatives=config.list_negatives)
    validation_data = lists.list_dataset(candidates_dir, schema.VALIDATION, config.list_batch_size, width)
    logger.info("training %s on candidate lists of %s (loss %s)", config.model, candidates_dir, loss_name(config))
    model, history, stopper, seconds = _fit(config, feature_map, train_data, validation_data,
                                            f"val_ndcg_at_{listwise.CUTOFF}", verbose, candidate_features=True)
    _save_run(model, config, data_dir, run_dir)
    test_data = lists.list_dataset(candidates_dir, schema.TEST, config.list_batch_size, width)
    metrics = {
        "model": config.model, "loss": loss_name(config), "candidates": str(candidates_dir),
        LIST_WIDTH: width,
        "epochs_trained": len(history.history.get("loss", [])),
        "best_epoch": int(stopper.best_epoch) + 1,
        "train_seconds": seconds,
        "lists_per_second": round(lists.count_lists(candidates_dir, schema.TRAIN)
                                  * len(history.history.get("loss", [])) / seconds, 1),
        "history": {k: [float(v) for v in values] for k, values in history.history.items()},
        "validation": lists.evaluate_lists(model, validation_data),
        "test": lists.evaluate_lists(model, test_data),
        "validation_retrieval_order": lists.retrieval_order_metrics(validation_data),
        "test_retrieval_order": lists.retrieval_order_metrics(test_data),
        "retrieval_weight": float(model.retrieval_weight.numpy()),
        "backbone_weight": float(model.backbone_weight.numpy()),
    }
    runs.RunLayout(run_dir).save_metrics(metrics)
    return metrics

