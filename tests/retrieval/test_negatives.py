"""Guards retrieval/negatives.py and the two-tower loss of each ``negatives`` mode, and the
user tower's ``recency``: every loss checked against a value computed by hand in NumPy."""

import numpy as np
import pytest
import tensorflow as tf

import funnel  # noqa: F401
from funnel import schema
from retrieval import negatives
from retrieval.config import RetrievalConfig
from retrieval.model import ItemStatistics, TwoTowerModel

FREQUENCIES = np.array([0, 0, 10, 5, 3, 2, 1], dtype=np.float64)
"""Padding, OOV and five real items (ids 2..6)."""
SAMPLED = [3, 6]
"""The 'uniform' draw, fixed so the expected losses can be written out."""


def _model(**overrides):
    tf.keras.utils.set_random_seed(5)
    config = RetrievalConfig(model="mur", num_interests=2, embedding_dim=4, item_hidden=(4,),
                             encoder_layers=1, encoder_heads=1, dropout=0.0, **overrides)
    model = TwoTowerModel(config, ItemStatistics(FREQUENCIES))
    model.build_towers()
    return model


def _features(targets):
    history = np.zeros((len(targets), schema.MAX_SEQUENCE_LENGTH), np.int64)
    history[:, -2:] = [[2, 3], [4, 5], [6, 2], [3, 3], [5, 4]][:len(targets)]
    return {schema.HISTORY: tf.constant(history), schema.TARGET_ITEM: tf.constant(targets, tf.int64)}


def _eq4(model, features, item_ids):
    """Eq.-4 scores ``[B, C]`` of the batch's users against ``item_ids``, in NumPy."""
    users = model.user_tower(features[schema.HISTORY]).numpy()                  # [B, M, D]
    items = model.item_tower(tf.constant(item_ids, tf.int64)).numpy()          # [C, D]
    per_interest = np.einsum("bmd,cd->bmc", users, items)
    weights = np.exp(per_interest) / np.exp(per_interest).sum(axis=1, keepdims=True)
    return (weights * per_interest).sum(axis=1)


def _cross_entropy(logits, positive_columns):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(logits)), positive_columns]


@pytest.fixture
def fixed_draw(monkeypatch):
    monkeypatch.setattr(negatives, "uniform_items", lambda count, num_items: tf.constant(SAMPLED, tf.int64))


def test_full_softmax_is_cross_entropy_over_every_real_item():
    model = _model(negatives="full")
    targets = [2, 4, 6]
    features = _features(targets)
    real = np.arange(schema.FIRST_VALUE_ID, len(FREQUENCIES))
    logits = _eq4(model, features, real)
    expected = _cross_entropy(logits, np.array(targets) - schema.FIRST_VALUE_ID).mean()
    assert model.compute_loss(features).numpy() == pytest.approx(expected, rel=1e-5)


def test_full_softmax_equals_in_batch_when_the_batch_holds_the_whole_catalog():
    targets = [2, 3, 4, 5, 6]                      # every real item once: no accidental hits
    features = _features(targets)
    full = _model(negatives="full").compute_loss(features).numpy()
    in_batch = _model(negatives="in-batch", logq_correction=False).compute_loss(features).numpy()
    assert full == pytest.approx(in_batch, rel=1e-5)


def test_mixed_negatives_correct_each_candidate_by_its_expected_count_in_the_set(fixed_draw):
    model = _model(negatives="mixed", sampled_negatives=len(SAMPLED))
    targets = [2, 4, 3]
    features = _features(targets)
    candidates = targets + SAMPLED                  # [2, 4, 3, 3, 6]
    p = FREQUENCIES / FREQUENCIES.sum()
    expected_count = len(targets) * p[candidates] + len(SAMPLED) / 5    # B p(y) + N / |I|
    logits = _eq4(model, features, candidates) - np.log(expected_count)[None, :]
    logits[2, 3] = -1e9                              # row 2's target 3 drawn again: an accidental hit
    expected = _cross_entropy(logits, np.arange(len(targets))).mean()
    assert model.compute_loss(features).numpy() == pytest.approx(expected, rel=1e-5)


def test_sampled_softmax_scores_each_target_against_the_shared_draw(fixed_draw):
    model = _model(negatives="sampled", sampled_negatives=len(SAMPLED))
    targets = [2, 6]
    features = _features(targets)
    own = _eq4(model, features, targets)[np.arange(2), np.arange(2)]
    logits = np.concatenate([own[:, None], _eq4(model, features, SAMPLED)], axis=1)
    logits[1, 2] = -1e9                              # row 1's target 6 is in the draw
    expected = _cross_entropy(logits, np.zeros(2, int)).mean()
    assert model.compute_loss(features).numpy() == pytest.approx(expected, rel=1e-5)


def test_sampled_binary_cross_entropy_is_one_positive_and_each_negative(fixed_draw):
    model = _model(negatives="sampled", loss="bce", sampled_negatives=len(SAMPLED))
    targets = [2, 4]
    features = _features(targets)
    own = _eq4(model, features, targets)[np.arange(2), np.arange(2)]
    sampled = _eq4(model, features, SAMPLED)
    log_sigmoid = lambda x: -np.log1p(np.exp(-x))
    expected = (-log_sigmoid(own) - log_sigmoid(-sampled).sum(axis=1)).mean()
    assert model.compute_loss(features).numpy() == pytest.approx(expected, rel=1e-5)


def test_sample_weights_scale_each_example_of_the_full_softmax():
    model = _model(negatives="full")
    targets = [2, 4, 6]
    features = _features(targets)
    unweighted = model.compute_loss(features, training=True).numpy()
    model.item_weights.assign(np.where(np.arange(7) == 4, 3.0, 1.0).astype(np.float32))
    model.use_sample_weights.assign(True)
    real = np.arange(schema.FIRST_VALUE_ID, len(FREQUENCIES))
    per_example = _cross_entropy(_eq4(model, features, real), np.array(targets) - schema.FIRST_VALUE_ID)
    expected = (per_example * np.array([1.0, 3.0, 1.0])).mean()
    weighted = model.compute_loss(features, training=True).numpy()
    assert weighted == pytest.approx(expected, rel=1e-5)
    assert weighted != pytest.approx(unweighted, rel=1e-3)


def test_uniform_draws_never_return_padding_or_oov():
    draws = negatives.uniform_items(10_000, 7).numpy()
    assert draws.min() == schema.FIRST_VALUE_ID and draws.max() == 6


def test_last_state_recency_adds_the_most_recent_positions_state_to_every_interest():
    model = _model(recency="last-state")
    tower = model.user_tower
    history = _features([2, 4])[schema.HISTORY]
    with_recency = tower(history).numpy()
    tower.recency = "none"
    without = tower(history).numpy()
    x = tower.item_embedding(history) + tower.position_embedding(tf.range(schema.MAX_SEQUENCE_LENGTH))[None]
    mask = tf.not_equal(history, schema.PADDING_ID)
    for layer in tower.encoder:
        x = layer(x, mask)
    last_state = tower.projection(x).numpy()[:, -1, :] if tower.projection is not None else x.numpy()[:, -1, :]
    np.testing.assert_allclose(with_recency - without, np.repeat(last_state[:, None, :], 2, axis=1),
                               rtol=1e-5, atol=1e-6)
    assert np.abs(last_state).sum() > 0


def test_unknown_recency_names_the_choices():
    with pytest.raises(ValueError, match="last-state"):
        RetrievalConfig(recency="first")


def test_every_negatives_mode_but_in_batch_has_its_candidates():
    from retrieval.config import NEGATIVES

    assert set(negatives.CANDIDATES) == set(NEGATIVES) - {"in-batch"}
