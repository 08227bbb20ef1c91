"""SASRec (retrieval/sasrec.py, sequence_batches.py, sequence_losses.py): causality, the
sequence rebuild, each loss by hand, the config's defaults, and learning a planted signal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from funnel import schema

L = schema.MAX_SEQUENCE_LENGTH


def tiny_sasrec(num_items: int = 12, **overrides):
    from retrieval.config import RetrievalConfig
    from retrieval.model import ItemStatistics
    from retrieval.sasrec import SasRecModel
    import tensorflow as tf

    tf.random.set_seed(0)
    values = dict(model="sasrec", embedding_dim=8, encoder_layers=2, encoder_heads=2, verbose=0)
    values.update(overrides)
    frequencies = np.r_[0.0, 0.0, np.ones(num_items - schema.FIRST_VALUE_ID)]
    model = SasRecModel(RetrievalConfig(**values), ItemStatistics(frequencies))
    model.build_towers()
    return model


def padded(items) -> np.ndarray:
    row = np.zeros(L, np.int64)
    row[L - len(items):] = items
    return row


def test_a_position_does_not_see_later_items():
    """Changing the last item changes only the last position's state (causal attention)."""
    model = tiny_sasrec()
    before = padded([2, 3, 4, 5, 6])
    after = before.copy()
    after[-1] = 9
    states = model.user_tower.sequence(np.stack([before, after])).numpy()
    np.testing.assert_allclose(states[0, :-1], states[1, :-1], atol=1e-6)
    assert np.abs(states[0, -1] - states[1, -1]).max() > 1e-3
    np.testing.assert_array_equal(states[:, :L - 5], 0.0)                # padding rows stay zero
    np.testing.assert_allclose(model.user_tower(before[None]).numpy()[0, 0], states[0, -1], atol=1e-6)


def test_maximal_sequences_keep_the_longest_prefix_of_each_piece_per_user():
    """(h, t) is dropped when the same user also has history h + [t]; the kept ones train
    every position, the target of position i being item i + 1."""
    from retrieval.sequence_batches import maximal_sequences

    short = lambda items: padded(items)[-4:]                             # L = 4 here
    examples = [  # user, history, target
        (7, [2], 3), (7, [2, 3], 4), (7, [2, 3, 4], 5), (7, [2, 3, 4, 5], 6),   # piece 1 of user 7
        (7, [6], 7), (7, [6, 7], 8),                                           # piece 2 of user 7
        (8, [2], 3),   # user 7 has history [2, 3], but user 8 does not: kept
    ]
    users = np.array([u for u, _, _ in examples])
    histories = np.stack([short(h) for _, h, _ in examples])
    targets = np.array([t for _, _, t in examples])
    inputs, position_targets = maximal_sequences(users, histories, targets)
    np.testing.assert_array_equal(inputs, [[2, 3, 4, 5], [0, 0, 6, 7], [0, 0, 0, 2]])
    np.testing.assert_array_equal(position_targets, [[3, 4, 5, 6], [0, 0, 7, 8], [0, 0, 0, 3]])
    # every training target is trained exactly once
    assert sorted(position_targets[position_targets > 0]) == sorted(targets)


STATES = np.array([[1.0, 0.5], [-0.5, 2.0]], np.float32)                 # [P = 2, D = 2]
TABLE = np.array([[9.0, 9.0], [9.0, 9.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
TARGETS = np.array([2, 4])


def _logsumexp(values):
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def test_full_softmax_matches_a_hand_computed_value_and_ignores_padding_and_oov():
    """Rows 0 and 1 (padding, OOV) have the largest scores but never compete."""
    from retrieval.sequence_losses import full_softmax

    # position 0: scores of items 2, 3, 4 = 1.0, 0.5, 1.5, target 2; position 1: -0.5, 2.0, 1.5, target 4
    expected = [_logsumexp([1.0, 0.5, 1.5]) - 1.0, _logsumexp([-0.5, 2.0, 1.5]) - 1.5]
    got = full_softmax(STATES, TARGETS, TABLE).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_sampled_softmax_matches_a_hand_computed_value_with_the_target_masked_among_negatives():
    from retrieval.sequence_losses import sampled_softmax

    negatives = np.array([3, 4])                   # item 4 is position 1's target: masked there
    expected = [_logsumexp([1.0, 0.5, 1.5]) - 1.0, _logsumexp([1.5, 2.0]) - 1.5]
    got = sampled_softmax(STATES, TARGETS, TABLE, negatives).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_sampled_bce_matches_a_hand_computed_value_with_negatives_per_position():
    from retrieval.sequence_losses import sampled_bce

    def softplus(x):
        return math.log1p(math.exp(x))

    negatives = np.array([[3, 4], [2, 4]])         # position 1 drew its own target 4: masked
    expected = [softplus(-1.0) + softplus(0.5) + softplus(1.5), softplus(-1.5) + softplus(-0.5)]
    got = sampled_bce(STATES, TARGETS, TABLE, negatives).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("loss,shape", [("softmax", (5,)), ("bce", (7, 5))])
def test_sampled_losses_draw_real_items_shared_by_the_batch_or_per_position(loss, shape):
    """Sampled softmax shares S negatives across the batch; BCE draws S per position (S = 1
    is the original SASRec); neither ever draws padding or OOV."""
    import tensorflow as tf

    from retrieval.sequence_losses import sequence_loss

    draw = sequence_loss("sampled", loss).draw
    negatives = draw(5, 12, tf.constant(7)).numpy()
    assert negatives.shape == shape
    many = draw(200, 4, tf.constant(7)).numpy()
    assert set(np.unique(many)) == {2, 3}
    model = tiny_sasrec(negatives="sampled", loss=loss, sampled_negatives=5)
    value = model.compute_loss((tf.constant([padded([2, 3])]), tf.constant([padded([3, 4])]))).numpy()
    assert np.isfinite(value) and value > 0


def test_the_model_loss_averages_the_full_softmax_over_real_positions_only():
    """compute_loss = mean over non-padding positions of the catalog softmax, from the
    model's own states and item table (the padded positions and OOV targets skipped)."""
    import tensorflow as tf

    model = tiny_sasrec()
    histories = np.stack([padded([2, 3, 4]), padded([5, 6])])
    targets = np.stack([padded([3, 4, 7]), padded([1, 8])])          # OOV target 1: skipped
    states = model.user_tower.sequence(histories).numpy()
    table = model.item_tower.table().numpy()
    losses = []
    for b, position in [(0, L - 3), (0, L - 2), (0, L - 1), (1, L - 1)]:
        logits = table[schema.FIRST_VALUE_ID:] @ states[b, position]
        losses.append(_logsumexp(list(logits)) - logits[targets[b, position] - schema.FIRST_VALUE_ID])
    got = model.compute_loss((tf.constant(histories), tf.constant(targets))).numpy()
    np.testing.assert_allclose(got, np.mean(losses), rtol=1e-5)


def test_sasrec_defaults_to_the_full_softmax_and_refuses_in_batch_negatives():
    from retrieval.config import RetrievalConfig
    from retrieval.names import parse_method

    assert RetrievalConfig(model="sasrec").negatives_for_model == "full"
    assert RetrievalConfig(model="sur").negatives_for_model == "in-batch"
    assert RetrievalConfig(model="sasrec").interests == 1
    assert RetrievalConfig(model="sasrec", item_hidden=(4, 4), embedding_dim=8).output_dim == 8
    # SASRec has no item MLP: a run saved under another two-tower default equals a fresh config
    assert RetrievalConfig(model="sasrec", item_hidden=(64,)) == RetrievalConfig(model="sasrec")
    for negatives in ("in-batch", "mixed"):
        with pytest.raises(ValueError, match=r"negatives: model sasrec trains with one of \['full', 'sampled'\]"):
            RetrievalConfig(model="sasrec", negatives=negatives)
    with pytest.raises(ValueError, match="weighting: model sasrec supports only"):
        RetrievalConfig(model="sasrec", weighting="idw")
    assert parse_method("sasrec") == ("sasrec", "none")


def test_every_model_has_a_class_and_every_kind_of_row_a_training_data_reader():
    from retrieval.config import MODEL_TRAIN_ON, MODELS, TRAIN_ON
    from retrieval.run import MODEL_CLASSES
    from retrieval.train import TRAINING_DATA

    assert set(MODEL_CLASSES) == set(MODEL_TRAIN_ON) == set(MODELS)
    assert set(TRAINING_DATA) == set(TRAIN_ON)


HR5_BAR = 0.6
"""As tests/retrieval/test_learns_planted_signal.py: ignoring the history gives HR@5 about 0.31."""


def test_sasrec_learns_the_planted_signal_and_its_run_loads_back(planted_data, tmp_path):
    """Trained (default: full softmax) through retrieval.train on rebuilt sequences, evaluated
    through load_trained: a model that lost its weights on the way scores like chance."""
    from retrieval.config import RetrievalConfig
    from retrieval.evaluate import evaluate_run, model_scorer
    from retrieval.run import load_trained
    from retrieval.train import train

    config = RetrievalConfig(model="sasrec", embedding_dim=16, encoder_layers=1, encoder_heads=1, learning_rate=0.01,
                             batch_size=32, epochs=8, patience=8, verbose=0)
    metrics = train(config, planted_data, tmp_path / "run")
    assert metrics["phases"][0]["loss"][-1] < metrics["phases"][0]["loss"][0]
    assert evaluate_run(tmp_path / "run", planted_data, schema.TEST)["hr@5"] > HR5_BAR
    histories = np.stack([padded([2, 3, 4]), padded([30, 31])])
    first, second = (model_scorer(load_trained(tmp_path / "run")[0])(histories) for _ in range(2))
    np.testing.assert_array_equal(first, second)
