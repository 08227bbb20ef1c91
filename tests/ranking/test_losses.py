"""Each loss against values worked out by hand from its equation."""

import math

import numpy as np
import pytest
import tensorflow as tf

from ranking import losses

LABELS = tf.constant([1.0, 0.0])
PROBS = tf.constant([0.8, 0.4])


def value(loss, labels=LABELS, probs=PROBS, **heads):
    return float(loss(labels, {"prediction": probs, **heads}))


def test_logloss_is_mean_binary_crossentropy():
    # -(ln 0.8 + ln 0.6) / 2
    assert value(losses.LogLoss()) == pytest.approx((0.2231436 + 0.5108256) / 2, rel=1e-5)


def test_focal_loss_weights_by_alpha_t_and_one_minus_p_t_to_gamma():
    # click p=0.8: 0.25 * 0.2^2 * -ln 0.8 = 0.00223144
    # non-click p=0.4: p_t=0.6, 0.75 * 0.4^2 * -ln 0.6 = 0.06129907
    assert value(losses.FocalLoss()) == pytest.approx((0.00223144 + 0.06129907) / 2, rel=1e-4)


def test_shrinkage_loss_matches_lu_et_al_eq_4():
    # l=0.2: 0.04 / (1 + e^{10 (0.2 - 0.2)}) = 0.02 ; l=0.4: 0.16 / (1 + e^{-2}) = 0.14092687
    assert value(losses.ShrinkageLoss()) == pytest.approx((0.02 + 0.14092687) / 2, rel=1e-5)


def test_suppression_loss_matches_lafam_eq_4_with_table_4_parameters():
    loss = losses.SuppressionLoss()
    assert (loss.alpha, loss.beta, loss.theta, loss.rho, loss.gamma) == (58.0, 0.69, 50.0, 0.37, 2.1)
    # click predicted 0.3: first factor 58*0.99=57.42 -> 57.42/116.84 + 0.5 = 0.99144129
    # error 0.7: second factor 50*1.07=53.5 -> 53.5/109 + 0.5 = 0.99082569 ; 0.7^2.1 = 0.47283094
    expected_click = 0.99144129 * 0.99082569 * 0.47283094
    # non-click predicted 0.1: 58*0.79=45.82 -> 45.82/93.64 + 0.5 = 0.98932080
    # error 0.1: 50*0.47=23.5 -> 23.5/49 + 0.5 = 0.97959184 ; 0.1^2.1 = 0.00794328
    expected_non_click = 0.98932080 * 0.97959184 * 0.00794328
    per_example = loss.per_example(LABELS, tf.constant([0.3, 0.1])).numpy()
    np.testing.assert_allclose(per_example, [expected_click, expected_non_click], rtol=1e-5)
    assert 0.7 ** 2.1 == pytest.approx(0.47283094, rel=1e-6)


def test_suppression_loss_lets_hard_clicks_dominate():
    """LAFAM Table 1: a missed click costs far more than an equally confident easy non-click."""
    loss = losses.SuppressionLoss()
    hard_click, easy_non_click = loss.per_example(LABELS, tf.constant([0.2, 0.2])).numpy()
    assert hard_click > 15 * easy_non_click  # (0.8 / 0.2)^2.1 = 18.4


def test_suppression_loss_with_table_4_parameters_has_no_class_asymmetry():
    """Both factors lie in [0.974, 0.995]: the loss is 0.96-0.99 |p - y|^2.1, about the same for a
    click predicted p and a non-click predicted 1 - p (the first factor does not damp a class)."""
    loss = losses.SuppressionLoss()
    p = np.linspace(0.0, 1.0, 101).astype(np.float32)
    clicks = loss.per_example(tf.ones(101), tf.constant(p)).numpy()
    non_clicks = loss.per_example(tf.zeros(101), tf.constant(1.0 - p)).numpy()
    power = np.abs(1.0 - p) ** 2.1
    np.testing.assert_allclose(clicks, power, rtol=0.04, atol=1e-12)
    np.testing.assert_allclose(non_clicks, power, rtol=0.04, atol=1e-12)
    first = loss.squash(tf.constant(p), loss.alpha, loss.beta).numpy()
    assert first.min() == pytest.approx(40.02 / 82.04 + 0.5, rel=1e-5)   # p = 0: 58 * 0.69 = 40.02
    assert first.max() == pytest.approx(98.02 / 198.04 + 0.5, rel=1e-5)  # p = 1: 58 * 1.69 = 98.02


def test_twin_focus_loss_is_ctr_loss_plus_eq_7_with_authors_p_t():
    loss = losses.TwinFocusLoss()
    labels = tf.constant([1.0])
    heads = {"prediction": tf.constant([0.8]), "simple": tf.constant([0.9]), "complex": tf.constant([0.6])}
    l_ctr = -math.log(0.8)
    l_simple = -math.log(0.9) * (0.8 + 0.9) ** 2       # 0.10536052 * 2.89
    l_complex = -math.log(0.6) * ((2 - 0.8) - 0.6) ** 2  # 0.51082562 * 0.36
    expected = l_ctr + 0.25 * l_simple + 0.75 * l_complex
    assert expected == pytest.approx(0.43719, abs=1e-4)
    assert float(loss(labels, heads)) == pytest.approx(expected, rel=1e-5)


def test_twin_focus_on_a_non_click_uses_one_minus_p():
    loss = losses.TwinFocusLoss(c=0.8, gamma=2.0, alpha=0.25)
    # y=0, p_s=0.1 -> p_t=0.9 ; p_c=0.4 -> p_t=0.6
    expected = 0.25 * (-math.log(0.9)) * 1.7 ** 2 + 0.75 * (-math.log(0.6)) * 0.6 ** 2
    got = float(loss.twin_focus(tf.constant([0.0]), tf.constant([0.1]), tf.constant([0.4])))
    assert got == pytest.approx(expected, rel=1e-5)


def test_twin_focus_refuses_a_model_without_twin_heads():
    with pytest.raises(ValueError, match="simple"):
        losses.TwinFocusLoss()(LABELS, {"prediction": PROBS})


def test_build_loss_rejects_unknown_names_and_options():
    assert isinstance(losses.build_loss("focal", (("gamma", 3),)), losses.FocalLoss)
    assert losses.build_loss("focal", {"gamma": 3}).gamma == 3.0
    with pytest.raises(ValueError, match="choose one of"):
        losses.build_loss("hinge")
    with pytest.raises(ValueError, match="unknown option"):
        losses.build_loss("focal", {"gama": 3})
    with pytest.raises(ValueError, match="unknown option"):
        losses.build_loss("logloss", {"gamma": 3})


def test_every_registered_loss_is_finite_at_extreme_probabilities():
    heads = {"prediction": tf.constant([0.0, 1.0]), "simple": tf.constant([0.0, 1.0]),
             "complex": tf.constant([1.0, 0.0])}
    for name in losses.LOSSES:
        assert np.isfinite(float(losses.build_loss(name)(LABELS, heads))), name


def test_a_pointwise_loss_without_per_example_cannot_be_built():
    class Incomplete(losses.PointwiseLoss):
        """Leaves out ``per_example``."""

    with pytest.raises(TypeError, match="per_example"):
        Incomplete()


def test_a_ranking_model_without_forward_cannot_be_built():
    from ranking.models.base import RankingModel

    class Incomplete(RankingModel):
        """Leaves out ``forward``."""

    with pytest.raises(TypeError, match="forward"):
        Incomplete(losses.LogLoss())
