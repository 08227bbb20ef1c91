"""Prometheus metrics of the service.

Each app gets its own registry (tests build many apps in one process). With
several uvicorn workers, ``funnel serve`` points ``PROMETHEUS_MULTIPROC_DIR``
at a fresh folder before the workers start: every worker then writes its
values there and ``/metrics``, whichever worker answers, reports the sum over
all of them (the loaded version per live worker, labelled ``pid``).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06,
                   0.08, 0.12, 0.2, 0.5, 1.0, 2.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Read by ``prometheus_client`` when it is first imported: set it before the workers start."""


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_ENV) or None


class ServiceMetrics:
    """Requests, errors, per-stage latency, micro-batch sizes, loaded version, reloads."""

    def __init__(self):
        folder = multiprocess_dir()
        if folder is not None and not os.path.isdir(folder):
            raise ValueError(f"{MULTIPROCESS_ENV}={folder!r} is not a folder: create it (empty) "
                             "or unset the variable")
        self.registry = CollectorRegistry()
        self.requests = Counter("funnel_requests", "HTTP requests by route and status code",
                                ["route", "status"], registry=self.registry)
        self.errors = Counter("funnel_errors", "Failed requests by route and kind (client, server)",
                              ["route", "kind"], registry=self.registry)
        self.latency = Histogram("funnel_stage_latency_seconds",
                                 "Latency per stage: retrieval and ranking per model batch, total per request",
                                 ["stage"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("funnel_batch_size", "Requests per model batch (micro-batching)",
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.fallbacks = Counter("funnel_fallbacks", "Answers that fell back to the most popular items",
                                 registry=self.registry)
        self.version = Gauge("funnel_loaded_version", "Export version being served (1 = active)",
                             ["version"], registry=self.registry, multiprocess_mode="liveall")
        self.reloads = Counter("funnel_reloads", "Version loads by outcome (loaded, refused)",
                               ["outcome"], registry=self.registry)
        self._active: int | None = None

    def observe_request(self, route: str, status: int, seconds: float | None = None) -> None:
        self.requests.labels(route=route, status=str(status)).inc()
        if status >= 500:
            self.errors.labels(route=route, kind="server").inc()
        elif status >= 400:
            self.errors.labels(route=route, kind="client").inc()
        if seconds is not None:
            self.latency.labels(stage="total").observe(seconds)

    def observe_batch(self, size: int, stage_seconds: dict[str, float], fallbacks: int) -> None:
        self.batch_size.observe(size)
        for stage, seconds in stage_seconds.items():
            if seconds > 0:
                self.latency.labels(stage=stage).observe(seconds)
        if fallbacks:
            self.fallbacks.inc(fallbacks)

    def set_version(self, version: int) -> None:
        """Mark ``version`` active; the previous one reads 0 (a multi-process value cannot be removed)."""
        if self._active is not None and self._active != version:
            self.version.labels(version=str(self._active)).set(0)
        self.version.labels(version=str(version)).set(1)
        self._active = version

    def render(self) -> bytes:
        folder = multiprocess_dir()
        if folder is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=folder)
        return generate_latest(merged)

    @staticmethod
    def retire_process() -> None:
        """Drop this worker's per-process values (its ``liveall`` gauge) when it exits."""
        if multiprocess_dir() is not None:
            multiprocess.mark_process_dead(os.getpid())
