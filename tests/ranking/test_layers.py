"""Embedding, SSEM, DFM, FM, DIN, SE-Net, MaskBlock and PAIM behaviour on hand-made tensors."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from funnel import schema
from ranking.embedding import NUM_FIELDS, FieldEmbedding
from ranking.features import dummy_features
from ranking.layers import dfm, ssem
from ranking.layers.din import TargetAttention, drop_empty_slots
from ranking.layers.fm import FactorizationMachine
from ranking.layers.maskblock import SerialMaskNet
from ranking.layers.paim import PositionAwareInteraction, positional_encoding
from ranking.layers.senet import SqueezeExcitation


def features(history, item=5):
    f = dummy_features(len(history))
    f[schema.HISTORY] = tf.constant(history, tf.int64)
    f[schema.ITEM_ID] = tf.fill([len(history)], tf.constant(item, tf.int64))
    return f


def pad(items):
    return [0] * (schema.MAX_SEQUENCE_LENGTH - len(items)) + list(items)


def test_field_embedding_is_batch_fields_dim(tiny_feature_map):
    out = FieldEmbedding(tiny_feature_map, 6)(features([pad([3, 4])] * 3))
    assert out.shape == (3, NUM_FIELDS, 6) == (3, len(schema.RANKING_FEATURES), 6)


def test_history_field_is_the_mean_of_real_items_only(tiny_feature_map):
    layer = FieldEmbedding(tiny_feature_map, 4)
    out = layer(features([pad([3, 4])]))
    table = layer.tables[schema.ITEM_ID].embeddings.numpy()
    history_index = [f.name for f in schema.RANKING_FEATURES].index(schema.HISTORY)
    np.testing.assert_allclose(out[0, history_index], (table[3] + table[4]) / 2, rtol=1e-6)
    empty = layer(features([pad([])]))
    np.testing.assert_allclose(empty[0, history_index], np.zeros(4))


def test_out_of_vocabulary_ids_map_to_oov_and_buckets_clip(tiny_feature_map):
    layer = FieldEmbedding(tiny_feature_map, 4)
    f = features([pad([])])
    f[schema.ITEM_ID] = tf.constant([10_000], tf.int64)
    f[schema.USER_AGE] = tf.constant([10_000], tf.int64)
    out = layer(f).numpy()
    names = [f.name for f in schema.RANKING_FEATURES]
    np.testing.assert_allclose(out[0, names.index(schema.ITEM_ID)],
                               layer.tables[schema.ITEM_ID].embeddings.numpy()[schema.OOV_ID])
    np.testing.assert_allclose(out[0, names.index(schema.USER_AGE)],
                               layer.tables[schema.USER_AGE].embeddings.numpy()[schema.MAX_NUMERIC_BUCKET])


def test_missing_vocabulary_size_names_the_feature(tiny_feature_map):
    sizes = dict(tiny_feature_map.vocab_sizes)
    del sizes[schema.ITEM_CATEGORY]
    broken = schema.FeatureMap(**{**tiny_feature_map.__dict__, "vocab_sizes": sizes})
    with pytest.raises(KeyError, match=schema.ITEM_CATEGORY):
        FieldEmbedding(broken, 4)


def test_ser_gives_the_simple_encoder_half_the_embedding(tiny_feature_map):
    h_es, h_hs = ssem.SeparateEmbeddings(tiny_feature_map, 8)(features([pad([3])] * 2))
    assert h_es.shape == (2, NUM_FIELDS, 4) and h_hs.shape == (2, NUM_FIELDS, 8)


def test_gm_splits_one_embedding_by_a_scalar_gate(tiny_feature_map):
    layer = ssem.GatedEmbedding(tiny_feature_map, 4)
    f = features([pad([3]), pad([4, 5])])
    h_es, h_hs = layer(f)
    h = layer.embedding(f)
    np.testing.assert_allclose(h_es + h_hs, h, rtol=1e-5, atol=1e-7)
    ratio = (h_es / tf.where(tf.abs(h) > 1e-9, h, 1.0)).numpy()[0]
    assert np.allclose(ratio, ratio.flat[0], atol=1e-4)  # one gate value for the whole example


def test_mmoe_and_share_keep_field_structure(tiny_feature_map):
    f = features([pad([3])] * 2)
    for cls in (ssem.MMoEEmbedding, ssem.ShareEmbedding):
        h_es, h_hs = cls(tiny_feature_map, 4)(f)
        assert h_es.shape == h_hs.shape == (2, NUM_FIELDS, 4)
    a, b = ssem.ShareEmbedding(tiny_feature_map, 4)(f)
    assert a is b


def test_wsf_starts_as_half_the_logit_sum():
    h_s, h_c = tf.random.normal([3, 5], seed=1), tf.random.normal([3, 7], seed=2)
    z, z_s, z_c = dfm.WeightedSumFusion()(h_s, h_c)
    np.testing.assert_allclose(z, 0.5 * (z_s + z_c), rtol=1e-5)
    z, z_s, z_c = dfm.SumFusion()(h_s, h_c)
    np.testing.assert_allclose(z, z_s + z_c, rtol=1e-5)


def test_gumbel_vote_is_hard_at_low_temperature_and_flat_at_high():
    tf.random.set_seed(11)
    log_pi = tf.constant([[2.0, 0.0]] * 2000)
    cold = dfm.VotingFusion(temperature=0.01).vote(log_pi, training=True).numpy()
    hot = dfm.VotingFusion(temperature=100.0).vote(log_pi, training=True).numpy()
    # nearly one-hot votes: only a noise gap within ~0.05 of the logit gap leaves a split vote
    assert np.mean(np.max(cold, axis=1) > 0.99) > 0.97
    assert np.max(np.abs(hot - 0.5)) < 0.1  # nearly uniform votes
    # The noise makes the encoder with the larger pi win with prob e^2/(e^2+1) = 0.881.
    assert np.mean(cold[:, 0] > 0.5) == pytest.approx(0.881, abs=0.03)


def test_gumbel_vote_has_no_noise_at_serving_time():
    layer = dfm.VotingFusion(temperature=0.5)
    log_pi = tf.constant([[1.0, 0.0]])
    served = layer.vote(log_pi, training=False).numpy()
    np.testing.assert_allclose(served, tf.nn.softmax(log_pi / 0.5).numpy(), rtol=1e-6)


def test_every_fusion_returns_three_logits_per_example():
    h_s, h_c = tf.random.normal([4, 3], seed=1), tf.random.normal([4, 6], seed=2)
    for name in dfm.FUSIONS:
        outputs = dfm.build_fusion(name)(h_s, h_c, training=True)
        assert [tuple(o.shape) for o in outputs] == [(4,)] * 3, name
    with pytest.raises(ValueError, match="choose one of"):
        dfm.build_fusion("max")


def test_factorization_machine_second_order_equals_pairwise_dot_products():
    fields = tf.random.normal([2, 4, 3], seed=3)
    fm = FactorizationMachine()
    out = fm(fields).numpy()[:, 0]  # first-order weights and bias start at zero
    brute = [sum(float(tf.tensordot(fields[b, i], fields[b, j], 1))
                 for i, j in itertools.combinations(range(4), 2)) for b in range(2)]
    np.testing.assert_allclose(out, brute, rtol=1e-5)


def test_din_attention_ignores_padding_slots():
    layer = TargetAttention(units=(8,))
    real = tf.random.normal([1, 3, 4], seed=4)
    target = tf.random.normal([1, 4], seed=5)
    padded = tf.concat([tf.random.normal([1, 2, 4], seed=6), real], axis=1)  # junk in padding slots
    mask = tf.constant([[False, False, True, True, True]])
    pooled, weights = layer(padded, target, mask)
    unpadded, _ = layer(real, target, tf.ones([1, 3], tf.bool))
    np.testing.assert_allclose(weights.numpy()[0, :2], [0.0, 0.0])
    np.testing.assert_allclose(pooled, unpadded, rtol=1e-5, atol=1e-6)


def test_din_attention_regrouped_first_layer_equals_the_unit_on_the_concatenation():
    """The layer never builds ``[e, v, e - v, e * v]``; its scores must equal eq. 3's MLP on it."""
    layer = TargetAttention(units=(8, 4))
    history = tf.random.normal([3, 5, 6], seed=10)
    target = tf.random.normal([3, 6], seed=11)
    mask = tf.constant([[True] * 5, [False, True, True, True, True], [False] * 4 + [True]])
    _, weights = layer(history, target, mask)
    wide = tf.broadcast_to(target[:, None, :], history.shape)
    pairs = tf.concat([history, wide, history - wide, history * wide], axis=-1)
    expected = layer.score(layer.activation_unit(pairs))[..., 0] * tf.cast(mask, tf.float32)
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)
    assert layer.activation_unit.dense[0].kernel.shape == (24, 8)  # checkpoints keep the 4d-wide kernel


def test_din_attention_with_owner_equals_a_history_copy_per_target():
    """Targets sharing a history (``owner``) get the history's term computed once;
    pooled interests and weights must equal those of a copy of the history per target."""
    layer = TargetAttention(units=(8, 4))
    history = tf.random.normal([2, 5, 6], seed=12)
    mask = tf.constant([[False, True, True, True, True], [False] * 3 + [True, True]])
    target = tf.random.normal([5, 6], seed=13)
    owner = tf.constant([0, 0, 1, 1, 1])
    pooled, weights = layer(history, target, mask, owner=owner)
    copied, copied_weights = layer(tf.gather(history, owner), target, tf.gather(mask, owner))
    np.testing.assert_allclose(weights, copied_weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled, copied, rtol=1e-5, atol=1e-6)
    assert float(tf.math.reduce_std(pooled[:, 0])) > 0      # targets of one history still differ


def test_drop_empty_slots_keeps_every_slot_some_row_uses():
    ids = tf.constant([[0, 0, 5, 0, 7], [0, 0, 0, 0, 8]], tf.int64)
    kept, mask = drop_empty_slots(ids, tf.not_equal(ids, 0))
    np.testing.assert_array_equal(kept, [[5, 7], [0, 8]])
    np.testing.assert_array_equal(mask, [[True, True], [False, True]])


def test_senet_reweights_each_field_by_one_weight_in_0_1():
    fields = tf.random.normal([2, 5, 3], seed=7)
    layer = SqueezeExcitation()
    out = layer(fields)
    weights = layer.excitation(fields).numpy()
    assert weights.shape == (2, 5) and np.all((weights > 0) & (weights < 1))
    np.testing.assert_allclose(out, fields * weights[..., None], rtol=1e-5)


def test_masknet_and_paim_shapes():
    flat = tf.random.normal([2, 12], seed=8)
    assert SerialMaskNet(2, 6)(flat).shape == (2, 6)
    history = tf.random.normal([2, 5, 4], seed=9)
    mask = tf.constant([[False, False, True, True, True]] * 2)
    assert PositionAwareInteraction(2)(flat, history, mask).shape == (2, 16)


def test_positional_encoding_is_sinusoidal():
    pe = positional_encoding(3, 4)
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1], atol=1e-7)
    np.testing.assert_allclose(pe[2], [np.sin(2), np.cos(2), np.sin(2 / 100), np.cos(2 / 100)], rtol=1e-6)
