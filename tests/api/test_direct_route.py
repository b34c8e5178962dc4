"""POST /productionplan is answered by api/direct.py, past FastAPI's router; the route stays declared.

Both ways in must answer alike, errors included: the same requests are sent to the app as
built and to the same app without its DirectRoute layer (so that FastAPI's router, its
exception handlers and the declared route's handler answer), and the answers compared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from common import load_example, make_settings
from fastapi.testclient import TestClient

from merit_order.api import create_app
from merit_order.api.direct import DirectRoute

CASES: list[tuple[str, str, bytes]] = [
    ("payload1", "", json.dumps(load_example("payload1")).encode()),
    ("payload2 detail", "?detail=true", json.dumps(load_example("payload2")).encode()),
    ("payload3 curtailed", "?wind_curtailment=1&detail=yes", json.dumps(load_example("payload3")).encode()),
    ("infeasible load", "", json.dumps({**load_example("payload3"), "load": 1e4}).encode()),
    ("bad field", "", json.dumps({**load_example("payload3"), "fuels": {"gas(euro/MWh)": "x"}}).encode()),
    ("not json", "", b"{load: 1"),
    ("empty body", "", b""),
    ("bad query", "?detail=perhaps", json.dumps(load_example("payload1")).encode()),
    ("too many plants", "", json.dumps({**load_example("payload1"), "powerplants": load_example("payload1")["powerplants"] * 3}).encode()),
]


def _client(direct: bool) -> TestClient:
    app = create_app(make_settings(cache_enabled=False, max_plants=10))
    if not direct:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not DirectRoute]
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[TestClient, TestClient]]:
    with _client(direct=True) as direct, _client(direct=False) as routed:
        yield direct, routed


def _answer(client: TestClient, query: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
    response = client.post(f"/productionplan{query}", content=body, headers={"content-type": "application/json"})
    payload = response.json()
    if response.status_code >= 400:  # errors carry the request id, which differs between calls
        assert payload.pop("request_id") == response.headers["x-request-id"]
    kept = {name: response.headers[name] for name in ("content-type", "x-cache", "retry-after") if name in response.headers}
    return response.status_code, payload, kept


@pytest.mark.parametrize(("label", "query", "body"), CASES, ids=[c[0] for c in CASES])
def test_direct_and_routed_answers_are_the_same(clients: tuple[TestClient, TestClient], label: str, query: str, body: bytes) -> None:
    direct, routed = clients
    assert _answer(direct, query, body) == _answer(routed, query, body)


def test_the_direct_layer_is_the_one_answering(clients: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without this, the comparison above could be comparing the router with itself."""
    direct, routed = clients
    seen: list[str] = []
    original = DirectRoute.__call__

    async def spy(self: DirectRoute, scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(DirectRoute, "__call__", spy)
    body = json.dumps(load_example("payload3")).encode()
    json_type = {"content-type": "application/json"}
    assert direct.post("/productionplan", content=body, headers=json_type).status_code == 200
    assert seen == ["/productionplan"]
    assert routed.post("/productionplan", content=body, headers=json_type).status_code == 200
    assert seen == ["/productionplan"]  # the routed app has no DirectRoute layer


def test_other_methods_and_paths_go_on_to_fastapi(clients: tuple[TestClient, TestClient]) -> None:
    direct, _ = clients
    assert direct.get("/productionplan").status_code == 405
    assert direct.post("/productionplan/", content=b"{}", follow_redirects=False).status_code == 307  # the router's redirect
    assert direct.get("/_healthcheck").status_code == 200
