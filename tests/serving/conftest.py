"""Fixtures of the service tests: small numpy stand-ins for an export.

A toy catalog where every quantity can be worked out by hand: item ``i<r>``
sits at row r; the query model returns the embeddings of the last M known
history items as the M interests; the ranking model's probability is a fixed
per-item number. No TensorFlow, so these tests run in milliseconds.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from funnel import schema
from serving.bundle import ModelBundle, RankScores, SampleUser


def brute_force_search(embeddings: np.ndarray):
    def search(queries: np.ndarray, k: int):
        scores = queries @ embeddings.T
        k = min(k, embeddings.shape[0])
        rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return rows, np.take_along_axis(scores, rows, axis=1)
    return search


def toy_bundle(num_items: int = 40, dim: int = 4, interests: int = 2, seed: int = 0,
               version: int = 1, titles: bool = True, rank_delay_s: float = 0.0,
               calls: list | None = None, gate: dict | None = None, order: str = "ranking",
               rank_entered: threading.Event | None = None,
               rank_release: threading.Event | None = None) -> ModelBundle:
    """A bundle whose models are numpy functions.

    * query: interest m = embedding of the m-th most recent known history item
      (zeros when the history is shorter than M).
    * rank: probability of item ``i<r>`` = ``(r + 1) / (num_items + 1)`` (float32, and its
      logit), so the ranking model prefers higher rows whatever retrieval says.
    * ``gate``: the manifest's ``gate`` entry (as ``funnel export`` writes it);
      ``order``: how answers are ordered.
    * ``rank_entered`` / ``rank_release``: rank sets the first and waits for the
      second, so a test knows a batch is inside the model and decides when it ends.
    """
    rng = np.random.default_rng(seed)
    item_ids = np.array([f"i{r}" for r in range(num_items)], dtype=object)
    embeddings = rng.normal(size=(num_items, dim)).astype(np.float32)
    row_of = {item: r for r, item in enumerate(item_ids)}
    recorded = calls if calls is not None else []

    def query(history: np.ndarray) -> np.ndarray:
        recorded.append(("query", history.shape))
        out = np.zeros((history.shape[0], interests, dim), np.float32)
        for b, row in enumerate(history):
            known = [row_of[x] for x in row if x != schema.UNKNOWN_VALUE]
            for m, r in enumerate(reversed(known[-interests:])):
                out[b, m] = embeddings[r]
        return out

    def rank(features, owner):
        recorded.append(("rank", {name: np.shape(v) for name, v in {**features, "owner": owner}.items()}))
        if rank_delay_s:
            threading.Event().wait(rank_delay_s)
        if rank_entered is not None:
            rank_entered.set()
            rank_release.wait(30)
        rows = np.array([row_of[x] for x in features[schema.ITEM_ID]])
        p = (rows + 1) / (num_items + 1)
        return RankScores(p.astype(np.float32), (np.log(p) - np.log1p(-p)).astype(np.float32))

    popular = np.arange(num_items)[::-1].copy()
    counts = np.arange(num_items, 0, -1).astype(np.float64)
    return ModelBundle(
        version=version,
        manifest={"version": version, "schema_fingerprint": schema.fingerprint(),
                  "models": {name: {"version": version} for name in ("query", "ranking", "scann")},
                  "catalog": {"items": num_items, "embedding_dim": dim, "interests": interests,
                              "scoring": "mixture"},
                  **({"gate": gate} if gate is not None else {})},
        item_ids=item_ids,
        item_embeddings=embeddings,
        query=query,
        search=brute_force_search(embeddings),
        rank=rank,
        item_attributes={schema.ITEM_CATEGORY: np.array([f"c{r % 3}" for r in range(num_items)], dtype=object)},
        user_attributes={"u1": {schema.USER_GENDER: "F", schema.USER_AGE: 31.0}},
        popular_rows=popular,
        popularity=counts / counts.sum(),
        titles=np.array([f"Title {r}" for r in range(num_items)], dtype=object) if titles else None,
        history_length=5,
        samples=(SampleUser(label="likes i1..i3", history=("i1", "i2", "i3"), user_id="u1"),
                 SampleUser(label="new user", history=())),
        order=order,
    )


class FakeBackend:
    """A backend over in-memory versions; ``add`` publishes one, ``broken=True``
    makes its load fail like a corrupted export."""

    name = "fake"

    def __init__(self, **bundle_options):
        self._versions: dict[int, object] = {}
        self._options = bundle_options
        self.configured = 0
        self.loads: list[int] = []

    def add(self, version: int, broken: bool = False, **options) -> None:
        self._versions[version] = "broken" if broken else {**self._options, **options}

    def configure(self) -> None:
        self.configured += 1

    def latest_version(self):
        return max(self._versions) if self._versions else None

    def load(self, version: int) -> ModelBundle:
        self.loads.append(version)
        options = self._versions[version]
        if options == "broken":
            raise ValueError(f"version {version}: saved_model.pb is corrupted")
        return toy_bundle(version=version, **options)


@pytest.fixture(scope="session")
def make_bundle():
    """Factory of toy bundles (see :func:`toy_bundle`)."""
    return toy_bundle


@pytest.fixture(scope="session")
def make_backend():
    """Factory of :class:`FakeBackend` (in-memory export versions)."""
    return FakeBackend


class ServerThread:
    """A real uvicorn server on a free port of 127.0.0.1 in a thread (lifespan included).

    The test binds the listening socket to port 0 itself and hands it to
    uvicorn, so the port is known before the server starts and no other
    process can take it in between.
    """

    def __init__(self, app):
        import socket

        import uvicorn

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", loop="asyncio", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       daemon=True)

    def __enter__(self):
        import time
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:  # lifespan startup (model loading) still running
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)
        self.socket.close()


@pytest.fixture(scope="session")
def serve():
    """Context manager factory: ``with serve(app) as server: server.url``."""
    return ServerThread


def load_sibling(name: str):
    """Import a helper module beside this conftest (the suite uses --import-mode=importlib,
    which puts no test folder on sys.path)."""
    import importlib.util
    import sys
    from pathlib import Path

    qualified = f"_serving_tests_{name}"
    if qualified not in sys.modules:
        spec = importlib.util.spec_from_file_location(qualified, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        spec.loader.exec_module(module)
    return sys.modules[qualified]


@pytest.fixture(scope="session")
def tiny_runs_module():
    """The tiny-training helper module (tests/serving/tiny_runs.py), shared by the suite."""
    return load_sibling("tiny_runs")


@pytest.fixture(scope="session")
def tfserving_standin():
    """The TF Serving REST stand-in module (tests/serving/tfserving_standin.py)."""
    return load_sibling("tfserving_standin")


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """A REAL export (version 1) of tiny trained runs (tests/serving/tiny_runs.py):
    60 items, embedding 8, M = 3, one epoch each. Returns ``(export_dir, runs)``;
    built once per session."""
    tiny_runs = load_sibling("tiny_runs")
    from serving.export import build as export_lib

    root = tmp_path_factory.mktemp("service_export")
    runs = tiny_runs.tiny_runs(root / "runs")
    export_dir = root / "export"
    export_lib.export(runs["retrieval"], runs["ranking"], export_dir,
                      export_lib.ExportOptions(data_dir=str(runs["data"]), held_out_queries=50, popular=60,
                                               verify=False))  # test_export.py covers verify
    return export_dir, runs
