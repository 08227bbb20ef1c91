"""Guards serving/metrics.py: with several workers, /metrics sums what every
worker process recorded, whichever worker answers the scrape."""

import os
import subprocess
import sys

import pytest

from serving import server
from serving.metrics import MULTIPROCESS_ENV, ServiceMetrics

WORKER = """
import sys
from serving.metrics import ServiceMetrics
requests, version, action = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
metrics = ServiceMetrics()
for _ in range(requests):
    metrics.observe_request("/v1/recommend", 200, 0.003)
metrics.observe_batch(requests, {"retrieval": 0.001, "ranking": 0.002}, 0)
metrics.set_version(version)
if action == "render":
    sys.stdout.write(metrics.render().decode())
elif action == "exit":
    metrics.retire_process()
"""


def _worker(folder, requests: int, version: str, action: str) -> str:
    env = {**os.environ, MULTIPROCESS_ENV: str(folder)}
    done = subprocess.run([sys.executable, "-c", WORKER, str(requests), version, action], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_workers_metrics_are_summed_in_the_shared_folder(tmp_path):
    _worker(tmp_path, 2, "1", "exit")          # a worker that stopped (its live gauge goes)
    _worker(tmp_path, 3, "2", "keep")          # a worker still running
    text = _worker(tmp_path, 4, "2", "render")  # the one answering the scrape
    assert 'funnel_requests_total{route="/v1/recommend",status="200"} 9.0' in text
    assert "funnel_batch_size_count 3.0" in text
    assert 'funnel_stage_latency_seconds_count{stage="total"} 9.0' in text
    versions = [line for line in text.splitlines() if line.startswith("funnel_loaded_version{")]
    assert len(versions) == 2 and all('version="2"' in line and "pid=" in line for line in versions)


def test_single_process_metrics_need_no_folder(monkeypatch):
    monkeypatch.delenv(MULTIPROCESS_ENV, raising=False)
    metrics = ServiceMetrics()
    metrics.set_version(1)
    metrics.set_version(2)
    text = metrics.render().decode()
    assert 'funnel_loaded_version{version="1"} 0.0' in text
    assert 'funnel_loaded_version{version="2"} 1.0' in text


def test_serve_with_workers_shares_a_fresh_metrics_folder(monkeypatch):
    monkeypatch.setenv(MULTIPROCESS_ENV, "")   # restored (unset) after the test
    folder = server.share_metrics()
    try:
        assert os.environ[MULTIPROCESS_ENV] == folder and os.listdir(folder) == []
    finally:
        os.rmdir(folder)


def test_a_missing_metrics_folder_fails_at_startup_not_at_scrape(monkeypatch, tmp_path):
    monkeypatch.setenv(MULTIPROCESS_ENV, str(tmp_path / "gone"))
    with pytest.raises(ValueError, match="PROMETHEUS_MULTIPROC_DIR=.*gone.*is not a folder"):
        ServiceMetrics()
