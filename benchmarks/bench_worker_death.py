"""Issue 13, item 4: the time a job loses when a worker is SIGKILLed mid-job, on the default settings.

    .venv/bin/python benchmarks/bench_worker_death.py --plants 30 --periods 8760    (a year, ~5 s)
    .venv/bin/python benchmarks/bench_worker_death.py --plants 200 --periods 10000  (~30 s here)

A private redis-server and two real `merit-order worker` processes (one pool process each),
every job setting at its default (chunk 250 periods, JOB_CHUNK_STALE_SECONDS 10, watchdog every
2 s, visibility timeout 120 s). The job runs once undisturbed (the baseline), then again with
worker `alpha` and its pool SIGKILLed halfway through while it holds a chunk, and a replacement
worker started at once (what a restart policy does). Time lost = killed run - baseline. Both
answers are checked to be `done` with every period solved. `make bench` runs it (benchmarks/run.py
runs every bench_*.py), with the defaults above.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

from fastapi.testclient import TestClient
from jobs_helpers import fleet, series
from redis_fixtures import RedisServer, WorkerProcess, require_redis_server

from merit_order.api.app import create_app
from merit_order.jobs.store import job_key
from merit_order.settings import Settings


def run_job(client: TestClient, body: dict[str, Any], timeout: float, on_progress: Any = None) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    accepted = client.post("/productionplan/jobs", json=body)
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["Location"]
    job_id = accepted.json()["job_id"]
    while time.monotonic() - started < timeout:
        status = client.get(location, params={"limit": 1}).json()
        if status["status"] in ("done", "failed"):
            return time.monotonic() - started, {**status, "job_id": job_id}
        if on_progress is not None:
            on_progress(job_id, time.monotonic() - started)
        time.sleep(0.05)
    raise SystemExit(f"job not finished after {timeout} s: {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plants", type=int, default=30)
    parser.add_argument("--periods", type=int, default=8760)
    parser.add_argument("--no-replacement", action="store_true", help="do not start a worker in the dead one's place")
    parser.add_argument("--quick", action="store_true", help="2,000 periods (what `make bench --quick` passes)")
    args = parser.parse_args()
    if args.quick:
        args.periods = min(args.periods, 2_000)

    redis_server = RedisServer(require_redis_server())
    redis_server.start()
    workers: list[WorkerProcess] = []
    try:
        workers = [WorkerProcess(redis_server.url(), name) for name in ("alpha", "beta")]
        redis = redis_server.client()
        for worker in workers:
            worker.wait_ready(redis)
        plants = fleet(args.plants)
        body = {"powerplants": plants, "periods": series(plants, args.periods)}
        settings = Settings(redis_url=redis_server.url(), log_format="console", log_level="WARNING")
        with TestClient(create_app(settings)) as client:
            run_job(client, {"powerplants": plants, "periods": series(plants, 600, seed=1)}, 120)  # warm-up (JIT)
            baseline, status = run_job(client, body, 600)
            assert status["status"] == "done", status
            print(f"baseline: {args.periods} periods x {args.plants} plants done in {baseline:.1f} s")

            killed_at: list[float] = []

            def kill_alpha_halfway(job_id: str, elapsed: float) -> None:
                if killed_at or elapsed < baseline / 2:
                    return
                running = redis.hgetall(job_key(job_id, "running")).values()
                if any(json.loads(raw)["worker"].startswith("alpha@") for raw in running):
                    workers[0].kill_all()
                    killed_at.append(elapsed)
                    if not args.no_replacement:
                        workers.append(WorkerProcess(redis_server.url(), "gamma"))

            total, status = run_job(client, body, 600, kill_alpha_halfway)
            resubmits = {int(k): int(v) for k, v in redis.hgetall(job_key(status["job_id"], "resubmits")).items()}
            print(
                f"alpha SIGKILLed at {killed_at[0]:.1f} s ({'no replacement' if args.no_replacement else 'gamma started'}): "
                f"{status['status']} in {total:.1f} s; time lost {total - baseline:.1f} s; "
                f"resubmitted chunks {resubmits}; progress {status.get('progress')}"
            )
            assert status["status"] == "done", status
    finally:
        for worker in workers:
            worker.stop()
        redis_server.stop()


if __name__ == "__main__":
    main()
