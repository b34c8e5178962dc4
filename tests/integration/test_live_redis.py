"""The live feed across replicas: two real API processes sharing a real Redis.

A plan posted to one replica must reach the websocket clients of the other, exactly once, and
the feed must come back by itself after Redis goes away and returns, without a POST ever
failing meanwhile. Needs `redis-server` (skips without it locally, fails under CI=true).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
import websockets.sync.client as ws_client
from live_server import ApiServer, running_api
from redis_fixtures import RedisServer, WorkerProcess, fresh_redis, redis_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.redis

PAYLOAD3: dict[str, Any] = json.loads(resources.files("merit_order").joinpath("examples", "payload3.json").read_text())
RESPONSE3: list[dict[str, Any]] = json.loads(
    resources.files("merit_order").joinpath("examples", "response3.json").read_text()
)


@pytest.fixture()
def two_replicas(fresh_redis: RedisServer) -> Iterator[tuple[ApiServer, ApiServer]]:
    """Two API processes on one Redis, on a channel of their own (pub/sub ignores db numbers)."""
    env = {
        "REDIS_URL": fresh_redis.url(3),
        "BROADCAST_CHANNEL": f"test-live:{uuid.uuid4().hex}",
        "BROADCAST_HEARTBEAT_SECONDS": "0.5",
    }
    with running_api(env) as first, running_api(env) as second:
        for api in (first, second):
            wait_until(lambda api=api: api.broadcast_health()["listening"], f"{api.url} never subscribed")
        yield first, second


def wait_until(predicate: Any, message: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(message)


def plans(ws: Any, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The next `count` plan messages (skipping hello and heartbeats)."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"got {len(out)} plan(s) of {count} within {timeout}s")
        try:
            message = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            continue
        if message["type"] == "plan":
            out.append(message)
    return out


def no_more_plans(ws: Any, quiet: float = 1.0) -> None:
    """Nothing but heartbeats for `quiet` seconds: no duplicate, no echo."""
    deadline = time.monotonic() + quiet
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            return
        assert message["type"] == "heartbeat", f"unexpected extra message: {message}"


def test_a_plan_posted_to_one_replica_reaches_the_clients_of_both_exactly_once(
    two_replicas: tuple[ApiServer, ApiServer],
) -> None:
    first, second = two_replicas
    with ws_client.connect(first.ws_url) as on_first, ws_client.connect(second.ws_url) as on_second:
        for ws in (on_first, on_second):
            hello = json.loads(ws.recv(timeout=10))
            assert hello["type"] == "hello" and hello["backend"] == "redis"

        status, answer = first.post_json("/productionplan", PAYLOAD3)
        assert status == 200 and answer == RESPONSE3

        [remote] = plans(on_second, 1)
        [local] = plans(on_first, 1)
        assert remote == local  # the same message, by id and content, on both replicas
        assert remote["request"] == PAYLOAD3 and remote["response"] == RESPONSE3
        assert remote["source"] == "sync" and remote["replica"] != ""
        # and each client got it once: the replica that made it does not also echo it from Redis
        no_more_plans(on_first)
        no_more_plans(on_second, quiet=0.2)

        # the other way round too
        status, _ = second.post_json("/productionplan", {**PAYLOAD3, "load": 480})
        assert status == 200
        assert plans(on_first, 1)[0]["request"]["load"] == 480
        assert plans(on_second, 1)[0]["request"]["load"] == 480

    health = second.broadcast_health()
    assert health["status"] == "ok" and health["redis"] == "ok" and health["received"] >= 1


@pytest.mark.slow
def test_the_feed_survives_redis_going_away_and_coming_back(
    two_replicas: tuple[ApiServer, ApiServer], fresh_redis: RedisServer
) -> None:
    first, second = two_replicas
    with ws_client.connect(first.ws_url) as on_first, ws_client.connect(second.ws_url) as on_second:
        fresh_redis.stop()  # SIGKILL: an outage, not a clean shutdown
        try:
            wait_until(lambda: not second.broadcast_health()["listening"], "the listener never noticed Redis left")
            assert second.broadcast_health()["status"] == "degraded"

            # POSTs still answer (and quickly) while Redis is down; local clients still see them
            started = time.perf_counter()
            status, answer = first.post_json("/productionplan", {**PAYLOAD3, "load": 700})
            assert status == 200 and sum(row["p"] for row in answer) == pytest.approx(700)
            assert time.perf_counter() - started < 5.0
            assert plans(on_first, 1)[0]["request"]["load"] == 700
        finally:
            fresh_redis.start()

        for api in (first, second):
            wait_until(lambda api=api: api.broadcast_health()["listening"], f"{api.url} did not resubscribe")
        status, _ = first.post_json("/productionplan", {**PAYLOAD3, "load": 910})
        assert status == 200
        remote = plans(on_second, 1, timeout=15)
        # the plan made during the outage is lost to the other replica (pub/sub keeps nothing);
        # the first plan after it arrives
        assert [m["request"]["load"] for m in remote] == [910]
        assert second.broadcast_health()["reconnects"] >= 1


@pytest.mark.slow
def test_a_celery_workers_job_plans_reach_the_websocket_clients(
    two_replicas: tuple[ApiServer, ApiServer], fresh_redis: RedisServer
) -> None:
    """The worker publishes each chunk's plans itself; every replica's listener fans them out."""
    first, second = two_replicas
    channel = first.env["BROADCAST_CHANNEL"]
    worker = WorkerProcess(fresh_redis.url(3), "live", extra_env={"BROADCAST_CHANNEL": channel})
    try:
        worker.wait_ready(fresh_redis.client(3))
        periods = [{"label": f"h{i}", "load": load, "fuels": PAYLOAD3["fuels"]} for i, load in enumerate((480, 910))]
        with ws_client.connect(second.ws_url) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            status, accepted = first.post_json(
                "/productionplan/jobs", {"powerplants": PAYLOAD3["powerplants"], "periods": periods}
            )
            assert status == 202
            got = sorted(plans(ws, 2, timeout=30), key=lambda m: m["period"])
            assert [(m["source"], m["job_id"], m["label"]) for m in got] == [
                ("job", accepted["job_id"], "h0"),
                ("job", accepted["job_id"], "h1"),
            ]
            assert got[1]["request"] == PAYLOAD3 and got[1]["response"] == RESPONSE3
    finally:
        worker.stop()
