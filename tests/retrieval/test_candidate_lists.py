"""Guards retrieval/folds.py, retrieval/candidates.py and retrieval/candidate_lists.py:
out-of-fold assignment, list labels, missing targets, batches and their counts, and features
shared with the service."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from funnel import schema
from retrieval import candidate_lists as cl
from retrieval.candidates import candidate_features, retrieve
from retrieval.folds import fold_of, write_fold_data
from serving.api import RecommendRequest
from serving.engine import Engine

from tests.serving.conftest import brute_force_search, toy_bundle

L = schema.MAX_SEQUENCE_LENGTH


def test_fold_of_is_deterministic_balanced_and_seeded():
    users = np.arange(10_000)
    folds = fold_of(users, 3, seed=7)
    assert folds.tolist() == fold_of(users, 3, seed=7).tolist()
    assert set(folds.tolist()) == {0, 1, 2}
    assert np.all(np.abs(np.bincount(folds) / len(users) - 1 / 3) < 0.02)
    assert (folds != fold_of(users, 3, seed=8)).mean() > 0.5


def _example(user, history, target):
    return {schema.USER_ID: user, schema.HISTORY: history, schema.HISTORY_LENGTH: 1,
            schema.TARGET_ITEM: target}


def test_fold_data_holds_no_example_of_the_folds_users(tmp_path):
    from funnel import tfrecord

    source = tmp_path / "data"
    (source / schema.Layout.RETRIEVAL_DIR).mkdir(parents=True)
    (source / schema.Layout.FEATURE_MAP).write_text("{}")
    for split in (schema.TRAIN, schema.VALIDATION):
        tfrecord.write_examples(source / schema.Layout.RETRIEVAL_DIR / f"{split}-00000-of-00001.tfrecord",
                                [_example(user, [0] * (L - 1) + [5], 6) for user in range(200)])
    kept = write_fold_data(source, tmp_path / "fold", fold=1, folds=2, seed=3)
    spec = {schema.USER_ID: tf.io.FixedLenFeature([], tf.int64)}
    files = [str(f) for f in schema.Layout(tmp_path / "fold").retrieval_files(schema.TRAIN)]
    users = np.array([tf.io.parse_single_example(r, spec)[schema.USER_ID].numpy()
                      for r in tf.data.TFRecordDataset(files)])
    assert len(users) == kept[schema.TRAIN] > 0
    assert not np.any(fold_of(users, 2, seed=3) == 1)
    assert set(users) == set(np.flatnonzero(fold_of(np.arange(200), 2, seed=3) != 1))


def test_training_lists_come_from_the_model_that_never_saw_the_user():
    options = cl.ListOptions(folds=3, positions_per_user=0, seed=5)
    for user in range(50):
        examples = [{"split": schema.TRAIN, "history": np.array([2, 3]), "target": 4},
                    {"split": schema.VALIDATION, "history": np.array([3, 4]), "target": 5},
                    {"split": schema.TEST, "history": np.array([4, 5]), "target": 6}]
        requests = cl.user_requests(user, examples, options)
        fold = fold_of(np.array([user]), 3, seed=5)[0]
        assert [r["model"] for r in requests if r["split"] == schema.TRAIN] == [fold]
        assert [r["model"] for r in requests if r["split"] != schema.TRAIN] == [cl.MAIN_MODEL] * 2
        assert requests[0]["items"].tolist() == [2, 3, 4, 5, 6]


def test_positions_per_user_samples_that_many_training_positions():
    examples = [{"split": schema.TRAIN, "history": np.array([2, i]), "target": i + 1} for i in range(3, 40)]
    requests = cl.user_requests(9, examples, cl.ListOptions(positions_per_user=5, folds=1))
    assert len(requests) == 5
    again = cl.user_requests(9, examples, cl.ListOptions(positions_per_user=5, folds=1))
    assert [r["target"] for r in requests] == [r["target"] for r in again]


class _Tower:
    """The toy bundle's query model on item ids: interest m = embedding of the m-th latest item."""

    def __init__(self, embeddings, interests):
        self.embeddings, self.interests = embeddings, interests

    def __call__(self, histories, training=False):
        out = np.zeros((len(histories), self.interests, self.embeddings.shape[1]), np.float32)
        for b, row in enumerate(np.asarray(histories)):
            known = [i - schema.FIRST_VALUE_ID for i in row if i >= schema.FIRST_VALUE_ID]
            for m, r in enumerate(reversed(known[-self.interests:])):
                out[b, m] = self.embeddings[r]
        return out


def _retriever(bundle, interests=2):
    embeddings = bundle.item_embeddings
    return cl.Retriever(_Tower(embeddings, interests), embeddings, brute_force_search(embeddings), "mixture")


def _attributes(num_items):
    return cl.ListAttributes(users={}, item_categories=np.full(num_items + 2, 3, np.int64))


def _decode(record, width):
    spec = {name: tf.io.FixedLenFeature(shape, tf.as_dtype(dtype))
            for name, (dtype, shape) in schema.candidate_list_spec(width).items()}
    return {k: v.numpy() for k, v in tf.io.parse_single_example(record, spec).items()}


def _request(history_rows, target_row, items_rows, split=schema.TRAIN):
    history = np.zeros(L, np.int64)
    history[L - len(history_rows):] = np.array(history_rows) + schema.FIRST_VALUE_ID
    return {"split": split, "history": history, "target": target_row + schema.FIRST_VALUE_ID,
            "user": 1, "model": cl.MAIN_MODEL,
            "items": np.array(sorted(set(items_rows) | {target_row} | set(history_rows))) + schema.FIRST_VALUE_ID}


def test_list_labels_target_and_drops_the_users_other_interactions():
    bundle = toy_bundle()
    retriever = _retriever(bundle)
    options = cl.ListOptions(candidates=10, folds=1)
    plain = retrieve(retriever.user_tower(_request([1, 2], 0, [])["history"][None]), bundle.item_embeddings,
                     retriever.search, [np.array([1, 2])], 10)
    ranked = [int(r) for r in plain.rows[0]]
    target, later = ranked[3], ranked[5]
    out = cl.build_lists(retriever, _attributes(40), [_request([1, 2], target, [later])], options)
    records, stats = out.records[schema.TRAIN], out.counts
    assert len(records) == 1 and stats["train/target_retrieved"] == 1
    assert stats["train/dropped_other_interactions"] == 1
    decoded = _decode(records[0], 10)
    ids = decoded[schema.CANDIDATES]
    assert later + schema.FIRST_VALUE_ID not in ids
    assert decoded[schema.LABEL][ids == target + schema.FIRST_VALUE_ID].tolist() == [1.0]
    assert decoded[schema.LABEL].sum() == 1.0
    assert (ids == schema.PADDING_ID).sum() == 1                       # the dropped item leaves padding
    assert decoded[schema.RETRIEVAL_RANK][ids != 0].tolist() == [r for r in range(10) if r != 5]


def test_missing_target_is_dropped_or_added_and_counted():
    bundle = toy_bundle()
    retriever = _retriever(bundle)
    z = retriever.user_tower(_request([1, 2], 0, [])["history"][None])
    found = set(retrieve(z, bundle.item_embeddings, retriever.search, [np.array([1, 2])], 5).rows[0].tolist())
    missing = next(r for r in range(3, 40) if r not in found)
    request = _request([1, 2], missing, [])
    dropped = cl.build_lists(retriever, _attributes(40), [request], cl.ListOptions(candidates=5, folds=1))
    assert dropped.records == {}
    assert dropped.counts == {"train/lists": 1, "train/dropped_target_missing": 1}
    added = cl.build_lists(retriever, _attributes(40), [request],
                           cl.ListOptions(candidates=5, folds=1, missing_target="add"))
    record = added.records[schema.TRAIN][0]
    assert added.counts["train/added_target"] == 1
    decoded = _decode(record, 5)
    assert decoded[schema.CANDIDATES][-1] == missing + schema.FIRST_VALUE_ID
    assert decoded[schema.LABEL].tolist() == [0, 0, 0, 0, 1]
    expected = float(np.dot(z[0, 0], bundle.item_embeddings[missing]))
    assert decoded[schema.INTEREST_SCORE][-1] >= expected - 1e-5


def test_service_and_pipeline_compute_the_same_candidate_features():
    bundle = dataclasses.replace(toy_bundle(), candidate_features=True)
    engine = Engine(bundle)
    history_rows = [4, 9, 17]
    scored, _ = engine.score([RecommendRequest(history=[f"i{r}" for r in history_rows], k=8, candidates=8)])
    served = scored[0]
    out = cl.build_lists(_retriever(bundle), _attributes(40),
                         [_request(history_rows, int(served.rows[0]), [])],
                         cl.ListOptions(candidates=8, folds=1))
    listed = _decode(out.records[schema.TRAIN][0], 8)
    np.testing.assert_array_equal(listed[schema.CANDIDATES] - schema.FIRST_VALUE_ID, served.rows)
    for name in schema.CANDIDATE_FEATURES:
        np.testing.assert_allclose(listed[name], served.features[name], rtol=1e-6, atol=1e-6, err_msg=name)


def test_candidate_features_by_hand():
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    z = np.array([[[2.0, 0.0], [0.0, 1.0]]], np.float32)               # M = 2
    found = retrieve(z, embeddings, brute_force_search(embeddings), [np.array([], np.int64)], 3)
    features = candidate_features(found, embeddings, np.array([1]))
    # logits: item0 (2, 0), item1 (0, 1), item2 (2, 1); eq. 4 puts item0 (1.76) before item2 (1.73)
    mix = lambda a, b: (np.exp(a) * a + np.exp(b) * b) / (np.exp(a) + np.exp(b))
    assert found.rows[0].tolist() == [0, 2, 1]
    np.testing.assert_allclose(features[schema.RETRIEVAL_SCORE][0], [mix(2, 0), mix(2, 1), mix(0, 1)], rtol=1e-6)
    assert features[schema.RETRIEVAL_RANK][0].tolist() == [0, 1, 2]
    assert features[schema.INTEREST][0].tolist() == [0, 0, 1]
    np.testing.assert_allclose(features[schema.INTEREST_SCORE][0], [2, 2, 1])
    np.testing.assert_allclose(features[schema.LAST_ITEM_SIMILARITY][0], [0, 1 / np.sqrt(2), 1], atol=1e-6)
    none = candidate_features(found, embeddings, np.array([-1]))
    assert none[schema.LAST_ITEM_SIMILARITY].tolist() == [[0, 0, 0]]


def test_batches_keep_each_model_apart_and_its_requests_in_order():
    requests = [{"model": model, "n": n} for n, model in enumerate([0, cl.MAIN_MODEL, 0, 0, cl.MAIN_MODEL])]
    got = [(key, [r["n"] for r in batch]) for key, batch in cl.batches(requests, batch_size=2)]
    assert got == [(cl.MAIN_MODEL, [1, 4]), (0, [0, 2]), (0, [3])]


def test_batch_counts_add_up_over_the_batch():
    bundle = toy_bundle()
    requests = [_request([1, 2], target, [], split) for target, split in
                ((0, schema.TRAIN), (3, schema.TRAIN), (5, schema.VALIDATION))]
    out = cl.build_lists(_retriever(bundle), _attributes(40), requests, cl.ListOptions(candidates=10, folds=1))
    counts = out.counts
    assert counts["train/lists"] == 2 and counts["validation/lists"] == 1
    for split in (schema.TRAIN, schema.VALIDATION):
        kept = counts.get(f"{split}/target_retrieved", 0)
        assert kept + counts.get(f"{split}/dropped_target_missing", 0) == counts[f"{split}/lists"]
        assert len(out.records.get(split, [])) == counts.get(f"{split}/written", 0) == kept


def test_list_options_refuse_bad_values():
    with pytest.raises(ValueError, match="missing_target"):
        cl.ListOptions(missing_target="keep")
    with pytest.raises(ValueError, match="candidates"):
        cl.ListOptions(candidates=0)
