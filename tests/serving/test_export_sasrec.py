"""A SASRec run goes through `funnel export` unchanged (its user tower is the query model,
its shared item table the candidate model) and the service returns the top-k the trained
model computes directly."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from funnel import schema

pytestmark = pytest.mark.slow
K = 10


@pytest.fixture(scope="module")
def sasrec_export(tiny_runs_module, tmp_path_factory):
    """The tiny dataset and ranking run of tests/serving/tiny_runs.py, a 2-epoch SASRec
    retrieval run on the same data, and their export (version 1)."""
    from retrieval.config import RetrievalConfig
    from retrieval.train import train
    from serving.export import build as export_lib

    root = tmp_path_factory.mktemp("sasrec_export")
    runs = tiny_runs_module.tiny_runs(root / "runs")
    config = RetrievalConfig(model="sasrec", embedding_dim=8, encoder_layers=1, encoder_heads=2,
                             epochs=2, batch_size=32, verbose=0, patience=2, learning_rate=0.01)
    train(config, runs["data"], root / "sasrec_run")
    export_lib.export(root / "sasrec_run", runs["ranking"], root / "export",
                      export_lib.ExportOptions(data_dir=str(runs["data"]), held_out_queries=50,
                                               popular=60, verify=False))
    return root / "export", root / "sasrec_run"


def direct_top_k(run_dir, history: list[str]) -> tuple[list[str], np.ndarray]:
    """Top-K raw item ids and scores by the trained model itself: F_L . M_i over the catalog."""
    from funnel import dataset
    from retrieval.run import load_trained

    model, _ = load_trained(run_dir)
    vocabulary = dataset.read_vocabulary(run_dir / "dataset", schema.ITEM_ID)
    ids = [schema.FIRST_VALUE_ID + vocabulary.index(item) for item in history]
    row = np.zeros((1, schema.MAX_SEQUENCE_LENGTH), np.int64)
    row[0, -len(ids):] = ids
    catalog = np.arange(len(vocabulary), dtype=np.int64) + schema.FIRST_VALUE_ID
    scores = model.user_tower(row).numpy()[0, 0] @ model.item_embeddings(catalog).T
    order = np.argsort(-scores, kind="stable")[:K]
    return [vocabulary[i] for i in order], scores[order]


def test_exported_sasrec_serves_the_models_own_top_k(sasrec_export):
    """The manifest says M = 1, and the service's full-catalog candidates (the engine's
    retrieval, before ranking) come in the order and with the scores of the model."""
    from serving.app import create_app
    from serving.settings import ServiceSettings

    export_dir, run_dir = sasrec_export
    history = ["i3", "i17", "i18", "i40"]
    expected_ids, expected_scores = direct_top_k(run_dir, history)
    app = create_app(ServiceSettings(export_dir=str(export_dir), reload_interval_s=0))
    with TestClient(app) as client:
        assert client.get("/v1/models").json()["active"]["catalog"]["interests"] == 1
        body = client.post("/v1/recommend", json={"history": history, "k": 5, "candidates": 60,
                                                  "exclude_history": False, "explain": True}).json()
    served = body["candidates"][:K]
    assert body["fallback"] is False
    assert [c["item_id"] for c in served] == expected_ids
    np.testing.assert_allclose([c["retrieval_score"] for c in served], expected_scores,
                               rtol=1e-4, atol=1e-5)
