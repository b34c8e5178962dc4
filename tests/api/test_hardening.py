"""Limits enforced before any work, the per-request solve budget, graceful shutdown."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import merit_order.planning as planning
from merit_order.metrics import SOLVE_BUDGET_EXCEEDED

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "merit_order" / "examples"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def no_solving(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fails loudly if the calculator is reached: these requests must be refused before."""
    calls: list[Any] = []

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        raise AssertionError("compute_plan was called for a request that should have been refused first")

    monkeypatch.setattr(planning, "compute_plan", forbidden)
    monkeypatch.setattr(planning, "prepare_plan", forbidden)  # the way in for fleets over SMALL_FLEET
    return calls


def big_fleet(n: int) -> dict[str, Any]:
    return {
        "load": 100,
        "fuels": {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 60},
        "powerplants": [
            {"name": f"gas{i}", "type": "gasfired", "efficiency": 0.5, "pmin": 10, "pmax": 100} for i in range(n)
        ],
    }


def test_too_large_fleet_is_refused_fast_without_solving(
    app_client: Callable[..., TestClient], no_solving: list[Any]
) -> None:
    client = app_client(max_plants=500)
    started = time.perf_counter()
    response = client.post("/productionplan", json=big_fleet(501))
    elapsed = time.perf_counter() - started
    assert response.status_code == 422
    assert "500" in response.json()["detail"]
    assert elapsed < 0.5, f"refusing 501 plants took {elapsed:.3f}s"
    assert no_solving == []


def test_too_large_load_is_refused_without_solving(
    app_client: Callable[..., TestClient], no_solving: list[Any]
) -> None:
    payload = big_fleet(3)
    payload["load"] = 50_000.1
    response = app_client(max_load_mw=50_000).post("/productionplan", json=payload)
    assert response.status_code == 422
    assert no_solving == []


def test_too_large_body_is_refused_before_parsing(
    app_client: Callable[..., TestClient], no_solving: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import merit_order.api.routes.plan as plan_route

    def no_parsing(*_: Any) -> Any:
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(plan_route, "decode_json", no_parsing)
    client = app_client(max_body_bytes=64 * 1024)
    body = json.dumps(big_fleet(2000)).encode()
    assert len(body) > 64 * 1024
    response = client.post("/productionplan", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert no_solving == []


def test_a_solve_over_the_budget_is_a_503_with_a_clear_message(
    app_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = planning.prepare_plan

    class Stalled:
        """A stand-in for a solve that never checks its cancellation (the route must not wait on it)."""

        cells = 10  # a light table: the shared thread pool's path
        instant = False

        def __init__(self, prepared: Any) -> None:
            self.prepared = prepared

        def finish(self, control: Any = None) -> Any:
            time.sleep(1.5)
            return self.prepared.finish()

    monkeypatch.setattr(planning, "prepare_plan", lambda *a, **k: Stalled(real(*a, **k)))
    monkeypatch.setattr(planning, "solves_instantly", lambda request: False)  # as a large fleet would be
    client = app_client(solve_timeout_seconds=0.2, cache_enabled=False)
    before = SOLVE_BUDGET_EXCEEDED._value.get()
    started = time.perf_counter()
    response = client.post("/productionplan", content=(EXAMPLES / "payload3.json").read_bytes(), headers=JSON)
    elapsed = time.perf_counter() - started
    assert response.status_code == 503
    assert "SOLVE_TIMEOUT_SECONDS" in response.json()["detail"]
    assert response.headers["Retry-After"] == "1"
    assert elapsed < 1.2, f"the route waited {elapsed:.2f}s past a 0.2s budget"
    assert SOLVE_BUDGET_EXCEEDED._value.get() == before + 1


def test_within_the_budget_the_real_solver_answers(app_client: Callable[..., TestClient]) -> None:
    client = app_client(solve_timeout_seconds=5, cache_enabled=False)
    response = client.post("/productionplan", content=(EXAMPLES / "payload3.json").read_bytes(), headers=JSON)
    assert response.status_code == 200
    assert response.json() == json.loads((EXAMPLES / "response3.json").read_text())


# --------------------------------------------------------------------------------------
# graceful shutdown: a request in flight when SIGTERM arrives still gets its answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_sigterm_lets_the_request_in_flight_finish() -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k.upper() not in ("REDIS_URL", "API_KEY")},
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
    }
    log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's output, read after it stops
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "merit-order"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    body = (EXAMPLES / "payload3.json").read_bytes()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        with conn:
            # Headers and half the body: the request is in flight, its handler waiting for the rest.
            head = (
                f"POST /productionplan HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            conn.sendall(head + body[: len(body) // 2])
            time.sleep(0.3)
            server.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert server.poll() is None, "the server quit with a request in flight"
            # New connections are refused meanwhile (the listening socket is closed first).
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            conn.sendall(body[len(body) // 2 :])
            response = b""
            while chunk := conn.recv(65536):
                response += chunk
        status_line, _, rest = response.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 200"), response[:300]
        answer = json.loads(rest.partition(b"\r\n\r\n")[2])
        assert answer == json.loads((EXAMPLES / "response3.json").read_text())
        code = server.wait(timeout=15)
        assert code in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    log.seek(0)
    output = log.read().decode(errors="replace")
    events = [json.loads(line).get("event") for line in output.splitlines() if line.startswith("{")]
    assert "service_stopped" in events, output[-2000:]
