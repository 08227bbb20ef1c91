"""Load and latency of the recommend service on 127.0.0.1.

Starts ``funnel serve`` on an export (or drives a running ``--url``), then for
each concurrency (default 1, 8, 32) runs a closed loop of keep-alive HTTP/1.1
connections for ``--seconds`` each against ``/v1/recommend``, and the same
against an empty endpoint (``benchmarks/floor_app.py``: the same uvicorn
setup and worker count on the next port; or ``--floor-path PATH`` of the
service itself, e.g. ``/healthz``) as the HTTP floor. Reports
requests/s, p50 and p99 latency, errors, and the ratio to the floor; writes a
markdown table with ``--markdown``.

Two clients (``--client``), both keep-alive with one connection per concurrent
user, rotating through the same pre-generated request bodies:

- ``wrk`` (the default when it is installed, ``apt-get install wrk``): one
  thread (``-t1``), a Lua script that sends the bodies and prints the counts,
  errors and p50/p99 in ``done()``; a 2 s run per level warms up unrecorded.
- ``python``: a minimal asyncio HTTP/1.1 client (pre-encoded requests) so it
  costs the server's 2 cores as little as possible; every loop stops by
  itself at its deadline, the first 2 s are not recorded.

Non-2xx answers count as errors.

    python benchmarks/serve_load.py --export EXPORT --seconds 20 --markdown out.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shlex
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from funnel import schema  # noqa: E402
from serving import launch  # noqa: E402

WARMUP_S = 2.0


class Connection:
    """One keep-alive HTTP/1.1 connection; ``call`` sends a pre-encoded request."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def call(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self):
        if self.writer is not None:
            self.writer.close()


def encode(host: str, port: int, path: str, body: bytes | None) -> bytes:
    if body is None:
        return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _user(host, port, requests, deadline, record_from, latencies, errors):
    connection = Connection(host, port)
    await connection.open()
    i = random.randrange(len(requests))
    try:
        while (now := time.perf_counter()) < deadline:
            try:
                status = await connection.call(requests[i % len(requests)])
            except (OSError, asyncio.IncompleteReadError) as error:
                errors.append(repr(error))
                connection.close()
                await connection.open()
                continue
            done = time.perf_counter()
            if now >= record_from:
                latencies.append(done - now)
                if status != 200:
                    errors.append(status)
            i += 1
    finally:
        connection.close()


async def run_level(host: str, port: int, requests: list[bytes], concurrency: int, seconds: float) -> dict:
    """``concurrency`` closed-loop users for ``WARMUP_S + seconds``; the warm-up is not recorded."""
    start = time.perf_counter()
    record_from, deadline = start + WARMUP_S, start + WARMUP_S + seconds
    latencies: list[float] = []
    errors: list = []
    await asyncio.gather(*(_user(host, port, requests, deadline, record_from, latencies, errors)
                           for _ in range(concurrency)))
    latencies.sort()
    count = len(latencies)
    pick = lambda q: latencies[min(count - 1, int(q * count))] * 1000 if count else float("nan")
    return {"concurrency": concurrency, "requests": count, "rps": count / seconds,
            "p50_ms": pick(0.50), "p99_ms": pick(0.99), "errors": len(errors)}


def python_level(url: str, path: str, bodies: list[bytes] | None, concurrency: int, seconds: float) -> dict:
    """One level with the asyncio client: POST each of ``bodies`` in turn, or GET ``path``."""
    host, port = url.split("//", 1)[1].split(":")
    port = int(port)
    requests = [encode(host, port, path, b) for b in bodies] if bodies else [encode(host, port, path, None)]
    return asyncio.run(run_level(host, port, requests, concurrency, seconds))


WRK_SCRIPT = string.Template("""\
-- Written by benchmarks/serve_load.py: rotate through the request bodies, report in done().
local method, path = $method, $path
local bodies = {$bodies}
local prepared, turn = {}, 0

function init(args)
  if #bodies == 0 then
    prepared[1] = wrk.format(method, path)
  else
    for i, body in ipairs(bodies) do
      prepared[i] = wrk.format(method, path, {["Content-Type"] = "application/json"}, body)
    end
  end
end

function request()
  turn = turn % #prepared + 1
  return prepared[turn]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("$marker requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
""")
WRK_MARKER = "funnel-wrk"
WRK_ERRORS = ("connect", "read", "write", "status", "timeout")
WRK_TIMEOUT = "10s"


def lua_string(data: bytes) -> str:
    """A Lua 5.1 string literal of ``data``: printable ASCII as is, every other byte as ``\\ddd``."""
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\{b:03d}" for b in data) + '"'


def wrk_script(path: str, bodies: list[bytes] | None) -> str:
    """The Lua script for one endpoint: POST of ``bodies`` in turn, or a plain GET without bodies."""
    return WRK_SCRIPT.substitute(method=lua_string(b"POST" if bodies else b"GET"), path=lua_string(path.encode()),
                                 bodies=",\n".join(lua_string(b) for b in bodies or []), marker=WRK_MARKER)


def parse_wrk(output: str, concurrency: int) -> dict:
    """The result row from the ``done()`` line of the script (wrk reports microseconds)."""
    match = re.search(rf"^{WRK_MARKER} (.*)$", output, re.MULTILINE)
    if match is None:
        raise ValueError(f"wrk output: no '{WRK_MARKER}' line from the Lua done() reporter in:\n{output}")
    fields = {key: int(float(value)) for key, value in (pair.split("=") for pair in match.group(1).split())}
    count, seconds = fields["requests"], fields["duration_us"] / 1e6
    latency = lambda key: fields[key] / 1000 if count else float("nan")
    return {"concurrency": concurrency, "requests": count, "rps": count / seconds if seconds else float("nan"),
            "p50_ms": latency("p50_us"), "p99_ms": latency("p99_us"),
            "errors": sum(fields[kind] for kind in WRK_ERRORS),
            "wrk_errors": {kind: fields[kind] for kind in WRK_ERRORS}}


def run_wrk(url: str, script: Path, concurrency: int, seconds: int) -> str:
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", f"--timeout={WRK_TIMEOUT}", "--latency",
               "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def wrk_level(url: str, path: str, bodies: list[bytes] | None, concurrency: int, seconds: float) -> dict:
    """One level with wrk: a 2 s warm-up run that is not recorded, then the measured run."""
    with tempfile.TemporaryDirectory(prefix="serve_load_wrk_") as folder:
        script = Path(folder) / "load.lua"
        script.write_text(wrk_script(path, bodies), encoding="ascii")
        run_wrk(url + path, script, concurrency, int(WARMUP_S))
        return parse_wrk(run_wrk(url + path, script, concurrency, int(seconds)), concurrency)


CLIENTS = {"python": python_level, "wrk": wrk_level}
CLIENT_NOTES = {
    "python": "asyncio HTTP/1.1 keep-alive client in this script (uvloop when installed), one connection per user",
    "wrk": f"`wrk -t1 -c<concurrency> -d<seconds>s --timeout {WRK_TIMEOUT} --latency` with a Lua script "
           "rotating the request bodies (separate 2 s warm-up run)",
}


def client_version(client: str) -> str:
    if client != "wrk":
        return f"Python {platform.python_version()}"
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (done.stdout or done.stderr).split(" Copyright")[0].strip()


def batch_counters(url: str) -> tuple[float, float]:
    """(sum, count) of the service's micro-batch size histogram (one worker's view)."""
    import urllib.request
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        for key in ("funnel_batch_size_sum", "funnel_batch_size_count"):
            if line.startswith(key + " "):
                values[key] = float(line.split()[1])
    return values.get("funnel_batch_size_sum", 0.0), values.get("funnel_batch_size_count", 0.0)


def history_range(text: str) -> tuple[int, int]:
    """``--history MIN,MAX``: the shortest and longest request history, in items."""
    try:
        low, high = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX integers, got {text!r}") from None
    if not 0 <= low <= high:
        raise argparse.ArgumentTypeError(f"expected 0 <= MIN <= MAX, got {text!r}")
    return low, high


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    """``--candidates`` and ``--history``: the request shape every engine benchmark sends."""
    parser.add_argument("--candidates", type=int, default=schema.DEFAULT_LIST_CANDIDATES,
                        help="candidates ranked per request")
    parser.add_argument("--history", type=history_range, default=(5, 30), help="min,max history length")


def recommend_bodies(item_ids: list[str], count: int, seed: int, history: tuple[int, int],
                     k: int, candidates: int) -> list[bytes]:
    rng = random.Random(seed)
    return [json.dumps({"history": rng.sample(item_ids, rng.randint(*history)), "k": k,
                        "candidates": candidates}).encode() for _ in range(count)]


def catalog_ids(export: str) -> list[str]:
    """Raw item ids of the newest version's ScaNN rows (read from the index folder)."""
    from serving import contract
    from retrieval import index
    version = contract.complete_versions(export)[-1]
    path = Path(export) / contract.SCANN / str(version) / index.ITEM_IDS_FILE
    return path.read_text(encoding="utf-8").splitlines()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def engine_batches(export: str, sizes: list[int], seconds: float, args) -> str:
    """In-process cost of one engine call per batch size (no HTTP): what micro-batching buys."""
    from serving.api import RecommendRequest
    from serving.backends.embedded import EmbeddedBackend
    from serving.engine import Engine
    from serving.settings import ServiceSettings

    settings = ServiceSettings(export_dir=export)
    backend = EmbeddedBackend(settings)
    backend.configure()
    engine = Engine(backend.load(backend.latest_version()), warm_batch_sizes=sizes)
    engine.warm()
    bodies = recommend_bodies(catalog_ids(export), 256, 1, args.history, args.k, args.candidates)
    requests = [RecommendRequest.model_validate_json(b) for b in bodies]
    lines = ["| batch | ms per call | ms per request | retrieval ms | ranking ms |", "|---:|---:|---:|---:|---:|"]
    for size in sizes:
        calls, spent, stages = 0, 0.0, {"retrieval": 0.0, "ranking": 0.0}
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            batch = [requests[(calls * size + j) % len(requests)] for j in range(size)]
            start = time.perf_counter()
            _, timings = engine.recommend(batch)
            spent += time.perf_counter() - start
            for stage in stages:
                stages[stage] += timings[stage]
            calls += 1
        lines.append(f"| {size} | {spent / calls * 1000:.2f} | {spent / calls / size * 1000:.2f} | "
                     f"{stages['retrieval'] / calls * 1000:.2f} | {stages['ranking'] / calls * 1000:.2f} |")
    return "\n".join(lines) + "\n"


def start_floor(port: int, workers: int) -> subprocess.Popen:
    """``benchmarks/floor_app.py`` under uvicorn with ``funnel serve``'s loop, parser and workers."""
    command = [sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(Path(__file__).parent),
               "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
               "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_floor(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the floor server exited with code {process.returncode}")
        try:
            launch.get_json(url + "/ping", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"{url}/ping not answering after {timeout:.0f} s")


def markdown(title: str, rows: list[dict], floor: dict[int, dict], notes: list[str]) -> str:
    lines = [f"### {title}", "", *notes, "",
             "| concurrency | requests/s | p50 ms | p99 ms | errors | mean micro-batch | server CPU | server CPU ms per request | floor requests/s | floor p50 ms | floor p99 ms | share of floor |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    nan = float("nan")
    for row in rows:
        f = floor.get(row["concurrency"], {})
        ratio = row["rps"] / f["rps"] if f.get("rps") else nan
        lines.append(f"| {row['concurrency']} | {row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
                     f"{row['errors']} | {row.get('mean_batch', nan):.1f} | {row.get('server_cpu', nan):.0%} | "
                     f"{row.get('server_cpu_ms_per_request', nan):.2f} | {f.get('rps', nan):.0f} | {f.get('p50_ms', nan):.2f} | "
                     f"{f.get('p99_ms', nan):.2f} | {ratio:.0%} |")
    return "\n".join(lines) + "\n"


def server_cpu_seconds(process) -> float:
    """CPU seconds used so far by the server started here and its children (workers); NaN without one."""
    if process is None:
        return float("nan")
    import psutil

    try:
        root = psutil.Process(process.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return float("nan")
    total = 0.0
    for member in tree:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", help="export folder to serve (starts `funnel serve` on it; with --url, "
                        "only the source of request histories)")
    parser.add_argument("--url", help="drive an already running service instead")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--client", choices=sorted(CLIENTS), default="wrk" if shutil.which("wrk") else "python",
                        help="load generator (default: wrk when installed, else the asyncio client)")
    parser.add_argument("--k", type=int, default=10)
    add_request_arguments(parser)
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--floor-path", default=None,
                        help="measure the floor on this path of the service (e.g. /healthz) "
                             "instead of benchmarks/floor_app.py")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="seconds to wait after /readyz (other workers may still be loading)")
    parser.add_argument("--serve-args", default="", help="extra `funnel serve` flags, e.g. '--tf-threads 2'")
    parser.add_argument("--title", default=None)
    parser.add_argument("--markdown", help="append the result table to this file")
    parser.add_argument("--json", help="write raw results to this file")
    parser.add_argument("--engine-batches", default=None,
                        help="instead of HTTP load: time the engine in-process at these batch sizes, e.g. 1,8,32")
    args = parser.parse_args(argv)
    if not args.export and not args.url:
        parser.error("give --export or --url")
    if args.client == "wrk" and not args.engine_batches:
        if not shutil.which("wrk"):
            parser.error("--client wrk: wrk is not on PATH (apt-get install wrk), or use --client python")
        if args.seconds != int(args.seconds) or args.seconds < 1:
            parser.error(f"--seconds: wrk takes whole seconds >= 1, got {args.seconds}")
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass

    if args.engine_batches:
        text = (f"### Engine alone, in-process ({machine()}; load average {os.getloadavg()[0]:.2f})\n\n"
                + engine_batches(args.export, [int(x) for x in args.engine_batches.split(",")],
                                 min(args.seconds, 10.0), args))
        print(text)
        if args.markdown:
            with open(args.markdown, "a") as handle:
                handle.write(text + "\n")
        return 0
    process = floor_process = None
    url = args.url or f"http://127.0.0.1:{args.port}"
    port = int(url.rsplit(":", 1)[1])
    level_run = CLIENTS[args.client]
    if args.export and not args.url:
        process = launch.start(args.export, port, extra=["--workers", str(args.workers), "--max-batch",
                                                         str(args.max_batch), "--reload-interval",
                                                         "0" if args.workers == 1 else "3600",
                                                         *args.serve_args.split()],
                               log_file=f"/tmp/serve_load_{port}.log")
    floor_url = f"http://127.0.0.1:{port + 1}"
    if not args.no_floor and not args.floor_path:
        floor_process = start_floor(port + 1, args.workers)
    try:
        if floor_process is not None:
            wait_floor(floor_url, floor_process)
        startup = launch.wait_ready(url, process)
        print(f"ready after {startup:.1f} s", flush=True)
        time.sleep(args.settle)
        ids = catalog_ids(args.export) if args.export else [s for u in launch.get_json(url + "/v1/samples")["users"]
                                                             for s in u["history"]]
        bodies = recommend_bodies(ids, 512, 0, args.history, args.k, args.candidates)
        levels = [int(c) for c in args.concurrency.split(",")]
        rows, floor = [], {}
        for level in levels:
            if not args.no_floor:
                floor[level] = (level_run(url, args.floor_path, None, level, args.seconds) if args.floor_path
                                else level_run(floor_url, "/ping", None, level, args.seconds))
                print("floor", floor[level], flush=True)
            before, cpu_before, started_at = batch_counters(url), server_cpu_seconds(process), time.time()
            rows.append(level_run(url, "/v1/recommend", bodies, level, args.seconds))
            cpu, elapsed = server_cpu_seconds(process) - cpu_before, time.time() - started_at
            after = batch_counters(url)
            batches = after[1] - before[1]
            rows[-1]["mean_batch"] = (after[0] - before[0]) / batches if batches else float("nan")
            # Over the level's warm-up and measured run alike (steady throughput): 2.0 = two cores.
            rows[-1]["server_cpu"] = cpu / elapsed
            rows[-1]["server_cpu_ms_per_request"] = cpu / max(rows[-1]["rps"] * elapsed, 1.0) * 1000.0
            print("recommend", rows[-1], flush=True)
        models = launch.get_json(url + "/v1/models")
    finally:
        for started in (process, floor_process):
            if started is not None:
                launch.stop(started)
    manifest = (models.get("active") or {}).get("manifest") or {}
    notes = [f"- machine: {machine()}; load average at the end {os.getloadavg()[0]:.2f}",
             f"- server: `{' '.join(['funnel serve --workers', str(args.workers), '--max-batch', str(args.max_batch), *args.serve_args.split()])}` "
             f"(uvicorn, uvloop, httptools), ready {startup:.1f} s after start",
             f"- client: {args.client} ({client_version(args.client)}): {CLIENT_NOTES[args.client]}; "
             f"floor: GET {args.floor_path or 'floor_app.py /ping'}",
             f"- catalog: {len(ids)} items; requests: history of {args.history[0]}-{args.history[1]} random known items, "
             f"k={args.k}, candidates={args.candidates}; {args.seconds:.0f} s per level after {WARMUP_S:.0f} s warm-up",
             f"- export version {(models.get('active') or {}).get('version')}; "
             f"manifest keys: {', '.join(sorted(manifest)[:12])}",
             f"- command: `{shlex.join(['python', 'benchmarks/serve_load.py', *(argv or sys.argv[1:])])}`"]
    title = args.title or f"{args.workers} worker(s), max batch {args.max_batch}"
    text = markdown(title, rows, floor, notes)
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as handle:
            handle.write(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "floor": floor, "args": vars(args)}, indent=2))
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
