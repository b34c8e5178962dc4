"""Scale-out figures: cache hit vs miss through the API, and a year of plans on 1 and 2 workers.

    .venv/bin/python benchmarks/bench_scaleout.py            (make bench runs it too)
    .venv/bin/python benchmarks/bench_scaleout.py --quick    (fewer samples)

Starts its own redis-server on a free port (needs /usr/bin/redis-server or one on PATH)
and its own `merit-order worker` processes, stopped by PID at the end. Nothing else is
touched. Through the API means the real app (middleware, validation, cache, JSON) in
process via the ASGI test client: what a replica spends, without network noise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from fastapi.testclient import TestClient

from merit_order.api.app import create_app
from merit_order.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "src" / "merit_order" / "examples" / "payload3.json"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Redis:
    def __init__(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise SystemExit("bench_scaleout: redis-server not found (apt-get install redis-server)")
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise SystemExit("bench_scaleout: redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_worker(url: str, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REDIS_URL": url, "WORKER_CONCURRENCY": "1", "LOG_LEVEL": "WARNING", "LOG_FORMAT": "console"}
    return subprocess.Popen(
        [str(BIN / "merit-order"), "worker", "--name", f"{name}@%h", "--loglevel", "WARNING"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


def wait_workers(url: str, count: int, timeout: float = 30) -> None:
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list(client.scan_iter(match="merit-order:worker:*"))) >= count:
            return
        time.sleep(0.1)
    raise SystemExit(f"bench_scaleout: {count} worker(s) not ready in {timeout}s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fleet30(seed: int = 30) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    plants = []
    for i in range(30):
        kind = ("gasfired", "gasfired", "gasfired", "turbojet", "windturbine")[i % 5]
        if kind == "windturbine":
            plants.append({"name": f"wind{i}", "type": kind, "efficiency": 1, "pmin": 0, "pmax": rng.choice([50, 90, 150])})
        elif kind == "turbojet":
            plants.append({"name": f"tj{i}", "type": kind, "efficiency": rng.choice([0.3, 0.35]), "pmin": 0, "pmax": rng.choice([16, 25, 40])})
        else:
            pmax = rng.choice([120, 210, 350, 460])
            plants.append({"name": f"gas{i}", "type": kind, "efficiency": rng.choice([0.37, 0.45, 0.53, 0.58]),
                           "pmin": rng.choice([0, 40, 100]), "pmax": pmax})
    return plants


def year(plants: list[dict[str, Any]], seed: int = 8760) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    capacity = sum(p["pmax"] for p in plants)
    periods = []
    for h in range(8760):
        shape = 0.45 + 0.3 * abs(((h % 24) - 12) / 12)
        periods.append({
            "label": f"2025-hour-{h:04d}",
            "load": round(capacity * shape * rng.uniform(0.7, 1.0), 1),
            "fuels": {"gas(euro/MWh)": round(rng.uniform(8, 40), 2), "kerosine(euro/MWh)": round(rng.uniform(40, 80), 2),
                      "co2(euro/ton)": round(rng.uniform(5, 80), 1), "wind(%)": rng.choice([0, 15, 35, 60, 90])},
        })
    return periods


def bench_cache(url: str | None, samples: int) -> dict[str, float]:
    """Latency of POST /productionplan with payload 3: misses (a fresh solve each) vs hits.

    Measured with httpx's ASGI transport inside one event loop: the app's own time
    (middleware, validation, cache, solve, JSON), without the thread hops of the test
    client or a network, which would add the same to both and hide the difference.
    """
    return asyncio.run(_bench_cache(url, samples))


async def _bench_cache(url: str | None, samples: int) -> dict[str, float]:
    payload = json.loads(EXAMPLE.read_text())
    app = create_app(Settings(log_format="console", log_level="WARNING", redis_url=url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(20):  # warm up the app, the thread pool and the connection pool
                await client.post("/productionplan", json=dict(payload, load=1.0))
            await client.post("/productionplan", json=payload)  # the request every hit asks for
            misses, hits = [], []
            # Interleaved, so that the load of a shared machine weighs on both series alike.
            for i in range(samples):
                body = dict(payload, load=round(500 + i * 0.1, 1))  # never seen: a miss, a real solve
                t = time.perf_counter()
                answer = await client.post("/productionplan", json=body)
                misses.append(time.perf_counter() - t)
                assert answer.headers["X-Cache"] == "miss", answer.headers
                t = time.perf_counter()
                answer = await client.post("/productionplan", json=payload)
                hits.append(time.perf_counter() - t)
                assert answer.headers["X-Cache"] == "hit", answer.headers
    ms = 1000
    return {
        "miss_median_ms": statistics.median(misses) * ms, "miss_p99_ms": percentile(misses, 0.99) * ms,
        "hit_median_ms": statistics.median(hits) * ms, "hit_p99_ms": percentile(hits, 0.99) * ms,
    }


def bench_year(url: str, workers: int, plants: list[dict[str, Any]], periods: list[dict[str, Any]]) -> tuple[float, dict]:
    """Wall time from POST of the year to the job reported done, with `workers` workers."""
    redis.Redis.from_url(url).flushall()
    procs = [start_worker(url, f"bench{i}") for i in range(workers)]
    try:
        wait_workers(url, workers)
        settings = Settings(log_format="console", log_level="WARNING", redis_url=url)
        with TestClient(create_app(settings)) as client:
            body = json.dumps({"powerplants": plants, "periods": periods})
            started = time.perf_counter()
            accepted = client.post("/productionplan/jobs", content=body, headers={"content-type": "application/json"})
            assert accepted.status_code == 202, accepted.text
            deadline = started + 300
            while True:
                status = client.get(accepted.headers["Location"], params={"limit": 1, "detail": "false"}).json()
                if status["status"] in ("done", "failed"):
                    break
                if time.perf_counter() > deadline:
                    raise SystemExit(f"bench_scaleout: the year did not finish in 300 s: {status}")
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            assert status["progress"]["periods_done"] == 8760, status
            return elapsed, status
    finally:
        for proc in procs:
            stop_worker(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cache samples")
    args = parser.parse_args()
    samples = 100 if args.quick else 500

    server = Redis()
    try:
        print("\n== Cache: POST /productionplan, payload 3, through the API (ASGI, in process) ==")
        print(f"{'backend':<8} {'miss median':>12} {'miss p99':>10} {'hit median':>11} {'hit p99':>9}  (ms, {samples} each)")
        for name, url in (("memory", None), ("redis", server.url)):
            r = bench_cache(url, samples)
            print(f"{name:<8} {r['miss_median_ms']:>12.3f} {r['miss_p99_ms']:>10.3f} {r['hit_median_ms']:>11.3f} {r['hit_p99_ms']:>9.3f}")
            verdict = "faster" if r["hit_median_ms"] < r["miss_median_ms"] else "NOT faster"
            print(f"         a hit is {verdict} than a fresh solve ({r['miss_median_ms'] / r['hit_median_ms']:.2f}x by median)")

        plants, periods = fleet30(), year(fleet30())
        print("\n== A year (8,760 hourly periods) of a 30-plant fleet as one job, Celery workers over Redis ==")
        print(f"   chunk size {Settings().job_chunk_size} periods; each worker: one process; {os.cpu_count()} cores")
        times = {}
        for workers in (1, 2):
            elapsed, status = bench_year(server.url, workers, plants, periods)
            times[workers] = elapsed
            p = status["progress"]
            print(f"   {workers} worker(s): {elapsed:6.2f} s  ({p['ok']} plans, {p['infeasible']} infeasible, "
                  f"{p['chunks']} chunks, by {status['workers']})")
        print(f"   speed-up with 2 workers: {times[1] / times[2]:.2f}x   (goal: under 20 s with 2 workers: "
              f"{'met' if times[2] < 20 else 'NOT met'})")
    finally:
        server.stop()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured, even in a pipe
    main()
