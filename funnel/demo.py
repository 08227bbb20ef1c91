"""``make demo``: the whole funnel on a synthetic dataset, one CLI command per stage.

Each step is printed before it runs, so the demo doubles as a worked example of
the commands a user types. It ends with the service running and a sample
recommendation printed; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

READY_TIMEOUT_S = 180


def _installed(module: str) -> bool:
    """Whether a stage's command module is part of this install."""
    return importlib.util.find_spec(module) is not None


def _run(args: list[str]) -> None:
    command = ["funnel", *args]
    print(f"\n$ {shlex.join(command)}", flush=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "funnel.cli", *args], check=True)
    print(f"  ({time.perf_counter() - started:.1f} s)", flush=True)


def _wait_ready(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the service exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"the service was not ready within {READY_TIMEOUT_S} s")


def _sample_request(url: str, data_dir: Path) -> dict:
    raw = data_dir.parent / "raw"
    events = (raw / "events.csv").read_text().splitlines()[1:40]
    history = [line.split(",")[1] for line in events if line.startswith(events[0].split(",")[0] + ",")]
    body = json.dumps({"history": history[-10:], "k": 5}).encode()
    request = urllib.request.Request(f"{url}/v1/recommend", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo", help="folder for everything the demo writes")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-serve", action="store_true", help="stop after the export")
    args = parser.parse_args(argv)
    out = Path(args.out)
    raw, data, runs, export = out / "raw", out / "data", out / "runs", out / "export"

    _run(["generate", "--out", str(raw), "--seed", "7"])
    _run(["preprocess", "--input", str(raw), "--format", "synthetic", "--out", str(data),
          "--seed", "7"])
    if _installed("retrieval.commands"):
        _run(["train", "retrieval", "--data", str(data), "--model", "mur", "--weighting", "idw",
              "--epochs", "3", "--seed", "7", "--out", str(runs / "retrieval")])
        _run(["evaluate", "retrieval", "--run", str(runs / "retrieval"), "--data", str(data)])
    if _installed("ranking.commands"):
        _run(["train", "ranking", "--data", str(data), "--model", "tf4ctr", "--epochs", "2",
              "--seed", "7", "--out", str(runs / "ranking")])
        _run(["evaluate", "ranking", "--run", str(runs / "ranking"), "--data", str(data)])
    if not (_installed("serving.commands") and (runs / "retrieval").exists() and (runs / "ranking").exists()):
        print("\nDemo done: later stages are not installed yet.")
        return 0
    _run(["export", "--retrieval", str(runs / "retrieval"), "--ranking", str(runs / "ranking"),
          "--out", str(export)])
    if args.no_serve or not _installed("serving.service_commands"):
        print(f"\nDemo done: the export is in {export}.")
        return 0

    url = f"http://127.0.0.1:{args.port}"
    command = ["serve", "--export", str(export), "--port", str(args.port)]
    print(f"\n$ {shlex.join(['funnel', *command])}", flush=True)
    server = subprocess.Popen([sys.executable, "-m", "funnel.cli", *command])
    try:
        _wait_ready(url, server)
        answer = _sample_request(url, data)
        print("\nSample recommendation (POST /v1/recommend):")
        print(json.dumps(answer, indent=2)[:3000])
        print(f"\nThe service is running: open {url}/ for the demo page. Ctrl-C stops it.")
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
