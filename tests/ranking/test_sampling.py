"""--negative-ratio: clicks down-sampled to 1:R, reproducibly."""

import numpy as np

from ranking import sampling


def test_downsampling_keeps_every_non_click_and_floor_n_over_r_clicks():
    labels = np.array([1] * 30 + [0] * 100)
    kept, summary = sampling.downsample_positives(labels, 20, seed=3)
    assert summary["clicks_kept"] == 5 and summary["non_clicks"] == 100
    assert np.sum(labels[kept] == 0) == 100 and np.sum(labels[kept] == 1) == 5
    assert summary["achieved_ratio"] == 20.0
    assert sorted(summary["kept_click_rows"]) == sorted(kept[labels[kept] == 1].tolist())


def test_downsampling_is_fixed_by_the_seed():
    labels = np.array([1, 0] * 200)
    a, _ = sampling.downsample_positives(labels, 5, seed=1)
    b, _ = sampling.downsample_positives(labels, 5, seed=1)
    c, _ = sampling.downsample_positives(labels, 5, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert sampling.split_seed(1, "train") != sampling.split_seed(1, "test")


def test_downsampling_never_invents_clicks():
    labels = np.array([1] * 2 + [0] * 100)
    kept, summary = sampling.downsample_positives(labels, 5, seed=0)
    assert summary["clicks_kept"] == 2 and len(kept) == 102
