"""The vectorised Example encoder writes exactly what protobuf and TensorFlow expect."""

from __future__ import annotations

import io

import numpy as np
import pytest

from pipelines import tfrecord


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
