"""Issue 13: a /ws client that connects after plans were made receives the recent ones at once."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
import websockets.sync.client as ws_client
from fastapi.testclient import TestClient
from live_server import ApiServer

from merit_order.api.app import create_app
from merit_order.settings import Settings

PAYLOAD3: dict[str, Any] = json.loads(resources.files("merit_order").joinpath("examples", "payload3.json").read_text())


def _with_load(load: float) -> dict[str, Any]:
    return {**PAYLOAD3, "load": load}


@pytest.mark.slow
def test_a_late_websocket_client_gets_the_last_plans_oldest_first_over_a_real_socket() -> None:
    server = ApiServer({"BROADCAST_HISTORY_SIZE": "3", "CACHE_ENABLED": "false"}).start()
    try:
        for load in (300, 400, 500, 600):  # made while nobody listens
            status, _ = server.post_json("/productionplan", _with_load(load))
            assert status == 200
        with ws_client.connect(server.ws_url, open_timeout=10) as ws:
            hello = json.loads(ws.recv(timeout=10))
            assert hello["type"] == "hello" and hello["history"] == 3
            replayed = [json.loads(ws.recv(timeout=10)) for _ in range(3)]
            assert [m["type"] for m in replayed] == ["plan"] * 3
            assert [m["request"]["load"] for m in replayed] == [400, 500, 600]  # the last 3, oldest first
            assert [m["detail"]["load"] for m in replayed] == [400, 500, 600]
            assert replayed[0]["at"] < replayed[-1]["at"]  # when each was made, not when it was sent
            # then the live feed goes on as before
            status, _ = server.post_json("/productionplan", _with_load(700))
            assert status == 200
            live = json.loads(ws.recv(timeout=10))
            assert live["type"] == "plan" and live["request"]["load"] == 700
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


def test_no_history_when_it_is_turned_off() -> None:
    app = create_app(Settings(log_format="console", log_level="WARNING", redis_url=None, broadcast_history_size=0))
    with TestClient(app) as client:
        assert client.post("/productionplan", json=PAYLOAD3).status_code == 200
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_json()["history"] == 0


def test_the_history_keeps_the_messages_published_while_clients_listened_too() -> None:
    app = create_app(Settings(log_format="console", log_level="WARNING", redis_url=None, broadcast_history_size=5))
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as first:
            assert first.receive_json()["history"] == 0
            assert client.post("/productionplan", json=_with_load(480)).status_code == 200
            assert first.receive_json()["request"]["load"] == 480
        assert client.post("/productionplan", json=_with_load(490)).status_code == 200
        with client.websocket_connect("/ws") as second:
            assert second.receive_json()["history"] == 2
            assert [second.receive_json()["request"]["load"] for _ in range(2)] == [480, 490]
