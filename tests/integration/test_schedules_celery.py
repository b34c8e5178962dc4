"""Schedules on real Celery workers (`merit-order worker` processes) over our own redis-server.

The API side is the app with REDIS_URL (in-process TestClient); the solves run in real
worker processes; every schedule returned is checked by tests/support/uc_checker.py. The worker
killed mid-solve is SIGKILLed with its whole process group (the machine lost): the schedule
must still finish, on the other worker, after its lease lapses (SCHEDULE_LEASE_SECONDS, the
default here) and a sweep.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from importlib import resources

import pytest
from fastapi.testclient import TestClient
from redis_fixtures import RedisServer, WorkerProcess, fresh_redis, redis_server  # noqa: F401 - fixtures
from schedule_client import FINAL, submit, wait_until
from uc_checker import check_schedule
from uc_instances import load_instance

from merit_order.api.app import create_app
from merit_order.settings import Settings

pytestmark = pytest.mark.redis

PGLIB = json.loads(resources.files("merit_order").joinpath("examples", "schedule_pglib.json").read_text())


def api(server: RedisServer) -> TestClient:
    return TestClient(create_app(Settings(log_format="console", log_level="WARNING", redis_url=server.url())))


@pytest.fixture()
def two_workers(fresh_redis: RedisServer) -> Iterator[list[WorkerProcess]]:
    workers = [WorkerProcess(fresh_redis.url(), name) for name in ("alpha", "beta")]
    try:
        for worker in workers:
            worker.wait_ready(fresh_redis.client())
        yield workers
    finally:
        for worker in workers:
            worker.stop()


@pytest.mark.slow
def test_a_schedule_solved_on_a_worker_is_readable_from_any_replica_and_live(
    fresh_redis: RedisServer, two_workers: list[WorkerProcess]
) -> None:
    with api(fresh_redis) as one, api(fresh_redis) as other:
        with other.websocket_connect("/ws") as ws:
            assert ws.receive_json()["type"] == "hello"
            location = submit(one, PGLIB, gap=0.0)
            seen = []
            while not seen or seen[-1]["status"] not in FINAL:
                message = ws.receive_json()
                if message.get("type") == "schedule" and message["location"] == location:
                    seen.append(message)
        document = wait_until(other, location, lambda d: d["status"] in FINAL)
        assert document["status"] == "done", document["error"]
        assert check_schedule(PGLIB, document["schedule"]) == []
        assert document["worker"].split("@")[0] in ("alpha", "beta") and document["attempts"] == 1
        assert document["progress"]["history"] and document == one.get(location).json()
        assert seen[-1]["status"] == "done" and "running" in [m["status"] for m in seen]
        assert seen[-1]["progress"]["objective"] == pytest.approx(document["schedule"]["objective"])
        assert [s["id"] for s in one.get("/schedules").json()["schedules"]] == [location.rsplit("/", 1)[1]]
        metrics = one.get("/metrics").text
        assert 'merit_order_schedules_total{status="done"} 1.0' in metrics


@pytest.mark.slow
def test_a_worker_killed_mid_solve_costs_a_lease_not_the_schedule(
    fresh_redis: RedisServer, two_workers: list[WorkerProcess]
) -> None:
    rts = load_instance("pglib-uc/rts_gmlc/2020-01-27.json", 24)
    with api(fresh_redis) as client:
        location = submit(client, rts, gap=0.0, time_limit_s=10)
        running = wait_until(client, location, lambda d: d["status"] == "running" and d["progress"]["objective"] is not None)
        victim = next(w for w in two_workers if running["worker"].startswith(w.name + "@"))
        killed_at = time.monotonic()
        victim.kill_all()
        resumed = wait_until(client, location, lambda d: d["status"] == "running" and d["attempts"] == 2, timeout=60)
        lost = time.monotonic() - killed_at
        assert not resumed["worker"].startswith(victim.name + "@")
        document = wait_until(client, location, lambda d: d["status"] in FINAL, timeout=60)
        assert document["status"] == "done", document["error"]
        assert check_schedule(rts, document["schedule"]) == []
        print(f"worker killed mid-solve: solving again on another worker {lost:.1f} s later")


@pytest.mark.slow
def test_cancel_on_a_worker_keeps_the_best_schedule(fresh_redis: RedisServer, two_workers: list[WorkerProcess]) -> None:
    rts = load_instance("pglib-uc/rts_gmlc/2020-01-27.json", 24)
    with api(fresh_redis) as client:
        location = submit(client, rts, gap=0.0, time_limit_s=120)
        wait_until(client, location, lambda d: d["status"] == "running" and d["schedule"] is not None)
        began = time.monotonic()
        document = client.delete(location).json()
        assert document["status"] == "cancelled" and time.monotonic() - began < 10
        assert check_schedule(rts, document["schedule"]) == []
        assert client.delete(location).json()["status"] == "cancelled"


def test_without_workers_a_schedule_waits_queued_and_cancels_at_once(fresh_redis: RedisServer) -> None:
    with api(fresh_redis) as client:
        location = submit(client, PGLIB)
        time.sleep(0.5)
        assert client.get(location).json()["status"] == "queued"
        document = client.delete(location).json()
        assert document["status"] == "cancelled" and document["schedule"] is None
        assert client.get(location).json()["status"] == "cancelled"
