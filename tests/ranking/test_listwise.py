"""Guards ranking/list_losses.py, ranking/listwise.py and ranking/lists.py: each list loss
against hand-computed values, the residual start (an untrained ranker is retrieval order),
every backbone training on lists, and negative sampling keeping the target."""

import math

import numpy as np
import pytest
import tensorflow as tf

from funnel import schema
from ranking import lists, listwise
from ranking.config import RankingConfig
from ranking.embedding import HISTORY_OWNER
from ranking.list_losses import ApproxNDCGLoss, PairwiseLogisticLoss, SoftmaxListLoss
from ranking.listwise import CandidateRanker, list_rows
from ranking.models import MODELS, build_model

LABELS = tf.constant([[0.0, 1.0, 0.0, 0.0]])
LOGITS = tf.constant([[1.0, 2.0, 0.5, 9.0]])
MASK = tf.constant([[True, True, True, False]])          # the 9.0 slot is padding


def test_softmax_loss_by_hand_ignores_padding():
    expected = -math.log(math.exp(2) / (math.exp(1) + math.exp(2) + math.exp(0.5)))
    assert float(SoftmaxListLoss()(LABELS, LOGITS, MASK)) == pytest.approx(expected, rel=1e-6)


def test_pairwise_loss_by_hand():
    expected = (math.log1p(math.exp(-(2 - 1))) + math.log1p(math.exp(-(2 - 0.5)))) / 2
    assert float(PairwiseLogisticLoss()(LABELS, LOGITS, MASK)) == pytest.approx(expected, rel=1e-6)


def test_approx_ndcg_loss_by_hand():
    t = 0.1
    sig = lambda x: 1 / (1 + math.exp(-x))
    rank = 1 + sig((1 - 2) / t) + sig((0.5 - 2) / t)       # smooth rank of the target
    expected = -(1 / math.log2(1 + rank)) / 1.0            # IDCG of one relevant item = 1
    assert float(ApproxNDCGLoss(t)(LABELS, LOGITS, MASK)) == pytest.approx(expected, rel=1e-5)


def test_list_losses_skip_lists_without_a_target():
    labels = tf.constant([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    logits = tf.constant([[1.0, 2.0, 0.5], [5.0, -3.0, 0.0]])
    mask = tf.ones_like(labels, tf.bool)
    for loss in (SoftmaxListLoss(), PairwiseLogisticLoss(), ApproxNDCGLoss()):
        assert float(loss(labels, logits, mask)) == pytest.approx(float(loss(labels[:1], logits[:1], mask[:1])),
                                                                  rel=1e-6)


def _lists(feature_map, batch=4, width=6, seed=0):
    rng = np.random.default_rng(seed)
    items = feature_map.num_items
    candidates = rng.integers(schema.FIRST_VALUE_ID, items, size=(batch, width))
    candidates[:, -1] = schema.PADDING_ID
    labels = np.zeros((batch, width), np.float32)
    labels[np.arange(batch), rng.integers(0, width - 1, batch)] = 1.0
    history = np.zeros((batch, schema.MAX_SEQUENCE_LENGTH), np.int64)
    history[:, -3:] = rng.integers(schema.FIRST_VALUE_ID, items, size=(batch, 3))
    out = {name: tf.constant(np.full(batch, schema.OOV_ID), tf.int64)
           for name, (dtype, shape) in schema.candidate_list_spec(width).items() if shape == () }
    out.update({schema.HISTORY: tf.constant(history), schema.HISTORY_LENGTH: tf.constant(np.full(batch, 3)),
                schema.CANDIDATES: tf.constant(candidates), schema.LABEL: tf.constant(labels),
                schema.ITEM_CATEGORY: tf.constant(np.full((batch, width), schema.OOV_ID)),
                schema.ITEM_AGE: tf.constant(np.ones((batch, width), np.int64)),
                schema.RETRIEVAL_SCORE: tf.constant(rng.normal(size=(batch, width)).astype(np.float32)),
                schema.RETRIEVAL_RANK: tf.constant(np.tile(np.arange(width, dtype=np.float32), (batch, 1))),
                schema.INTEREST: tf.constant(rng.integers(0, 3, (batch, width)).astype(np.float32)),
                schema.INTEREST_SCORE: tf.constant(rng.normal(size=(batch, width)).astype(np.float32)),
                schema.LAST_ITEM_SIMILARITY: tf.constant(rng.uniform(-1, 1, (batch, width)).astype(np.float32))})
    return out


def _config(model, **overrides):
    return RankingConfig(model=model, lists=True, embedding_dim=4, hidden_units=(8,), simple_hidden_units=(8,),
                         lafam_deep_units=(8,), lafam_group_units=(8,), gru_units=4, gru_layers=1,
                         din_units=(4,), attention_units=(4,), correction_units=(4,), **overrides)


def test_untrained_ranker_reproduces_retrieval_order(tiny_feature_map):
    model = build_model(_config("tf4ctr"), tiny_feature_map)
    batch = _lists(tiny_feature_map)
    rows = list_rows(batch, 6)
    logits, _ = model.row_logits(rows)
    np.testing.assert_allclose(logits.numpy(), rows[schema.RETRIEVAL_SCORE].numpy(), rtol=1e-6)


@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_every_backbone_trains_on_lists(tiny_feature_map, model_name):
    """One eager gradient step of the list loss reaches the backbone of every model."""
    tf.keras.utils.set_random_seed(0)
    loss = "tf" if model_name == "tf4ctr" else None
    model = build_model(_config(model_name, loss=loss), tiny_feature_map)
    batch = _lists(tiny_feature_map, seed=1)
    with tf.GradientTape() as tape:
        value = model.compute_loss(batch, training=True)
    gradients = dict(zip([v.name for v in model.trainable_variables],
                         tape.gradient(value, model.trainable_variables)))
    assert np.isfinite(float(value))
    assert abs(float(gradients["backbone_weight:0"])) > 0          # the backbone's share gets a gradient
    assert any(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0
               for name, g in gradients.items() if "correction" in name)


def test_ranker_scores_ignore_history_slots_no_row_uses(tiny_feature_map, monkeypatch):
    """The ranker drops the history slots no row fills; its scores must equal attending over all 30."""
    tf.keras.utils.set_random_seed(0)
    model = build_model(_config("tf4ctr"), tiny_feature_map)
    rows = list_rows(_lists(tiny_feature_map), 6)
    history = rows[schema.HISTORY].numpy()
    history[0, -5:-3] = schema.FIRST_VALUE_ID + 1        # one list uses two more slots than the rest
    rows[schema.HISTORY] = tf.constant(history)
    model.row_logits(rows)
    model.correction.kernel.assign(tf.ones_like(model.correction.kernel))  # the attention path counts
    model.backbone_weight.assign(1.0)
    dropped, _ = model.row_logits(rows)
    monkeypatch.setattr(listwise, "drop_empty_slots", lambda ids, mask: (ids, mask))
    every_slot, _ = model.row_logits(rows)
    np.testing.assert_allclose(dropped, every_slot, rtol=1e-5, atol=1e-6)
    assert float(tf.math.reduce_std(dropped - rows[schema.RETRIEVAL_SCORE])) > 1e-4


def test_attention_over_the_last_items_ignores_older_ones(tiny_feature_map):
    """``attention_history=N``: DIN reads only the N most recent slots (the right end)."""
    tf.keras.utils.set_random_seed(0)
    model = build_model(_config("dnn", attention_history=3), tiny_feature_map)
    rows = list_rows(_lists(tiny_feature_map), 6)
    model.row_logits(rows)
    model.correction.kernel.assign(tf.ones_like(model.correction.kernel))  # the attention path counts
    base, _ = model.row_logits(rows)

    def scores_with_item_at(column: int) -> tf.Tensor:
        history = rows[schema.HISTORY].numpy()
        history[:, column] = schema.FIRST_VALUE_ID + 2
        return model.row_logits({**rows, schema.HISTORY: tf.constant(history)})[0]

    np.testing.assert_array_equal(scores_with_item_at(-4), base)              # older than the last 3
    assert float(tf.reduce_max(tf.abs(scores_with_item_at(-1) - base))) > 1e-6  # the most recent
    with pytest.raises(ValueError, match="attention_history"):
        _config("dnn", attention_history=-1)


@pytest.mark.parametrize("model_name", ["tf4ctr", "lafam", "eain"])
def test_history_given_once_per_request_scores_like_a_row_per_candidate(tiny_feature_map, model_name):
    """Training lists and the export's candidates signature pass HISTORY per list with
    HISTORY_OWNER; every model reading the history (pooled, GRU, DIN) must score
    as on rows that each carry their own copy of it."""
    tf.keras.utils.set_random_seed(0)
    model = build_model(_config(model_name), tiny_feature_map)
    per_list = list_rows(_lists(tiny_feature_map, batch=3, width=4), 4)
    np.testing.assert_array_equal(per_list[HISTORY_OWNER], np.repeat(np.arange(3), 4))
    model.row_logits(per_list)
    model.correction.kernel.assign(tf.ones_like(model.correction.kernel))
    model.backbone_weight.assign(1.0)
    expanded = {name: value for name, value in per_list.items() if name != HISTORY_OWNER}
    expanded[schema.HISTORY] = tf.gather(per_list[schema.HISTORY], per_list[HISTORY_OWNER])
    np.testing.assert_allclose(model.row_logits(per_list)[0], model.row_logits(expanded)[0], rtol=1e-5, atol=1e-6)


def test_list_loss_needs_lists(tiny_feature_map):
    with pytest.raises(ValueError, match="list loss"):
        build_model(RankingConfig(model="dnn", loss="softmax"), tiny_feature_map)


def test_sampled_negatives_keep_the_target_and_the_width():
    batch = {schema.LABEL: tf.constant([[0.0, 0.0, 1.0, 0.0, 0.0]]),
             schema.CANDIDATES: tf.constant([[5, 6, 7, 8, 0]], tf.int64),
             schema.RETRIEVAL_RANK: tf.constant([[0.0, 1.0, 2.0, 3.0, 4.0]]),
             schema.HISTORY: tf.zeros([1, 5], tf.int64), schema.USER_ID: tf.constant([3], tf.int64)}
    for seed in range(5):
        out = lists.sample_negatives(batch, 2, seed)
        assert out[schema.CANDIDATES].shape == (1, 3)
        assert 7 in out[schema.CANDIDATES].numpy()[0] and 0 not in out[schema.CANDIDATES].numpy()[0]
        ranks = out[schema.RETRIEVAL_RANK].numpy()[0]
        np.testing.assert_array_equal(ranks, out[schema.CANDIDATES].numpy()[0] - 5)   # fields stay aligned
        assert out[schema.HISTORY].shape == (1, 5)


def test_target_ranks_count_better_candidates_only_in_the_list():
    """In retrieval order (score = -rank) the first list's target has two better
    candidates; the padding slot's better score is not counted, and the second
    list, without a target, is left out."""
    batch = {schema.LABEL: tf.constant([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]),
             schema.CANDIDATES: tf.constant([[5, 6, 7, 0], [5, 6, 7, 8]], tf.int64),
             schema.RETRIEVAL_RANK: tf.constant([[0.0, 2.0, 1.0, -9.0], [0.0, 1.0, 2.0, 3.0]])}
    found = lists.retrieval_order_metrics(tf.data.Dataset.from_tensors(batch))
    assert found["lists"] == 1
    assert found["mrr"] == pytest.approx(1 / 3)                    # rank 2: two better candidates
    assert found["ndcg@10"] == pytest.approx(1 / np.log2(4))


def test_a_list_ranker_records_only_the_metrics_it_computes(tiny_feature_map):
    """Keras' history of a list ranker holds loss, HR@10 and NDCG@10, never the backbone's AUC,
    which no list step updates (it read 0.0 every epoch)."""
    tf.keras.utils.set_random_seed(0)
    model = build_model(_config("tf4ctr"), tiny_feature_map)
    model.compile(optimizer="adam")
    data = tf.data.Dataset.from_tensors(_lists(tiny_feature_map, seed=2))
    history = model.fit(data, validation_data=data, epochs=2, verbose=0).history
    computed = {"loss", "regularization_loss", "total_loss", f"hr_at_{listwise.CUTOFF}",
                f"ndcg_at_{listwise.CUTOFF}"}
    assert set(history) == computed | {f"val_{name}" for name in computed}
    assert all(0.0 <= value <= 1.0 for value in history[f"ndcg_at_{listwise.CUTOFF}"])
