"""Guards retrieval/candidate_pipeline.py and retrieval/candidate_job.py: the lists job runs
on the DirectRunner and the DaskRunner with the same lists, writes ``stats.json`` from its one
counts sink, and refuses a run in which a user bucket went missing."""

import json

import numpy as np
import pytest

from funnel import schema, tfrecord
from retrieval.candidate_job import OPTIONS_FILE, build_candidate_lists
from retrieval.candidate_lists import ListOptions
from retrieval.candidate_pipeline import sum_bucket_counts

from tests.retrieval.conftest import tiny_config

OPTIONS = ListOptions(candidates=10, folds=1, positions_per_user=3, missing_target="add", seed=1)


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    """The tiny dataset and a retrieval run trained on it (one epoch)."""
    from retrieval.train import train

    run = tmp_path_factory.mktemp("lists_run") / "run"
    train(tiny_config(weighting="none"), tiny_data, run)
    return tiny_data, run


@pytest.fixture(scope="module")
def direct(trained, tmp_path_factory):
    data, run = trained
    out = tmp_path_factory.mktemp("lists_direct")
    return out, build_candidate_lists(data, run, out, OPTIONS)


def read_lists(out) -> dict[tuple, dict[str, np.ndarray]]:
    """Every list of a ``funnel candidates`` folder by ``(split, user, history, target)``."""
    from tensorflow.core.example import example_pb2

    lists = {}
    for split in schema.SPLITS:
        for path in schema.Layout(out).list_files(split):
            with open(path, "rb") as handle:
                for record in tfrecord.read_records(handle):
                    features = example_pb2.Example.FromString(record).features.feature
                    values = {name: np.array(getattr(f, f.WhichOneof("kind")).value)
                              for name, f in features.items()}
                    key = (split, int(values[schema.USER_ID][0]), tuple(values[schema.HISTORY].tolist()),
                           int(values[schema.TARGET_ITEM][0]))
                    assert key not in lists, f"{key} written twice"
                    lists[key] = values
    return lists


def assert_same_lists(a, b):
    """Candidate ids, their order and labels equal; float features within 1e-4 (batch composition)."""
    assert a.keys() == b.keys()
    for key, values in a.items():
        assert values.keys() == b[key].keys()
        for name, value in values.items():
            if name in schema.CANDIDATE_FEATURES:
                np.testing.assert_allclose(value, b[key][name], atol=1e-4, err_msg=f"{key} {name}")
            else:
                np.testing.assert_array_equal(value, b[key][name], err_msg=f"{key} {name}")


def test_stats_count_the_lists_written(direct):
    out, stats = direct
    lists = read_lists(out)
    assert json.loads(schema.Layout(out).stats.read_text()) == stats
    assert json.loads((out / OPTIONS_FILE).read_text())["candidates"] == OPTIONS.candidates
    assert not [p for p in out.iterdir() if p.name.startswith(".")]        # the counts file is gone
    for split in schema.SPLITS:
        part = stats["splits"][split]
        assert part["written"] == sum(1 for key in lists if key[0] == split) > 0
        assert part["lists"] == part["target_retrieved"] + part["added_target"]
        labels = [values[schema.LABEL] for key, values in lists.items() if key[0] == split]
        assert all(label.sum() == 1.0 for label in labels)
    assert stats["splits"][schema.TEST]["lists"] == 60                   # one per tiny user


def test_runners_write_the_same_lists(trained, direct, tmp_path):
    from distributed import LocalCluster

    data, run = trained
    out, stats = direct
    # Worker processes, as the CLI starts them (see tests/pipelines/test_pipeline.py).
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        dask_stats = build_candidate_lists(data, run, tmp_path / "dask", OPTIONS,
                                           ["--runner=DaskRunner", f"--dask_client_address={cluster.scheduler_address}",
                                            "--dask_npartitions=2"])
    assert dask_stats == stats
    assert_same_lists(read_lists(tmp_path / "dask"), read_lists(out))


def test_counts_sink_refuses_a_missing_or_repeated_bucket():
    one = {"train/lists": 2}
    assert sum_bucket_counts([(1, one), (0, one)], buckets=2) == {"train/lists": 4}
    with pytest.raises(RuntimeError, match="user buckets, got buckets \\[0\\]"):
        sum_bucket_counts([(0, one)], buckets=2)
    with pytest.raises(RuntimeError, match="got buckets \\[0, 1, 1\\]"):
        sum_bucket_counts([(0, one), (1, one), (1, one)], buckets=2)
