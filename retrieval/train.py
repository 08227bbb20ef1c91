"""Train a two-tower retrieval model and write a self-contained run folder.

``train(config, data_dir, out_dir)`` builds the model inside the strategy that
``funnel.distribute.pick_strategy`` picks, lets the weighting scheme drive one
or more Keras ``fit`` calls (early stopping on validation loss, progress bars,
checkpoints, TensorBoard), and writes the run folder :mod:`retrieval.run` describes
(``retrieval.run.load_trained`` loads it back).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras

from funnel import dataset, distribute, outdir, progress, runs, schema
from funnel.optimizer import FusedAdam
from retrieval import weighting as weighting_lib
from retrieval.config import RetrievalConfig
from retrieval.sequence_batches import sequence_datasets
from retrieval.run import IDW_EMBEDDINGS, IDW_HISTORY, build_model, item_clusters, item_statistics

logger = logging.getLogger(__name__)

MAX_ITEMS_FOR_SNAPSHOTS = 20_000
"""IDW embedding snapshots are kept for catalogs up to this size (plots need few items)."""


def count_examples(data_dir: str | Path, split: str) -> int:
    files = [str(f) for f in schema.Layout(data_dir).retrieval_files(split)]
    return int(sum(1 for _ in tf.data.TFRecordDataset(files))) if files else 0


def example_datasets(data_dir: str | Path, config: RetrievalConfig):
    """Training (shuffled) and validation batches of (history, target) example dicts, batched
    by history length when ``config.bucket_by_length`` (``funnel.dataset.retrieval_dataset``)."""
    by_length = config.bucket_by_length
    train = dataset.retrieval_dataset(data_dir, schema.TRAIN, config.batch_size, shuffle=True,
                                      seed=config.seed, by_length=by_length)
    return train, dataset.retrieval_dataset(data_dir, schema.VALIDATION, config.batch_size,
                                            by_length=by_length)


def whole_sequences(data_dir: str | Path, config: RetrievalConfig):
    """Whole training sequences and validation examples (``retrieval.sequence_batches``)."""
    return sequence_datasets(data_dir, config.batch_size, config.seed)


TRAINING_DATA = {"examples": example_datasets, "sequences": whole_sequences}
"""``config.train_on`` -> how ``fit`` reads the data folder: ``(data_dir, config)`` ->
(training, validation) datasets."""


class Trainer:
    """Runs the phases a weighting scheme asks for (implements ``weighting.base.Session``)."""

    def __init__(self, config: RetrievalConfig, data_dir: str | Path, out_dir: str | Path, strategy):
        self.config = config
        self.data_dir = Path(data_dir)
        self.out_dir = Path(out_dir)
        self.strategy = strategy
        self.items = item_statistics(data_dir)
        self.clusters = item_clusters(data_dir)
        with strategy.scope():
            self.model, self.scheme = build_model(config, self.items)
            self.scheme.prepare(self.model, self.items)
            self._compile(config.learning_rate)
        self.train_examples = count_examples(data_dir, schema.TRAIN)
        self.phases: list[dict] = []
        self.history: dict = {}
        self.arrays: dict[str, np.ndarray] = {}

    def _compile(self, learning_rate: float) -> None:
        optimizer = FusedAdam(learning_rate=learning_rate)
        if self.config.mixed_precision:
            optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
        self.model.compile(optimizer=optimizer)

    def _datasets(self):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        train, validation = TRAINING_DATA[self.config.train_on](self.data_dir, self.config)
        return train.with_options(options), validation.with_options(options)

    def fit(self, epochs: int, *, weighted: bool, phase: str,
            callbacks: Sequence[keras.callbacks.Callback] = ()) -> keras.callbacks.History:
        self.model.use_sample_weights.assign(weighted)
        train, validation = self._datasets()
        stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.config.patience,
                                                restore_best_weights=True)
        standard = [
            stopper,
            keras.callbacks.ModelCheckpoint(str(self.out_dir / "checkpoints" / phase / "best"),
                                            monitor="val_loss", save_best_only=True,
                                            save_weights_only=True),
            keras.callbacks.TensorBoard(log_dir=str(self.out_dir / "logs" / phase)),
        ]
        logger.info("phase %s: up to %d epochs (%s loss)", phase, epochs,
                    "weighted" if weighted else "unweighted")
        start = time.perf_counter()
        history = self.model.fit(train, validation_data=validation, epochs=epochs,
                                 callbacks=standard + list(callbacks),
                                 verbose=progress.keras_verbose(self.config.verbose))
        seconds = time.perf_counter() - start
        done = len(history.history.get("loss", []))
        self.phases.append({
            "phase": phase, "weighted": weighted, "epochs": done, "seconds": round(seconds, 3),
            "examples_per_second": round(done * self.train_examples / seconds, 1) if seconds else None,
            "loss": [float(v) for v in history.history.get("loss", [])],
            "val_loss": [float(v) for v in history.history.get("val_loss", [])],
            # EarlyStopping restores these weights at the end of the phase, early stop or not
            "best_epoch": int(stopper.best_epoch) + 1 if done else None,
            "best_val_loss": float(stopper.best) if done and np.isfinite(stopper.best) else None,
        })
        return history

    def freeze_item_tower(self, learning_rate: float) -> None:
        self.model.item_tower.trainable = False
        with self.strategy.scope():
            self._compile(learning_rate)

    def record(self, key: str, value) -> None:
        if isinstance(value, np.ndarray) and value.ndim == 2:
            if value.shape[0] <= MAX_ITEMS_FOR_SNAPSHOTS:
                self.arrays[key] = value.astype(np.float32)
        elif isinstance(value, np.ndarray):
            self.history[key] = value.tolist()
        else:
            self.history[key] = value


def restored_weights(phases: Sequence[dict]) -> dict:
    """``best_val_loss`` and ``best_epoch`` (counted over all phases, from 1) of the weights
    the run keeps: the best epoch of the last phase that validated, which its
    EarlyStopping restored. ``final_val_loss`` beside it is only the last epoch's."""
    epochs_before = 0
    best = {"best_val_loss": None, "best_epoch": None}
    for phase in phases:
        if phase.get("best_val_loss") is not None:
            best = {"best_val_loss": phase["best_val_loss"],
                    "best_epoch": epochs_before + phase["best_epoch"]}
        epochs_before += phase["epochs"]
    return best


def train(config: RetrievalConfig, data_dir: str | Path, out_dir: str | Path,
          overwrite: bool = False) -> dict:
    """Train per ``config`` on ``data_dir``; write the run folder ``out_dir``; return metrics.

    Raises:
        FileExistsError: ``out_dir`` holds files and ``overwrite`` is False.
        ValueError: the train or validation split has no examples.
    """
    data_dir = Path(data_dir)
    schema.FeatureMap.load(data_dir)  # a clear error before TensorFlow does anything
    dataset.require_examples(data_dir, dataset.RETRIEVAL, (schema.TRAIN, schema.VALIDATION))
    weighting_lib.build(config)       # an unknown scheme fails before training
    out_dir = outdir.claim(out_dir, overwrite)
    strategy = distribute.pick_strategy()
    distribute.seed_everything(config.seed)
    distribute.set_mixed_precision(config.mixed_precision)
    try:
        trainer = Trainer(config, data_dir, out_dir, strategy)
        start = time.perf_counter()
        trainer.scheme.train(trainer)
        seconds = time.perf_counter() - start
        trainer.scheme.finish(trainer.model)
    finally:
        distribute.set_mixed_precision(False)
    layout = runs.RunLayout(out_dir)
    trainer.model.save_weights(str(layout.weights))
    layout.save_config(config, runs.RETRIEVAL)
    outdir.copy_dataset_files(data_dir, out_dir)
    metrics = {
        "train_examples": trainer.train_examples,
        "seconds": round(seconds, 3),
        "epochs": sum(p["epochs"] for p in trainer.phases),
        "final_val_loss": next((p["val_loss"][-1] for p in reversed(trainer.phases) if p["val_loss"]), None),
        **restored_weights(trainer.phases),
        "strategy": distribute.strategy_name(len(tf.config.list_physical_devices("GPU")),
                                             os.environ.get("TF_CONFIG")),
        "replicas": strategy.num_replicas_in_sync,
        "phases": trainer.phases,
    }
    layout.save_metrics(metrics)
    if config.weighting == "idw":
        (out_dir / IDW_HISTORY).write_text(json.dumps(trainer.history, indent=2) + "\n")
        if trainer.arrays:
            np.savez_compressed(out_dir / IDW_EMBEDDINGS, **trainer.arrays)
    logger.info("trained %s/%s in %.1fs; run folder %s", config.model, config.weighting, seconds, out_dir)
    return metrics

