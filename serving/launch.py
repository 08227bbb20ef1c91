"""Start ``funnel serve`` as a background process and talk to it (for ``make demo``,
the load benchmark and tests): start, learn its address, wait until ready, ask a
sample recommendation, stop.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import httpx

RUNNING_ON = re.compile(r"Uvicorn running on (http://\S+)")


def start(export_dir: str | Path, port: int = 8000, host: str = "127.0.0.1",
          extra: Sequence[str] = (), log_file: Optional[str | Path] = None) -> subprocess.Popen:
    """``funnel serve --export EXPORT`` in its own process group (stopped by :func:`stop`)."""
    command = [sys.executable, "-m", "funnel.cli", "serve", "--export", str(export_dir),
               "--host", host, "--port", str(port), *extra]
    log = open(log_file, "w") if log_file else subprocess.DEVNULL
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
                            start_new_session=True)


def listening_url(log_file: str | Path, process: subprocess.Popen, timeout: float = 300.0) -> str:
    """The address uvicorn reports in ``log_file`` (``Uvicorn running on http://HOST:PORT``):
    with ``port=0`` the only way to learn which free port the server got."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = RUNNING_ON.search(Path(log_file).read_text(errors="replace"))
        if match:
            return match.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"funnel serve exited with code {process.returncode} before listening")
        time.sleep(0.2)
    raise TimeoutError(f"funnel serve did not report its address in {log_file} after {timeout:.0f} s")


def get_json(url: str, timeout: float = 5.0):
    """The JSON body of ``GET url``; raises ``httpx.HTTPError`` on a refused connection or a 4xx/5xx."""
    response = httpx.get(url, timeout=timeout)
    response.raise_for_status()
    return response.json()


def post_json(url: str, body: dict, timeout: float = 10.0):
    """The JSON answer to ``POST url`` with ``body``; raises ``httpx.HTTPError`` like :func:`get_json`."""
    response = httpx.post(url, json=body, timeout=timeout)
    response.raise_for_status()
    return response.json()


def wait_ready(url: str, process: Optional[subprocess.Popen] = None, timeout: float = 300.0) -> float:
    """Poll ``/readyz`` until the models are loaded and warmed; returns the seconds waited."""
    start_time = time.monotonic()
    while time.monotonic() - start_time < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"funnel serve exited with code {process.returncode} before it was ready")
        try:
            if get_json(url + "/readyz", timeout=2).get("ready"):
                return time.monotonic() - start_time
        except httpx.HTTPError:  # not listening yet, or 503 while the models load
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout:.0f} s")


def sample_recommendation(url: str, k: int = 5) -> tuple[dict, dict]:
    """The first demo user of ``/v1/samples`` and the service's answer for it."""
    user = get_json(url + "/v1/samples")["users"][0]
    body = {"history": user["history"], "k": k}
    if user.get("user_id"):
        body["user_id"] = user["user_id"]
    return user, post_json(url + "/v1/recommend", body)


def stop(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM the server's process group (uvicorn shuts down gracefully), then SIGKILL."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
