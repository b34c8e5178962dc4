"""`/metrics`: the series a dashboard relies on move when the things they count happen.

prometheus_client's registry is process-wide, so every test compares before and after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_solve_time_and_cache_are_counted(client: TestClient, example: Callable[[str], Any]) -> None:
    before = scrape(client)
    assert client.post("/productionplan", json=example("payload3")).headers["X-Cache"] == "miss"
    assert client.post("/productionplan", json=example("payload3")).headers["X-Cache"] == "hit"
    infeasible = example("payload3")
    infeasible["load"] = 1e4
    assert client.post("/productionplan", json=infeasible).status_code == 422
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("merit_order_http_requests_total", method="POST", route="/productionplan", status="200") == 2
    assert delta("merit_order_http_requests_total", method="POST", route="/productionplan", status="422") == 1
    assert delta("merit_order_http_request_duration_seconds_count", method="POST", route="/productionplan") == 3
    assert delta("merit_order_solve_duration_seconds_count", outcome="ok") == 1  # the hit did not solve
    assert delta("merit_order_solve_duration_seconds_count", outcome="infeasible") == 1
    assert delta("merit_order_cache_lookups_total", result="hit") == 1
    assert delta("merit_order_cache_lookups_total", result="miss") == 2


def test_unknown_paths_share_one_series(client: TestClient) -> None:
    for i in range(30):
        assert client.get(f"/probe/{i}/admin.php").status_code == 404
    samples = scrape(client)
    routes = {dict(labels)["route"] for (name, labels) in samples if name == "merit_order_http_requests_total"}
    assert "<unmatched>" in routes
    assert not any(route.startswith("/probe") for route in routes)


def test_route_templates_not_raw_paths(client: TestClient) -> None:
    for job_id in ("a1", "b2", "c3"):
        assert client.get(f"/productionplan/jobs/{job_id}").status_code == 404
    samples = scrape(client)
    assert value(samples, "merit_order_http_requests_total", method="GET", route="/productionplan/jobs/{job_id}", status="404") >= 3


def test_websocket_clients_gauge(client: TestClient) -> None:
    before = value(scrape(client), "merit_order_ws_clients")
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "hello"
        assert value(scrape(client), "merit_order_ws_clients") == before + 1
    deadline = time.monotonic() + 5
    while value(scrape(client), "merit_order_ws_clients") != before:
        assert time.monotonic() < deadline, "the gauge did not come back down"
        time.sleep(0.05)


def test_jobs_by_state(app_client: Callable[..., TestClient], example: Callable[[str], Any]) -> None:
    client = app_client(job_local_workers=0)
    before = scrape(client)
    response = client.post("/productionplan/jobs", json=example("payload1"))
    assert response.status_code == 202
    location = response.headers["Location"]
    deadline = time.monotonic() + 20
    while client.get(location).json()["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    after = scrape(client)
    for state in ("queued", "running", "done"):
        assert value(after, "merit_order_jobs_total", state=state) - value(before, "merit_order_jobs_total", state=state) == 1


def test_broadcast_drops_are_counted() -> None:
    from merit_order.broadcast import Hub
    from merit_order.metrics import BROADCAST_MESSAGES

    hub = Hub(queue_size=1)
    hub.subscribe()
    before = BROADCAST_MESSAGES.labels("dropped")._value.get()
    for i in range(3):
        hub.fan_out(f"message {i}")
    assert BROADCAST_MESSAGES.labels("dropped")._value.get() == before + 2


def test_metrics_can_be_turned_off(app_client: Callable[..., TestClient]) -> None:
    assert app_client(metrics_enabled=False).get("/metrics").status_code == 404
