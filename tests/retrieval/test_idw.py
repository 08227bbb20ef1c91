"""Guards retrieval/weighting/density.py and idw.py (Mehta et al. 2023, eqs. 7-9, Algorithms 1-2)."""

import json

import numpy as np
import pytest
from scipy import stats

import funnel  # noqa: F401
from retrieval.weighting import density, idw


def test_scott_factor_and_effective_sample_size_match_the_formula():
    assert density.scott_factor(1000, 16) == pytest.approx(1000 ** (-1 / 20))
    assert density.effective_sample_size(np.ones(7)) == pytest.approx(7)
    # (1 + 3)^2 / (1 + 9) = 1.6
    assert density.effective_sample_size(np.array([1.0, 3.0])) == pytest.approx(1.6)


def test_kernel_density_is_proportional_to_scipy_weighted_gaussian_kde():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(200, 3)) * [1.0, 3.0, 0.5]
    weights = rng.uniform(0.1, 2.0, size=200)
    queries = rng.normal(size=(50, 3))
    ours = density.kernel_density(queries, points, weights)
    reference = stats.gaussian_kde(points.T, weights=weights)(queries.T)
    ratio = ours / reference
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-3)


def test_kernel_density_batches_give_the_same_answer():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(300, 4))
    weights = np.ones(300)
    whole = density.kernel_density(points, points, weights, max_elements=10_000_000)
    batched = density.kernel_density(points, points, weights, max_elements=301)  # one query per chunk
    np.testing.assert_allclose(batched, whole, rtol=1e-5)


def test_relative_density_is_min_max_normalised():
    np.testing.assert_allclose(density.relative_density(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(density.relative_density(np.array([1.0, 1.0])), [0.0, 0.0])


def test_isolated_item_gains_weight_and_crowded_items_lose_it():
    rng = np.random.default_rng(2)
    embeddings = np.vstack([rng.normal(scale=0.1, size=(9, 2)), [[5.0, 5.0]]])
    weights = np.full(10, 0.1)
    updated = idw.update_weights(weights, embeddings, momentum=0.9)
    assert np.argmax(updated) == 9
    assert updated[9] > weights[9]
    assert np.all(updated[:9] < updated[9])
    assert updated.sum() == pytest.approx(1.0)


def test_momentum_update_follows_eq9_by_hand():
    # three items on a line: the middle one is densest (p' = 1), the ends least dense.
    embeddings = np.array([[0.0], [1.0], [2.0]])
    weights = np.array([0.2, 0.5, 0.3])
    kde = density.kernel_density(embeddings, embeddings, weights)
    h = 1.0 - density.relative_density(kde)
    expected = 0.9 * weights + 0.1 * h / h.sum()
    np.testing.assert_allclose(idw.update_weights(weights, embeddings, 0.9), expected)
    assert h[1] == pytest.approx(0.0) and h.max() == pytest.approx(1.0)


def test_inactive_items_keep_zero_weight():
    embeddings = np.random.default_rng(3).normal(size=(6, 2))
    weights = idw.initial_weights(np.array([0, 0, 4, 3, 2, 1]))
    np.testing.assert_allclose(weights, [0, 0, 0.4, 0.3, 0.2, 0.1])
    updated = idw.update_weights(weights, embeddings, 0.9)
    assert updated[0] == 0 and updated[1] == 0


def test_calibration_keeps_the_item_tower_frozen_and_trains_the_user_tower(tiny_data, tmp_path, monkeypatch, make_config):
    from retrieval import train as train_lib

    snapshots = {}
    original = train_lib.Trainer.freeze_item_tower

    def freeze_and_snapshot(self, learning_rate):
        snapshots["item"] = [w.numpy().copy() for w in self.model.item_tower.weights]
        snapshots["user"] = [w.numpy().copy() for w in self.model.user_tower.weights]
        original(self, learning_rate)

    monkeypatch.setattr(train_lib.Trainer, "freeze_item_tower", freeze_and_snapshot)
    train_lib.train(make_config(weighting="idw", idw_calibration_epochs=1), tiny_data, tmp_path / "run")
    model, _ = train_lib.load_trained(tmp_path / "run")
    for before, after in zip(snapshots["item"], model.item_tower.weights):
        np.testing.assert_array_equal(before, after.numpy())
    changed = [not np.array_equal(b, a.numpy()) for b, a in zip(snapshots["user"], model.user_tower.weights)]
    assert any(changed)
    history = json.loads((tmp_path / "run" / "idw_history.json").read_text())
    assert [r["round"] for r in history["rounds"]] == [1, 2]
    assert all(r["silhouette"] is not None for r in history["rounds"])
    snapshots_file = np.load(tmp_path / "run" / "idw_embeddings.npz")
    assert sorted(snapshots_file.files) == ["embeddings_round_0", "embeddings_round_1", "embeddings_round_2"]


def test_idw_stops_when_weights_change_less_than_eta(tiny_data, tmp_path, make_config):
    from retrieval import train as train_lib

    train_lib.train(make_config(weighting="idw", idw_eta=10.0, idw_max_rounds=5), tiny_data, tmp_path / "run")
    history = json.loads((tmp_path / "run" / "idw_history.json").read_text())
    assert len(history["rounds"]) == 1 and history["rounds"][0]["stopped"]
    phases = [p["phase"] for p in json.loads((tmp_path / "run" / "metrics.json").read_text())["phases"]]
    assert phases == ["initial", "calibration"]


def test_sampled_centres_approximate_the_exact_update():
    rng = np.random.default_rng(4)
    embeddings = np.vstack([rng.normal(0, 0.3, (300, 2)), rng.normal(4, 0.3, (30, 2))])
    weights = idw.initial_weights(rng.integers(1, 20, size=330).astype(float))
    exact = idw.update_weights(weights, embeddings, 0.0)
    sampled = idw.update_weights(weights, embeddings, 0.0, centres=2000, seed=1)
    # the sparse cluster gets more weight per item in both, and the two agree closely
    assert sampled[300:].mean() > sampled[:300].mean()
    np.testing.assert_allclose(sampled, exact, atol=0.25 * exact.max())


def test_initial_weights_by_name():
    np.testing.assert_allclose(idw.initial_weights(np.array([0, 2, 6]), "uniform"), [0, 0.5, 0.5])
    np.testing.assert_allclose(idw.initial_weights(np.array([0, 2, 6]), "frequency"), [0, 0.25, 0.75])
    with pytest.raises(ValueError, match="uniform"):
        idw.initial_weights(np.array([1, 2]), "inverse")
