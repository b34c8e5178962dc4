"""The live feed through the real app: what /ws clients receive, and what a stalled one costs.

In-process tests use Starlette's TestClient (the real app, lifespan and routes); the tests
about a client whose TCP socket stops reading use a real uvicorn process, because only a
real socket pushes back.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from fastapi.testclient import TestClient
from live_server import running_api, stalled_ws_client
from starlette.websockets import WebSocketDisconnect

from merit_order.api.app import create_app
from merit_order.settings import Settings

EXAMPLES = resources.files("merit_order").joinpath("examples")
PAYLOAD3: dict[str, Any] = json.loads(EXAMPLES.joinpath("payload3.json").read_text())
RESPONSE3: list[dict[str, Any]] = json.loads(EXAMPLES.joinpath("response3.json").read_text())

QUEUE_SIZE = 8


def make_app(**overrides: Any):  # type: ignore[no-untyped-def]  # asyncio.Transport.write takes a narrower union in typeshed
    settings = Settings(
        redis_url=None,
        log_format="console",
        log_level="WARNING",
        broadcast_queue_size=QUEUE_SIZE,
        broadcast_heartbeat_seconds=0.2,  # quiet feeds tick, so that a missing message fails fast
        **overrides,
    )
    return create_app(settings)


def with_load(load: float) -> dict[str, Any]:
    return {**PAYLOAD3, "load": load}


def next_plan(ws: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The next plan message, skipping hello/heartbeats; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = ws.receive_json()
        if message["type"] == "plan":
            return message
        assert message["type"] in {"hello", "heartbeat"}, message
    pytest.fail(f"no plan message within {timeout}s")


def test_client_connected_before_a_post_receives_exactly_that_request_and_answer() -> None:
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["backend"] == "memory" and hello["queue_size"] == QUEUE_SIZE

        answer = client.post("/productionplan", json=PAYLOAD3)
        assert answer.status_code == 200
        message = next_plan(ws)

        assert message["request"] == PAYLOAD3  # by alias, as the client wrote it
        assert message["response"] == answer.json() == RESPONSE3
        assert message["source"] == "sync" and message["cached"] is False
        at = datetime.fromisoformat(message["at"].replace("Z", "+00:00"))
        assert at.tzinfo is not None and at.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - at) < timedelta(minutes=1)
        assert isinstance(message["id"], str) and len(message["id"]) >= 16

        detail = message["detail"]
        assert detail["load"] == 910.0
        by_name = {row["name"]: row for row in detail["plan"]}
        assert [row["name"] for row in detail["plan"]] == [row["name"] for row in RESPONSE3]
        assert by_name["gasfiredbig1"]["cost_per_mwh"] == pytest.approx(13.4 / 0.53 + 0.3 * 20)
        assert by_name["windpark1"]["available"] == 90.0 and by_name["windpark1"]["type"] == "windturbine"
        assert by_name["tj1"]["available"] == 16.0 and by_name["tj1"]["type"] == "turbojet"
        assert detail["total_cost"] == pytest.approx(sum(r["p"] * r["cost_per_mwh"] for r in detail["plan"]))
        assert detail["marginal_cost"] == pytest.approx(13.4 / 0.53 + 0.3 * 20)
        assert detail["co2_tonnes"] == pytest.approx(0.3 * (460.0 + 338.4))
        # and the detail the API gives on request is the very same document
        assert client.post("/productionplan?detail=true", json=PAYLOAD3).json() == detail

        # The next message is the next plan, nothing in between; a cached answer is a plan too.
        assert next_plan(ws)["cached"] is True  # the ?detail=true call above, answered from the cache
        client.post("/productionplan", json=with_load(480))
        second = next_plan(ws)
        assert second["request"]["load"] == 480 and second["cached"] is False
        assert sum(row["p"] for row in second["response"]) == pytest.approx(480)


def test_two_clients_both_receive_the_plan() -> None:
    with TestClient(make_app()) as client:
        with client.websocket_connect("/ws") as first, client.websocket_connect("/ws") as second:
            assert first.receive_json()["type"] == "hello"
            assert second.receive_json()["type"] == "hello"
            assert client.post("/productionplan", json=PAYLOAD3).status_code == 200
            a, b = next_plan(first), next_plan(second)
            assert a == b  # the same message (same id, same time), not two renderings of it
            assert a["response"] == RESPONSE3
            health = client.get("/_healthcheck").json()["backends"]["broadcast"]
            assert health["clients"] == 2 and health["published"] == 1
        # both gone: the hub forgets them (the route's cleanup ran)
        deadline = time.monotonic() + 5
        while client.get("/_healthcheck").json()["backends"]["broadcast"]["clients"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/_healthcheck").json()["backends"]["broadcast"]["clients"] == 0


def test_a_client_that_never_reads_does_not_block_the_post_route_and_its_drops_are_counted() -> None:
    """A subscription nobody drains (a client whose socket is stuck) next to a healthy client."""
    app = make_app()
    with TestClient(app) as client, client.websocket_connect("/ws") as healthy:
        assert healthy.receive_json()["type"] == "hello"
        stuck = app.state.services.broadcaster.subscribe()  # registered like a client, never drained
        posts = 5 * QUEUE_SIZE
        durations = []
        for i in range(posts):
            started = time.perf_counter()
            assert client.post("/productionplan", json=with_load(100 + i)).status_code == 200
            durations.append(time.perf_counter() - started)
            if i % 4 == 0:  # the healthy client keeps reading meanwhile and sees every plan
                pass
        received = [next_plan(healthy)["request"]["load"] for _ in range(posts)]
        assert received == [100 + i for i in range(posts)]

        # memory stays bounded: the stuck mailbox holds the newest QUEUE_SIZE plans, the rest were dropped
        assert stuck.queue.qsize() == QUEUE_SIZE
        assert stuck.dropped == posts - QUEUE_SIZE
        kept = [json.loads(stuck.queue.get_nowait())["request"]["load"] for _ in range(QUEUE_SIZE)]
        assert kept == [100 + i for i in range(posts - QUEUE_SIZE, posts)]
        health = client.get("/_healthcheck").json()["backends"]["broadcast"]
        assert health["dropped_total"] == posts - QUEUE_SIZE
        assert health["subscriptions"][0]["dropped"] == posts - QUEUE_SIZE  # the worst client first
        assert max(durations) < 2.0, durations  # never waits on the stuck client (generous: shared CI)
        app.state.services.broadcaster.unsubscribe(stuck)


def test_a_finished_jobs_plans_are_broadcast_too() -> None:
    """Each solved period of a job is a plan on the feed (source "job"); infeasible ones are not."""
    fleet = PAYLOAD3["powerplants"]
    periods = [
        {"label": "h0", "load": 480, "fuels": PAYLOAD3["fuels"]},
        {"label": "h1", "load": 5000, "fuels": PAYLOAD3["fuels"]},  # above capacity: no plan to show
        {"label": "h2", "load": 910, "fuels": PAYLOAD3["fuels"]},
    ]
    with TestClient(make_app(job_local_workers=0, job_chunk_size=2)) as client, client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "hello"
        submitted = client.post("/productionplan/jobs", json={"powerplants": fleet, "periods": periods})
        assert submitted.status_code == 202
        job_id = submitted.json()["job_id"]
        messages = sorted((next_plan(ws) for _ in range(2)), key=lambda m: m["period"])
        assert [(m["source"], m["job_id"], m["label"], m["period"]) for m in messages] == [
            ("job", job_id, "h0", 0),
            ("job", job_id, "h2", 2),
        ]
        # the request is the period's payload as a client would write it; the answer the sync route's
        assert messages[1]["request"] == PAYLOAD3
        assert messages[1]["response"] == RESPONSE3
        assert messages[0]["response"] == client.post("/productionplan", json=with_load(480)).json()
        assert next_plan(ws)["source"] == "sync"  # the POST just above; nothing else was queued


def test_a_broken_feed_never_fails_the_post_route(monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:  # a listener, so the route publishes
        assert ws.receive_json()["type"] == "hello"
        broadcaster = app.state.services.broadcaster

        def explode(text: str) -> None:
            raise RuntimeError("feed exploded")

        monkeypatch.setattr(broadcaster.hub, "fan_out", explode)
        answer = client.post("/productionplan", json=PAYLOAD3)
        assert answer.status_code == 200 and answer.json() == RESPONSE3
        assert broadcaster.publish_errors == 1


def test_no_message_is_built_when_nobody_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a client the route builds no message (no encoding cost on the hot path); the
    recent plan is built only when a client connects and is replayed to it."""
    app = make_app()
    with TestClient(app) as client:
        broadcaster = app.state.services.broadcaster
        built: list[object] = []
        monkeypatch.setattr("merit_order.planning.plan_message", lambda **kw: built.append(kw) or {})
        assert client.post("/productionplan", json=PAYLOAD3).status_code == 200
        assert built == [] and broadcaster.published == 0
        with client.websocket_connect("/ws") as ws:
            hello = ws.receive_json()
            assert hello["type"] == "hello" and hello["history"] == 1
            assert len(built) == 1  # the plan made before, built now for the replay
            assert client.post("/productionplan", json=PAYLOAD3).status_code == 200
        assert len(built) == 2


def test_a_quiet_feed_sends_heartbeats() -> None:
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "hello"
        beat = ws.receive_json()  # nothing posted: the next message can only be a heartbeat
        assert beat["type"] == "heartbeat" and beat["at"].endswith("Z")


def test_clients_beyond_the_limit_are_told_to_come_back_later() -> None:
    with TestClient(make_app(broadcast_max_clients=1)) as client, client.websocket_connect("/ws") as first:
        assert first.receive_json()["type"] == "hello"
        with client.websocket_connect("/ws") as second:
            with pytest.raises(WebSocketDisconnect) as refused:
                second.receive_json()
        assert refused.value.code == 1013


def test_the_monitor_page_and_its_files_are_served() -> None:
    with TestClient(make_app()) as client:
        page = client.get("/monitor")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        for asset in ("monitor.js", "monitor.css", "favicon.svg"):
            assert f"monitor/{asset}" in page.text
            served = client.get(f"/monitor/{asset}")
            assert served.status_code == 200 and len(served.content) > 100, asset
        assert "javascript" in client.get("/monitor/monitor.js").headers["content-type"]
        assert client.get("/monitor/example.json").json() == PAYLOAD3
        for bad in ("..%2Fsettings.py", "monitor.html", "nope.js", "x.py"):
            assert client.get(f"/monitor/{bad}").status_code == 404, bad
        # no CDN: every script and stylesheet is ours
        assert "http://" not in page.text and "https://" not in page.text


# ---------------------------------------------------------------------------------------------
# A real socket that stops reading (uvicorn subprocess)
# ---------------------------------------------------------------------------------------------


def big_fleet(plants: int = 200, load: float = 1500.0) -> dict[str, Any]:
    """A payload whose plan message is ~70 kB, so a stalled socket backs up after a few dozen."""
    return {
        "load": load,
        "fuels": PAYLOAD3["fuels"],
        "powerplants": [
            {"name": f"gas-unit-{i:03d}", "type": "gasfired", "efficiency": 0.30 + 0.001 * i, "pmin": 5, "pmax": 50}
            for i in range(plants)
        ],
    }


@pytest.mark.slow
def test_a_stalled_tcp_client_does_not_slow_posts_nor_other_clients() -> None:
    queue_size = 4
    with running_api({"BROADCAST_QUEUE_SIZE": str(queue_size)}) as api:
        stalled = stalled_ws_client(api.port)
        try:
            import websockets.sync.client as ws_client

            payload = big_fleet()
            posts = 120
            loads_seen: list[float] = []
            with ws_client.connect(api.ws_url, max_size=None, open_timeout=10) as healthy:
                assert json.loads(healthy.recv(timeout=10))["type"] == "hello"

                def read() -> None:
                    while len(loads_seen) < posts:
                        message = json.loads(healthy.recv(timeout=30))
                        if message["type"] == "plan":
                            loads_seen.append(message["request"]["load"])

                reader = threading.Thread(target=read, daemon=True)
                reader.start()
                durations = []
                for i in range(posts):
                    started = time.perf_counter()
                    status, _ = api.post_json("/productionplan", {**payload, "load": 1500.0 + i})
                    durations.append(time.perf_counter() - started)
                    assert status == 200
                reader.join(timeout=60)
            # the healthy client saw the last plan (it may lose some in between only if it lagged)
            assert loads_seen and loads_seen[-1] == 1500.0 + posts - 1

            health = api.broadcast_health()
            stuck = max(health["subscriptions"], key=lambda s: s["dropped"])
            assert stuck["dropped"] > 0, health  # the socket pushed back; its oldest plans were dropped
            assert stuck["queued"] <= queue_size  # ... and its mailbox never grew past its bound
            assert health["published"] == posts
            assert sorted(durations)[len(durations) // 2] < 0.5, durations  # median POST stays fast
        finally:
            stalled.close()


@pytest.mark.slow
def test_a_dead_client_is_detected_by_protocol_pings() -> None:
    """A peer whose kernel still ACKs but whose program is gone: only the ping timeout finds it."""
    with running_api(uvicorn_args=["--ws-ping-interval", "0.5", "--ws-ping-timeout", "0.5"]) as api:
        stalled = stalled_ws_client(api.port)
        try:
            deadline = time.monotonic() + 5
            while api.broadcast_health()["clients"] != 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert api.broadcast_health()["clients"] == 1
            deadline = time.monotonic() + 15
            while api.broadcast_health()["clients"] and time.monotonic() < deadline:
                time.sleep(0.2)
            assert api.broadcast_health()["clients"] == 0, "the dead client was never dropped"
        finally:
            stalled.close()
