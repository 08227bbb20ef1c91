"""Guards funnel/schema.py: the id rules, the TF4CTR numeric rule, the head/tail rule."""

import math

import pytest

from funnel import schema


def test_log_square_bucket_follows_tf4ctr_rule():
    # floor(log(x)^2) for x > 2, else 1 (TF4CTR §4.1).
    assert schema.log_square_bucket(2) == 1
    assert schema.log_square_bucket(0) == 1
    assert schema.log_square_bucket(-5) == 1
    assert schema.log_square_bucket(float("nan")) == 1
    assert schema.log_square_bucket(3) == math.floor(math.log(3) ** 2) == 1
    assert schema.log_square_bucket(25) == 10  # log(25)^2 = 10.36
    assert schema.log_square_bucket(1000) == 47  # log(1000)^2 = 47.7


def test_log_square_bucket_never_returns_the_padding_id():
    # log(2.5)^2 = 0.84 floors to 0 = PADDING_ID; it joins bucket 1 instead.
    assert schema.log_square_bucket(2.5) == 1
    assert min(schema.log_square_bucket(2 + i / 100) for i in range(1, 200)) == 1


def test_head_items_are_the_top_fifth_rounded_up():
    assert schema.head_item_count(1682) == 337
    assert schema.head_item_count(10) == 2
    assert schema.head_item_count(3) == 1
    assert schema.head_item_count(0) == 0


def test_padding_oov_and_first_value_ids_are_distinct_and_ordered():
    assert schema.PADDING_ID == 0 < schema.OOV_ID < schema.FIRST_VALUE_ID


def test_retrieval_spec_adds_negatives_only_for_evaluation_splits():
    assert schema.NEGATIVES not in schema.retrieval_example_spec(schema.TRAIN)
    spec = schema.retrieval_example_spec(schema.TEST, num_negatives=7)
    assert spec[schema.NEGATIVES] == ("int64", (7,))
    assert spec[schema.HISTORY] == ("int64", (schema.MAX_SEQUENCE_LENGTH,))


def test_ranking_spec_has_every_feature_and_a_float_label():
    spec = schema.ranking_example_spec()
    assert {f.name for f in schema.RANKING_FEATURES} <= set(spec)
    assert spec[schema.LABEL] == ("float32", ())


def test_feature_map_round_trips_and_rejects_unknown_keys_and_versions():
    fmap = schema.FeatureMap(schema_version=schema.SCHEMA_VERSION, vocab_sizes={schema.ITEM_ID: 12},
                             max_sequence_length=30, eval_negatives=99, min_count=1,
                             dataset_format="synthetic", has_clusters=True)
    assert schema.FeatureMap.from_json(fmap.to_json()) == fmap
    assert fmap.num_items == 12
    with pytest.raises(ValueError, match="unknown keys"):
        schema.FeatureMap.from_json(fmap.to_json().replace('"min_count"', '"min_cnt"'))
    with pytest.raises(ValueError, match="schema_version"):
        schema.FeatureMap.from_json(fmap.to_json().replace(
            f'"schema_version": {schema.SCHEMA_VERSION}', '"schema_version": 999'))


def test_fingerprint_is_stable_and_changes_with_the_contract(monkeypatch):
    first = schema.fingerprint()
    assert first == schema.fingerprint() and len(first) == 16
    monkeypatch.setattr(schema, "MAX_SEQUENCE_LENGTH", 50)
    assert schema.fingerprint() != first


def test_unknown_feature_lookup_names_the_known_ones():
    with pytest.raises(KeyError, match="user_id"):
        schema.feature("no_such_feature")
