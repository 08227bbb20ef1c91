"""The one ``tf.train.Example`` encoder: vectorised, with TFRecord framing, without TensorFlow.

Every writer of examples uses it: the preprocessing pipeline (millions of
examples of int64 ids, lists of ids and a float label), ``funnel candidates``
(lists of candidates with float features) and the tests' tiny datasets
(:func:`encode_examples`, :func:`write_examples`). This module lays out the
wire format for a whole batch with NumPy (every example's bytes are computed
column by column, no Python loop over examples except one CRC call each), 2-8
times faster than building examples through the protobuf API
(``benchmarks/example_encoding.py``, ``docs/benchmarks.md``), and workers never
import TensorFlow.
``tests/funnel/test_tfrecord.py`` checks the bytes equal protobuf's
deterministic serialization for random examples and that TensorFlow reads the files.

Wire format (protobuf): ``Example{1: Features{1: map<string, Feature>}}``; a map
entry is ``{1: key, 2: Feature}``; ``Feature{2: FloatList{1: packed fixed32},
3: Int64List{1: packed varint}}``; map entries are written in the order of
protobuf's deterministic serialization (:func:`map_key_order`), an empty list
as an empty message. TFRecord: ``uint64 length, uint32
masked_crc32c(length), data, uint32 masked_crc32c(data)``, little-endian.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path
from typing import BinaryIO, Mapping, Sequence

import numpy as np

HEADER_BYTES = 12
FOOTER_BYTES = 4


_VARINT_THRESHOLDS = np.array([1 << shift for shift in range(7, 63, 7)], dtype=np.int64)


def varint_lengths(values: np.ndarray) -> np.ndarray:
    """Bytes of the base-128 varint of each non-negative value (same shape)."""
    values = np.asarray(values, dtype=np.int64)
    lengths = np.ones(values.shape, dtype=np.int64)
    if values.size == 0:
        return lengths
    largest = values.max()
    for threshold in _VARINT_THRESHOLDS[_VARINT_THRESHOLDS <= largest]:
        lengths += values >= threshold
    return lengths


def varint(value: int) -> bytes:
    """Protobuf varint of one non-negative int (headers, tests)."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _scatter_varints(buffer: np.ndarray, positions: np.ndarray, values: np.ndarray,
                     lengths: np.ndarray) -> None:
    """Write ``values`` as varints starting at ``positions`` (all arrays the same shape).

    Byte ``j`` of every value is written at once; only values longer than
    ``j`` bytes take part in step ``j``, so small ids cost one pass.
    """
    positions, values, lengths = positions.ravel(), values.ravel(), lengths.ravel()
    if values.size == 0:
        return
    buffer[positions] = ((values & 0x7F) | ((lengths > 1).astype(np.int64) << 7)).astype(np.uint8)
    index = np.flatnonzero(lengths > 1)
    j = 1
    while index.size:
        chunk = (values[index] >> (7 * j)) & 0x7F
        more = lengths[index] > j + 1
        buffer[positions[index] + j] = (chunk | (more.astype(np.int64) << 7)).astype(np.uint8)
        index = index[more]
        j += 1


def _masked_crcs(data: Sequence) -> np.ndarray:
    import google_crc32c

    crc = np.fromiter((google_crc32c.value(chunk) for chunk in data), dtype=np.uint64,
                      count=len(data))
    return ((((crc >> np.uint64(15)) | (crc << np.uint64(17))) + np.uint64(0xA282EAD8))
            & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def _compare_keys(a: str, b: str) -> int:
    a_bytes, b_bytes = a.encode(), b.encode()
    common = min(len(a_bytes), len(b_bytes))
    if a_bytes[:common] != b_bytes[:common]:
        return -1 if a_bytes[:common] < b_bytes[:common] else 1
    return len(b_bytes) - len(a_bytes)


def map_key_order(names: Sequence[str]) -> list[str]:
    """Feature names in the order protobuf's (upb's) deterministic serialization writes map keys.

    Byte order, except that a key comes before its own prefixes
    (``history_length`` before ``history``): upb sorts by bytes, then by
    length, and writes its buffer back to front. The property test in
    ``tests/funnel/test_tfrecord.py`` holds this against the installed protobuf.
    """
    return sorted(names, key=functools.cmp_to_key(_compare_keys))


class ExampleEncoder:
    """Encodes batches of named int64 / float32 columns as Examples.

    Args:
        int_features: names of int64 features; each column is ``[E]`` or
            ``[E, K]`` of non-negative ints (ids, lengths, buckets).
        float_features: names of float32 features; each column is ``[E]`` or
            ``[E, K]`` (labels, candidate scores).
    """

    def __init__(self, int_features: Sequence[str], float_features: Sequence[str] = ()):
        self.int_features = tuple(int_features)
        self.float_features = tuple(float_features)
        self._order = map_key_order(self.int_features + self.float_features)

    def _segments(self, columns: Mapping[str, np.ndarray], count: int):
        """Per-example byte segments of one Example, in order, and the total length.

        A segment is ``("const", bytes)``, ``("varint", [E])``, ``("packed",
        [E, K] values, [E, K] varint lengths)`` or ``("raw", [E, m] uint8)``.
        """
        segments, features_length = [], np.zeros(count, dtype=np.int64)
        for name in self._order:
            key = name.encode()
            prefix = b"\x0a" + varint(len(key)) + key + b"\x12"
            values = np.asarray(columns[name])
            if name in self.float_features:
                raw = values.astype("<f4")
                raw = raw[:, None] if raw.ndim == 1 else raw  # [E] -> [E, 1]
                packed = 4 * raw.shape[1]
                float_list = b"\x0a" + varint(packed) if packed else b""  # FloatList{1: packed fixed32}
                feature = b"\x12" + varint(len(float_list) + packed) + float_list
                feature_length = len(feature) + packed
                entry_length = len(prefix) + len(varint(feature_length)) + feature_length
                segments += [("const", b"\x0a" + varint(entry_length) + prefix +
                              varint(feature_length) + feature), ("raw", raw.view(np.uint8))]
                features_length += 1 + len(varint(entry_length)) + entry_length
                continue
            matrix = values.astype(np.int64)
            matrix = matrix[:, None] if matrix.ndim == 1 else matrix  # [E] -> [E, 1]
            if matrix.size and matrix.min() < 0:
                raise ValueError(f"feature {name}: negative value {matrix.min()}; ids are >= 0")
            lengths = varint_lengths(matrix)
            packed = lengths.sum(axis=1)
            list_length = (1 + varint_lengths(packed) + packed) if matrix.shape[1] else packed * 0
            feature_length = 1 + varint_lengths(list_length) + list_length
            entry_length = len(prefix) + varint_lengths(feature_length) + feature_length
            segments += [("const", b"\x0a"), ("varint", entry_length), ("const", prefix),
                         ("varint", feature_length), ("const", b"\x1a"), ("varint", list_length)]
            if matrix.shape[1]:
                segments += [("const", b"\x0a"), ("varint", packed), ("packed", matrix, lengths)]
            features_length += 1 + varint_lengths(entry_length) + entry_length
        return [("const", b"\x0a"), ("varint", features_length)] + segments

    def _layout(self, columns: Mapping[str, np.ndarray], header: int, footer: int):
        """Fill a buffer with every example, ``header``/``footer`` bytes reserved around each.

        Returns ``(buffer uint8, record_start [E], data_length [E])``.
        """
        counts = {len(np.asarray(columns[name])) for name in self._order}
        if len(counts) > 1:
            raise ValueError(f"columns have different lengths: "
                             f"{ {name: len(np.asarray(columns[name])) for name in self._order} }")
        count = counts.pop() if counts else 0
        segments = self._segments(columns, count)
        widths = []
        for segment in segments:
            kind = segment[0]
            if kind == "const":
                widths.append(np.full(count, len(segment[1]), dtype=np.int64))
            elif kind == "varint":
                widths.append(varint_lengths(segment[1]))
            elif kind == "packed":
                widths.append(segment[2].sum(axis=1))
            else:
                widths.append(np.full(count, segment[1].shape[1], dtype=np.int64))
        width = np.stack(widths, axis=1) if count else np.zeros((0, len(segments)), np.int64)
        data_length = width.sum(axis=1)
        record_length = data_length + header + footer
        record_start = np.concatenate([[0], np.cumsum(record_length)[:-1]]).astype(np.int64) \
            if count else np.zeros(0, dtype=np.int64)
        start = record_start[:, None] + header + np.concatenate(
            [np.zeros((count, 1), np.int64), np.cumsum(width, axis=1)[:, :-1]], axis=1)
        buffer = np.zeros(int(record_length.sum()), dtype=np.uint8)
        for s, segment in enumerate(segments):
            kind = segment[0]
            if kind == "const":
                constant = np.frombuffer(segment[1], dtype=np.uint8)
                buffer[start[:, s, None] + np.arange(len(constant))] = constant
            elif kind == "varint":
                values = np.asarray(segment[1], dtype=np.int64)
                _scatter_varints(buffer, start[:, s], values, varint_lengths(values))
            elif kind == "packed":
                matrix, lengths = segment[1], segment[2]
                offsets = np.concatenate([np.zeros((count, 1), np.int64),
                                          np.cumsum(lengths, axis=1)[:, :-1]], axis=1)
                _scatter_varints(buffer, start[:, s, None] + offsets, matrix, lengths)
            else:
                raw = segment[1]
                buffer[start[:, s, None] + np.arange(raw.shape[1])] = raw
        return buffer, record_start, data_length

    def encode(self, columns: Mapping[str, np.ndarray]) -> list[bytes]:
        """Serialized Examples, one ``bytes`` each (tests and small batches)."""
        buffer, start, length = self._layout(columns, 0, 0)
        return [buffer[a:a + n].tobytes() for a, n in zip(start.tolist(), length.tolist())]

    def encode_records(self, columns: Mapping[str, np.ndarray]) -> tuple[bytes, int]:
        """The content of a TFRecord file holding every example, and the count."""
        buffer, start, length = self._layout(columns, HEADER_BYTES, FOOTER_BYTES)
        count = len(start)
        if count == 0:
            return b"", 0
        length_bytes = length.astype("<u8").view(np.uint8).reshape(count, 8)
        buffer[start[:, None] + np.arange(8)] = length_bytes
        unique, inverse = np.unique(length, return_inverse=True)
        unique_bytes = unique.astype("<u8").view(np.uint8).reshape(len(unique), 8)
        length_crc = _masked_crcs([row.tobytes() for row in unique_bytes])[inverse.reshape(-1)]
        buffer[start[:, None] + 8 + np.arange(4)] = length_crc.astype("<u4").view(np.uint8).reshape(count, 4)
        frozen = buffer.tobytes()  # google_crc32c reads bytes, not NumPy memory
        data_start = start + HEADER_BYTES
        data_crc = _masked_crcs([frozen[a:a + n] for a, n in zip(data_start.tolist(), length.tolist())])
        buffer[(data_start + length)[:, None] + np.arange(4)] = \
            data_crc.astype("<u4").view(np.uint8).reshape(count, 4)
        return buffer.tobytes(), count


def _masked_crc(data: bytes) -> int:
    return int(_masked_crcs([data])[0])


def frame_records(records: Sequence[bytes]) -> bytes:
    """The content of a TFRecord file holding ``records`` (already serialized), in order."""
    parts = []
    for data in records:
        length = struct.pack("<Q", len(data))
        parts += [length, struct.pack("<I", _masked_crc(length)), data, struct.pack("<I", _masked_crc(data))]
    return b"".join(parts)


def read_records(handle: BinaryIO) -> list[bytes]:
    """Read every record of a TFRecord file, checking both CRCs (tests, tools)."""
    records = []
    while True:
        header = handle.read(HEADER_BYTES)
        if not header:
            return records
        if len(header) != HEADER_BYTES:
            raise ValueError("truncated TFRecord header")
        (length,), (length_crc,) = struct.unpack("<Q", header[:8]), struct.unpack("<I", header[8:])
        if _masked_crc(header[:8]) != length_crc:
            raise ValueError("TFRecord length CRC mismatch")
        data = handle.read(length)
        (data_crc,) = struct.unpack("<I", handle.read(FOOTER_BYTES))
        if _masked_crc(data) != data_crc:
            raise ValueError("TFRecord data CRC mismatch")
        records.append(data)


def encoder_for(example: Mapping[str, object]) -> ExampleEncoder:
    """The encoder of examples shaped like ``example``: float values make float features,
    everything else (ints, bools, an empty list) int64 ones."""
    floats = [name for name, value in example.items()
              if np.asarray(value).dtype.kind == "f" and np.asarray(value).size]
    return ExampleEncoder([name for name in example if name not in floats], floats)


def _columns(examples: Sequence[Mapping[str, object]]) -> dict[str, np.ndarray]:
    names = set(examples[0])
    for example in examples:
        if set(example) != names:
            raise ValueError(f"examples name different features: {sorted(names)} vs {sorted(example)}")
    return {name: np.stack([np.asarray(example[name]) for example in examples]) for name in names}


def encode_examples(examples: Sequence[Mapping[str, object]]) -> list[bytes]:
    """Serialized Examples from ``{name: int, float or list of them}`` dicts, all with
    the same features and list lengths, encoded as one batch."""
    return encoder_for(examples[0]).encode(_columns(examples)) if examples else []


def write_examples(path: str | Path, examples: Sequence[Mapping[str, object]]) -> int:
    """Write ``examples`` (same features and list lengths) as one TFRecord file; returns the count."""
    content, count = encoder_for(examples[0]).encode_records(_columns(examples)) if examples else (b"", 0)
    Path(path).write_bytes(content)
    return count
