"""Guards funnel/tfrecord.py: the one Example encoder writes exactly what protobuf and TensorFlow expect."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnel import tfrecord


def _columns(count=50, seed=0):
    rng = np.random.default_rng(seed)
    return {"user_id": rng.integers(0, 5000, count),
            "history": rng.integers(0, 3_000_000, (count, 6)),  # 1- to 4-byte varints
            "big": rng.integers(0, 1 << 62, count),  # up to 9-byte varints
            "empty": np.zeros((count, 0), dtype=np.int64),
            "label": rng.integers(0, 2, count).astype(np.float32)}


def test_bytes_equal_protobuf_deterministic_serialization():
    from tensorflow.core.example import example_pb2

    columns = _columns()
    encoded = tfrecord.ExampleEncoder(["user_id", "history", "big", "empty"], ["label"]).encode(columns)
    for i in (0, 17, 49):
        expected = example_pb2.Example()
        features = expected.features.feature
        features["user_id"].int64_list.value.append(int(columns["user_id"][i]))
        features["big"].int64_list.value.append(int(columns["big"][i]))
        features["history"].int64_list.value.extend(columns["history"][i].tolist())
        features["empty"].int64_list.SetInParent()
        features["label"].float_list.value.append(float(columns["label"][i]))
        assert encoded[i] == expected.SerializeToString(deterministic=True)


def test_records_round_trip_with_valid_crcs_and_tensorflow_reads_them(tmp_path):
    import tensorflow as tf

    columns = _columns(count=20)
    encoder = tfrecord.ExampleEncoder(["user_id", "history"], ["label"])
    content, count = encoder.encode_records(columns)
    assert count == 20
    assert tfrecord.read_records(io.BytesIO(content)) == encoder.encode(columns)
    path = tmp_path / "x.tfrecord"
    path.write_bytes(content)
    spec = {"user_id": tf.io.FixedLenFeature([], tf.int64),
            "history": tf.io.FixedLenFeature([6], tf.int64),
            "label": tf.io.FixedLenFeature([], tf.float32)}
    batch = next(iter(tf.data.TFRecordDataset(str(path)).batch(20).map(
        lambda r: tf.io.parse_example(r, spec))))
    np.testing.assert_array_equal(batch["history"].numpy(), columns["history"])
    np.testing.assert_array_equal(batch["label"].numpy(), columns["label"])


def test_framing_serialized_records_gives_the_encoders_file():
    columns = _columns(count=7)
    encoder = tfrecord.ExampleEncoder(["user_id", "history"], ["label"])
    content, _ = encoder.encode_records(columns)
    assert tfrecord.frame_records(encoder.encode(columns)) == content
    assert tfrecord.frame_records([]) == b""


def test_a_corrupted_record_fails_its_crc():
    content, _ = tfrecord.ExampleEncoder(["user_id"]).encode_records({"user_id": np.arange(3)})
    broken = bytearray(content)
    broken[13] ^= 0xFF  # first byte of the first record's data
    with pytest.raises(ValueError, match="CRC"):
        tfrecord.read_records(io.BytesIO(bytes(broken)))


def test_empty_batch_and_negative_ids():
    encoder = tfrecord.ExampleEncoder(["user_id", "history"])
    assert encoder.encode_records({"user_id": np.zeros(0), "history": np.zeros((0, 3))}) == (b"", 0)
    with pytest.raises(ValueError, match="user_id: negative"):
        encoder.encode({"user_id": np.array([-1]), "history": np.zeros((1, 3))})


def test_varint_lengths_match_the_reference_encoding():
    values = np.array([0, 127, 128, 16383, 16384, (1 << 21) - 1, 1 << 21, (1 << 62) + 5])
    assert tfrecord.varint_lengths(values).tolist() == [len(tfrecord.varint(int(v))) for v in values]


NAMES = st.text(alphabet="abcdefghij_", min_size=1, max_size=12)
INT64 = st.integers(min_value=0, max_value=(1 << 63) - 1)
FLOAT32 = st.floats(width=32, allow_nan=False)


@st.composite
def batches(draw):
    """A batch of 1-4 examples: int64 and float32 features, scalars or lists of 0-5 values."""
    count = draw(st.integers(1, 4))
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    floats = draw(st.sets(st.sampled_from(names)))
    columns = {}
    for name in names:
        width = draw(st.one_of(st.none(), st.integers(0, 5)))  # None: a scalar feature
        values = draw(st.lists(FLOAT32 if name in floats else INT64,
                               min_size=count * (1 if width is None else width),
                               max_size=count * (1 if width is None else width)))
        array = np.array(values, dtype=np.float32 if name in floats else np.int64)
        columns[name] = array if width is None else array.reshape(count, width)
    return [n for n in names if n not in floats], sorted(floats), columns


def _protobuf(columns: dict, floats, row: int) -> bytes:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, column in columns.items():
        values = np.atleast_1d(column[row]).tolist()
        feature = example.features.feature[name]
        values_list = feature.float_list if name in floats else feature.int64_list
        values_list.SetInParent()
        values_list.value.extend(values)
    return example.SerializeToString(deterministic=True)


@settings(max_examples=200, deadline=None)
@given(batches())
def test_random_examples_encode_to_protobufs_deterministic_bytes(batch):
    ints, floats, columns = batch
    encoded = tfrecord.ExampleEncoder(ints, floats).encode(columns)
    count = len(next(iter(columns.values())))
    assert encoded == [_protobuf(columns, floats, row) for row in range(count)]


def test_write_examples_infers_feature_types_and_tensorflow_reads_the_file(tmp_path):
    import tensorflow as tf

    examples = [{"ids": [3, 4, 300], "label": 1.0, "scores": np.array([0.5, -2.0], np.float32), "n": 7},
                {"ids": [5, 6, 7], "label": 0.0, "scores": np.array([1.5, 0.25], np.float32), "n": 0}]
    assert tfrecord.write_examples(tmp_path / "x.tfrecord", examples) == 2
    spec = {"ids": tf.io.FixedLenFeature([3], tf.int64), "label": tf.io.FixedLenFeature([], tf.float32),
            "scores": tf.io.FixedLenFeature([2], tf.float32), "n": tf.io.FixedLenFeature([], tf.int64)}
    parsed = next(iter(tf.data.TFRecordDataset(str(tmp_path / "x.tfrecord")).batch(2).map(
        lambda r: tf.io.parse_example(r, spec))))
    np.testing.assert_array_equal(parsed["ids"].numpy(), [[3, 4, 300], [5, 6, 7]])
    np.testing.assert_array_equal(parsed["scores"].numpy(), [[0.5, -2.0], [1.5, 0.25]])
    np.testing.assert_array_equal(parsed["label"].numpy(), [1.0, 0.0])
    np.testing.assert_array_equal(parsed["n"].numpy(), [7, 0])


def test_examples_naming_different_features_are_refused():
    with pytest.raises(ValueError, match="different features"):
        tfrecord.encode_examples([{"a": 1}, {"b": 2}])
