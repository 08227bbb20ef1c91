"""Guards funnel/dataset.py: what funnel.tfrecord writes, the readers parse back."""

import numpy as np
import pytest

from funnel import dataset, schema, tfrecord


def _write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    tfrecord.write_examples(path, records)


def _retrieval_record(user, target, negatives=None):
    history = [0] * (schema.MAX_SEQUENCE_LENGTH - 2) + [2, 3]
    record = {schema.USER_ID: user, schema.HISTORY: history, schema.HISTORY_LENGTH: 2,
              schema.TARGET_ITEM: target}
    if negatives is not None:
        record[schema.NEGATIVES] = negatives
    return record


def test_retrieval_examples_round_trip_with_negatives(tmp_path):
    layout = schema.Layout(tmp_path)
    _write(layout.root / layout.RETRIEVAL_DIR / "test-00000-of-00001.tfrecord",
           [_retrieval_record(2, 4, [5, 6, 7]), _retrieval_record(3, 5, [2, 4, 6])])
    arrays = dataset.load_arrays(dataset.retrieval_dataset(tmp_path, schema.TEST, batch_size=1,
                                                           num_negatives=3))
    np.testing.assert_array_equal(arrays[schema.TARGET_ITEM], [4, 5])
    np.testing.assert_array_equal(arrays[schema.NEGATIVES], [[5, 6, 7], [2, 4, 6]])
    assert arrays[schema.HISTORY].shape == (2, schema.MAX_SEQUENCE_LENGTH)
    assert arrays[schema.HISTORY][0, -1] == 3


def test_ranking_examples_round_trip_with_float_labels(tmp_path):
    record = {f.name: ([0] * schema.MAX_SEQUENCE_LENGTH if f.kind is schema.Kind.SEQUENCE else 2)
              for f in schema.RANKING_FEATURES}
    record[schema.HISTORY_LENGTH] = 0
    record[schema.LABEL] = 1.0
    layout = schema.Layout(tmp_path)
    _write(layout.root / layout.RANKING_DIR / "train-00000-of-00001.tfrecord", [record])
    arrays = dataset.load_arrays(dataset.ranking_dataset(tmp_path, schema.TRAIN))
    assert arrays[schema.LABEL].dtype == np.float32 and arrays[schema.LABEL][0] == 1.0
    assert arrays[schema.ITEM_CATEGORY][0] == 2


def test_missing_split_files_raise_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="funnel preprocess"):
        dataset.ranking_dataset(tmp_path, schema.TRAIN)


def test_item_frequencies_and_head_mask_are_indexed_by_item_id(tmp_path):
    layout = schema.Layout(tmp_path)
    fmap = schema.FeatureMap(schema_version=schema.SCHEMA_VERSION, vocab_sizes={schema.ITEM_ID: 5},
                             max_sequence_length=30, eval_negatives=99, min_count=1,
                             dataset_format="synthetic", has_clusters=False)
    layout.feature_map.write_text(fmap.to_json())
    layout.items.write_text(
        f"item_index,{schema.ITEM_ID},{schema.ITEM_FREQUENCY},{schema.IS_HEAD},{schema.ITEM_CATEGORY}\n"
        "2,i9,10,1,c1\n3,i7,4,0,c2\n4,i8,1,0,c2\n")
    np.testing.assert_array_equal(dataset.item_frequencies(tmp_path), [0, 0, 10, 4, 1])
    np.testing.assert_array_equal(dataset.head_items(tmp_path), [False, False, True, False, False])
    assert dataset.item_table(tmp_path).loc[3, schema.ITEM_ID] == "i7"


def test_batches_by_length_keep_every_example_and_cut_only_common_padding(tmp_path):
    rng = np.random.default_rng(0)
    records = []
    for user, length in enumerate(rng.integers(1, schema.MAX_SEQUENCE_LENGTH + 1, size=60)):
        history = [0] * (schema.MAX_SEQUENCE_LENGTH - length) + list(rng.integers(2, 50, size=length))
        records.append({schema.USER_ID: user + 2, schema.HISTORY: history, schema.HISTORY_LENGTH: int(length),
                        schema.TARGET_ITEM: int(rng.integers(2, 50))})
    layout = schema.Layout(tmp_path)
    _write(layout.root / layout.RETRIEVAL_DIR / "train-00000-of-00001.tfrecord", records)
    batches = list(dataset.retrieval_dataset(tmp_path, schema.TRAIN, batch_size=8, shuffle=True, seed=1,
                                             num_negatives=0, by_length=True).as_numpy_iterator())
    seen = {}
    for batch in batches:
        history = batch[schema.HISTORY]
        lengths = (history != schema.PADDING_ID).sum(axis=1)
        assert history.shape[1] == lengths.max()                      # cut to the batch's longest
        for user, row in zip(batch[schema.USER_ID], history):
            seen[int(user)] = [int(v) for v in row[row != schema.PADDING_ID]]
    assert len(batches) > 60 // 8                                     # buckets leave part-filled batches
    assert seen == {r[schema.USER_ID]: [v for v in r[schema.HISTORY] if v] for r in records}
    widths = {batch[schema.HISTORY].shape[1] for batch in batches}
    assert min(widths) < schema.MAX_SEQUENCE_LENGTH                   # some batches are short
