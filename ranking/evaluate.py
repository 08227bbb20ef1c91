"""Score a split with a trained model and compute ``ranking.metrics`` on it."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from funnel import schema
from ranking import data, metrics
from ranking.run import load_trained


def predict(model, dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels ``[N]``, click probabilities ``[N]``, user ids ``[N]``) over a batched dataset."""
    score = tf.function(lambda features: model(features, training=False), reduce_retracing=True)
    labels, scores, users = [], [], []
    for batch in dataset:
        scores.append(score(batch).numpy().reshape(-1))
        labels.append(batch[schema.LABEL].numpy().reshape(-1))
        users.append(batch[schema.USER_ID].numpy().reshape(-1))
    if not labels:
        raise ValueError("evaluation split is empty")
    return np.concatenate(labels), np.concatenate(scores), np.concatenate(users)


def evaluate_model(model, dataset, threshold: float = 0.5, hr_scope: str = "user") -> dict:
    labels, scores, users = predict(model, dataset)
    return metrics.all_metrics(labels, scores, users, threshold=threshold, hr_scope=hr_scope)


def tuned_test_classification(model, validation, test) -> dict:
    """Precision, recall, F1 and accuracy on ``test`` at the validation's best-F1 threshold."""
    labels, scores, _ = predict(model, validation)
    threshold = metrics.best_f1_threshold(labels, scores)
    labels, scores, _ = predict(model, test)
    return {"threshold": threshold, **metrics.classification(labels, scores, threshold)}


def parse_threshold(value) -> float | str:
    """``--threshold``: a number in [0, 1] or ``tuned`` (best F1 on validation)."""
    if value == "tuned":
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold: expected a number in [0, 1] or 'tuned', got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"threshold: expected a number in [0, 1] or 'tuned', got {value!r}")
    return number


def evaluate_run(run_dir, data_dir, split: str = schema.TEST, threshold="0.5",
                 hr_scope: str = "user") -> dict:
    """Metrics of run ``run_dir`` on ``split`` of ``data_dir``, at the run's negative ratio.

    ``threshold="tuned"`` picks the click threshold with the best F1 on the
    validation split (LAFAM's classification stage) and reports it as ``threshold``.
    Whatever the threshold, ``f1@0.5``, ``f1_tuned`` (at ``threshold_tuned``) and
    ``f1_all_positive`` (``2 / (R + 2)`` at 1:R) are reported beside it.
    """
    if split not in schema.SPLITS:
        raise ValueError(f"split: unknown value {split!r}; choose one of {list(schema.SPLITS)}")
    threshold = parse_threshold(threshold)
    model, config = load_trained(run_dir)
    dataset, _ = data.split_dataset(data_dir, split, config)
    validation, _ = data.split_dataset(data_dir, schema.VALIDATION, config)
    tuned = metrics.best_f1_threshold(*predict(model, validation)[:2])
    threshold = tuned if threshold == "tuned" else threshold
    labels, scores, users = predict(model, dataset)
    result = metrics.all_metrics(labels, scores, users, threshold=threshold, hr_scope=hr_scope)
    result["threshold"] = threshold
    result.update(metrics.f1_references(labels, scores, tuned))
    return result
