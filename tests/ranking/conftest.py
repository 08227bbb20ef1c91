"""A tiny ranking dataset written with ``funnel.tfrecord.write_examples``, and tiny configs."""

from __future__ import annotations

import numpy as np
import pytest

from funnel import schema, tfrecord

SIZES = {
    schema.USER_ID: 32, schema.USER_GENDER: 4, schema.USER_OCCUPATION: 7, schema.USER_REGION: 5,
    schema.USER_AGE: schema.MAX_NUMERIC_BUCKET + 1, schema.ITEM_ID: 42, schema.ITEM_CATEGORY: 6,
    schema.ITEM_AGE: schema.MAX_NUMERIC_BUCKET + 1, schema.HOUR: 26, schema.WEEKDAY: 9,
}
ROWS = {schema.TRAIN: 384, schema.VALIDATION: 128, schema.TEST: 128}


def feature_map() -> schema.FeatureMap:
    return schema.FeatureMap(schema_version=schema.SCHEMA_VERSION, vocab_sizes=dict(SIZES),
                             max_sequence_length=schema.MAX_SEQUENCE_LENGTH,
                             eval_negatives=schema.EVAL_NEGATIVES, min_count=1,
                             dataset_format="synthetic", has_clusters=False)


def make_rows(count: int, rng: np.random.Generator) -> list[dict]:
    """Rows whose click depends on (item category, user gender) and on the history."""
    rows = []
    for _ in range(count):
        user = int(rng.integers(2, SIZES[schema.USER_ID]))
        item = int(rng.integers(2, SIZES[schema.ITEM_ID]))
        gender = 2 + user % 2
        category = 2 + item % 4
        length = int(rng.integers(0, 12))
        history = [0] * (schema.MAX_SEQUENCE_LENGTH - length) + rng.integers(2, SIZES[schema.ITEM_ID],
                                                                             size=length).tolist()
        signal = (category + gender) % 3 == 0 or item in history
        label = float(rng.random() < (0.8 if signal else 0.1))
        rows.append({
            schema.USER_ID: user, schema.USER_GENDER: gender, schema.USER_OCCUPATION: 2 + user % 5,
            schema.USER_REGION: 2 + user % 3, schema.USER_AGE: schema.log_square_bucket(18 + user),
            schema.ITEM_ID: item, schema.ITEM_CATEGORY: category,
            schema.ITEM_AGE: schema.log_square_bucket(item % 20), schema.HOUR: int(rng.integers(2, 26)),
            schema.WEEKDAY: int(rng.integers(2, 9)), schema.HISTORY: history,
            schema.HISTORY_LENGTH: length, schema.LABEL: label,
        })
    return rows


def write_dataset(root, seed: int = 0):
    layout = schema.Layout(root)
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.feature_map.write_text(feature_map().to_json())
    (layout.root / schema.Layout.RANKING_DIR).mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, count in ROWS.items():
        tfrecord.write_examples(layout.root / schema.Layout.RANKING_DIR / f"{split}-00000-of-00001.tfrecord",
                                make_rows(count, rng))
    return layout.root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ranking_data"))


@pytest.fixture(scope="session")
def tiny_feature_map():
    return feature_map()


def tiny_config(**overrides):
    from ranking.config import RankingConfig

    values = dict(embedding_dim=4, hidden_units=(16, 16), simple_hidden_units=(16,), epochs=1,
                  batch_size=128, lafam_deep_units=(16,), lafam_group_units=(8,), gru_units=8,
                  din_units=(8,), cross_layers=2)
    values.update(overrides)
    return RankingConfig(**values)


@pytest.fixture
def make_config():
    """``make_config(**overrides)``: a tiny ``RankingConfig`` (embedding 4, MLP 16-16, 1 epoch)."""
    return tiny_config
