"""Tiny REAL trained runs for the export tests: a hand-written dataset, both trainers.

``tiny_runs(root)`` writes a dataset in the pipeline's layout (60 items in 4
categories, 40 users with attributes, retrieval and ranking TFRecords), trains
a retrieval run and a ranking run on it through ``retrieval.train.train`` and
``ranking.train.train`` (embedding 8, one epoch) and returns the three
folders. Results are cached per process, so every test module of one pytest
session shares one training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import funnel  # noqa: F401
from funnel import schema, tfrecord

NUM_CATEGORIES = 4
ITEMS_PER_CATEGORY = 15
NUM_USERS = 40
NEGATIVES = 10
GENDERS = ("F", "M")
OCCUPATIONS = ("writer", "doctor", "artist")
REGIONS = ("north", "south")

_CACHE: dict = {}


def raw_item(index: int) -> str:
    return f"i{index}"


def write_dataset(root: Path, seed: int = 0) -> Path:
    """Write the pipeline's output layout for a tiny clustered catalog under ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    layout = schema.Layout(root)
    num_items = NUM_CATEGORIES * ITEMS_PER_CATEGORY
    item_id = {raw_item(i): schema.FIRST_VALUE_ID + i for i in range(num_items)}
    category_of = [i // ITEMS_PER_CATEGORY for i in range(num_items)]
    users = [{schema.USER_ID: f"u{u}", schema.USER_GENDER: GENDERS[u % 2],
              schema.USER_OCCUPATION: OCCUPATIONS[u % 3], schema.USER_REGION: REGIONS[u % 2],
              schema.USER_AGE: str(18 + u)} for u in range(NUM_USERS)]
    vocab = {
        schema.ITEM_ID: [raw_item(i) for i in range(num_items)],
        schema.ITEM_CATEGORY: [f"c{c}" for c in range(NUM_CATEGORIES)],
        schema.USER_ID: [u[schema.USER_ID] for u in users],
        schema.USER_GENDER: list(GENDERS), schema.USER_OCCUPATION: list(OCCUPATIONS),
        schema.USER_REGION: list(REGIONS),
        schema.HOUR: [str(h) for h in range(24)], schema.WEEKDAY: [str(d) for d in range(7)],
    }
    (root / schema.Layout.VOCAB_DIR).mkdir(exist_ok=True)
    for name, values in vocab.items():
        layout.vocab_file(name).write_text("".join(f"{v}\n" for v in values))
    ids = {name: {v: schema.FIRST_VALUE_ID + i for i, v in enumerate(values)}
           for name, values in vocab.items()}

    retrieval = {split: [] for split in schema.SPLITS}
    ranking = {split: [] for split in schema.SPLITS}
    counts = np.zeros(num_items, dtype=int)
    for u, user in enumerate(users):
        interests = rng.choice(NUM_CATEGORIES, size=2, replace=False)
        sequence = [int(c * ITEMS_PER_CATEGORY + rng.integers(ITEMS_PER_CATEGORY))
                    for c in rng.choice(interests, size=14)]
        unseen = np.setdiff1d(np.arange(num_items), sequence)
        for position in range(1, len(sequence)):
            split = (schema.TEST if position == len(sequence) - 1 else
                     schema.VALIDATION if position == len(sequence) - 2 else schema.TRAIN)
            history = [schema.FIRST_VALUE_ID + i for i in sequence[:position]][-schema.MAX_SEQUENCE_LENGTH:]
            padded = [schema.PADDING_ID] * (schema.MAX_SEQUENCE_LENGTH - len(history)) + history
            target = sequence[position]
            example = {schema.USER_ID: ids[schema.USER_ID][user[schema.USER_ID]],
                       schema.HISTORY: padded, schema.HISTORY_LENGTH: len(history),
                       schema.TARGET_ITEM: schema.FIRST_VALUE_ID + target}
            if split != schema.TRAIN:
                example[schema.NEGATIVES] = [schema.FIRST_VALUE_ID + int(i) for i in
                                             rng.choice(unseen, NEGATIVES, replace=False)]
            else:
                counts[target] += 1
            retrieval[split].append(example)
            for shown, label in ((target, 1.0), (int(rng.integers(num_items)), 0.0)):
                row = {
                    schema.USER_ID: ids[schema.USER_ID][user[schema.USER_ID]],
                    schema.USER_GENDER: ids[schema.USER_GENDER][user[schema.USER_GENDER]],
                    schema.USER_OCCUPATION: ids[schema.USER_OCCUPATION][user[schema.USER_OCCUPATION]],
                    schema.USER_REGION: ids[schema.USER_REGION][user[schema.USER_REGION]],
                    schema.USER_AGE: min(schema.log_square_bucket(float(user[schema.USER_AGE])),
                                         schema.MAX_NUMERIC_BUCKET),
                    schema.ITEM_ID: schema.FIRST_VALUE_ID + shown,
                    schema.ITEM_CATEGORY: schema.FIRST_VALUE_ID + category_of[shown],
                    schema.ITEM_AGE: schema.log_square_bucket(float(shown % 9)),
                    schema.HOUR: schema.FIRST_VALUE_ID + position % 24,
                    schema.WEEKDAY: schema.FIRST_VALUE_ID + position % 7,
                    schema.HISTORY: padded, schema.HISTORY_LENGTH: len(history),
                    schema.LABEL: label,
                }
                ranking[split].append(row)
    for folder, records in ((schema.Layout.RETRIEVAL_DIR, retrieval),
                            (schema.Layout.RANKING_DIR, ranking)):
        (root / folder).mkdir(exist_ok=True)
        for split, rows in records.items():
            tfrecord.write_examples(root / folder / f"{split}-00000-of-00001.tfrecord", rows)

    order = np.argsort(-counts, kind="stable")
    is_head = np.zeros(num_items, dtype=int)
    is_head[order[:schema.head_item_count(num_items)]] = 1
    pd.DataFrame({
        "item_index": [item_id[raw_item(i)] for i in range(num_items)],
        schema.ITEM_ID: [raw_item(i) for i in range(num_items)],
        schema.ITEM_FREQUENCY: counts, schema.IS_HEAD: is_head,
        schema.ITEM_CATEGORY: [f"c{c}" for c in category_of], schema.CLUSTER: category_of,
    }).to_csv(layout.items, index=False)
    table = pd.DataFrame(users)
    table.insert(0, "user_index", [ids[schema.USER_ID][u[schema.USER_ID]] for u in users])
    table.to_csv(layout.users, index=False)
    sizes = {name: len(values) + schema.FIRST_VALUE_ID for name, values in vocab.items()}
    sizes[schema.USER_AGE] = sizes[schema.ITEM_AGE] = schema.MAX_NUMERIC_BUCKET + 1
    layout.feature_map.write_text(schema.FeatureMap(
        schema_version=schema.SCHEMA_VERSION, vocab_sizes=sizes,
        max_sequence_length=schema.MAX_SEQUENCE_LENGTH, eval_negatives=NEGATIVES, min_count=1,
        dataset_format="synthetic", has_clusters=True).to_json())
    layout.stats.write_text(json.dumps({"examples": {k: len(v) for k, v in retrieval.items()}}))
    return root


def tiny_runs(root: Path) -> dict[str, Path]:
    """``{"data", "retrieval", "ranking"}`` folders of tiny trained runs (cached per process)."""
    if "runs" in _CACHE:
        return _CACHE["runs"]
    from ranking.config import RankingConfig
    from ranking.train import train as train_ranking
    from retrieval.config import RetrievalConfig
    from retrieval.train import train as train_retrieval

    data = write_dataset(root / "data")
    retrieval_config = RetrievalConfig(
        num_interests=3, embedding_dim=8, item_hidden=(8, 8), encoder_layers=1, encoder_heads=2,
        epochs=1, batch_size=64, verbose=0, patience=1, use_item_category=True)
    train_retrieval(retrieval_config, data, root / "retrieval_run")
    ranking_config = RankingConfig(model="dnn", embedding_dim=8, hidden_units=(16,), epochs=1,
                                   batch_size=128, patience=1)
    train_ranking(ranking_config, data, root / "ranking_run", verbose=0)
    _CACHE["runs"] = {"data": data, "retrieval": root / "retrieval_run",
                      "ranking": root / "ranking_run"}
    return _CACHE["runs"]


def tiny_list_ranker(root: Path) -> dict[str, Path]:
    """``tiny_runs`` plus retrieval's candidate lists (2 folds, 20 candidates, the Beam job on
    the DirectRunner) and a ranker trained on them: ``{"data", "retrieval", "ranking",
    "candidates"}`` (cached per process)."""
    if "lists" in _CACHE:
        return _CACHE["lists"]
    from ranking.config import RankingConfig
    from ranking.train import train as train_ranking
    from retrieval.candidate_job import build_candidate_lists
    from retrieval.candidate_lists import ListOptions

    runs = tiny_runs(root)
    candidates = root / "candidates"
    build_candidate_lists(runs["data"], runs["retrieval"], candidates,
                          ListOptions(candidates=20, folds=2, positions_per_user=4, seed=1))
    config = RankingConfig(model="dnn", lists=True, embedding_dim=8, hidden_units=(16,), epochs=1,
                           list_batch_size=32, list_negatives=5, patience=1,
                           attention_units=(8,), correction_units=(8,))
    train_ranking(config, runs["data"], root / "list_ranking_run", verbose=0, candidates_dir=candidates)
    _CACHE["lists"] = {**runs, "ranking": root / "list_ranking_run", "candidates": candidates}
    return _CACHE["lists"]
