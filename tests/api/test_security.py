"""API key (off by default; X-API-Key, ?api_key= on /ws) and CORS (closed by default)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

KEY = "correct-horse-battery-staple"


def test_off_by_default(client: TestClient, example: Callable[[str], Any]) -> None:
    assert client.post("/productionplan", json=example("payload1")).status_code == 200
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}, {"X-API-Key": KEY + "x"}])
def test_missing_or_wrong_key_is_a_bare_401(
    app_client: Callable[..., TestClient], example: Callable[[str], Any], headers: dict[str, str]
) -> None:
    client = app_client(api_key=KEY)
    for method, path in [("post", "/productionplan"), ("get", "/openapi.json"), ("get", "/docs"),
                         ("get", "/productionplan/jobs/abc"), ("get", "/no-such-route")]:
        kwargs = {"json": example("payload1")} if method == "post" else {}
        response = getattr(client, method)(path, headers=headers, **kwargs)
        assert response.status_code == 401, path
        assert response.json() == {"detail": "unauthorized"}, path  # no hint: missing and wrong look alike


def test_the_right_key_passes(app_client: Callable[..., TestClient], example: Callable[[str], Any]) -> None:
    client = app_client(api_key=KEY)
    response = client.post("/productionplan", json=example("payload3"), headers={"X-API-Key": KEY})
    assert response.status_code == 200
    assert response.json() == example("response3")


def test_the_monitor_page_itself_is_open_its_feed_is_not(app_client: Callable[..., TestClient]) -> None:
    # No data in the page (a browser cannot send a header when it opens one); the plans
    # come over /ws, which needs the key.
    client = app_client(api_key=KEY)
    assert client.get("/monitor").status_code == 200
    with pytest.raises(WebSocketDenialResponse):
        with client.websocket_connect("/ws"):
            pass


def test_healthcheck_is_always_open_and_metrics_by_setting(app_client: Callable[..., TestClient]) -> None:
    client = app_client(api_key=KEY)
    assert client.get("/_healthcheck").status_code == 200
    assert client.get("/metrics").status_code == 200
    strict = app_client(api_key=KEY, metrics_require_key=True)
    assert strict.get("/_healthcheck").status_code == 200
    assert strict.get("/metrics").status_code == 401
    assert strict.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200


def test_docs_open_by_setting_and_declare_the_key(app_client: Callable[..., TestClient], example: Callable[[str], Any]) -> None:
    """DOCS_REQUIRE_KEY=false: /docs loads in a browser, and its schema says which calls need the key."""
    client = app_client(api_key=KEY, docs_require_key=False)
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"] == {"APIKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    assert schema["security"] == [{"APIKey": []}]
    assert schema["paths"]["/_healthcheck"]["get"]["security"] == []  # open
    assert "security" not in schema["paths"]["/productionplan"]["post"]  # the global requirement applies
    # Only the documentation opened: the calls it describes still need the key.
    assert client.post("/productionplan", json=example("payload1")).status_code == 401
    assert client.post("/productionplan", json=example("payload1"), headers={"X-API-Key": KEY}).status_code == 200


def test_no_key_no_security_scheme(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "securitySchemes" not in schema["components"] and "security" not in schema


def test_empty_api_key_means_off(app_client: Callable[..., TestClient], example: Callable[[str], Any]) -> None:
    # compose passes API_KEY= when the variable is unset: that must not be "the empty key".
    client = app_client(api_key="")
    assert client.post("/productionplan", json=example("payload1")).status_code == 200


def test_websocket_needs_the_key_as_a_query_parameter(app_client: Callable[..., TestClient]) -> None:
    client = app_client(api_key=KEY)
    for url in ("/ws", "/ws?api_key=wrong"):
        with pytest.raises(WebSocketDenialResponse) as denied:
            with client.websocket_connect(url):
                pass
        assert denied.value.status_code == 401
        assert denied.value.json() == {"detail": "unauthorized"}
    with client.websocket_connect(f"/ws?api_key={KEY}") as ws:
        assert ws.receive_json()["type"] == "hello"


def test_cors_is_closed_by_default(client: TestClient) -> None:
    response = client.get("/_healthcheck", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/productionplan",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_origins_open_it_to_those_origins_only(app_client: Callable[..., TestClient]) -> None:
    client = app_client(cors_origins="https://a.example, https://b.example", api_key=KEY)
    preflight = client.options(
        "/productionplan",
        headers={
            "Origin": "https://b.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )
    # The preflight is answered without the key (browsers never send it on a preflight).
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://b.example"
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    # A 401 still carries the CORS header, so that the page can read "unauthorized".
    refused = client.get("/openapi.json", headers={"Origin": "https://a.example"})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "https://a.example"
    other = client.get("/_healthcheck", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
