"""The Redis cache against a real redis-server (our own, on a free port): shared, TTL, outages."""

from __future__ import annotations

import time

import pytest
from common import payload3 as _payload3
from fastapi.testclient import TestClient
from redis_fixtures import RedisServer, fresh_redis, redis_server  # noqa: F401 - fixtures

from merit_order.api.app import create_app
from merit_order.cache import KEY_PREFIX
from merit_order.settings import Settings

pytestmark = pytest.mark.redis


def _settings(server: RedisServer, **overrides) -> Settings:
    return Settings(
        log_format="console",
        log_level="WARNING",
        redis_url=server.url(),
        cache_retry_max_seconds=0.5,
        **overrides,
    )


def test_hit_and_miss_shared_by_two_apps(fresh_redis: RedisServer) -> None:
    payload = _payload3()
    with TestClient(create_app(_settings(fresh_redis))) as one, TestClient(create_app(_settings(fresh_redis))) as two:
        first = one.post("/productionplan", json=payload)
        assert first.status_code == 200 and first.headers["X-Cache"] == "miss"
        # The other replica has never seen this request: it answers from the shared Redis.
        second = two.post("/productionplan", json=dict(payload, load=910.0))
        assert second.headers["X-Cache"] == "hit" and second.json() == first.json()
        assert one.post("/productionplan", json=payload).headers["X-Cache"] == "hit"

        keys = fresh_redis.client().keys(KEY_PREFIX + "*")
        assert len(keys) == 1
        ttl = fresh_redis.client().ttl(keys[0])
        assert 86_000 < ttl <= 86_400  # the default TTL: one day

        health = one.get("/_healthcheck").json()
        assert health["backends"]["cache"]["backend"] == "redis"
        assert health["backends"]["cache"]["status"] == "ok"


@pytest.mark.slow
def test_ttl_is_honoured(fresh_redis: RedisServer) -> None:
    payload = _payload3()
    with TestClient(create_app(_settings(fresh_redis, cache_ttl_seconds=1))) as client:
        assert client.post("/productionplan", json=payload).headers["X-Cache"] == "miss"
        assert client.post("/productionplan", json=payload).headers["X-Cache"] == "hit"
        assert fresh_redis.client().ttl(fresh_redis.client().keys(KEY_PREFIX + "*")[0]) <= 1
        time.sleep(1.3)
        assert client.post("/productionplan", json=payload).headers["X-Cache"] == "miss"


@pytest.mark.slow
def test_redis_stopped_and_restarted_while_serving(fresh_redis: RedisServer) -> None:
    payload = _payload3()
    with TestClient(create_app(_settings(fresh_redis))) as client:
        expected = client.post("/productionplan", json=payload).json()
        assert client.post("/productionplan", json=payload).headers["X-Cache"] == "hit"

        fresh_redis.stop()
        try:
            # Redis is gone: the route still answers, from the calculator, quickly.
            for _ in range(5):
                started = time.perf_counter()
                answer = client.post("/productionplan", json=payload)
                assert answer.status_code == 200 and answer.json() == expected
                assert answer.headers["X-Cache"] == "miss"
                assert time.perf_counter() - started < 1.0
            health = client.get("/_healthcheck")
            assert health.status_code == 200
            assert health.json()["status"] == "degraded"
            assert health.json()["backends"]["cache"]["status"] == "down"
        finally:
            fresh_redis.start()  # same port, empty (no persistence)

        # Redis is back: within the back-off (0.5 s here) the cache serves again, unaided.
        deadline = time.monotonic() + 10
        hit = False
        while time.monotonic() < deadline and not hit:
            answer = client.post("/productionplan", json=payload)
            assert answer.status_code == 200 and answer.json() == expected
            hit = answer.headers["X-Cache"] == "hit"
            time.sleep(0.2)
        assert hit, "the cache did not come back after Redis restarted"
        assert client.get("/_healthcheck").json()["backends"]["cache"]["status"] == "ok"
