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


PLANTED_CATEGORIES = (2, 3)
"""Item categories clicked with probability 0.9 in the planted-signal data (others 0.1)."""


def make_rows(count: int, rng: np.random.Generator, planted: bool = False) -> list[dict]:
    """Rows whose click depends on (item category, user gender) and on the history; with
    ``planted``, on the item category alone (0.9 in ``PLANTED_CATEGORIES``, else 0.1: a
    signal every model family can learn in a few epochs, best AUC about 0.9)."""
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
        if planted:
            label = float(rng.random() < (0.9 if category in PLANTED_CATEGORIES else 0.1))
        rows.append({
            schema.USER_ID: user, schema.USER_GENDER: gender, schema.USER_OCCUPATION: 2 + user % 5,
            schema.USER_REGION: 2 + user % 3, schema.USER_AGE: schema.log_square_bucket(18 + user),
            schema.ITEM_ID: item, schema.ITEM_CATEGORY: category,
            schema.ITEM_AGE: schema.log_square_bucket(item % 20), schema.HOUR: int(rng.integers(2, 26)),
            schema.WEEKDAY: int(rng.integers(2, 9)), schema.HISTORY: history,
            schema.HISTORY_LENGTH: length, schema.LABEL: label,
        })
    return rows


def write_dataset(root, seed: int = 0, planted: bool = False, shuffle_train_labels: bool = False):
    """The dataset under ``root``; ``shuffle_train_labels`` breaks the link between features and
    training labels (a model trained on it cannot learn the signal: the control)."""
    layout = schema.Layout(root)
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.feature_map.write_text(feature_map().to_json())
    (layout.root / schema.Layout.RANKING_DIR).mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, count in ROWS.items():
        rows = make_rows(count, rng, planted)
        if shuffle_train_labels and split == schema.TRAIN:
            labels = np.random.default_rng(seed + 1).permutation([row[schema.LABEL] for row in rows])
            rows = [{**row, schema.LABEL: float(label)} for row, label in zip(rows, labels)]
        tfrecord.write_examples(layout.root / schema.Layout.RANKING_DIR / f"{split}-00000-of-00001.tfrecord", rows)
    return layout.root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ranking_data"))


@pytest.fixture(scope="session")
def planted_data(tmp_path_factory):
    """The tiny dataset with clicks planted on the item category (``make_rows(planted=True)``)."""
    return write_dataset(tmp_path_factory.mktemp("ranking_planted"), planted=True)


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
