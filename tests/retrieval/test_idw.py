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


def test_kernel_density_ignores_where_the_embeddings_sit():
    """Distances alone matter: a large common offset (float32 norms of 1e8) changes nothing."""
    rng = np.random.default_rng(4)
    points = rng.normal(size=(400, 8))
    weights = rng.uniform(0.1, 1.0, 400)
    near = density.kernel_density(points, points, weights)
    far = density.kernel_density(points + 1e4, points + 1e4, weights)
    np.testing.assert_allclose(far, near, rtol=1e-4)
    assert np.all(np.isfinite(near)) and np.all(near > 0)


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
    from retrieval import run
    from retrieval import train as train_lib

    snapshots = {}
    original = train_lib.Trainer.freeze_item_tower

    def freeze_and_snapshot(self, learning_rate):
        snapshots["item"] = [w.numpy().copy() for w in self.model.item_tower.weights]
        snapshots["user"] = [w.numpy().copy() for w in self.model.user_tower.weights]
        original(self, learning_rate)

    monkeypatch.setattr(train_lib.Trainer, "freeze_item_tower", freeze_and_snapshot)
    train_lib.train(make_config(weighting="idw", idw_calibration_epochs=1), tiny_data, tmp_path / "run")
    model, _ = run.load_trained(tmp_path / "run")
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


def test_default_centres_are_exact_on_small_catalogs_and_keep_large_phases_linear():
    assert idw.default_centres(1_682) == 0 and idw.default_centres(10_000) == 0
    assert idw.default_centres(100_000) == 10_000
    assert idw.default_centres(1_000_000) == idw.default_centres(20_000_000) == 2_000
    sizes = [50_000, 500_000, 5_000_000]
    assert all(n * idw.default_centres(n) <= max(idw.KERNEL_TERMS_BUDGET, n * 2_000) for n in sizes)


def test_sleep_phase_without_centres_uses_the_default_rule(monkeypatch):
    """centres=0 must go through default_centres (else a 1M-item catalog costs 10^12 kernel terms)."""
    rng = np.random.default_rng(5)
    embeddings = rng.normal(size=(40, 2))
    weights = idw.initial_weights(rng.integers(1, 9, size=40).astype(float))
    monkeypatch.setattr(idw, "default_centres", lambda items: 7)
    by_rule = idw.update_weights(weights, embeddings, 0.0, seed=3)
    np.testing.assert_allclose(by_rule, idw.update_weights(weights, embeddings, 0.0, centres=7, seed=3))
    assert not np.allclose(by_rule, idw.update_weights(weights, embeddings, 0.0, centres=40, seed=3))


def test_initial_weights_by_name():
    np.testing.assert_allclose(idw.initial_weights(np.array([0, 2, 6]), "uniform"), [0, 0.5, 0.5])
    np.testing.assert_allclose(idw.initial_weights(np.array([0, 2, 6]), "frequency"), [0, 0.25, 0.75])
    with pytest.raises(ValueError, match="uniform"):
        idw.initial_weights(np.array([1, 2]), "inverse")


FREQUENCIES = np.array([0, 0, 40, 20, 10, 5, 3, 2], dtype=np.float64)
"""Ids 0-1 are padding/OOV; 6 real items, the 20% head (ceil(1.2) = 2 items) is ids 2 and 3."""


def test_example_weight_is_item_weight_over_count_and_one_at_the_frequency_start():
    weights = np.array([0, 0, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2])
    # w/n = [.0025, .005, .02, .04, .0667, .1]; sum n (w/n) = sum w = 1; mean-1 factor = 80 / 1
    np.testing.assert_allclose(idw.example_weights(weights, FREQUENCIES),
                               [0, 0, 0.2, 0.4, 1.6, 3.2, 80 * 0.2 / 3, 8.0])
    start = idw.initial_weights(FREQUENCIES)
    np.testing.assert_allclose(idw.example_weights(start, FREQUENCIES), [0, 0, 1, 1, 1, 1, 1, 1])


def test_head_share_under_w_over_n_at_the_start_equals_the_unweighted_one():
    head = idw.head_mask(FREQUENCIES)
    np.testing.assert_array_equal(head, [0, 0, 1, 1, 0, 0, 0, 0])
    start = idw.initial_weights(FREQUENCIES)
    unweighted = idw.head_share(np.ones(8), FREQUENCIES, head)
    assert unweighted == pytest.approx(60 / 80)
    assert idw.head_share(idw.example_weights(start, FREQUENCIES), FREQUENCIES, head) == pytest.approx(unweighted)
    # the old reading (each example weighted by w_y) gives item y the share n_y w_y ~ n_y^2:
    old = idw.head_share(start, FREQUENCIES, head)
    assert old == pytest.approx((40 ** 2 + 20 ** 2) / np.sum(FREQUENCIES ** 2))
    assert old > unweighted + 0.1


def test_weighted_loss_at_the_frequency_start_is_the_unweighted_loss():
    import tensorflow as tf

    from funnel import schema
    from retrieval.config import RetrievalConfig
    from retrieval.model import ItemStatistics, TwoTowerModel

    tf.keras.utils.set_random_seed(5)
    model = TwoTowerModel(RetrievalConfig(embedding_dim=4, item_hidden=(4,), encoder_layers=1,
                                          encoder_heads=1, dropout=0.0), ItemStatistics(FREQUENCIES))
    model.build_towers()
    history = np.zeros((4, schema.MAX_SEQUENCE_LENGTH), np.int64)
    history[:, -2:] = [[2, 3], [4, 5], [6, 2], [3, 7]]
    features = {schema.HISTORY: tf.constant(history), schema.TARGET_ITEM: tf.constant([2, 3, 6, 7], tf.int64)}
    unweighted = model.compute_loss(features, training=True).numpy()
    model.item_weights.assign(idw.example_weights(idw.initial_weights(FREQUENCIES), FREQUENCIES).astype(np.float32))
    model.use_sample_weights.assign(True)
    assert model.compute_loss(features, training=True).numpy() == pytest.approx(unweighted, rel=1e-6)
    # frequency weights per example (the old behaviour) change the loss
    model.item_weights.assign((FREQUENCIES / FREQUENCIES.mean()).astype(np.float32))
    assert model.compute_loss(features, training=True).numpy() != pytest.approx(unweighted, rel=1e-3)


def test_momentum_one_is_mur_with_calibration(tiny_data, tmp_path, monkeypatch, make_config):
    """m = 1 (§4.6.2): the weights never move, so IDW = the initial fit + calibration, and
    a wake phase forced by eta < 0 trains exactly as an unweighted one."""
    from retrieval import train as train_lib

    config = make_config(weighting="idw", idw_momentum=1.0, idw_eta=-1.0, idw_max_rounds=1,
                         idw_wake_epochs=1, idw_calibration_epochs=1)
    train_lib.train(config, tiny_data, tmp_path / "idw")
    history = json.loads((tmp_path / "idw" / "idw_history.json").read_text())
    assert history["rounds"][0]["weight_change"] == 0.0
    assert history["rounds"][0]["weight_quantiles"]["min"] == pytest.approx(1.0)
    assert history["rounds"][0]["weight_quantiles"]["max"] == pytest.approx(1.0)
    assert history["rounds"][0]["head_weight_share"] == pytest.approx(history["initial_head_weight_share"])

    original = train_lib.Trainer.fit
    monkeypatch.setattr(train_lib.Trainer, "fit",
                        lambda self, epochs, *, weighted, phase, callbacks=(): original(
                            self, epochs, weighted=False, phase=phase, callbacks=callbacks))
    train_lib.train(config, tiny_data, tmp_path / "unweighted")
    phases = {name: json.loads((tmp_path / name / "metrics.json").read_text())["phases"]
              for name in ("idw", "unweighted")}
    assert [p["phase"] for p in phases["idw"]] == ["initial", "wake_1", "calibration"]
    assert [p["weighted"] for p in phases["idw"]] == [False, True, False]
    for weighted, plain in zip(phases["idw"], phases["unweighted"]):
        np.testing.assert_allclose(weighted["loss"], plain["loss"], rtol=1e-5)
        np.testing.assert_allclose(weighted["val_loss"], plain["val_loss"], rtol=1e-5)


def test_gaussian_kde_equals_scipy():
    rng = np.random.default_rng(6)
    points = rng.normal(size=(300, 2)) * [1.0, 0.3]
    queries = rng.normal(size=(40, 2))
    np.testing.assert_allclose(density.gaussian_kde(queries, points),
                               stats.gaussian_kde(points.T)(queries.T), rtol=2e-3)


def test_official_update_moves_weight_toward_low_density_items():
    rng = np.random.default_rng(7)
    # 90 items crowded around the origin, 10 spread out far away, equal starting weights
    embeddings = np.vstack([rng.normal(0, 0.05, (90, 2)), rng.uniform(3, 6, (10, 2))])
    weights = np.full(100, 0.01)
    updated = idw.update_weights(weights, embeddings, 0.8, rule="official", seed=0)
    assert updated.sum() == pytest.approx(1.0)
    assert updated[90:].min() > weights[90:].min() > updated[:90].max()
    # the target is 1/(p + 1e-4), normalised, for a KDE of 10,000 noisy draws: recompute it
    target = idw.official_target(embeddings, weights, seed=0)
    np.testing.assert_allclose(updated, 0.8 * weights + 0.2 * target)
    draws = np.random.default_rng(0)
    chosen = draws.choice(100, size=idw.OFFICIAL_SAMPLES, p=weights / weights.sum())
    sample = embeddings[chosen] + draws.normal(0.0, 0.1, size=(idw.OFFICIAL_SAMPLES, 2))
    inverse = 1.0 / (stats.gaussian_kde(sample.T)(embeddings.T) + 1e-4)
    np.testing.assert_allclose(target, inverse / inverse.sum(), rtol=2e-3)


def test_stopping_norm_is_l2_for_the_paper_and_max_for_the_official_rule():
    before, after = np.array([0.5, 0.5, 0.0]), np.array([0.2, 0.6, 0.2])
    assert idw.DENSITY_UPDATES["paper"].change(after, before) == pytest.approx(np.sqrt(0.09 + 0.01 + 0.04))
    assert idw.DENSITY_UPDATES["official"].change(after, before) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="idw_update: unknown value 'kde'"):
        idw.update_weights(before, np.eye(3), 0.9, rule="kde")
