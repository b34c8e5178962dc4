"""Issue 14, item 2: what one large valid job costs the API, and whether the API stays responsive.

    .venv/bin/python benchmarks/bench_large_job.py                      (the finding's job: ~3 min on 2 cores)
    .venv/bin/python benchmarks/bench_large_job.py --periods 1000       (quicker)
    .venv/bin/python benchmarks/bench_large_job.py --redis --periods 1000   (Celery over a private Redis)

The job is the finding's: one series of 500 plants whose names are 195 characters, over
10,000 periods (a 1.3 MB body). A real `uvicorn` API (and, with --redis, a private
redis-server and one `merit-order worker`), each started and stopped by PID. Measured:
the API process's resident memory (peak and at the end, from /proc), every page read
after the job is done (size, time), and a healthcheck sent every 50 ms throughout, its
latency reported separately while the job runs and while its results are paged through.
`make bench` runs it (benchmarks/run.py runs every bench_*.py); it takes minutes, and its point is the bound, not a speed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fleet(plants: int, name_length: int) -> list[dict[str, Any]]:
    """Gas, turbojet and wind plants whose names are `name_length` characters (unique by prefix)."""
    rng = random.Random(500)
    out = []
    for i in range(plants):
        kind = ("gasfired", "gasfired", "turbojet", "windturbine")[i % 4]
        name = (f"{kind}{i:04d}-" + "x" * name_length)[:name_length]
        if kind == "windturbine":
            out.append({"name": name, "type": kind, "efficiency": 1, "pmin": 0, "pmax": rng.choice([36, 90, 150])})
        elif kind == "turbojet":
            out.append({"name": name, "type": kind, "efficiency": 0.3, "pmin": 0, "pmax": rng.choice([16, 25])})
        else:
            out.append({"name": name, "type": kind, "efficiency": rng.choice([0.37, 0.45, 0.53]),
                        "pmin": rng.choice([0, 40, 100]), "pmax": rng.choice([120, 210, 460])})
    return out


def series(plants: list[dict[str, Any]], periods: int) -> list[dict[str, Any]]:
    rng = random.Random(8760)
    capacity = sum(p["pmax"] for p in plants)
    return [
        {
            "label": f"h{h:05d}",
            "load": round(capacity * rng.uniform(0.2, 0.6), 1),
            "fuels": {"gas(euro/MWh)": round(rng.uniform(8, 40), 2), "kerosine(euro/MWh)": round(rng.uniform(40, 80), 2),
                      "co2(euro/ton)": round(rng.uniform(5, 80), 1), "wind(%)": rng.choice([0, 35, 60, 100])},
        }
        for h in range(periods)
    ]


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB: now, and its peak so far."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _poll_health(url: str, stop: Any, out: Any) -> None:
    """GET /_healthcheck every 50 ms until `stop` is set; sends back [(sent at, latency or None)]."""
    samples: list[tuple[float, float | None]] = []
    while not stop.is_set():
        sent = time.time()
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(url + "/_healthcheck", timeout=60) as response:
                response.read()
            samples.append((sent, time.perf_counter() - started))
        except OSError:
            samples.append((sent, None))
        stop.wait(0.05)
    out.send(samples)


class Healthchecks:
    """The healthcheck poller in its own process: the benchmark parsing a 4 MB page must not
    delay it (a thread would share this process's GIL and measure the client, not the API).
    Each sample is filed under the phase that was current when it was sent."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("fork")
        self.stop = context.Event()
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_poll_health, args=(url, self.stop, send), daemon=True)
        self.phases: list[tuple[float, str]] = []
        self.latencies: dict[str, list[float]] = {}
        self.slowest: list[tuple[float, float, str]] = []  # (latency, sent at s after the start, phase)

    def start(self) -> None:
        self._process.start()

    def phase(self, name: str) -> None:
        self.phases.append((time.time(), name))

    def finish(self) -> None:
        self.stop.set()
        samples = self._receive.recv()
        self._process.join(timeout=30)
        t0 = self.phases[0][0] if self.phases else 0.0
        for sent, latency in samples:
            current = "idle"
            for at, name in self.phases:
                if at <= sent:
                    current = name
            if latency is None:
                self.latencies.setdefault(current + " (failed)", []).append(0.0)
                continue
            self.latencies.setdefault(current, []).append(latency)
            self.slowest.append((latency, sent - t0, current))
        self.slowest = sorted(self.slowest)[-5:]


def get(url: str) -> tuple[bytes, float]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body = response.read()
    return body, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plants", type=int, default=500)
    parser.add_argument("--name-length", type=int, default=195)
    parser.add_argument("--periods", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="JOB_LOCAL_WORKERS, or the Celery worker's concurrency")
    parser.add_argument("--redis", action="store_true", help="Celery over a private redis-server")
    parser.add_argument("--quick", action="store_true", help="1,000 periods (what `make bench --quick` passes)")
    args = parser.parse_args()
    if args.quick:
        args.periods = min(args.periods, 1_000)

    processes: list[subprocess.Popen[bytes]] = []
    tmp = tempfile.mkdtemp(prefix="bench-large-job-")
    env = {**os.environ, "LOG_FORMAT": "console", "LOG_LEVEL": "WARNING", "MAX_JOB_BODY_BYTES": str(64 << 20)}
    env.pop("REDIS_URL", None)
    try:
        if args.redis:
            port = _free_port()
            binary = shutil.which("redis-server") or "/usr/bin/redis-server"
            processes.append(subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            processes.append(subprocess.Popen(
                [str(BIN / "merit-order"), "worker", "--name", "bench@%h", "--loglevel", "WARNING"],
                env={**env, "WORKER_CONCURRENCY": str(args.workers)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        else:
            env["JOB_LOCAL_WORKERS"] = str(args.workers)
        api_port = _free_port()
        api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "merit_order.api.app:create_app", "--host", "127.0.0.1",
             "--port", str(api_port), "--no-access-log"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(api)
        url = f"http://127.0.0.1:{api_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = json.loads(get(url + "/_healthcheck")[0])
                if not args.redis or health["backends"]["jobs"].get("workers"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("API (or worker) not up in 60 s")
            time.sleep(0.2)

        plants = fleet(args.plants, args.name_length)
        body = json.dumps({"powerplants": plants, "periods": series(plants, args.periods)}).encode()
        print(f"job: {args.plants} plants, names of {args.name_length} chars, {args.periods} periods, "
              f"body {len(body) / 1e6:.2f} MB; {'redis + 1 worker' if args.redis else 'embedded'}, {args.workers} processes")
        print(f"API RSS before: {rss_mb(api.pid)[0]:.0f} MB")

        checks = Healthchecks(url)
        checks.start()
        checks.phase("job running")
        started = time.perf_counter()
        request = urllib.request.Request(url + "/productionplan/jobs", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            location = json.loads(response.read())["location"]
        polls: list[float] = []
        while True:
            raw, took = get(f"{url}{location}?limit=0")
            polls.append(took)
            if json.loads(raw)["status"] in ("done", "failed"):
                break
            time.sleep(1)
        solved = time.perf_counter() - started
        print(f"solved in {solved:.1f} s; status polls (limit=0) p50 {percentile(polls, 0.5) * 1e3:.1f} ms, "
              f"max {max(polls) * 1e3:.1f} ms; API RSS {rss_mb(api.pid)[0]:.0f} MB")

        checks.phase("paging results")
        sizes: list[int] = []
        times: list[float] = []
        next_url: str | None = f"{url}{location}"
        while next_url is not None:
            raw, took = get(next_url)
            sizes.append(len(raw))
            times.append(took)
            page = json.loads(raw)["results_page"]
            next_url = url + page["next"] if page["next"] else None
        one_poll = [get(f"{url}{location}?limit=1&detail=false")[1] for _ in range(20)]
        checks.phase("done")
        checks.finish()
        rss, peak = rss_mb(api.pid)
        print(f"paged {len(sizes)} pages in {sum(times):.1f} s: largest answer {max(sizes) / 1e6:.2f} MB, "
              f"page p50 {percentile(times, 0.5) * 1e3:.0f} ms, max {max(times) * 1e3:.0f} ms; "
              f"?limit=1&detail=false poll p50 {percentile(one_poll, 0.5) * 1e3:.1f} ms")
        print(f"API RSS at the end {rss:.0f} MB, peak {peak:.0f} MB")
        for phase in ("job running", "paging results"):
            values = checks.latencies.get(phase, [])
            print(f"healthcheck while {phase}: n={len(values)} p50 {percentile(values, 0.5) * 1e3:.1f} ms, "
                  f"p99 {percentile(values, 0.99) * 1e3:.1f} ms, max {max(values, default=float('nan')) * 1e3:.1f} ms; "
                  f"failed {len(checks.latencies.get(phase + ' (failed)', []))}")
        print("slowest healthchecks (latency, sent at s after the start, phase):",
              ", ".join(f"{lat * 1e3:.0f} ms at {at:.1f} s ({phase})" for lat, at, phase in reversed(checks.slowest)))
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
