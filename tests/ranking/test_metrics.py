"""Evaluation metrics on hand-made scores."""

import numpy as np
import pytest

from ranking import metrics


def test_gauc_weights_user_auc_by_impressions_and_skips_one_class_users():
    users = np.array([1, 1, 1, 1, 2, 2, 3, 3])
    labels = np.array([1, 0, 0, 1, 1, 0, 1, 1])  # user 3 has only clicks: skipped
    scores = np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.6, 0.5, 0.5])
    # user 1: pairs (0.9 vs 0.8, 0.9 vs 0.1, 0.2 vs 0.8, 0.2 vs 0.1) -> 3/4 ; user 2: 0/1
    assert metrics.gauc(labels, scores, users) == pytest.approx((4 * 0.75 + 2 * 0.0) / 6)


def test_classification_counts_at_threshold():
    labels = np.array([1, 1, 0, 0, 0])
    scores = np.array([0.9, 0.2, 0.7, 0.1, 0.5])
    # >= 0.5 predicts clicks at rows 0, 2, 4: tp=1, fp=2, fn=1, tn=1
    result = metrics.classification(labels, scores, 0.5)
    assert result["precision"] == pytest.approx(1 / 3)
    assert result["recall"] == pytest.approx(1 / 2)
    assert result["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert result["accuracy"] == pytest.approx(2 / 5)
    assert metrics.classification(labels, scores, 0.95)["precision"] == 0.0


def test_hit_rate_per_user_counts_clicks_in_each_users_top_k():
    users = np.array([1, 1, 1, 2, 2, 2])
    labels = np.array([1, 0, 1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.6, 0.2])
    # top-1: user 1 -> row 0 (click), user 2 -> row 3 (no click): 1 of 3 clicks
    assert metrics.hit_rate(labels, scores, users, 1) == pytest.approx(1 / 3)
    # top-2: user 1 rows 0,1 (1 click); user 2 rows 3,4 (1 click): 2 of 3
    assert metrics.hit_rate(labels, scores, users, 2) == pytest.approx(2 / 3)
    assert metrics.hit_rate(labels, scores, users, 3) == pytest.approx(1.0)


def test_hit_rate_global_ranks_all_rows_together():
    users = np.array([1, 1, 1, 2, 2, 2])
    labels = np.array([1, 0, 1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.6, 0.2])
    # global order: rows 0 (hit), 1, 3, 4 (hit), ...; top-2 has 1 hit of min(2, 3)
    assert metrics.hit_rate(labels, scores, users, 2, scope="global") == pytest.approx(1 / 2)
    assert metrics.hit_rate(labels, scores, users, 4, scope="global") == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="scope"):
        metrics.hit_rate(labels, scores, users, 2, scope="item")


def test_all_metrics_keys_and_logloss():
    result = metrics.all_metrics([1, 0], [0.8, 0.4], [1, 1])
    assert list(result)[:10] == ["auc", "gauc", "logloss", "precision", "recall", "f1", "accuracy",
                                 "hr@50", "hr@100", "hr@200"]
    assert result["logloss"] == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    assert result["auc"] == 1.0


def test_best_f1_threshold_cuts_between_distinct_scores():
    labels = np.array([1, 0, 1, 0, 0])
    scores = np.array([0.30, 0.25, 0.20, 0.20, 0.05])
    # cut at 0.30: F1 = 2*1/(1+2) = 0.667 ; at 0.25: 2*1/(2+2) = 0.5 ; at 0.20: 2*2/(4+2) = 0.667
    # (a cut inside the tie at 0.20 is not allowed); the first best, 0.30, wins.
    assert metrics.best_f1_threshold(labels, scores) == pytest.approx(0.30)
    assert metrics.best_f1_threshold(np.array([1, 1, 0]), np.array([0.1, 0.2, 0.05])) == pytest.approx(0.1)


def test_f1_references_by_hand():
    # 1:4 imbalance (R = 4): 2 clicks in 10 rows; all-positive F1 = 2 / (4 + 2) = 1/3
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    scores = np.array([0.6, 0.3, 0.4, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    result = metrics.f1_references(labels, scores, tuned_threshold=0.3)
    assert result["f1_all_positive"] == pytest.approx(1 / 3)
    assert result["f1@0.5"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)          # tp 1, fp 0, fn 1
    assert result["f1_tuned"] == pytest.approx(2 * (2 / 3) * 1.0 / (2 / 3 + 1.0))  # tp 2, fp 1
    assert result["threshold_tuned"] == 0.3
