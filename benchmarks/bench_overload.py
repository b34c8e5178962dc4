"""Waves of slow-but-valid requests against a real server: what they cost, and what they leave behind.

    .venv/bin/python benchmarks/bench_overload.py             # issue 14's case: 4 waves of 12 (~1 min)
    .venv/bin/python benchmarks/bench_overload.py --quick     # 2 waves of 6

Issue 14's finding, reproduced: each request is 60 gas units {efficiency 0.5, pmin 0.5,
pmax 49999.6} at a load of 49999.9 MW (29.5 M table cells, ~2.7 s and ~240 MB alone), a
different plant name per copy so that the cache misses. Meanwhile one client posts payload 3
in a loop (the normal traffic). Printed: the share of wave requests answered 200 / 503 (and
whether every 503 carried Retry-After), the normal requests' p50/p99 latency during the
waves, the server's RSS and thread count idle, at peak and after the load (2 s and 12 s
after the last answer). The server runs with production defaults (`merit-order serve`, one
worker, SOLVE_TIMEOUT_SECONDS=10, the heavy-solve budget of solve_budget.py); pass
`--env NAME=VALUE` to change a setting. Exit status 1 if RSS after the load is more than
100 MB above idle or the thread count does not return to idle.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NORMAL = (REPO / "src" / "merit_order" / "examples" / "payload3.json").read_bytes()


def slow_request(tag: str) -> bytes:
    """Issue 14's request: valid, feasible, and near the calculator's work limit."""
    return json.dumps(
        {
            "load": 49999.9,
            "fuels": {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 0},
            "powerplants": [
                {"name": f"gas{i}-{tag}", "type": "gasfired", "efficiency": 0.5, "pmin": 0.5, "pmax": 49999.6}
                for i in range(60)
            ],
        }
    ).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> tuple[float, int]:
    """(VmRSS in MB, Threads) of one process, from /proc/PID/status."""
    rss_kb, threads = 0, 0
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss_kb / 1024, threads


def post(url: str, body: bytes, timeout: float = 60) -> tuple[int, dict[str, str], float]:
    """(status, headers, seconds) of one POST."""
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status, dict(response.headers), time.perf_counter() - started
    except urllib.error.HTTPError as error:
        error.read()
        return error.code, dict(error.headers), time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="2 waves of 6")
    parser.add_argument("--baseline", type=float, default=0.0,
                        help="with --waves 0: seconds of normal traffic alone, for its latency without waves")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server (repeatable)")
    args = parser.parse_args(argv)
    waves, concurrency = (2, 6) if args.quick else (args.waves, args.concurrency)

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k.upper() not in ("REDIS_URL", "API_KEY")}
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "ERROR", "CACHE_ENABLED": "false"})
    env.update(dict(item.split("=", 1) for item in args.env))
    server = subprocess.Popen([str(BIN / "merit-order"), "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=REPO)
    url = f"http://127.0.0.1:{port}/productionplan"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_healthcheck", timeout=1).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        for _ in range(50):
            post(url, NORMAL)
        time.sleep(0.5)
        idle_rss, idle_threads = proc_status(server.pid)

        stop = threading.Event()
        samples: list[tuple[float, int]] = []
        normal_s: list[float] = []
        normal_bad = 0

        def sample() -> None:
            while not stop.is_set():
                samples.append(proc_status(server.pid))
                time.sleep(0.05)

        def normal_traffic() -> None:
            nonlocal normal_bad
            while not stop.is_set():
                status, _, seconds = post(url, NORMAL)
                normal_s.append(seconds)
                normal_bad += status != 200
                time.sleep(0.01)

        background = [threading.Thread(target=sample), threading.Thread(target=normal_traffic)]
        for thread in background:
            thread.start()
        statuses: dict[int, int] = {}
        seconds_by_status: dict[int, list[float]] = {}
        retry_after: list[str] = []
        missing_retry_after = 0
        started = time.perf_counter()
        if waves == 0:
            time.sleep(args.baseline)
        with ThreadPoolExecutor(max(1, concurrency)) as pool:
            for wave in range(waves):
                bodies = [slow_request(f"w{wave}c{c}") for c in range(concurrency)]
                for status, headers, seconds in pool.map(lambda body: post(url, body), bodies):
                    statuses[status] = statuses.get(status, 0) + 1
                    seconds_by_status.setdefault(status, []).append(seconds)
                    lowered = {name.lower(): value for name, value in headers.items()}
                    if status == 503:
                        if "retry-after" in lowered:
                            retry_after.append(lowered["retry-after"])
                        else:
                            missing_retry_after += 1
        load_s = time.perf_counter() - started
        stop.set()
        for thread in background:
            thread.join()
        time.sleep(2)
        after2_rss, after2_threads = proc_status(server.pid)
        time.sleep(10)
        after12_rss, after12_threads = proc_status(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    total = sum(statuses.values()) or 1
    peak_rss = max(rss for rss, _ in samples)
    peak_threads = max(threads for _, threads in samples)
    print(f"waves: {waves} x {concurrency} slow requests in {load_s:.1f} s")
    print("answers: " + ", ".join(f"{status}: {count} ({count / total:.0%})" for status, count in sorted(statuses.items()))
          + f"; 503 without Retry-After: {missing_retry_after}; Retry-After values: {sorted(set(retry_after))}")
    for status, seconds in sorted(seconds_by_status.items()):
        print(f"  {status}: answered in {min(seconds):.3f}-{max(seconds):.3f} s (median {percentile(seconds, 0.5):.3f})")
    print(f"normal requests (payload 3) during the waves: {len(normal_s)}, not 200: {normal_bad}, "
          f"p50 {percentile(normal_s, 0.5) * 1e3:.1f} ms, p99 {percentile(normal_s, 0.99) * 1e3:.1f} ms, "
          f"max {max(normal_s, default=0) * 1e3:.1f} ms")
    print(f"RSS MB: idle {idle_rss:.0f}, peak {peak_rss:.0f}, 2 s after {after2_rss:.0f}, 12 s after {after12_rss:.0f}")
    print(f"threads: idle {idle_threads}, peak {peak_threads}, 2 s after {after2_threads}, 12 s after {after12_threads}")
    ok = after2_rss - idle_rss <= 100 and after12_threads <= idle_threads and missing_retry_after == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
