"""Guards serving/export/raw_inputs.py: the in-model lookups and bucketing match funnel.schema."""

import math

import numpy as np
import pytest
import tensorflow as tf

from funnel import schema
from serving.export import raw_inputs


@pytest.fixture()
def vocabulary(tmp_path):
    path = tmp_path / "item_id.txt"
    path.write_text("i7\ni3\ni9\n")
    return raw_inputs.Vocabulary(str(path), "items")


def test_lookup_ids_follow_the_vocabulary_rules(vocabulary):
    ids = vocabulary.ids(tf.constant(["i7", "i9", "nope", ""])).numpy()
    # line 0 -> 2, line 2 -> 4, unknown -> OOV, "" -> OOV for an attribute
    np.testing.assert_array_equal(ids, [2, 4, schema.OOV_ID, schema.OOV_ID])


def test_an_empty_vocabulary_maps_every_value_to_oov_and_survives_a_savedmodel(tmp_path):
    """No users file -> an empty vocab/user_gender.txt; TensorFlow cannot build a table
    from an empty file (OutOfRangeError at export), so it is an OOV-only vocabulary."""
    path = tmp_path / "user_gender.txt"
    path.write_text("")
    vocabulary = raw_inputs.Vocabulary(str(path), "genders")
    values = tf.constant(["F", "", "anything"])
    np.testing.assert_array_equal(vocabulary.ids(values).numpy(), [schema.OOV_ID] * 3)
    np.testing.assert_array_equal(vocabulary.ids(values, empty_id=schema.PADDING_ID).numpy(),
                                  [schema.OOV_ID, schema.PADDING_ID, schema.OOV_ID])
    vocabulary.lookup = tf.function(vocabulary.ids, input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(vocabulary, str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_array_equal(loaded.lookup(values).numpy(), [schema.OOV_ID] * 3)


def test_history_is_compacted_left_padded_and_truncated(vocabulary):
    history = tf.constant([["", "i7", "", "i3"], ["i9", "x", "", ""], ["", "", "", ""]])
    ids = raw_inputs.history_ids(vocabulary, history).numpy()
    assert ids.shape == (3, schema.MAX_SEQUENCE_LENGTH)
    np.testing.assert_array_equal(ids[0, -2:], [2, 3])
    np.testing.assert_array_equal(ids[1, -2:], [4, schema.OOV_ID])  # unknown kept as OOV
    assert not ids[0, :-2].any() and not ids[1, :-2].any() and not ids[2].any()
    long = tf.constant([[f"i{n}" for n in range(40)]])
    kept = raw_inputs.compact_history(tf.range(40, dtype=tf.int64)[None], tf.ones([1, 40], tf.bool))
    np.testing.assert_array_equal(kept.numpy()[0], np.arange(10, 40))  # the last 30, in order
    del long


def test_int_history_maps_negative_to_empty():
    out = raw_inputs.int_history_as_strings(tf.constant([[12, -1, 3]], tf.int64)).numpy()
    assert out.tolist() == [[b"12", b"", b"3"]]


def test_log_square_bucket_matches_schema_at_boundaries():
    values = [-5.0, 0.0, 2.0, 2.0000001, 3.0, math.e ** 2, math.e ** 2 - 1e-9, 1e6, 1e300,
              float("nan"), float("inf")]
    expected = [min(schema.log_square_bucket(v), schema.MAX_NUMERIC_BUCKET) for v in values]
    got = raw_inputs.log_square_bucket(tf.constant(values, tf.float64)).numpy()
    np.testing.assert_array_equal(got, expected)
    assert expected[5] == 4 and expected[6] == 3 and expected[7] == 63  # floor(log(1e6)^2)=190 -> 63


def test_log_square_bucket_matches_schema_everywhere():
    """Every bucket edge, its float64 neighbours and random magnitudes agree exactly."""
    edges = raw_inputs.bucket_thresholds()
    values = [v for edge in edges for v in (np.nextafter(edge, 0), edge, np.nextafter(edge, 1e308))]
    values += list(np.random.default_rng(0).lognormal(2.0, 2.0, size=5_000))
    expected = [min(schema.log_square_bucket(v), schema.MAX_NUMERIC_BUCKET) for v in values]
    got = raw_inputs.log_square_bucket(tf.constant(values, tf.float64)).numpy()
    np.testing.assert_array_equal(got, expected)


def test_history_length_counts_non_padding():
    np.testing.assert_array_equal(
        raw_inputs.history_length(tf.constant([[0, 0, 5], [1, 2, 3]], tf.int64)).numpy(), [1, 3])
