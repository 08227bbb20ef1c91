"""Out-of-fold retrieval models: each user's training lists come from a model that never saw them.

If the retrieval model that proposes a training list had trained on that
list's target, the target would sit at the top with an over-confident score,
and the ranker would learn to trust the retrieval score more than it deserves
at serving time. So users are split into K folds by a seeded hash of their id
(:func:`fold_of`), and K retrieval models are trained with the run's own
config, model k on the training examples of every fold but k
(:func:`train_fold_models`). The user tower reads only the history, so model k
serves fold k's users although it never saw them. Validation and test lists
come from the run itself: their targets are held out from it already.

The item frequencies behind the logQ correction stay those of the whole
training split (``items.csv``): they are counts, not targets.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np

from funnel import schema
from funnel.runs import RunLayout

logger = logging.getLogger(__name__)

FOLDS_DIR = "folds"
_MIX = np.uint64(0x9E3779B97F4A7C15)


def fold_of(user_ids: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold ``[0, folds)`` of each user vocabulary id (splitmix64 of ``(id, seed)``), ``[B]``.

    Deterministic across runners and runs; about ``1 / folds`` of the users each.
    """
    if folds < 1:
        raise ValueError(f"folds: must be >= 1, got {folds}")
    with np.errstate(over="ignore"):
        z = np.asarray(user_ids, dtype=np.uint64) * _MIX + np.uint64(seed) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(folds)).astype(np.int64)


def fold_dir(out: str | Path, fold: int) -> Path:
    return Path(out) / FOLDS_DIR / str(fold)


def write_fold_data(data_dir: str | Path, target: str | Path, fold: int, folds: int, seed: int) -> dict:
    """A data folder whose retrieval train/validation splits hold only users outside ``fold``.

    Small files (feature map, tables, vocabularies) are linked, not copied.

    Returns:
        Examples kept per split.
    """
    import tensorflow as tf

    source, target = schema.Layout(data_dir), schema.Layout(target)
    (target.root / schema.Layout.RETRIEVAL_DIR).mkdir(parents=True, exist_ok=True)
    for name in (schema.Layout.FEATURE_MAP, schema.Layout.STATS, schema.Layout.ITEMS,
                 schema.Layout.USERS, schema.Layout.VOCAB_DIR):
        if (source.root / name).exists() and not (target.root / name).exists():
            os.symlink((source.root / name).resolve(), target.root / name)
    spec = {schema.USER_ID: tf.io.FixedLenFeature([], tf.int64)}
    kept = {}
    for split in (schema.TRAIN, schema.VALIDATION):
        path = target.root / schema.Layout.RETRIEVAL_DIR / f"{split}-00000-of-00001.tfrecord"
        kept[split] = 0
        with tf.io.TFRecordWriter(str(path)) as writer:
            files = [str(f) for f in source.retrieval_files(split)]
            for records in tf.data.TFRecordDataset(files).batch(4096):
                users = tf.io.parse_example(records, spec)[schema.USER_ID].numpy()
                for record, keep in zip(records.numpy(), fold_of(users, folds, seed) != fold):
                    if keep:
                        writer.write(record)
                        kept[split] += 1
    if kept[schema.TRAIN] == 0:
        raise ValueError(f"fold {fold} of {folds}: no training example left outside the fold; "
                         "use fewer --folds")
    return kept


def train_fold_models(run_dir: str | Path, data_dir: str | Path, out: str | Path, folds: int,
                      seed: int, reuse: bool = True) -> list[Path]:
    """Train the K out-of-fold models with the run's config; returns their run folders.

    A fold whose run folder already holds weights is reused when ``reuse``
    (so an interrupted ``funnel candidates`` resumes).
    """
    from retrieval import train as retrieval_train
    from retrieval.config import load as load_config

    config = load_config(RunLayout(run_dir).config)
    runs = []
    for fold in range(folds):
        base = fold_dir(out, fold)
        run = base / "run"
        runs.append(run)
        if reuse and RunLayout(run).metrics.exists():
            logger.info("fold %d/%d: reusing %s", fold + 1, folds, run)
            continue
        if run.exists():
            shutil.rmtree(run)
        kept = write_fold_data(data_dir, base / "data", fold, folds, seed)
        logger.info("fold %d/%d: training %s/%s on %d examples of the other folds' users",
                    fold + 1, folds, config.model, config.weighting, kept[schema.TRAIN])
        retrieval_train.train(config, base / "data", run)
    return runs
