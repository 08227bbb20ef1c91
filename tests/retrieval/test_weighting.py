"""Guards retrieval/weighting/: the registry and every scheme's weights, margins and losses."""

import numpy as np
import pytest
import tensorflow as tf

import funnel  # noqa: F401
from retrieval.config import RetrievalConfig
from retrieval.model import ItemStatistics
from retrieval.weighting import WEIGHTINGS, build, domain
from retrieval.weighting.base import example_normalised
from retrieval.weighting.focal import FocalSoftmaxLoss

FREQUENCIES = np.array([0, 0, 16, 4, 1, 1], dtype=np.float64)
ITEMS = ItemStatistics(FREQUENCIES, categories=np.array([1, 1, 2, 2, 3, 3]), num_categories=4)


def test_registry_offers_every_scheme_and_rejects_unknown_names():
    assert set(WEIGHTINGS) == {"none", "frequency", "focal", "qmargin", "item-norm",
                               "posthoc-item-norm", "idw", "domain"}
    with pytest.raises(ValueError, match="idw"):
        build(RetrievalConfig(weighting="density"))


def test_frequency_balance_is_inverse_frequency_with_unit_example_mean():
    weights = build(RetrievalConfig(weighting="frequency")).item_weights(ITEMS)
    assert weights[2] * 16 == pytest.approx(weights[3] * 4) == pytest.approx(weights[4])
    assert np.dot(FREQUENCIES, weights) / FREQUENCIES.sum() == pytest.approx(1.0)


def test_example_normalised_rejects_zero_mass():
    with pytest.raises(ValueError, match="item_weights"):
        example_normalised(np.zeros(6), FREQUENCIES)


def test_qmargin_is_proportional_to_frequency_to_the_minus_quarter():
    margins = build(RetrievalConfig(weighting="qmargin", qmargin_max=0.8)).item_margins(ITEMS)
    assert margins[4] == pytest.approx(0.8)                 # rarest item gets the maximum
    assert margins[2] == pytest.approx(0.8 * (1 / 16) ** 0.25)
    assert margins[3] / margins[2] == pytest.approx((16 / 4) ** 0.25)


def test_focal_loss_matches_hand_value_and_reduces_to_cross_entropy():
    labels = tf.constant([[1.0, 0.0, 0.0]])
    logits = tf.constant([[2.0, 1.0, 0.0]])
    p = np.exp(2) / (np.exp(2) + np.exp(1) + 1)
    assert FocalSoftmaxLoss(2.0)(labels, logits).numpy() == pytest.approx(-(1 - p) ** 2 * np.log(p), rel=1e-5)
    assert FocalSoftmaxLoss(0.0)(labels, logits).numpy() == pytest.approx(-np.log(p), rel=1e-5)


def test_domain_weights_favour_sparse_domains_stay_bounded_and_normalised():
    ids, shares = domain.domain_shares(FREQUENCIES, ITEMS.categories)
    np.testing.assert_array_equal(ids, [2, 3])               # category 1 has no training items
    np.testing.assert_allclose(shares, [20 / 22, 2 / 22])
    weights = np.ones(2)
    seen = []
    for _ in range(30):
        weights = domain.next_weights(weights, shares, alpha=1.0, momentum=0.5, low=0.25, high=4.0)
        seen.append(weights)
        assert weights[1] > weights[0]
        assert 0.25 <= weights.min() and weights.max() <= 4.0
        assert np.dot(shares, weights) == pytest.approx(1.0, abs=1e-6) or weights.max() == 4.0
    assert seen[0][1] < seen[-1][1]                           # moves toward the target over epochs


def test_domain_callback_writes_each_items_domain_weight():
    from retrieval.model import TwoTowerModel

    config = RetrievalConfig(weighting="domain", embedding_dim=4, item_hidden=(4,), encoder_layers=1,
                             encoder_heads=1)
    model = TwoTowerModel(config, ITEMS)
    model.build_towers()
    updater = build(config).callbacks(model, ITEMS)[0]
    updater.on_epoch_begin(0)
    written = model.item_weights.numpy()
    assert written[2] == written[3] < written[4] == written[5]
    assert written[0] == written[1] == 1.0                   # domain without training items


@pytest.mark.parametrize("name", sorted(WEIGHTINGS))
def test_every_weighting_trains_and_evaluates(name, tiny_data, tmp_path, make_config):
    from retrieval.evaluate import evaluate_run
    from retrieval.run import load_trained
    from retrieval.train import train

    model_name = "sur" if name in ("frequency", "focal") else "mur"
    train(make_config(model=model_name, weighting=name), tiny_data, tmp_path / name)
    metrics = evaluate_run(tmp_path / name, tiny_data)
    for key in ("hr@5", "ndcg@20_tail", "recall@100_full", "ndcg@20_full", "mean_silhouette"):
        assert np.isfinite(metrics[key]), key
    assert 0.0 <= metrics["ndcg@20"] <= metrics["hr@20"] <= 1.0
    model, config = load_trained(tmp_path / name)
    norms = np.linalg.norm(model.item_embeddings()[2:], axis=1)
    if name in ("item-norm", "posthoc-item-norm"):
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    else:
        assert not np.allclose(norms, 1.0, rtol=1e-3)
