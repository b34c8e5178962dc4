"""HTTP throughput of POST /productionplan (payload 3, cache off) against the stack's ceiling.

    .venv/bin/python benchmarks/bench_http.py                 # 30 s per run, 4 runs (~2.5 min)
    .venv/bin/python benchmarks/bench_http.py --duration 10
    .venv/bin/python benchmarks/bench_http.py --quick         # 5 s per run (what `make bench --quick` passes)

For 1 and 2 server worker processes (`merit-order serve --workers N`, production settings
but CACHE_ENABLED=false so that every request is solved), then the same for a minimal
FastAPI app returning a constant (benchmarks/ceiling_app.py, the same uvicorn), it loads
the server from a second process for DURATION seconds at 64 connections over loopback and
prints requests/s, p50/p99 latency, errors (non-2xx, socket errors: must be 0) and the
server's resident memory (all its processes) before and after: it must stay flat. Then our
throughput as a ratio of the ceiling's (goal >= 0.6).

The load generator is wrk when installed (`apt-get install wrk`), else a small asyncio
HTTP/1.1 keep-alive client in a subprocess (slower: it then measures the client as much as
the server; the table says which one ran). Everything runs on this machine: on 2 cores,
client and server share them, so these are figures of the whole box, not of the server alone.
Exit status 1 if any run had errors.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAYLOAD = REPO / "src" / "merit_order" / "examples" / "payload3.json"
CONNECTIONS = 64
RATIO_GOAL = 0.6


@dataclass
class Result:
    label: str
    workers: int
    requests_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    rss_before_mb: float
    rss_after_mb: float
    tool: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the uvicorn workers), MB."""
    pids = [pid]
    children_of: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children_of.setdefault(int(fields[1]), []).append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    total_kb = 0
    while pids:
        current = pids.pop()
        pids.extend(children_of.get(current, []))
        try:
            for line in (Path("/proc") / str(current) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def start_server(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}: {' '.join(command)}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_healthcheck", timeout=1).read()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server not up in 60 s: {' '.join(command)}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def warm_up(url: str, body: bytes, n: int = 200) -> None:
    for _ in range(n):
        request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).read()


# --------------------------------------------------------------------------------------
# load generators


def run_wrk(url: str, body: bytes, duration: int) -> tuple[float, float, float, int, int]:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115 - closed below, unlinked after wrk ran
    script.write(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
    )
    script.close()
    try:
        out = subprocess.run(
            ["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{duration}s", "--latency", "-s", script.name, url],
            capture_output=True, text=True, timeout=duration + 60, check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    requests_s = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]  # wrk always prints it
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]  # wrk always prints it
    p50 = _wrk_ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]  # wrk always prints it
    p99 = _wrk_ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]  # wrk always prints it
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return requests_s, p50, p99, errors, requests


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]  # wrk always prints it
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


_PY_CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    host, port, path, duration, connections, body = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), sys.stdin.buffer.read()
    head = (f"POST {path} HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Type: application/json\\r\\n"
            f"Content-Length: {len(body)}\\r\\n\\r\\n").encode() + body
    latencies, errors = [], 0
    async def one(stop):
        global errors
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < stop:
            t = time.perf_counter()
            writer.write(head)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\\r\\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t)
            if not status.startswith(b"HTTP/1.1 2"):
                errors += 1
        writer.close()
    async def main():
        stop = time.perf_counter() + duration
        results = await asyncio.gather(*(one(stop) for _ in range(connections)), return_exceptions=True)
        return sum(1 for r in results if isinstance(r, BaseException))
    started = time.perf_counter()
    failed = asyncio.run(main())
    elapsed = time.perf_counter() - started
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0
    print(json.dumps({"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": pick(0.5), "p99": pick(0.99), "errors": errors + failed}))
    """
)


def run_python_client(url: str, body: bytes, duration: int) -> tuple[float, float, float, int, int]:
    m = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    assert m
    out = subprocess.run(
        [sys.executable, "-c", _PY_CLIENT, m.group(1), m.group(2), m.group(3), str(duration), str(CONNECTIONS)],
        input=body, capture_output=True, timeout=duration + 60, check=True,
    ).stdout
    data = json.loads(out)
    return data["rps"], data["p50"], data["p99"], data["errors"], data["requests"]


# --------------------------------------------------------------------------------------


def bench(label: str, command: list[str], env: dict[str, str], port: int, workers: int, duration: int) -> Result:
    body = PAYLOAD.read_bytes()
    url = f"http://127.0.0.1:{port}/productionplan"
    process = start_server(command, env, port)
    try:
        warm_up(url, body)
        before = tree_rss_mb(process.pid)
        tool = "wrk" if shutil.which("wrk") else "python-asyncio"
        run = run_wrk if tool == "wrk" else run_python_client
        requests_s, p50, p99, errors, requests = run(url, body, duration)
        after = tree_rss_mb(process.pid)
    finally:
        stop_server(process)
    return Result(label, workers, requests_s, p50, p99, errors, requests, before, after, tool)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=30, help="seconds of load per run (default 30)")
    parser.add_argument("--quick", action="store_true", help="5 s per run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="server processes to try (default 1 2)")
    args = parser.parse_args(argv)
    duration = 5 if args.quick else args.duration

    base_env = {k: v for k, v in os.environ.items() if k.upper() not in ("REDIS_URL", "API_KEY", "PROMETHEUS_MULTIPROC_DIR")}
    results: list[Result] = []
    for workers in args.workers:
        port = free_port()
        env = {**base_env, "HOST": "127.0.0.1", "PORT": str(port), "WORKERS": str(workers), "CACHE_ENABLED": "false"}
        results.append(bench("ours", [str(BIN / "merit-order"), "serve"], env, port, workers, duration))
        port = free_port()
        ceiling = [
            sys.executable, "-m", "uvicorn", "benchmarks.ceiling_app:app", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--no-access-log", "--log-level", "warning",
        ]
        results.append(bench("ceiling", ceiling, {**base_env, "PYTHONPATH": str(REPO)}, port, workers, duration))

    print(f"\nHTTP throughput: POST /productionplan, payload 3, cache off, {CONNECTIONS} connections, "
          f"{duration} s per run, loopback, {os.cpu_count()} cores shared by client and server")
    header = f"{'server':<9}{'workers':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'requests':>10}{'RSS MB before->after':>23}  tool"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.label:<9}{r.workers:>8}{r.requests_s:>10.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.errors:>8}{r.requests:>10}"
              f"{r.rss_before_mb:>13.1f} -> {r.rss_after_mb:<6.1f}  {r.tool}")
    print()
    status = 0
    for workers in args.workers:
        ours = next(r for r in results if r.label == "ours" and r.workers == workers)
        ceiling = next(r for r in results if r.label == "ceiling" and r.workers == workers)
        ratio = ours.requests_s / ceiling.requests_s if ceiling.requests_s else 0.0
        growth = ours.rss_after_mb - ours.rss_before_mb
        print(f"workers={workers}: ours / ceiling = {ratio:.2f} (goal >= {RATIO_GOAL}: {'ok' if ratio >= RATIO_GOAL else 'MISS'}); "
              f"memory {growth:+.1f} MB over the run")
        if ours.errors or ceiling.errors:
            status = 1
    out = REPO / ".bench"
    out.mkdir(exist_ok=True)
    (out / "http.json").write_text(json.dumps([r.__dict__ for r in results], indent=2))
    if status:
        print("ERRORS during the load: see the table")
    return status


if __name__ == "__main__":
    sys.exit(main())
