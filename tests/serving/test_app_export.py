"""End to end on a REAL tiny export (trained runs -> `funnel export` -> service):
the embedded backend answers by eq. 4 retrieval and the exported ranking model,
hot reload swaps real versions, a corrupted version is refused, a schema
mismatch stops startup, and the tfserving backend (against the REST stand-in)
answers exactly like the embedded one."""

import datetime
import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from funnel import cli, schema
from retrieval import interests
from serving import contract, signature_runner
from serving.backends.embedded import load_bundle
from serving.app import create_app
from serving.settings import ServiceSettings

pytestmark = pytest.mark.slow
TOKEN = "export-admin-token"


def copy_version(export_dir, source: int, target: int, corrupt: bool = False) -> None:
    """Publish ``target`` as a copy of ``source`` (a new version with the same models);
    ``corrupt`` overwrites its ranking SavedModel with garbage."""
    for name in contract.FOLDERS:
        shutil.copytree(export_dir / name / str(source), export_dir / name / str(target))
    if corrupt:
        (export_dir / contract.RANKING / str(target) / "saved_model.pb").write_bytes(b"\x00garbage")
    manifest = json.loads((export_dir / contract.MANIFEST_DIR / f"{source}.json").read_text())
    manifest["version"] = target
    for info in manifest["models"].values():
        info["version"] = target
    (export_dir / contract.MANIFEST_DIR / f"{target}.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def export_dir(tiny_export):
    return tiny_export[0]


@pytest.fixture(scope="module")
def client(export_dir):
    """In ranking order: the tiny export has no gate, so `--order auto` would answer by retrieval."""
    app = create_app(ServiceSettings(export_dir=str(export_dir), reload_interval_s=0, order="ranking"))
    with TestClient(app) as client:
        yield client


def test_an_export_without_a_gate_is_answered_in_retrieval_order(export_dir, loaded):
    app = create_app(ServiceSettings(export_dir=str(export_dir), reload_interval_s=0))  # --order auto
    with TestClient(app) as client:
        assert client.get("/v1/models").json()["active"]["order"] == "retrieval"
        body = client.post("/v1/recommend", json={"history": [str(x) for x in loaded.item_ids[:3]], "k": 5}).json()
    assert body["order"] == "retrieval"
    retrieval = [item["retrieval_score"] for item in body["items"]]
    assert retrieval == sorted(retrieval, reverse=True)
    scores = [item["score"] for item in body["items"]]  # softmax of the retrieval scores
    assert len(set(scores)) == len(scores) and scores == sorted(scores, reverse=True) and sum(scores) <= 1.0


@pytest.fixture(scope="module")
def loaded(export_dir):
    """The export's bundle as the service loads it by default (``ServiceSettings``' session threads)."""
    defaults = ServiceSettings(export_dir=str(export_dir))
    return load_bundle(export_dir, threads=(defaults.tf_intra_op_threads, defaults.tf_inter_op_threads))


def test_recommendations_come_from_the_export(client, loaded):
    history = [str(x) for x in loaded.item_ids[:4]]
    body = client.post("/v1/recommend", json={"history": history, "k": 5, "user_id": "u1"}).json()
    assert body["model_versions"] == {"query": "1", "ranking": "1", "scann": "1", "features": "1"}
    assert body["warnings"] == [] and body["fallback"] is False
    ids = [item["item_id"] for item in body["items"]]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert not set(ids) & set(history) and set(ids) <= set(loaded.item_ids.tolist())
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)


def test_candidates_match_the_exported_bruteforce_retrieval(client, loaded, export_dir):
    """With every item a candidate, the engine's eq. 4 order equals the export's
    `retrieval` SavedModel (tfrs BruteForce over the full catalog, eq. 4)."""
    import tensorflow as tf

    history = [str(x) for x in loaded.item_ids[10:13]]
    n = len(loaded.item_ids)
    body = client.post("/v1/recommend", json={"history": history, "k": 5, "candidates": n,
                                              "exclude_history": False, "explain": True}).json()
    ours = body["candidates"]
    retrieval = tf.saved_model.load(str(export_dir / contract.RETRIEVAL / "1")).signatures["serving_default"]
    padded = [""] * (schema.MAX_SEQUENCE_LENGTH - len(history)) + history
    out = retrieval(history=tf.constant([padded]), k=tf.constant([10], tf.int32))
    theirs_ids = [x.decode() for x in out["item_ids"].numpy()[0]]
    theirs_scores = out["scores"].numpy()[0]
    assert [c["item_id"] for c in ours[:10]] == theirs_ids
    np.testing.assert_allclose([c["retrieval_score"] for c in ours[:10]], theirs_scores, rtol=1e-4, atol=1e-5)


def test_ranking_scores_are_the_exported_models_probabilities(client, loaded):
    history = [str(x) for x in loaded.item_ids[20:23]]
    body = client.post("/v1/recommend", json={"history": history, "k": 3, "user_id": "u2",
                                              "context": {schema.HOUR: 7, schema.WEEKDAY: 4}}).json()
    profile = loaded.user_attributes["u2"]
    row_of = {item_id: row for row, item_id in enumerate(loaded.item_ids)}
    rows = [row_of[item["item_id"]] for item in body["items"]]
    padded = np.array([[""] * (schema.MAX_SEQUENCE_LENGTH - 3) + history] * 3, dtype=object)
    features = {schema.HISTORY: padded, schema.ITEM_ID: np.asarray(loaded.item_ids)[rows].astype(object),
                schema.ITEM_CATEGORY: loaded.item_attributes[schema.ITEM_CATEGORY][rows],
                schema.ITEM_AGE: np.zeros(3), schema.HOUR: np.array(["7"] * 3, dtype=object),
                schema.WEEKDAY: np.array(["4"] * 3, dtype=object), schema.USER_ID: np.array(["u2"] * 3, dtype=object)}
    for name in schema.USER_ATTRIBUTES:
        value = profile[name]
        features[name] = (np.full(3, float(value)) if schema.feature(name).kind is schema.Kind.NUMERIC
                          else np.array([value] * 3, dtype=object))
    expected = loaded.rank(features, np.arange(3)).probability  # one candidate per request row
    np.testing.assert_allclose([item["score"] for item in body["items"]], expected, rtol=1e-5, atol=1e-6)


def test_unknown_history_falls_back_to_the_exports_popular_items(client, export_dir):
    body = client.post("/v1/recommend", json={"history": ["no-such-item"], "k": 3}).json()
    assert body["fallback"] is True and "'no-such-item'" in body["warnings"][0]
    popular = json.loads((export_dir / contract.FEATURES / "1" / contract.POPULAR_FILE).read_text())
    assert [item["item_id"] for item in body["items"]] == [str(x) for x in popular["item_ids"][:3]]


def test_samples_offer_personas_and_a_new_user(client):
    users = client.get("/v1/samples").json()["users"]
    assert users[0]["label"].startswith("likes ") and len(users[0]["history"]) == 5
    assert users[-1] == {"user_id": None, "label": "new user (empty history)", "history": []}
    body = client.post("/v1/recommend", json={"history": users[0]["history"]}).json()
    assert body["fallback"] is False and len(body["items"]) == 10


def strings(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_models_tell_a_client_what_it_needs_and_no_server_path(client, export_dir):
    active = client.get("/v1/models").json()["active"]
    assert active["version"] == "1" and active["order"] in ("ranking", "retrieval")
    manifest = json.loads((export_dir / contract.MANIFEST).read_text())
    assert active["schema_fingerprint"] == schema.fingerprint()
    assert active["catalog"] == manifest["catalog"] and active["gate"] == manifest.get("gate")
    assert active["manifest"] is None
    assert [text for text in strings(manifest) if text.startswith("/")]  # the manifest holds server paths
    assert not [text for text in strings(active) if text.startswith("/")]  # the answer none
    assert client.get("/readyz").json() == {"ready": True, "version": "1"}


def test_models_show_the_whole_manifest_to_the_admin(export_dir):
    app = create_app(ServiceSettings(export_dir=str(export_dir), reload_interval_s=0, admin_token=TOKEN))
    with TestClient(app) as client:
        assert client.get("/v1/models").json()["active"]["manifest"] is None
        active = client.get("/v1/models", headers={"authorization": f"Bearer {TOKEN}"}).json()["active"]
    assert active["manifest"]["schema"]["fingerprint"] == schema.fingerprint()


def test_new_version_swaps_in_and_a_corrupted_one_is_refused(tiny_export, tmp_path):
    export_dir = tmp_path / "export"
    shutil.copytree(tiny_export[0], export_dir)
    app = create_app(ServiceSettings(export_dir=str(export_dir), reload_interval_s=0, admin_token=TOKEN))
    auth = {"authorization": f"Bearer {TOKEN}"}
    with TestClient(app) as client:
        request = {"history": ["i1", "i2"], "k": 3}
        before = client.post("/v1/recommend", json=request).json()
        copy_version(export_dir, 1, 2)
        assert client.post("/admin/reload", headers=auth).json()["outcome"] == "loaded"
        after = client.post("/v1/recommend", json=request).json()
        assert after["model_versions"]["query"] == "2"
        assert [i["item_id"] for i in after["items"]] == [i["item_id"] for i in before["items"]]
        copy_version(export_dir, 2, 3, corrupt=True)
        assert client.post("/admin/reload", headers=auth).json()["outcome"] == "refused"
        models = client.get("/v1/models").json()
        assert models["active"]["version"] == "2"
        assert models["refused"][0]["version"] == "3"
        assert client.post("/v1/recommend", json=request).json()["model_versions"]["query"] == "2"


def test_schema_mismatch_stops_startup_with_a_clear_message(tiny_export, tmp_path, capsys):
    export_dir = tmp_path / "export"
    shutil.copytree(tiny_export[0], export_dir)
    asset = export_dir / contract.RANKING / "1" / "assets" / contract.SCHEMA_ASSET
    document = json.loads(asset.read_text())
    document["fingerprint"] = "0" * 16
    asset.write_text(json.dumps(document))
    assert cli.main(["serve", "--export", str(export_dir), "--port", "1"]) == 2
    assert "schema fingerprint mismatch" in capsys.readouterr().err
    with pytest.raises(contract.SchemaMismatchError):
        with TestClient(create_app(ServiceSettings(export_dir=str(export_dir), reload_interval_s=0))):
            pass


def test_eq4_merge_agrees_with_the_retrieval_models_formula(loaded):
    """The numpy eq. 4 used per request equals the retrieval package's scores on the export."""
    from retrieval.model import interest_scores

    history = np.array([[""] * 27 + [str(x) for x in loaded.item_ids[:3]]], dtype=object)
    z = loaded.query(history)
    ours = interests.candidate_scores(z, loaded.item_embeddings[None])
    theirs = np.asarray(interest_scores(z, loaded.item_embeddings, loaded.scoring))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_funnel_serve_process_starts_answers_and_stops(export_dir, tmp_path):
    """The real CLI path (`funnel serve` under uvicorn with uvloop), as `make demo` runs it."""
    from serving import launch

    log = tmp_path / "serve.log"
    process = launch.start(export_dir, port=0, log_file=log)  # the server binds a free port itself
    try:
        url = launch.listening_url(log, process, timeout=180)
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        launch.wait_ready(url, process, timeout=180)
        user, answer = launch.sample_recommendation(url, k=3)
        assert len(answer["items"]) == 3 and answer["fallback"] is False
        assert answer["model_versions"]["query"] == "1"
        metrics = launch.get_json(url + "/v1/models")
        assert metrics["backend"] == "embedded"
    finally:
        launch.stop(process)
    assert process.returncode is not None
    assert "Traceback" not in log.read_text()


def test_two_batch_threads_answer_like_one(loaded):
    """The default service runs model batches on two threads at once: the same
    requests must get the same answers as when they run one after another."""
    from concurrent.futures import ThreadPoolExecutor

    from serving.api import RecommendRequest
    from serving.engine import Engine

    engine = Engine(loaded, clock=lambda: datetime.datetime(2024, 1, 1, 12))
    ids = [str(x) for x in loaded.item_ids]
    batches = [[RecommendRequest(history=ids[b + i: b + i + 5], k=5) for i in range(3)]
               for b in range(0, 40, 2)]
    expected = [engine.recommend(batch)[0] for batch in batches]
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda batch: engine.recommend(batch)[0], batches * 3))
    assert got == expected * 3


def test_sessions_without_an_inter_op_pool_answer_as_with_one(export_dir, loaded):
    """``funnel serve --tf-inter-threads 0`` runs the same graphs on the batch thread: same answers."""
    from serving.api import RecommendRequest
    from serving.engine import Engine

    inline = load_bundle(export_dir, threads=(1, signature_runner.INLINE))
    clock = lambda: datetime.datetime(2024, 1, 1, 12)
    engines = [Engine(x, clock=clock) for x in (loaded, inline)]
    ids = [str(x) for x in loaded.item_ids]
    requests = [RecommendRequest(history=ids[b: b + 4], k=5) for b in range(0, 24, 3)]
    expected, _ = engines[0].recommend(requests)
    got, _ = engines[1].recommend(requests)
    assert got == expected and all(len(answer.items) == 5 for answer in got)
    inline.close()
