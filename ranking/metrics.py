"""Evaluation metrics of a ranking run, on NumPy arrays of one split.

- ``auc``; ``gauc``: per-user AUC weighted by the user's impressions, users
  whose test rows are all one class skipped (TF4CTR §4.1, [14], [20]);
- ``logloss``;
- ``precision``, ``recall``, ``f1`` (F-measure with beta = 1, LAFAM eq. 12) and
  ``accuracy`` with a click predicted when the probability >= ``threshold``
  (LAFAM eqs. 9-11);
- ``best_f1_threshold``: LAFAM's classification stage (Fig. 1) turns scores into
  classes; under 1:R imbalance few models ever score a click above 0.5, so the
  threshold maximising F1 on the validation split is chosen and applied to test;
- ``hr@k`` for k in ``HIT_RATE_KS`` (LAFAM eq. 8, ``HR@k = N_k / GT``). With
  ``scope="user"`` (the paper's reading: "the sum of test sets in each user's
  top k"), each user's test rows are ranked by score, ``N_k`` counts clicked
  rows within each user's top k, summed over users, and ``GT`` is the number of
  clicked rows. With ``scope="global"`` all test rows are ranked together and
  ``HR@k = hits in the top k / min(k, GT)``: users with fewer than k test rows
  make the per-user form saturate at 1, the global one does not.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

HIT_RATE_KS = (50, 100, 200)
HR_SCOPES = ("user", "global")
EPSILON = 1e-7


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def gauc(labels: np.ndarray, scores: np.ndarray, users: np.ndarray) -> float:
    """Impression-weighted mean of per-user AUC over users with both classes."""
    order = np.argsort(users, kind="stable")
    users, labels, scores = users[order], labels[order], scores[order]
    boundaries = np.flatnonzero(np.diff(users)) + 1
    total, weight = 0.0, 0
    for user_labels, user_scores in zip(np.split(labels, boundaries), np.split(scores, boundaries)):
        positives = user_labels.sum()
        if positives == 0 or positives == len(user_labels):
            continue
        total += len(user_labels) * roc_auc_score(user_labels, user_scores)
        weight += len(user_labels)
    return float(total / weight) if weight else float("nan")


def logloss(labels: np.ndarray, scores: np.ndarray) -> float:
    p = np.clip(scores.astype(np.float64), EPSILON, 1.0 - EPSILON)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def classification(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict:
    """Precision, recall, F1 and accuracy of ``scores >= threshold`` (0 when undefined)."""
    predicted = scores >= threshold
    actual = labels >= 0.5
    tp = int(np.sum(predicted & actual))
    fp = int(np.sum(predicted & ~actual))
    fn = int(np.sum(~predicted & actual))
    tn = int(np.sum(~predicted & ~actual))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "accuracy": (tp + tn) / max(1, tp + fp + fn + tn)}


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold (predict a click when ``score >= t``) with the highest F1."""
    labels = np.asarray(labels).reshape(-1) >= 0.5
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not labels.any():
        return 0.5
    order = np.argsort(-scores, kind="stable")
    sorted_scores, hits = scores[order], labels[order]
    tp = np.cumsum(hits)
    predicted = np.arange(1, len(order) + 1)
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]  # cut only between distinct scores
    f1 = np.where(last_of_tie, 2 * tp / (predicted + labels.sum()), -1.0)
    return float(sorted_scores[int(np.argmax(f1))])


def hit_rate(labels: np.ndarray, scores: np.ndarray, users: np.ndarray, k: int, scope: str = "user") -> float:
    """LAFAM eq. 8 at ``k`` (see the module docstring for the two scopes)."""
    actual = labels >= 0.5
    ground_truth = int(actual.sum())
    if ground_truth == 0:
        return float("nan")
    if scope == "global":
        top = np.argsort(-scores, kind="stable")[:k]
        return float(actual[top].sum() / min(k, ground_truth))
    if scope != "user":
        raise ValueError(f"hr scope: unknown value {scope!r}; choose one of {list(HR_SCOPES)}")
    # Rank within each user: sort by (user, -score) and keep each user's first k rows.
    order = np.lexsort((-scores, users))
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return float(actual[order][rank < k].sum() / ground_truth)


def f1_references(labels: np.ndarray, scores: np.ndarray, tuned_threshold: float) -> dict:
    """F1 at 0.5, at a (validation-)tuned threshold, and of calling every row a click.

    The last is ``2 q / (1 + q)`` for a click rate q, i.e. ``2 / (R + 2)`` at
    1:R: the floor a fixed-threshold F1 must beat to show anything (LAFAM's
    Table 5 focal-loss F1s equal it).
    """
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    rate = float((labels >= 0.5).mean()) if len(labels) else 0.0
    return {"f1@0.5": classification(labels, scores, 0.5)["f1"],
            "f1_tuned": classification(labels, scores, tuned_threshold)["f1"],
            "threshold_tuned": float(tuned_threshold),
            "f1_all_positive": 2 * rate / (1 + rate) if rate else 0.0}


def all_metrics(labels, scores, users, threshold: float = 0.5, hr_scope: str = "user") -> dict:
    """Every metric above, keyed ``auc``, ``gauc``, ``logloss``, ``precision``, ... ``hr@200``."""
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    users = np.asarray(users).reshape(-1)
    result = {"auc": auc(labels, scores), "gauc": gauc(labels, scores, users),
              "logloss": logloss(labels, scores)}
    result.update(classification(labels, scores, threshold))
    for k in HIT_RATE_KS:
        result[f"hr@{k}"] = hit_rate(labels, scores, users, k, hr_scope)
    result["examples"] = int(len(labels))
    result["clicks"] = int((labels >= 0.5).sum())
    return result
