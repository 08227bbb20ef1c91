"""Shared resources handed to routes through ``Depends``."""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Optional, Sequence

from fastapi import Depends, Request

from serving.api import Recommendation, RecommendRequest
from serving.backends import Backend
from serving.batcher import MicroBatcher
from serving.engine import Engine
from serving.metrics import ServiceMetrics
from serving.reload import ReloadManager
from serving.settings import ServiceSettings


class Service:
    """Everything the routes use; built by ``create_app``, started in its lifespan."""

    def __init__(self, settings: ServiceSettings, backend: Backend):
        self.settings = settings
        self.backend = backend
        self.metrics = ServiceMetrics()
        warm_sizes = sorted({1, min(8, settings.max_batch), settings.max_batch})
        self.manager = ReloadManager(
            probe=backend.latest_version,
            load=lambda version: self._load(version, warm_sizes),
            interval_s=settings.reload_interval_s,
            on_change=self._changed,
            retire=lambda engine: engine.bundle.close and engine.bundle.close())
        self.batcher: Optional[MicroBatcher] = None
        self.started_at = time.time()

    def _load(self, version: int, warm_sizes) -> Engine:
        return Engine(self.backend.load(version), warm_batch_sizes=warm_sizes)

    def _changed(self, outcome: str, version: int) -> None:
        self.metrics.reloads.labels(outcome=outcome).inc()
        if outcome == "loaded":
            self.metrics.set_version(version)

    def run_batch(self, requests: Sequence[RecommendRequest]) -> list[Recommendation]:
        """Micro-batcher worker: one engine call for the whole batch, on the version
        active when the batch starts."""
        served = self.manager.current
        answers, timings = served.engine.recommend(requests)
        self.metrics.observe_batch(len(requests), timings, sum(a.fallback for a in answers))
        return answers

    def start(self) -> None:
        self.backend.configure()
        self.manager.load_initial()
        self.batcher = MicroBatcher(self.run_batch, max_batch=self.settings.max_batch,
                                    threads=self.settings.batch_threads, name="model")
        self.manager.start()

    def stop(self) -> None:
        self.manager.stop()
        if self.batcher is not None:
            self.batcher.close()
        self.metrics.retire_process()


async def get_service(request: Request) -> Service:
    """Async on purpose: FastAPI runs a plain ``def`` dependency on its thread pool,
    a thread hop per request for one attribute read."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def is_admin(service: Service, authorization: str | None) -> bool:
    """Whether ``authorization`` is ``Bearer <the admin token>`` (never, without a token configured)."""
    token = service.settings.admin_token
    if not token or authorization is None:
        return False
    return secrets.compare_digest(authorization.encode(), f"Bearer {token}".encode())
