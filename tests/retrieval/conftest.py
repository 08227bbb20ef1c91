"""A tiny clustered dataset in the pipeline's output layout, written by hand.

Items fall in clusters (their category and ground-truth cluster); users draw
their histories from one or two clusters with power-law popularity inside each
cluster, so head/tail, domains and silhouettes are all meaningful.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import funnel  # noqa: F401
from funnel import schema, tfrecord

NUM_CLUSTERS = 4
ITEMS_PER_CLUSTER = 10
NEGATIVES = 15


def write_tiny_dataset(root: Path, num_users: int = 60, sequence_length: int = 12, seed: int = 0,
                       uniform: bool = False, shuffle_train_targets: bool = False) -> Path:
    """Write feature_map, vocabularies, item/user tables and retrieval TFRecords under ``root``.

    With ``uniform`` every item and cluster is equally popular, so the history's
    clusters are the only signal of the next item (the planted-signal data);
    ``shuffle_train_targets`` permutes the training targets between examples,
    which breaks that link (the control a learned model is compared with).
    """
    rng = np.random.default_rng(seed)
    num_items = NUM_CLUSTERS * ITEMS_PER_CLUSTER
    item_ids = np.arange(num_items) + schema.FIRST_VALUE_ID
    cluster_of = np.repeat(np.arange(NUM_CLUSTERS), ITEMS_PER_CLUSTER)
    popularity = np.ones(ITEMS_PER_CLUSTER) if uniform else 1.0 / np.arange(1, ITEMS_PER_CLUSTER + 1)
    popularity /= popularity.sum()
    cluster_weights = np.full(NUM_CLUSTERS, 1.0 / NUM_CLUSTERS) if uniform else np.array([0.55, 0.25, 0.12, 0.08])
    splits = {split: [] for split in schema.SPLITS}
    examples = {split: [] for split in schema.SPLITS}
    counts = np.zeros(num_items + schema.FIRST_VALUE_ID)
    for user in range(num_users):
        interests = rng.choice(NUM_CLUSTERS, size=rng.integers(1, 3), replace=False, p=cluster_weights)
        clusters = rng.choice(interests, size=sequence_length)
        items = clusters * ITEMS_PER_CLUSTER + rng.choice(ITEMS_PER_CLUSTER, size=sequence_length, p=popularity)
        sequence = item_ids[items]
        unseen = np.setdiff1d(item_ids, sequence)
        for position in range(1, sequence_length):
            split = (schema.TEST if position == sequence_length - 1 else
                     schema.VALIDATION if position == sequence_length - 2 else schema.TRAIN)
            history = sequence[max(0, position - schema.MAX_SEQUENCE_LENGTH):position]
            padded = np.zeros(schema.MAX_SEQUENCE_LENGTH, dtype=np.int64)
            padded[-len(history):] = history
            features = {schema.USER_ID: user + schema.FIRST_VALUE_ID, schema.HISTORY: padded,
                        schema.HISTORY_LENGTH: len(history), schema.TARGET_ITEM: int(sequence[position])}
            if split != schema.TRAIN:
                features[schema.NEGATIVES] = rng.choice(unseen, size=NEGATIVES, replace=len(unseen) < NEGATIVES)
            examples[split].append(features)
    if shuffle_train_targets:
        targets = np.random.default_rng(seed + 1).permutation([f[schema.TARGET_ITEM] for f in examples[schema.TRAIN]])
        for features, target in zip(examples[schema.TRAIN], targets):
            features[schema.TARGET_ITEM] = int(target)
    for split, rows in examples.items():
        for features in rows:
            if split == schema.TRAIN:
                counts[features[schema.TARGET_ITEM]] += 1
            splits[split].append(features)
    layout = schema.Layout(root)
    (root / schema.Layout.RETRIEVAL_DIR).mkdir(parents=True, exist_ok=True)
    for split, examples in splits.items():
        tfrecord.write_examples(root / schema.Layout.RETRIEVAL_DIR / f"{split}-00000-of-00001.tfrecord", examples)
    (root / schema.Layout.VOCAB_DIR).mkdir(exist_ok=True)
    layout.vocab_file(schema.ITEM_ID).write_text("".join(f"i{i}\n" for i in range(num_items)))
    layout.vocab_file(schema.ITEM_CATEGORY).write_text("".join(f"c{c}\n" for c in range(NUM_CLUSTERS)))
    layout.vocab_file(schema.USER_ID).write_text("".join(f"u{u}\n" for u in range(num_users)))
    frequency = counts[item_ids]
    order = np.argsort(-frequency, kind="stable")
    is_head = np.zeros(num_items, dtype=int)
    is_head[order[:schema.head_item_count(num_items)]] = 1
    pd.DataFrame({
        "item_index": item_ids, schema.ITEM_ID: [f"i{i}" for i in range(num_items)],
        schema.ITEM_FREQUENCY: frequency.astype(int), schema.IS_HEAD: is_head,
        schema.ITEM_CATEGORY: [f"c{c}" for c in cluster_of], schema.CLUSTER: cluster_of,
    }).to_csv(layout.items, index=False)
    pd.DataFrame({"user_index": np.arange(num_users) + schema.FIRST_VALUE_ID,
                  schema.USER_ID: [f"u{u}" for u in range(num_users)]}).to_csv(layout.users, index=False)
    feature_map = schema.FeatureMap(
        schema_version=schema.SCHEMA_VERSION,
        vocab_sizes={schema.ITEM_ID: num_items + schema.FIRST_VALUE_ID,
                     schema.ITEM_CATEGORY: NUM_CLUSTERS + schema.FIRST_VALUE_ID,
                     schema.USER_ID: num_users + schema.FIRST_VALUE_ID},
        max_sequence_length=schema.MAX_SEQUENCE_LENGTH, eval_negatives=NEGATIVES, min_count=1,
        dataset_format="synthetic", has_clusters=True)
    layout.feature_map.write_text(feature_map.to_json())
    layout.stats.write_text(json.dumps({"examples": {k: len(v) for k, v in splits.items()}}))
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny_retrieval"))


@pytest.fixture(scope="session")
def planted_data(tmp_path_factory) -> Path:
    """Uniform popularity: only the history's clusters tell the next item (``uniform=True``)."""
    return write_tiny_dataset(tmp_path_factory.mktemp("planted_retrieval"), uniform=True)


def tiny_config(**overrides):
    """A config small enough to train in a second or two."""
    from retrieval.config import RetrievalConfig

    values = dict(embedding_dim=8, item_hidden=(8, 8), encoder_layers=1, encoder_heads=2, epochs=1,
                  batch_size=64, learning_rate=0.003, dropout=0.0, verbose=0, idw_max_rounds=2,
                  idw_wake_epochs=1, idw_calibration_epochs=1, patience=1)
    values.update(overrides)
    return RetrievalConfig(**values)


@pytest.fixture
def make_config():
    """Factory fixture: ``make_config(weighting="idw")`` -> a tiny RetrievalConfig."""
    return tiny_config


TINY_FLAGS = ["--embedding-dim", "8", "--item-hidden", "8,8", "--encoder-layers", "1", "--encoder-heads", "2",
              "--epochs", "1", "--batch-size", "64", "--keras-verbose", "0"]


@pytest.fixture
def tiny_flags() -> list[str]:
    """CLI flags of the tiny config."""
    return list(TINY_FLAGS)
