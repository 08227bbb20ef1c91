"""Guards retrieval/model.py: eq. 4 scoring, logQ (eq. 2), accidental hits, sample weights."""

import numpy as np
import pytest
import tensorflow as tf

import funnel  # noqa: F401
from funnel import schema
from retrieval.config import RetrievalConfig
from retrieval.model import ItemStatistics, TwoTowerModel, interest_scores


def test_mixture_score_equals_hand_computed_eq4():
    users = np.array([[[1.0, 0.0], [0.0, 2.0]]], dtype=np.float32)   # [1, M=2, D=2]
    items = np.array([[3.0, 1.0]], dtype=np.float32)                 # [1, D]
    s1, s2 = 3.0, 2.0                                                # z_m . g(y)
    w1, w2 = np.exp(s1) / (np.exp(s1) + np.exp(s2)), np.exp(s2) / (np.exp(s1) + np.exp(s2))
    expected = (w1 * users[0, 0] + w2 * users[0, 1]) @ items[0]     # z_u^T g(y), z_u = sum w_m z_m
    assert interest_scores(users, items, "mixture").numpy()[0, 0] == pytest.approx(expected, rel=1e-6)
    assert interest_scores(users, items, "max").numpy()[0, 0] == pytest.approx(3.0)


def test_single_interest_scoring_is_the_dot_product():
    rng = np.random.default_rng(0)
    users, items = rng.normal(size=(4, 1, 3)), rng.normal(size=(6, 3))
    np.testing.assert_allclose(interest_scores(users, items, "mixture").numpy(), users[:, 0] @ items.T,
                               rtol=1e-5)


def test_unknown_scoring_names_the_choices():
    with pytest.raises(ValueError, match="max"):
        interest_scores(np.ones((1, 1, 2)), np.ones((1, 2)), "mean")


def _model(**overrides):
    tf.keras.utils.set_random_seed(3)
    frequencies = np.array([0, 0, 10, 5, 3, 2, 1], dtype=np.float64)
    config = RetrievalConfig(embedding_dim=4, item_hidden=(4,), encoder_layers=1, encoder_heads=1,
                             dropout=0.0, **overrides)   # training-mode losses match hand values
    model = TwoTowerModel(config, ItemStatistics(frequencies))
    model.build_towers()
    return model, frequencies / frequencies.sum()


def _features(targets):
    history = np.zeros((len(targets), schema.MAX_SEQUENCE_LENGTH), np.int64)
    history[:, -2:] = [[2, 3], [4, 5], [6, 2], [3, 3]][:len(targets)]
    return {schema.HISTORY: tf.constant(history), schema.TARGET_ITEM: tf.constant(targets, tf.int64)}


def _softmax_loss(logits, labels_diag=True):
    logits = logits - logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -np.diag(log_p)


def test_logq_correction_subtracts_log_p_from_every_logit():
    model, p = _model(logq_correction=True)
    features = _features([2, 4, 6])
    logits = model.batch_logits(features).numpy()
    corrected = logits - np.log(p[[2, 4, 6]])[None, :]
    expected = _softmax_loss(corrected).mean()
    assert model.compute_loss(features).numpy() == pytest.approx(expected, rel=1e-5)
    plain, _ = _model(logq_correction=False)
    assert plain.compute_loss(features).numpy() == pytest.approx(_softmax_loss(logits).mean(), rel=1e-5)


def test_accidental_hits_are_removed_from_the_negatives():
    model, p = _model(logq_correction=False, remove_accidental_hits=True)
    features = _features([2, 4, 6, 2])     # rows 0 and 3 share target 2
    logits = model.batch_logits(features).numpy()
    masked = logits.copy()
    masked[0, 3] = masked[3, 0] = -1e30
    assert model.compute_loss(features).numpy() == pytest.approx(_softmax_loss(masked).mean(), rel=1e-5)


def test_sample_weights_apply_only_when_switched_on_and_in_training():
    model, _ = _model(logq_correction=False)
    features = _features([2, 4, 6])
    per_example = _softmax_loss(model.batch_logits(features).numpy())
    weights = np.zeros(7, np.float32)
    weights[[2, 4, 6]] = [2.0, 0.5, 0.0]
    model.item_weights.assign(weights)
    model.use_sample_weights.assign(True)
    assert model.compute_loss(features, training=True).numpy() == pytest.approx(
        (per_example * [2.0, 0.5, 0.0]).mean(), rel=1e-5)
    assert model.compute_loss(features, training=False).numpy() == pytest.approx(per_example.mean(), rel=1e-5)


def test_margin_is_subtracted_from_the_positive_logit_only():
    model, _ = _model()
    features = _features([2, 4, 6])
    before = model.batch_logits(features).numpy()
    margins = np.zeros(7, np.float32)
    margins[[2, 4, 6]] = [0.1, 0.2, 0.3]
    model.item_margins.assign(margins)
    np.testing.assert_allclose(before - model.batch_logits(features).numpy(), np.diag([0.1, 0.2, 0.3]),
                               atol=1e-6)


def test_temperature_divides_the_scores_before_the_logq_correction():
    model, p = _model(logq_correction=True, temperature=0.5)
    features = _features([2, 4, 6])
    logits = model.batch_logits(features).numpy()
    expected = _softmax_loss(logits / 0.5 - np.log(p[[2, 4, 6]])[None, :]).mean()
    assert model.compute_loss(features).numpy() == pytest.approx(expected, rel=1e-5)
    plain, _ = _model(logq_correction=True)
    assert plain.compute_loss(features).numpy() != pytest.approx(expected, rel=1e-3)


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match="temperature: must be > 0, got 0"):
        RetrievalConfig(temperature=0.0)


def test_item_category_without_an_item_mlp_is_refused():
    with pytest.raises(ValueError, match="use_item_category: .* give --item-hidden N"):
        RetrievalConfig(item_hidden=(), use_item_category=True)
    assert RetrievalConfig(item_hidden=(8,), use_item_category=True).output_dim == 8


def test_identity_item_tower_returns_the_embedding_itself():
    config = RetrievalConfig(embedding_dim=4, item_hidden=(), encoder_layers=0, encoder_heads=1)
    model = TwoTowerModel(config, ItemStatistics(np.array([0, 0, 10, 5, 3, 2, 1], dtype=np.float64)))
    model.build_towers()
    ids = np.array([2, 3, 6])
    table = model.item_tower.item_embedding.embeddings.numpy()
    np.testing.assert_array_equal(model.item_embeddings(ids), table[ids])
    assert model.config.output_dim == 4
    assert model.user_tower(tf.constant(_features([2])[schema.HISTORY])).shape == (1, 5, 4)


def test_a_shared_item_embedding_is_one_table_trained_by_both_towers():
    shared, _ = _model(share_item_embedding=True)
    separate, _ = _model(share_item_embedding=False)
    assert shared.user_tower.item_embedding is shared.item_tower.item_embedding
    tables = lambda model: [v for v in model.trainable_variables if "item_embedding" in v.name]
    assert len(tables(shared)) == 1 and len(tables(separate)) == 2
    features = _features([2, 4, 6])
    with tf.GradientTape() as tape:
        loss = shared.compute_loss(features, training=True)
    gradient = tape.gradient(loss, tables(shared)[0])
    rows = tf.convert_to_tensor(gradient).numpy()
    assert np.abs(rows[[3, 5]]).sum() > 0      # history-only items: reached through the user tower
    assert np.abs(rows[[4, 6]]).sum() > 0      # targets: reached through the item tower too


def test_sequence_rows_score_every_real_position_as_its_prefix_in_batch():
    """train_on="sequences": one query per position whose target is a real item, each the
    causal tower's representation of the prefix ending there; the in-batch scores are those
    queries against the gathered targets (OOV and padding targets skipped)."""
    from retrieval.config import RetrievalConfig
    from retrieval.model import interest_scores

    config = RetrievalConfig(model="mur", num_interests=2, embedding_dim=8, item_hidden=(8,),
                             encoder_layers=1, encoder_heads=2, train_on="sequences")
    model = TwoTowerModel(config, ItemStatistics(np.ones(12)))
    model.build_towers()
    length = schema.MAX_SEQUENCE_LENGTH
    histories = np.zeros((2, length), np.int64)
    targets = np.zeros((2, length), np.int64)
    histories[0, -3:], targets[0, -3:] = [2, 3, 4], [3, 4, 7]
    histories[1, -2:], targets[1, -2:] = [5, 6], [schema.OOV_ID, 8]
    users, gathered = model.queries((tf.constant(histories), tf.constant(targets)))
    np.testing.assert_array_equal(gathered.numpy(), [3, 4, 7, 8])
    rows = model.user_tower.every_prefix(histories).numpy()
    expected_users = np.stack([rows[0, -3], rows[0, -2], rows[0, -1], rows[1, -1]])
    np.testing.assert_allclose(users.numpy(), expected_users, rtol=1e-6)
    expected = interest_scores(expected_users, model.item_tower(gathered), config.scoring).numpy()
    got = model.batch_logits((tf.constant(histories), tf.constant(targets))).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
