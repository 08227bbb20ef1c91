"""Guards serving/reload.py: new versions swap in, broken ones are refused while
the old keeps serving, in-flight batches finish on the version they started on."""

import gc
import threading
import weakref

import pytest
from fastapi.testclient import TestClient

from serving import reload
from serving.app import create_app
from serving.engine import Engine
from serving.reload import ReloadManager
from serving.settings import ServiceSettings


def _load_from(backend):
    def load(version):
        return Engine(backend.load(version), warm_batch_sizes=(1,))
    return load


def _manager(backend, **options):
    return ReloadManager(probe=backend.latest_version, load=_load_from(backend), **options)


def test_check_swaps_in_a_new_version(make_backend):
    backend = make_backend()
    backend.add(1)
    events = []
    manager = _manager(backend, interval_s=0, on_change=lambda o, v: events.append((o, v)))
    assert manager.load_initial().version == 1
    assert manager.check() == "unchanged"
    backend.add(2)
    assert manager.check() == "loaded"
    assert manager.current.version == 2 and manager.current.warm_ms > 0
    assert events == [("loaded", 1), ("loaded", 2)]


def test_broken_version_is_refused_once_and_old_keeps_serving(make_backend):
    backend = make_backend()
    backend.add(1)
    manager = _manager(backend, interval_s=0)
    manager.load_initial()
    backend.add(2, broken=True)
    assert manager.check() == "refused"
    assert manager.current.version == 1
    assert [r.version for r in manager.refused] == [2] and "corrupted" in manager.refused[0].error
    assert manager.check() == "unchanged"                 # not retried by the watcher
    assert backend.loads == [1, 2]
    backend.add(3)
    assert manager.check() == "loaded" and manager.current.version == 3


def test_failing_warmup_refuses_the_version(make_backend):
    class ColdEngine:
        model_versions = {}

        def warm(self):
            raise RuntimeError("warm-up request failed")

    backend = make_backend()
    backend.add(1)
    cold = {2}
    load = _load_from(backend)
    manager = ReloadManager(probe=backend.latest_version, interval_s=0,
                            load=lambda version: ColdEngine() if version in cold else load(version))
    manager.load_initial()
    backend.add(2)
    assert manager.check() == "refused" and manager.current.version == 1
    assert "warm-up request failed" in manager.refused[0].error
    cold.clear()                                          # the export is fixed
    assert manager.check(retry_refused=True) == "loaded" and manager.current.version == 2


def test_initial_load_without_versions_fails(make_backend):
    with pytest.raises(FileNotFoundError, match="no model version"):
        _manager(make_backend(), interval_s=0).load_initial()


def test_watcher_thread_picks_up_a_new_version(make_backend):
    backend = make_backend()
    backend.add(1)
    loaded = threading.Event()
    manager = _manager(backend, interval_s=0.05,
                       on_change=lambda outcome, version: version == 2 and loaded.set())
    manager.load_initial()
    manager.start()
    try:
        backend.add(2)
        assert loaded.wait(10), "the watcher did not load version 2"
        assert manager.current.version == 2
    finally:
        manager.stop()


def test_in_flight_requests_finish_on_the_old_version(make_backend):
    ranking, release = threading.Event(), threading.Event()
    release.set()                                         # warm-up ranks freely
    backend = make_backend()
    backend.add(1, rank_entered=ranking, rank_release=release)
    app = create_app(ServiceSettings(export_dir="unused", reload_interval_s=0), backend=backend)
    with TestClient(app) as client:
        service = app.state.service
        result = {}

        def slow_request():
            result["body"] = client.post("/v1/recommend", json={"history": ["i1"]}).json()

        thread = threading.Thread(target=slow_request)
        ranking.clear()                                   # warm-up ranked already
        release.clear()                                   # the next batch waits inside rank()
        thread.start()
        assert ranking.wait(10), "the request never reached rank()"
        backend.add(2)                                  # swapped in while the batch is inside rank()
        assert service.manager.check() == "loaded"
        release.set()
        thread.join(10)
        assert result["body"]["model_versions"]["query"] == "1"
        after = client.post("/v1/recommend", json={"history": ["i1"]}).json()
        assert after["model_versions"]["query"] == "2"


def test_refused_version_is_visible_in_models(make_backend):
    backend = make_backend()
    backend.add(1)
    app = create_app(ServiceSettings(export_dir="unused", reload_interval_s=0), backend=backend)
    with TestClient(app) as client:
        backend.add(2, broken=True)
        app.state.service.manager.check()
        body = client.get("/v1/models").json()
        assert body["active"]["version"] == "1"
        assert body["refused"][0]["version"] == "2" and "corrupted" in body["refused"][0]["error"]
        assert client.post("/v1/recommend", json={"history": ["i1"]}).status_code == 200
        metrics = client.get("/metrics").text
        assert 'funnel_reloads_total{outcome="refused"} 1.0' in metrics
        assert 'funnel_loaded_version{version="1"} 1.0' in metrics


def test_loaded_versions_are_frozen_and_a_retired_one_is_closed_and_collected(make_backend, monkeypatch):
    """Full collections must not walk a served version (they stalled answers for
    50-290 ms), and a swapped-out version must still be closed and freed."""
    monkeypatch.setattr(reload, "RETIRE_AFTER_S", 0.05)
    backend = make_backend()
    backend.add(1)
    closed = []
    manager = _manager(backend, interval_s=0, retire=lambda engine: closed.append(engine.bundle.version))
    gc.unfreeze()
    try:
        manager.load_initial()
        assert gc.get_freeze_count() > 0
        old = weakref.ref(manager.current.engine)
        collected = threading.Event()
        weakref.finalize(manager.current.engine, collected.set)
        backend.add(2)
        assert manager.check() == "loaded"
        assert collected.wait(10), "the retired version was not collected"
        assert closed == [1] and old() is None
    finally:
        gc.unfreeze()
