"""Jobs on real Celery workers (`merit-order worker` processes) over our own redis-server.

The workers are started with a short visibility timeout (3 s) so that the test of a whole
worker killed with SIGKILL sees its chunk handed to the other worker within seconds; the
default (120 s) trades that speed for never running a long chunk twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from jobs_helpers import assert_matches, fleet, series, wait_done
from prometheus_client.parser import text_string_to_metric_families
from redis_fixtures import RedisServer, WorkerProcess, fresh_redis, redis_server  # noqa: F401 - fixtures

from merit_order.api.app import create_app
from merit_order.calculator import CostModel, ProductionPlanRequest, compute_plan
from merit_order.jobs import store
from merit_order.jobs.store import job_key
from merit_order.settings import Settings

pytestmark = pytest.mark.redis

VISIBILITY_TIMEOUT = 3


def _settings(server: RedisServer, **overrides) -> Settings:
    values = dict(
        log_format="console",
        log_level="WARNING",
        redis_url=server.url(),
        job_visibility_timeout_seconds=VISIBILITY_TIMEOUT,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture()
def two_workers(fresh_redis: RedisServer) -> Iterator[list[WorkerProcess]]:
    env = {"JOB_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT)}
    workers = [WorkerProcess(fresh_redis.url(), name, extra_env=env) for name in ("alpha", "beta")]
    try:
        for worker in workers:
            worker.wait_ready(fresh_redis.client())
        yield workers
    finally:
        for worker in workers:
            worker.stop()


@pytest.mark.slow
def test_a_year_on_two_workers_equals_the_synchronous_answers(fresh_redis: RedisServer, two_workers) -> None:
    plants = fleet(12)
    periods = series(plants, 8760)
    with TestClient(create_app(_settings(fresh_redis, job_chunk_size=250))) as client:
        health = client.get("/_healthcheck").json()
        assert health["status"] == "ok"
        assert sorted(w.split("@")[0] for w in health["backends"]["jobs"]["workers"]) == ["alpha", "beta"]

        accepted = client.post("/productionplan/jobs?detail=true", json={"powerplants": plants, "periods": periods})
        assert accepted.status_code == 202
        job = wait_done(client, accepted.headers["Location"], timeout=120)

        assert job["status"] == "done"
        assert job["progress"]["periods_done"] == 8760 and job["progress"]["chunks"] == 36
        # Both workers took chunks: the work was spread, not run by one.
        assert sorted(name.split("@")[0] for name in job["workers"]) == ["alpha", "beta"]
        assert sum(job["workers"].values()) == 36
        # Every period, in order, equal to what the calculator says for it.
        assert_matches(job["results"], plants, periods, detail=True)
        # The deployment-wide job counts, kept in Redis by the API and the workers.
        assert _cluster_jobs(client) == {"queued": 1, "running": 1, "done": 1, "failed": 0}

        # And a sample through the synchronous route itself: same plan, same document.
        for i in random.Random(5).sample(range(8760), 15):
            body = {"load": periods[i]["load"], "fuels": periods[i]["fuels"], "powerplants": plants}
            sync = client.post("/productionplan?detail=true", json=body)
            if job["results"][i]["status"] == "ok":
                assert sync.status_code == 200
                assert sync.json() == job["results"][i]["detail"]
            else:
                assert sync.status_code == 422


def _cluster_jobs(client: TestClient) -> dict[str, float] | None:
    """merit_order_cluster_jobs_total by state from /metrics; None when the family is absent."""
    response = client.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        if family.name == "merit_order_cluster_jobs":
            return {s.labels["state"]: s.value for s in family.samples if s.name.endswith("_total")}
    return None


def _chunk_held_by(server: RedisServer, job_id: str, worker: str, timeout: float = 20.0) -> tuple[int, int]:
    """Wait until `worker` is running a chunk of the job; (chunk index, pid of the pool process)."""
    client = server.client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for chunk, raw in client.hgetall(job_key(job_id, "running")).items():
            info = json.loads(raw)
            if info["worker"].startswith(worker + "@"):
                return int(chunk), int(info["pid"])
        time.sleep(0.02)
    raise AssertionError(f"{worker} never held a chunk")


def _slow_job(fresh_redis: RedisServer, chunks: int, seconds_per_chunk: float) -> tuple[list[dict], list[dict], int]:
    """A fleet and a series sized so that each chunk takes about `seconds_per_chunk` here."""
    plants = fleet(30)
    probe = series(plants, 40, seed=3)
    started = time.perf_counter()
    for period in probe:
        request = ProductionPlanRequest.model_validate({"load": period["load"], "fuels": period["fuels"], "powerplants": plants})
        try:
            compute_plan(request, cost_model=CostModel())
        except ValueError:
            pass
    per_period = (time.perf_counter() - started) / len(probe)
    chunk_size = min(3000, max(20, int(seconds_per_chunk / per_period)))
    return plants, series(plants, chunk_size * chunks, seed=3), chunk_size


@pytest.mark.slow
@pytest.mark.parametrize("what", ["pool-process", "whole-worker"])
def test_worker_killed_with_sigkill_mid_chunk_loses_nothing(fresh_redis: RedisServer, two_workers, what: str) -> None:
    """pool-process: the child running the chunk is killed; Celery rejects the message
    (task_reject_on_worker_lost) and it is requeued at once. whole-worker: the worker and its
    children are killed; the unacknowledged message returns after the visibility timeout and
    the other worker takes it (task_acks_late)."""
    alpha, beta = two_workers
    plants, periods, chunk_size = _slow_job(fresh_redis, chunks=3, seconds_per_chunk=1.2)
    with TestClient(create_app(_settings(fresh_redis, job_chunk_size=chunk_size))) as client:
        accepted = client.post("/productionplan/jobs?detail=true", json={"powerplants": plants, "periods": periods})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]

        chunk, pid = _chunk_held_by(fresh_redis, job_id, "alpha")
        if what == "pool-process":
            os.kill(pid, signal.SIGKILL)
        else:
            alpha.kill_all()

        job = wait_done(client, accepted.headers["Location"], timeout=90)
        assert job["status"] == "done", job.get("reason")
        assert job["progress"]["periods_done"] == len(periods)
        assert_matches(job["results"], plants, periods, detail=True)
        # The killed chunk was started twice: it really was redelivered, not finished by the dead one.
        attempts = fresh_redis.client().hget(job_key(job_id, "attempts"), chunk)
        assert int(attempts) >= 2
        # A chunk run twice does not count the job twice.
        assert _cluster_jobs(client) == {"queued": 1, "running": 1, "done": 1, "failed": 0}
        if what == "whole-worker":
            finisher = fresh_redis.client().hget(job_key(job_id, "workers"), chunk).decode()
            assert finisher.startswith("beta@"), finisher
            # The dead worker's heartbeat expires: the health check stops listing it.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                listed = client.get("/_healthcheck").json()["backends"]["jobs"]["workers"]
                if not any(n.startswith("alpha@") for n in listed):
                    break
                time.sleep(0.5)
            assert [n.split("@")[0] for n in listed] == ["beta"]


def test_no_worker_is_degraded_and_jobs_wait_queued(fresh_redis: RedisServer) -> None:
    plants = fleet(4)
    with TestClient(create_app(_settings(fresh_redis))) as client:
        health = client.get("/_healthcheck").json()
        assert health["status"] == "degraded"
        assert health["backends"]["jobs"]["status"] == "degraded" and health["backends"]["jobs"]["workers"] == []
        accepted = client.post("/productionplan/jobs", json={"powerplants": plants, "periods": series(plants, 3)})
        assert accepted.status_code == 202
        status = client.get(accepted.headers["Location"]).json()
        assert status["status"] == "queued" and "results" not in status
        assert _cluster_jobs(client) == {"queued": 1, "running": 0, "done": 0, "failed": 0}
        assert client.get("/productionplan/jobs/nope").status_code == 404


def test_broker_down_is_503_not_500_and_health_degraded(fresh_redis: RedisServer) -> None:
    plants = fleet(4)
    with TestClient(create_app(_settings(fresh_redis, cache_retry_max_seconds=0.5))) as client:
        fresh_redis.stop()
        try:
            answer = client.post("/productionplan/jobs", json={"powerplants": plants, "periods": series(plants, 3)})
            assert answer.status_code == 503 and answer.headers.get("Retry-After")
            assert client.get("/productionplan/jobs/whatever").status_code == 503
            health = client.get("/_healthcheck")
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            assert health.json()["backends"]["jobs"]["broker"] == "down"
            assert _cluster_jobs(client) is None  # /metrics still answers, without the Redis-backed family
        finally:
            fresh_redis.start()


def test_job_counts_by_state_are_counted_once_per_job(fresh_redis: RedisServer) -> None:
    """The worker side of the cluster counts, on a real Redis: two chunks, one run twice, one period in error."""
    client = fresh_redis.client()
    ok = [{"index": 0, "status": "ok"}]
    assert store.chunk_started(client, "j1", 0, "w1", 60) == 1
    assert store.chunk_started(client, "j1", 1, "w2", 60) == 1
    store.chunk_finished(client, "j1", 0, "w1", ok, 2, 60)
    assert store.chunk_started(client, "j1", 1, "w1", 60) == 2  # redelivered
    store.chunk_finished(client, "j1", 1, "w1", [{"index": 1, "status": "error", "reason": "boom"}], 2, 60)
    store.chunk_finished(client, "j1", 1, "w2", [{"index": 1, "status": "error", "reason": "boom"}], 2, 60)  # the first run ends too
    assert asyncio.run(_counts(fresh_redis)) == {"running": 1, "failed": 1}

    store.chunk_started(client, "j2", 0, "w1", 60)
    store.chunk_finished(client, "j2", 0, "w1", ok, 1, 60)
    assert asyncio.run(_counts(fresh_redis)) == {"running": 2, "failed": 1, "done": 1}


async def _counts(server: RedisServer) -> dict[str, int]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(server.url())
    try:
        return await store.job_state_counts(client)
    finally:
        await client.aclose()
