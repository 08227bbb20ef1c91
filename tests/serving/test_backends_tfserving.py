"""Guards serving/backends/tfserving.py on a REAL tiny export served by the
TF Serving REST stand-in: same answers as the embedded backend, versions
pinned in every call, and a version TF Serving does not have is refused."""

import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving import contract
from serving.app import create_app
from serving.backends.tfserving import TFServingBackend
from serving.settings import ServiceSettings

pytestmark = pytest.mark.slow
REQUESTS = [{"history": ["i1", "i5", "i17"], "k": 5, "user_id": "u3"},
            {"history": ["i40", "nope"], "k": 4, "context": {"hour": 3}},
            {"history": [], "k": 2}]


@pytest.fixture(scope="module")
def export_dir(tiny_export, tmp_path_factory):
    target = tmp_path_factory.mktemp("tfserving") / "export"
    shutil.copytree(tiny_export[0], target)
    return target


@pytest.fixture(scope="module")
def standin(export_dir, tfserving_standin, serve):
    fake = tfserving_standin.StandIn(export_dir, [contract.QUERY, contract.RANKING])
    with serve(tfserving_standin.make_app(fake)) as server:
        yield fake, server.url


def _answers(settings, backend=None):
    with TestClient(create_app(settings, backend=backend)) as client:
        return [client.post("/v1/recommend", json=r).json() for r in REQUESTS]


def test_tfserving_backend_answers_like_the_embedded_one(export_dir, standin):
    fake, url = standin
    embedded = _answers(ServiceSettings(export_dir=str(export_dir), reload_interval_s=0))
    remote = _answers(ServiceSettings(export_dir=str(export_dir), reload_interval_s=0,
                                      backend="tfserving", tfserving_url=url, tfserving_timeout_s=60))
    for ours, theirs in zip(remote, embedded):
        assert [i["item_id"] for i in ours["items"]] == [i["item_id"] for i in theirs["items"]]
        np.testing.assert_allclose([i["score"] for i in ours["items"]],
                                   [i["score"] for i in theirs["items"]], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose([i["retrieval_score"] for i in ours["items"]],
                                   [i["retrieval_score"] for i in theirs["items"]], rtol=1e-5, atol=1e-6)
        assert ours["fallback"] == theirs["fallback"] and ours["warnings"] == theirs["warnings"]
    called = {model for model, _ in fake.requests}
    assert called == {contract.QUERY, contract.RANKING}
    model, body = next(r for r in fake.requests if r[0] == contract.RANKING)
    inputs = body["inputs"]
    assert body["signature_name"] == "candidates" and set(inputs) >= {"item_id", "history", "owner"}
    assert len(inputs["item_id"]) == len(inputs["owner"])             # one row per candidate
    assert len(inputs["history"]) == max(inputs["owner"]) + 1          # one row per request


def test_exports_without_the_candidates_signature_rank_row_by_row(export_dir, tfserving_standin, serve,
                                                                   tmp_path):
    """A manifest that lists no ``candidates`` signature (exports made before it)
    gets ``serving_default`` with every candidate's full row, and the same answers."""
    old = tmp_path / "export"
    shutil.copytree(export_dir, old)
    for manifest in [old / contract.MANIFEST, *(old / contract.MANIFEST_DIR).glob("*.json")]:
        document = json.loads(manifest.read_text())
        for info in document["models"].values():
            info.pop("signatures", None)
        manifest.write_text(json.dumps(document))
    fake = tfserving_standin.StandIn(old, [contract.QUERY, contract.RANKING])
    with serve(tfserving_standin.make_app(fake)) as server:
        remote = _answers(ServiceSettings(export_dir=str(old), reload_interval_s=0, backend="tfserving",
                                          tfserving_url=server.url, tfserving_timeout_s=60))
    embedded = _answers(ServiceSettings(export_dir=str(export_dir), reload_interval_s=0))
    for ours, theirs in zip(remote, embedded):
        np.testing.assert_allclose([i["score"] for i in ours["items"]],
                                   [i["score"] for i in theirs["items"]], rtol=1e-5, atol=1e-6)
    bodies = [body for model, body in fake.requests if model == contract.RANKING]
    assert bodies and all(b["signature_name"] == "serving_default" and "owner" not in b["inputs"]
                          for b in bodies)
    assert all(len(b["inputs"]["history"]) == len(b["inputs"]["item_id"]) for b in bodies)


def test_a_version_tf_serving_lacks_is_refused(export_dir, tfserving_standin, serve):
    """Version 2 appears in the export but TF Serving still serves only 1 (its
    models.config not reloaded yet): the swap waits, then refuses 2; 1 keeps serving."""
    pinned = tfserving_standin.StandIn(export_dir, [contract.QUERY, contract.RANKING],
                                       versions={contract.QUERY: ["1"], contract.RANKING: ["1"]})
    with serve(tfserving_standin.make_app(pinned)) as server:
        settings = ServiceSettings(export_dir=str(export_dir), reload_interval_s=0, backend="tfserving",
                                   tfserving_url=server.url, tfserving_timeout_s=60)
        backend = TFServingBackend(settings, wait_for_version_s=1.0)
        with TestClient(create_app(settings, backend=backend)) as client:
            for name in contract.FOLDERS:
                shutil.copytree(export_dir / name / "1", export_dir / name / "2")
            shutil.copy(export_dir / contract.MANIFEST_DIR / "1.json",
                        export_dir / contract.MANIFEST_DIR / "2.json")
            assert client.app.state.service.manager.check() == "refused"
            models = client.get("/v1/models").json()
            assert models["active"]["version"] == "1" and models["refused"][0]["version"] == "2"
            assert "query version 2 not available" in models["refused"][0]["error"]
            assert client.post("/v1/recommend", json=REQUESTS[0]).status_code == 200
