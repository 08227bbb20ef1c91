"""Guards retrieval/towers.py: shapes, padding masks, parametric attention (IDW §3.1)."""

import numpy as np
import pytest
import tensorflow as tf

import funnel  # noqa: F401
from funnel import schema
from retrieval.towers import ItemTower, ParametricAttention, UserTower


def test_parametric_attention_matches_hand_softmax_and_ignores_padding():
    layer = ParametricAttention(num_queries=1)
    hidden = tf.constant([[[9.0, 9.0], [1.0, 0.0], [0.0, 2.0]]])  # position 0 is padding
    mask = tf.constant([[False, True, True]])
    layer.build(hidden.shape)
    layer.queries.assign([[1.0, 1.0]])
    # logits over real positions: q.h = 1 and 2 -> softmax weights e/(e+e^2), e^2/(e+e^2)
    w1, w2 = np.exp(1) / (np.exp(1) + np.exp(2)), np.exp(2) / (np.exp(1) + np.exp(2))
    expected = w1 * np.array([1.0, 0.0]) + w2 * np.array([0.0, 2.0])
    np.testing.assert_allclose(layer(hidden, mask).numpy()[0, 0], expected, rtol=1e-6)


def test_user_tower_shape_and_padding_row_has_no_effect():
    tf.keras.utils.set_random_seed(1)
    tower = UserTower(num_items=12, embedding_dim=8, output_dim=8, num_interests=3,
                      encoder_layers=2, encoder_heads=2)
    history = np.zeros((2, schema.MAX_SEQUENCE_LENGTH), dtype=np.int64)
    history[0, -3:] = [4, 5, 6]
    history[1, -1:] = [7]
    before = tower(history).numpy()
    assert before.shape == (2, 3, 8) and before.dtype == np.float32
    table = tower.item_embedding.embeddings
    table.assign(tf.tensor_scatter_nd_update(table, [[schema.PADDING_ID]], [tf.fill([8], 50.0)]))
    np.testing.assert_allclose(tower(history).numpy(), before, rtol=1e-5, atol=1e-5)


def test_user_tower_gives_the_same_interests_without_columns_no_row_fills():
    """The service passes only the columns some history fills (``serving.engine.filled_columns``);
    positions count from the right, so the interests must not change."""
    tf.keras.utils.set_random_seed(2)
    tower = UserTower(num_items=12, embedding_dim=8, output_dim=8, num_interests=3,
                      encoder_layers=2, encoder_heads=2)
    history = np.zeros((2, schema.MAX_SEQUENCE_LENGTH), dtype=np.int64)
    history[0, -4:] = [4, 5, 6, 9]
    history[1, -2:] = [7, 3]
    np.testing.assert_allclose(tower(history[:, -4:]).numpy(), tower(history).numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(tower(history[:, -3:]).numpy()[0], tower(history).numpy()[0], atol=1e-3)


def test_user_tower_projects_when_sizes_differ():
    tower = UserTower(num_items=12, embedding_dim=8, output_dim=4, num_interests=5)
    assert tower(np.ones((3, schema.MAX_SEQUENCE_LENGTH), np.int64)).shape == (3, 5, 4)


def test_item_tower_normalise_and_category_inside_the_tower():
    categories = np.array([1, 1, 2, 2, 3])
    tower = ItemTower(num_items=5, embedding_dim=4, hidden=(6, 3), item_categories=categories,
                      num_categories=4)
    ids = np.array([2, 3, 4])
    out = tower(ids).numpy()
    assert out.shape == (3, 3)
    tower.normalize = True
    np.testing.assert_allclose(np.linalg.norm(tower(ids).numpy(), axis=1), 1.0, rtol=1e-5)
    # two items with identical id embeddings differ only through their category
    table = tower.item_embedding.embeddings
    table.assign(tf.tensor_scatter_nd_update(table, [[2], [3]], [table[0], table[0]]))
    a, b, c = tower(np.array([1, 2, 3])).numpy()  # categories 1, 2, 2
    np.testing.assert_allclose(b, c, rtol=1e-6)
    assert not np.allclose(a, b)


@pytest.mark.parametrize("recency", ["none", "last-state"])
def test_user_tower_gives_the_same_interests_when_common_left_padding_is_cut(recency):
    tf.keras.utils.set_random_seed(0)
    tower = UserTower(num_items=20, embedding_dim=8, output_dim=4, num_interests=3, encoder_layers=2,
                      encoder_heads=2, recency=recency)
    history = np.zeros((2, schema.MAX_SEQUENCE_LENGTH), np.int64)
    history[0, -3:], history[1, -5:] = [4, 5, 6], [7, 8, 9, 10, 11]
    full = tower(tf.constant(history)).numpy()
    cut = tower(tf.constant(history[:, -5:])).numpy()
    np.testing.assert_allclose(cut, full, rtol=1e-5, atol=1e-6)


def _causal_tower(seed: int) -> UserTower:
    tf.keras.utils.set_random_seed(seed)
    return UserTower(num_items=12, embedding_dim=8, output_dim=8, num_interests=3, encoder_layers=2,
                     encoder_heads=2, recency="last-state", causal=True)


def test_a_causal_tower_prefix_row_does_not_see_later_items():
    tower = _causal_tower(3)
    history = np.zeros((1, schema.MAX_SEQUENCE_LENGTH), dtype=np.int64)
    history[0, -4:] = [4, 5, 6, 9]
    changed = history.copy()
    changed[0, -2:] = [10, 11]
    before, after = tower.every_prefix(history).numpy(), tower.every_prefix(changed).numpy()
    np.testing.assert_allclose(after[0, -4:-2], before[0, -4:-2], rtol=1e-5, atol=1e-6)
    assert not np.allclose(after[0, -1], before[0, -1], atol=1e-3)


def test_the_last_prefix_row_is_the_tower_output():
    """Training scores every row, serving calls the tower: on the whole history they agree."""
    tower = _causal_tower(4)
    history = np.zeros((2, schema.MAX_SEQUENCE_LENGTH), dtype=np.int64)
    history[0, -5:] = [4, 5, 6, 9, 2]
    history[1, -2:] = [7, 3]
    rows = tower.every_prefix(history).numpy()
    assert rows.shape == (2, schema.MAX_SEQUENCE_LENGTH, 3, 8)
    np.testing.assert_allclose(rows[:, -1], tower(history).numpy(), rtol=1e-5, atol=1e-6)
