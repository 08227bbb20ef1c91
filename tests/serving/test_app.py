"""Guards serving/app.py, routes and middleware: the API contract, 4xx naming
the field, body limit, readiness, metrics, admin reload gating."""

import json

import pytest
from fastapi.testclient import TestClient

from funnel import schema
from serving import signature_runner
from serving.app import create_app
from serving.settings import ServiceSettings

TOKEN = "s3cret-token"


@pytest.fixture
def backend(make_backend):
    backend = make_backend()
    backend.add(1)
    return backend


@pytest.fixture
def client(backend):
    app = create_app(ServiceSettings(export_dir="unused", reload_interval_s=0), backend=backend)
    with TestClient(app) as client:
        yield client


def test_models_load_in_lifespan_not_at_creation(backend):
    app = create_app(ServiceSettings(export_dir="unused", reload_interval_s=0), backend=backend)
    assert backend.loads == [] and backend.configured == 0
    with TestClient(app) as client:
        assert backend.loads == [1] and backend.configured == 1
        assert client.get("/readyz").json() == {"ready": True, "version": "1"}


def test_recommend_answers_the_contract(client):
    response = client.post("/v1/recommend", json={"history": ["i1", "i2"], "k": 3, "user_id": "u1"})
    assert response.status_code == 200
    body = response.json()
    assert [item["rank"] for item in body["items"]] == [1, 2, 3]
    assert set(body["items"][0]) >= {"item_id", "score", "retrieval_score", "rank"}
    assert body["model_versions"] == {"query": "1", "ranking": "1", "scann": "1"}
    assert body["fallback"] is False and body["warnings"] == [] and body["took_ms"] > 0
    assert not {"i1", "i2"} & {item["item_id"] for item in body["items"]}
    assert "history" not in body and "candidates" not in body     # only with explain


def test_explain_answers_the_history_and_every_candidate(client):
    body = client.post("/v1/recommend", json={"history": ["i1", "zz"], "k": 2, "candidates": 4,
                                              "explain": True}).json()
    assert body["history"] == [{"item_id": "i1", "known": True, "title": "Title 1"},
                               {"item_id": "zz", "known": False, "title": None}]
    assert len(body["candidates"]) == 4 and set(body["candidates"][0]) == {
        "item_id", "retrieval_score", "title", "interest", "score"}
    fallback = client.post("/v1/recommend", json={"history": [], "k": 1, "explain": True}).json()
    assert set(fallback["candidates"][0]) == {"item_id", "retrieval_score", "title"}


def test_batch_answers_each_user_in_order(client):
    response = client.post("/v1/recommend:batch", json={"requests": [
        {"history": ["i5"], "k": 2}, {"history": [], "k": 1}, {"history": ["i5", "zz"], "k": 2}]})
    assert response.status_code == 200
    answers = response.json()["responses"]
    assert [len(a["items"]) for a in answers] == [2, 1, 2]
    assert [a["fallback"] for a in answers] == [False, True, False]
    assert answers[0]["items"] == answers[2]["items"]          # unknown id ignored
    assert "'zz'" in answers[2]["warnings"][0]


@pytest.mark.parametrize("body, field", [
    ({"history": [f"i{i}" for i in range(1001)]}, "history"),
    ({"history": ["i1"], "k": 1001}, "k"),
    ({"history": ["i1"], "candidates": 1001}, "candidates"),
    ({"history": ["i1"], "k": 0}, "k"),
    ({"history": "i1"}, "history"),
    ({"history": [1.5, 2]}, "history.0"),
    ({"history": [True]}, "history.0"),
    ({"history": ["i1"], "k": "10"}, "k"),
    ({"history": ["i1"], "user_id": 7.0}, "user_id"),
    ({"history": ["i1"], "exclude_history": "yes"}, "exclude_history"),
    ({"history": ["i1"], "context": {schema.HOUR: 24}}, f"context.{schema.HOUR}"),
    ({"history": ["i1"], "context": {"weather": "rain"}}, "context.weather"),
    ({"history": ["i1"], "colour": "red"}, "colour"),
    ({"history": [""]}, "history.0"),
])
def test_bad_input_is_a_422_naming_the_field(client, body, field):
    response = client.post("/v1/recommend", json=body)
    assert response.status_code == 422
    assert response.json()["error"].startswith(f"{field}:")


def test_integer_ids_are_read_as_their_decimal_string(client):
    """MovieLens users send numbers: 7 is the id "7", for history and user_id alike,
    and the OpenAPI schema says so; floats and booleans stay refused (above)."""
    as_numbers = client.post("/v1/recommend", json={"history": [7, 12], "user_id": 3, "k": 3})
    as_strings = client.post("/v1/recommend", json={"history": ["7", "12"], "user_id": "3", "k": 3})
    assert as_numbers.status_code == 200, as_numbers.text
    numbers, strings = as_numbers.json(), as_strings.json()
    assert numbers["warnings"] == strings["warnings"] and "'7'" in numbers["warnings"][0]
    assert [i["item_id"] for i in numbers["items"]] == [i["item_id"] for i in strings["items"]]
    spec = client.get("/openapi.json").json()["components"]["schemas"]["RecommendRequest"]
    item = spec["properties"]["history"]["items"]
    assert {branch["type"] for branch in item["anyOf"]} == {"string", "integer"}
    assert "integers read as their decimal string" in spec["properties"]["history"]["description"]


def test_malformed_json_is_a_4xx(client):
    response = client.post("/v1/recommend", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_batch_size_is_limited(client):
    response = client.post("/v1/recommend:batch", json={"requests": [{"history": []}] * 257})
    assert response.status_code == 422 and response.json()["error"].startswith("requests:")


def test_body_over_one_mib_is_refused_before_parsing(client):
    big = json.dumps({"history": ["x" * 200] * 6000}).encode()
    assert len(big) > 1 << 20
    response = client.post("/v1/recommend", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "body" in response.json()["error"]

    def chunks():
        for _ in range(20):
            yield b" " * 60_000                     # streamed, no content-length

    streamed = client.post("/v1/recommend", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_models_lists_the_active_version(client):
    body = client.get("/v1/models").json()
    assert body["ready"] is True and body["backend"] == "fake"
    assert body["active"]["version"] == "1" and body["active"]["manifest"] is None  # no admin token
    assert body["active"]["order"] == "ranking"
    assert body["refused"] == []


def test_models_give_the_whole_manifest_only_for_the_admin_token(backend):
    app = create_app(ServiceSettings(export_dir="unused", reload_interval_s=0, admin_token=TOKEN),
                     backend=backend)
    with TestClient(app) as client:
        for headers in ({}, {"authorization": "Bearer wrong-token"}, {"authorization": TOKEN}):
            assert client.get("/v1/models", headers=headers).json()["active"]["manifest"] is None
        admin = client.get("/v1/models", headers={"authorization": f"Bearer {TOKEN}"}).json()
        assert admin["active"]["manifest"]["version"] == 1


def test_models_say_which_order_answers_follow(make_backend):
    backend = make_backend(order="retrieval")
    backend.add(1)
    app = create_app(ServiceSettings(export_dir="unused", reload_interval_s=0), backend=backend)
    with TestClient(app) as client:
        assert client.get("/v1/models").json()["active"]["order"] == "retrieval"


def test_metrics_count_requests_stages_and_version(client):
    client.post("/v1/recommend", json={"history": ["i1"]})
    client.post("/v1/recommend", json={"history": ["i1"], "k": -1})
    text = client.get("/metrics").text
    assert 'funnel_requests_total{route="/v1/recommend",status="200"} 1.0' in text
    assert 'funnel_errors_total{kind="client",route="/v1/recommend"} 1.0' in text
    for stage in ("retrieval", "ranking", "total"):
        assert f'funnel_stage_latency_seconds_count{{stage="{stage}"}}' in text
    assert 'funnel_loaded_version{version="1"} 1.0' in text


def test_unknown_paths_share_one_metrics_label(client):
    client.get("/no/such/path/1")
    client.get("/no/such/path/2")
    assert 'funnel_requests_total{route="other",status="404"} 2.0' in client.get("/metrics").text


def test_admin_reload_is_absent_without_a_token(client):
    assert client.post("/admin/reload").status_code == 404


def test_admin_reload_requires_the_token(backend):
    app = create_app(ServiceSettings(export_dir="unused", reload_interval_s=0, admin_token=TOKEN),
                     backend=backend)
    with TestClient(app) as client:
        assert client.post("/admin/reload").status_code == 401
        assert client.post("/admin/reload", headers={"authorization": "Bearer wrong-token"}).status_code == 401
        backend.add(2)
        ok = client.post("/admin/reload", headers={"authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["outcome"] == "loaded" and ok.json()["version"] == "2"
        assert client.post("/v1/recommend", json={"history": ["i1"]}).json()["model_versions"]["query"] == "2"


def test_startup_fails_when_the_export_cannot_load(make_backend):
    backend = make_backend()
    backend.add(1, broken=True)
    app = create_app(ServiceSettings(export_dir="unused", reload_interval_s=0), backend=backend)
    with pytest.raises(ValueError, match="corrupted"):
        with TestClient(app):
            pass


def test_samples_and_page_are_served(client):
    samples = client.get("/v1/samples").json()
    assert samples["has_titles"] is True and samples["users"][0]["history"] == ["i1", "i2", "i3"]
    page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="tfserving_url"):
        ServiceSettings(export_dir="x", backend="tfserving")
    with pytest.raises(ValueError, match="max_batch"):
        ServiceSettings(export_dir="x", max_batch=0)
    with pytest.raises(ValueError, match="unknown option"):
        ServiceSettings.from_mapping({"export_dir": "x", "wokers": 2})
    with pytest.raises(ValueError, match="reload_interval_s: must be > 0 with several workers"):
        ServiceSettings(export_dir="x", workers=2, reload_interval_s=0)
    with pytest.raises(ValueError, match=r"tf_inter_op_threads: expected an integer >= 0 \(0: no pool\)"):
        ServiceSettings(export_dir="x", tf_inter_op_threads=-1)


def test_serve_command_hands_its_flags_to_the_server(monkeypatch, tmp_path):
    from funnel import cli
    from serving import backends, server

    monkeypatch.chdir(tmp_path)
    (tmp_path / "EXP" / "manifests").mkdir(parents=True)
    (tmp_path / "EXP" / "manifests" / "1.json").write_text("{}")  # a complete version, by name
    started = []
    monkeypatch.setattr(backends, "make_backend", lambda settings: object())  # no preflight
    monkeypatch.setattr(server, "run", started.append)
    args = cli.build_parser().parse_args(["serve", "--export", "EXP", "--workers", "2", "--backend", "tfserving",
                                          "--tfserving-url", "http://tfs:8501", "--admin-token", TOKEN,
                                          "--max-batch", "8", "--port", "0", "--tf-inter-threads", "0"])
    assert args.handler(args) == 0
    [settings] = started
    assert (settings.export_dir, settings.workers, settings.backend, settings.tfserving_url, settings.admin_token,
            settings.max_batch, settings.port, settings.tf_inter_op_threads
            ) == ("EXP", 2, "tfserving", "http://tfs:8501", TOKEN, 8, 0, signature_runner.INLINE)
    defaults = cli.build_parser().parse_args(["serve", "--export", "EXP"])
    assert (defaults.tf_threads, defaults.tf_inter_threads) == (1, 2)


def test_uvicorn_runs_on_uvloop_and_httptools():
    from serving.server import uvicorn_options

    options = uvicorn_options(ServiceSettings(export_dir="x", port=9000))
    assert (options["loop"], options["http"], options["port"], options["access_log"]) == (
        "uvloop", "httptools", 9000, False)


def test_lone_surrogates_are_a_422_not_an_encoding_crash(client):
    body = b'{"history": ["i1", "\\ud800"]}'
    response = client.post("/v1/recommend", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["error"].startswith("history.1:")
