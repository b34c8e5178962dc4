"""Issue 14, item 3: no accepted job stays `running` for ever, whatever Redis or a worker does.

Real processes: our own redis-server with an append-only file (so that a SIGKILL and a restart
keep what Redis acknowledged, as in the compose deployment) and real `merit-order worker`
processes. The broker's own recovery is kept out of the way (visibility timeout 120 s, the
default), so that a job finishing within the tests' timeouts was finished by the chunk
watchdog (jobs/watchdog.py), not by Celery restoring a message. Deadlines are short here
(JOB_CHUNK_STALE_SECONDS=3) to keep the file quick; production uses 10 s.

The first tests drive `watchdog.sweep` directly against the real Redis (no worker) to pin
each rule down; the last ones break things under running workers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jobs_helpers import assert_matches, expected, fleet, series
from redis_fixtures import RedisServer, WorkerProcess, require_redis_server

from merit_order.api.app import create_app
from merit_order.calculator import CostModel, ProductionPlanRequest, compute_plan
from merit_order.jobs import store, watchdog
from merit_order.jobs.celery_app import QUEUE
from merit_order.jobs.results import ResultCodec
from merit_order.jobs.store import job_key
from merit_order.settings import Settings

pytestmark = pytest.mark.redis

STALE_SECONDS = 3.0
WATCHDOG_INTERVAL = 0.5
WORKER_ENV = {
    "JOB_CHUNK_STALE_SECONDS": str(STALE_SECONDS),
    "JOB_WATCHDOG_INTERVAL_SECONDS": str(WATCHDOG_INTERVAL),
    "JOB_VISIBILITY_TIMEOUT_SECONDS": "120",
}


@pytest.fixture()
def aof_redis() -> Iterator[RedisServer]:
    """A private redis-server with appendonly on, for this test only."""
    server = RedisServer(require_redis_server(), appendonly=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server._dir, ignore_errors=True)


def _settings(server: RedisServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        log_format="console",
        log_level="WARNING",
        redis_url=server.url(),
        job_chunk_stale_seconds=STALE_SECONDS,
        job_watchdog_interval_seconds=WATCHDOG_INTERVAL,
        job_visibility_timeout_seconds=120,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture()
def workers(aof_redis: RedisServer) -> Iterator[list[WorkerProcess]]:
    started = [WorkerProcess(aof_redis.url(), name, extra_env=WORKER_ENV) for name in ("alpha", "beta")]
    try:
        for worker in started:
            worker.wait_ready(aof_redis.client())
        yield started
    finally:
        for worker in started:
            worker.stop()


def _chunk_size_for(plants: list[dict[str, Any]], seconds: float, chunks: int) -> int:
    """Periods per chunk so that one chunk takes about `seconds` on this machine (and the job of
    `chunks` chunks stays within MAX_BATCH_PERIODS)."""
    probe = series(plants, 30, seed=3)
    started = time.perf_counter()
    for period in probe:
        request = ProductionPlanRequest.model_validate({"load": period["load"], "fuels": period["fuels"], "powerplants": plants})
        try:
            compute_plan(request, cost_model=CostModel())
        except ValueError:
            pass
    per_period = (time.perf_counter() - started) / len(probe)
    return max(10, min(Settings().max_batch_periods // chunks, int(seconds / per_period)))


def _poll_until_finished(client: TestClient, location: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = client.get(location, params={"limit": 1})
        if answer.status_code == 503:  # Redis coming back (reconnecting, loading its file): poll again
            time.sleep(0.1)
            continue
        assert answer.status_code == 200, answer.text
        status = answer.json()
        if status["status"] in ("done", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"job still {status.get('status')} after {timeout}s: {status.get('progress')}")


def _all_results(client: TestClient, location: str, periods: int) -> list[dict[str, Any]]:
    """Every result, page by page (works whether the route pages by default or not)."""
    results: list[dict[str, Any]] = []
    while len(results) < periods:
        page = client.get(location, params={"offset": len(results), "limit": 1000}).json()
        chunk = page.get("results") or []
        assert chunk, f"no results at offset {len(results)}: {page.get('status')}"
        results.extend(chunk)
    return results


def _wait_running(server: RedisServer, job_id: str, at_least: int, timeout: float = 30.0) -> None:
    client = server.client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.hlen(job_key(job_id, "running")) >= at_least:
            return
        time.sleep(0.02)
    raise AssertionError(f"never {at_least} chunks running at once")


# --- the rules, one sweep at a time (real Redis, no worker) -----------------------------------


class Published(list):  # type: ignore[type-arg]  # a list of (job id, chunk) pairs; the bare base keeps the call sites simple
    """A stand-in for the broker: records what the watchdog resubmits."""

    def __call__(self, job_id: str, chunk: int) -> None:
        self.append((job_id, chunk))


def test_sweep_resubmits_only_lost_chunks_then_gives_up_with_a_reason(aof_redis: RedisServer) -> None:
    """Queued chunks wait while the queue holds messages; once the queue is empty they are lost
    and resubmitted; a chunk lost more than JOB_CHUNK_MAX_RESUBMITS times is given up on, and the
    job ends `failed` with a reason, every period accounted for."""
    plants = fleet(4)
    periods = series(plants, 6)
    redis = aof_redis.client()
    recovery = watchdog.Recovery(stale_seconds=0.3, max_resubmits=1, interval_seconds=0.1)
    with TestClient(create_app(_settings(aof_redis, job_chunk_size=2, job_chunk_stale_seconds=0.3))) as client:
        accepted = client.post("/productionplan/jobs", json={"powerplants": plants, "periods": periods})
        assert accepted.status_code == 202, accepted.text
        job_id, location = accepted.json()["job_id"], accepted.headers["Location"]
        assert redis.zcard(watchdog.DEADLINES_KEY) == 3 and redis.hlen(job_key(job_id, "input")) == 3

        published = Published()
        # Not overdue yet: nothing taken.
        assert watchdog.sweep(redis, published, recovery, queue=QUEUE, ttl=60) == []
        time.sleep(0.35)
        # Overdue, but the three messages are still in the queue (no worker): they wait.
        actions = watchdog.sweep(redis, published, recovery, queue=QUEUE, ttl=60)
        assert sorted(a.what for a in actions) == ["waiting"] * 3 and published == []
        assert redis.llen(QUEUE) == 3

        # The messages vanish (what the Redis stall did); chunk 1 meanwhile was started by a
        # worker that then went silent, and chunk 2 is done.
        redis.delete(QUEUE)
        redis.hset(job_key(job_id, "running"), 1, json.dumps({"worker": "ghost@x", "pid": 1, "since": "then"}))
        _store(redis, job_id, 2, plants, periods)
        time.sleep(0.35)
        actions = watchdog.sweep(redis, published, recovery, queue=QUEUE, ttl=60)
        assert sorted((a.chunk, a.what) for a in actions) == [(0, "resubmitted"), (1, "resubmitted"), (2, "forgotten")]
        assert sorted(published) == [(job_id, 0), (job_id, 1)]
        assert not redis.hexists(job_key(job_id, "running"), 1)  # shown queued again, not running
        assert redis.zscore(watchdog.DEADLINES_KEY, watchdog.member(job_id, 2)) is None

        # A second watchdog sweeping at the same moment takes nothing: the deadlines moved on.
        assert watchdog.sweep(redis, Published(), recovery, queue=QUEUE, ttl=60) == []

        # Chunk 0 is lost again; chunk 1 is running and beating: only chunk 0 is touched.
        redis.hset(job_key(job_id, "running"), 1, json.dumps({"worker": "alive@x", "pid": 2, "since": "now"}))
        deadline = time.monotonic() + 0.6
        actions = []
        while time.monotonic() < deadline:
            watchdog.beat(redis, job_id, 1, recovery)
            actions += watchdog.sweep(redis, published, recovery, queue=QUEUE, ttl=60)
            time.sleep(0.05)
        assert [(a.chunk, a.what) for a in actions] == [(0, "failed")]
        assert len(published) == 2  # nothing more was sent

        # Chunk 1's worker stores it, as the task does (chunk 2 is stored a second time, as a
        # late duplicate would): the job is failed, with the reason, and counted failed once.
        for chunk in (1, 2):
            _store(redis, job_id, chunk, plants, periods)
            watchdog.chunk_stored(redis, job_id, chunk)
        answer = client.get(location)
        status = answer.json()
        assert status.get("status") == "failed", (answer.status_code, status)
        assert "chunk 0" in status["reason"] and "was lost 2 times" in status["reason"], status["reason"]
        assert status["progress"]["errors"] == 2 and status["progress"]["periods_done"] == 6
        results = _all_results(client, location, 6)
        assert [r["index"] for r in results] == list(range(6))
        assert [r["label"] for r in results[:2]] == [periods[0]["label"], periods[1]["label"]]
        assert all(r["status"] == "error" and "was lost" in r["reason"] for r in results[:2])
        # The job's deadlines are gone with it; the failure is counted once for the deployment.
        assert redis.zcard(watchdog.DEADLINES_KEY) == 0
        assert int(redis.hget("merit-order:stats:jobs", "failed")) == 1


@pytest.mark.slow
def test_a_running_chunk_keeps_its_deadline_ahead_while_it_beats_and_only_then(aof_redis: RedisServer) -> None:
    """The task's heartbeat thread: while the block runs (three times the stale delay here) no
    sweep takes the chunk; once it stops beating, the next sweep after the delay does. And a
    worker handed a chunk that is done (the broker's late copy) finds nothing to do."""
    redis = aof_redis.client()
    recovery = watchdog.Recovery(stale_seconds=0.4, max_resubmits=5, interval_seconds=0.1)
    redis.hset(job_key("j"), mapping={"chunks": 2, "chunk_size": 1, "periods": 2, "options": "{}"})
    redis.hset(job_key("j", "input"), mapping={k: json.dumps({"index": k, "start": k, "fleet": None, "items": [{}]}) for k in (0, 1)})
    redis.hset(job_key("j", "running"), 0, json.dumps({"worker": "w@x", "pid": 1, "since": "now"}))
    published = Published()
    taken: list[watchdog.Action] = []
    with watchdog.heartbeat(redis, "j", 0, recovery):
        until = time.monotonic() + 1.2
        while time.monotonic() < until:
            taken += watchdog.sweep(redis, published, recovery, queue=QUEUE, ttl=60)
            time.sleep(0.05)
    assert taken == [] and published == []
    time.sleep(0.45)
    assert [(a.chunk, a.what) for a in watchdog.sweep(redis, published, recovery, queue=QUEUE, ttl=60)] == [(0, "resubmitted")]
    assert published == [("j", 0)]

    work = watchdog.chunk_work(redis, "j", 1)
    assert work is not None and work.message["index"] == 1 and work.total_chunks == 2
    redis.hset(job_key("j", "counts"), 1, json.dumps({"ok": 1, "infeasible": 0, "error": 0}))
    assert watchdog.chunk_work(redis, "j", 1) is None  # done: a late redelivery is skipped
    assert not watchdog.beat(redis, "j", 1, recovery)  # and a late beat cannot bring its deadline back
    assert watchdog.chunk_work(redis, "gone", 0) is None  # nor is there anything to do for a vanished job


def _store(redis: Any, job_id: str, chunk: int, plants: list[dict[str, Any]], periods: list[dict[str, Any]]) -> None:
    """Chunk `chunk` (two periods) solved and stored, as a worker's task stores it."""
    results = [{"index": i, "label": periods[i]["label"], **expected(plants, periods[i])} for i in (2 * chunk, 2 * chunk + 1)]
    store.chunk_finished(redis, job_id, chunk, "w@x", results, 3, 60, codec=ResultCodec.for_job(plants, {}))


# --- real workers, real failures -------------------------------------------------------------


def _submit(client: TestClient, plants: list[dict[str, Any]], periods: list[dict[str, Any]]) -> tuple[str, str]:
    accepted = client.post("/productionplan/jobs", json={"powerplants": plants, "periods": periods})
    assert accepted.status_code == 202, accepted.text
    return accepted.json()["job_id"], accepted.headers["Location"]


@pytest.mark.slow
def test_redis_stalled_mid_job_the_job_still_finishes_right(aof_redis: RedisServer, workers: list[WorkerProcess]) -> None:
    """The filed case: Redis SIGSTOPped while chunks run, then SIGCONT: the job reaches `done`,
    every period equal to the synchronous answer.

    14 s is long enough for the running chunks to lose their task for good: their writes time
    out (5 s socket timeout) until they give up (2 x JOB_CHUNK_STALE_SECONDS = 6 s), and the
    task, failed, is acknowledged. Before the watchdog the same happened to Celery's own retry
    when the stall outlasted its publish retries: issue 14's job, stuck at 6/8 chunks after a
    31 s stall (STALL_SECONDS=31 reproduces it)."""
    plants = fleet(30)
    chunk_size = _chunk_size_for(plants, 0.6, 8)
    periods = series(plants, chunk_size * 8, seed=5)
    with TestClient(create_app(_settings(aof_redis, job_chunk_size=chunk_size))) as client:
        job_id, location = _submit(client, plants, periods)
        _wait_running(aof_redis, job_id, 2)
        assert aof_redis.process is not None
        os.kill(aof_redis.process.pid, signal.SIGSTOP)
        try:
            time.sleep(float(os.environ.get("STALL_SECONDS", "14")))
        finally:
            os.kill(aof_redis.process.pid, signal.SIGCONT)
        resumed = time.monotonic()
        status = _poll_until_finished(client, location, timeout=45)
        print(f"\nredis stall: SIGCONT -> {status['status']} in {time.monotonic() - resumed:.1f} s")
        assert status["status"] == "done", status.get("reason")
        assert_matches(_all_results(client, location, len(periods)), plants, periods)
        # The chunks whose task gave up were recovered by the watchdog, not by luck.
        resubmits = {int(k): int(v) for k, v in aof_redis.client().hgetall(job_key(job_id, "resubmits")).items()}
        print(f"resubmitted chunks: {resubmits}")
        assert resubmits, "no chunk was resubmitted: the stall did not lose any (too short?)"


@pytest.mark.slow
def test_redis_killed_and_restarted_mid_job_never_leaves_it_stuck(aof_redis: RedisServer, workers: list[WorkerProcess]) -> None:
    """Redis SIGKILLed while chunks run and started again on its append-only file: the job
    ends `done` with every period right, or `failed` with a reason; never `running` for ever."""
    plants = fleet(30)
    chunk_size = _chunk_size_for(plants, 0.6, 6)
    periods = series(plants, chunk_size * 6, seed=9)
    with TestClient(create_app(_settings(aof_redis, job_chunk_size=chunk_size))) as client:
        job_id, location = _submit(client, plants, periods)
        _wait_running(aof_redis, job_id, 2)
        aof_redis.stop()
        time.sleep(2)
        aof_redis.start()
        restarted = time.monotonic()
        status = _poll_until_finished(client, location, timeout=45)
        print(f"\nredis restart: -> {status['status']} in {time.monotonic() - restarted:.1f} s")
        if status["status"] == "failed":
            assert status.get("reason"), status
        else:
            assert_matches(_all_results(client, location, len(periods)), plants, periods)


@pytest.mark.slow
def test_whole_worker_killed_mid_chunk_is_recovered_by_deadline_not_visibility_timeout(
    aof_redis: RedisServer, workers: list[WorkerProcess]
) -> None:
    """SIGKILL of a worker and its pool while it holds a chunk: nobody rejects the message and
    the broker would hand it out again only after 120 s. The chunk's heartbeat stops, so the
    other worker's watchdog resubmits it after JOB_CHUNK_STALE_SECONDS; the chunk still running
    on that other worker is never resubmitted."""
    alpha, _beta = workers
    plants = fleet(30)
    chunk_size = _chunk_size_for(plants, 1.2, 3)
    periods = series(plants, chunk_size * 3, seed=13)
    with TestClient(create_app(_settings(aof_redis, job_chunk_size=chunk_size))) as client:
        job_id, location = _submit(client, plants, periods)
        redis = aof_redis.client()
        deadline = time.monotonic() + 20
        held = None
        while held is None and time.monotonic() < deadline:
            for chunk, raw in redis.hgetall(job_key(job_id, "running")).items():
                if json.loads(raw)["worker"].startswith("alpha@"):
                    held = int(chunk)
            time.sleep(0.02)
        assert held is not None, "alpha never held a chunk"
        alpha.kill_all()
        killed = time.monotonic()
        status = _poll_until_finished(client, location, timeout=40)
        print(f"\nworker SIGKILL: -> {status['status']} in {time.monotonic() - killed:.1f} s")
        assert status["status"] == "done", status.get("reason")
        assert_matches(_all_results(client, location, len(periods)), plants, periods)
        # The dead worker's chunk was resubmitted once and finished by the survivor; no other
        # chunk was resubmitted (the survivor's running chunk kept its deadline by beating).
        resubmits = {int(k): int(v) for k, v in redis.hgetall(job_key(job_id, "resubmits")).items()}
        assert resubmits == {held: 1}, resubmits
        assert redis.hget(job_key(job_id, "workers"), held).decode().startswith("beta@")
        assert redis.zcard(watchdog.DEADLINES_KEY) == 0
