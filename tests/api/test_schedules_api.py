"""`/schedules` on the embedded executor (no Redis): the schedule solved off the request path.

What is checked against something independent: every schedule the service returns is
checked row by row by tests/support/uc_checker.py (MODEL.tex's constraints and costs, no code shared
with the solver), and a schedule solved through the API is held to the certificate of the
same instance solved in-process (each one's bound is below the other's objective). The rest
is the contract: 202 + Location, statuses, 422s that name the field, the unit and the period,
limits, cancel keeping the best schedule, /ws messages, metrics, a solving process killed.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from fastapi.testclient import TestClient
from schedule_client import FINAL, submit, wait_for, wait_until
from uc_checker import check_schedule
from uc_instances import load_instance

from merit_order.api.app import create_app
from merit_order.schedule import read_problem, schedule_document, solve_schedule
from merit_order.settings import Settings


def example(name: str) -> dict[str, Any]:
    return json.loads(resources.files("merit_order").joinpath("examples", name).read_text())


PGLIB = example("schedule_pglib.json")
DESK = example("schedule_desk.json")


def client_for(**settings: Any) -> TestClient:
    return TestClient(create_app(Settings(**settings)))


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with client_for() as c:
        yield c


def test_a_pglib_instance_is_solved_off_the_request_path_and_checks_out(client: TestClient) -> None:
    location = submit(client, PGLIB, gap=0.0, time_limit_s=30)
    document = wait_for(client, location)
    assert document["status"] == "done", document["error"]
    schedule = document["schedule"]
    assert check_schedule(PGLIB, schedule) == []
    assert schedule["lower_bound"] <= schedule["objective"] + 1e-6
    assert document["progress"]["objective"] == pytest.approx(schedule["objective"])
    assert document["format"] == "pglib-uc"
    assert document["size"] == {"thermal_units": 3, "renewable_units": 1, "periods": 6}
    assert document["demand"] == PGLIB["demand"] and document["reserve"] == PGLIB["reserves"]
    assert document["created_at"] <= document["started_at"] <= document["finished_at"]
    history = document["progress"]["history"]
    objectives = [h["objective"] for h in history if h["objective"] is not None]
    bounds = [h["lower_bound"] for h in history if h["lower_bound"] is not None]
    assert objectives == sorted(objectives, reverse=True) and bounds == sorted(bounds)


@pytest.mark.slow
def test_a_desk_instance_agrees_with_the_same_instance_solved_in_process(client: TestClient) -> None:
    location = submit(client, DESK, gap=0.001, time_limit_s=30)
    api = wait_for(client, location)["schedule"]
    problem = read_problem(DESK)
    direct = schedule_document(problem, solve_schedule(problem, gap=0.001, time_limit=30))
    # Two certificates of one instance: each bound is below the other's schedule.
    assert api["lower_bound"] <= direct["objective"] + 1e-6
    assert direct["lower_bound"] <= api["objective"] + 1e-6
    assert api["gap"] <= 0.001 + 1e-12
    assert set(api["thermal"]) == {"ccgt1", "ccgt2", "tj1"} and set(api["renewable"]) == {"wind1"}


def broken_pglib(path: list[Any], value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(PGLIB))
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("instance", "field", "unit", "period"),
    [
        (broken_pglib(["thermal_generators", "ccgt1", "power_output_minimum"], 500.0), "ccgt1", "ccgt1", None),
        (broken_pglib(["demand", 3], -5.0), "demand[3]", None, 4),
        (broken_pglib(["renewable_generators", "wind1", "power_output_maximum", 2], "lots"), "wind1", "wind1", 3),
        ({**DESK, "periods": [*DESK["periods"][:2], {"load": -1}]}, "periods[2].load", None, 3),
        (broken_pglib(["demand", 4], 5000.0), "demand", None, 5),  # more than the whole fleet: infeasible
    ],
)
def test_invalid_instances_are_422s_naming_the_field_the_unit_and_the_period(
    client: TestClient, instance: dict[str, Any], field: str, unit: str | None, period: int | None
) -> None:
    answer = client.post("/schedules", json=instance)
    assert answer.status_code == 422, answer.text
    first = answer.json()["errors"][0]
    assert field in first["field"] and first["unit"] == unit and first["period"] == period, first
    assert first["message"] and "Traceback" not in answer.text


@pytest.mark.parametrize(
    ("query", "field"),
    [({"time_limit_s": 301}, "time_limit_s"), ({"gap": 1}, "gap"), ({"time_limit_s": 0}, "time_limit_s"), ({"periods": 0}, "periods")],
)
def test_options_out_of_range_are_422s(client: TestClient, query: dict[str, Any], field: str) -> None:
    answer = client.post("/schedules", params=query, json=PGLIB)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field


def test_limits_from_the_settings() -> None:
    with client_for(schedule_max_units=3, schedule_max_periods=5, max_schedule_body_bytes=4096) as c:
        too_many_units = c.post("/schedules", json=PGLIB)
        assert too_many_units.status_code == 422 and "3" in too_many_units.json()["detail"]
        too_many_periods = c.post("/schedules", params={"periods": 6}, json={**PGLIB, "renewable_generators": {}})
        assert too_many_periods.status_code == 422 and too_many_periods.json()["errors"][0]["field"] == "time_periods"
        assert c.post("/schedules", params={"periods": 5}, json={**PGLIB, "renewable_generators": {}}).status_code == 202
        big = {**PGLIB, "padding": "x" * 5000}
        assert c.post("/schedules", json=big).status_code == 413
    with client_for() as c:
        assert c.post("/schedules", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
        assert c.post("/schedules", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
        neither = c.post("/schedules", json=[1, 2])
        assert neither.status_code == 422 and "pglib-uc" in neither.json()["detail"]


def test_unknown_and_malformed_ids(client: TestClient) -> None:
    unknown = "0" * 32
    assert client.get(f"/schedules/{unknown}").status_code == 404
    assert client.delete(f"/schedules/{unknown}").status_code == 404
    assert client.get("/schedules/not-an-id").status_code == 422


def test_cancel_stops_a_running_solve_and_keeps_its_best_schedule(client: TestClient) -> None:
    rts = load_instance("pglib-uc/rts_gmlc/2020-01-27.json", 24)
    location = submit(client, rts, gap=0.0, time_limit_s=120)
    running = wait_until(client, location, lambda d: d["progress"]["objective"] is not None and d["schedule"] is not None)
    assert running["status"] == "running"
    began = time.monotonic()
    answer = client.delete(location)
    assert answer.status_code == 200
    document = answer.json()
    assert document["status"] == "cancelled" and document["cancel_requested"] is True
    assert time.monotonic() - began < 10  # the solve stopped, it did not run out its 120 s
    assert check_schedule(rts, document["schedule"]) == []
    assert client.get(location).json()["status"] == "cancelled"
    assert client.delete(location).json()["status"] == "cancelled"  # idempotent


def test_a_queued_schedule_is_cancelled_before_it_runs() -> None:
    rts = load_instance("pglib-uc/rts_gmlc/2020-01-27.json", 24)
    with client_for(schedule_local_workers=1) as c:
        first = submit(c, rts, gap=0.0, time_limit_s=120)
        second = submit(c, PGLIB)
        wait_for(c, first, ("running",))
        assert c.get(second).json()["status"] == "queued"
        cancelled = c.delete(second).json()
        assert cancelled["status"] == "cancelled" and cancelled["schedule"] is None and cancelled["started_at"] is None
        assert c.delete(first).status_code == 200
        done = c.post("/schedules", json=PGLIB)  # the slot is free again
        assert wait_for(c, done.headers["location"])["status"] == "done"
        listed = [s["id"] for s in c.get("/schedules").json()["schedules"]]
        assert listed[:3] == [done.json()["id"], second.rsplit("/", 1)[1], first.rsplit("/", 1)[1]]


def test_a_finished_schedule_cannot_be_cancelled(client: TestClient) -> None:
    location = submit(client, PGLIB)
    wait_for(client, location)
    answer = client.delete(location)
    assert answer.status_code == 409 and "already ended" in answer.json()["detail"]


def test_progress_and_the_end_reach_the_live_feed(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "hello"
        location = submit(client, PGLIB, gap=0.0)
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["status"] not in FINAL:
            message = ws.receive_json()
            if message.get("type") == "schedule" and message["location"] == location:
                seen.append(message)
    statuses = [m["status"] for m in seen]
    assert statuses[0] == "queued" and "running" in statuses and statuses[-1] == "done"
    final = client.get(location).json()
    assert seen[-1]["progress"]["objective"] == pytest.approx(final["schedule"]["objective"])


def test_metrics_count_schedules_by_status_with_seconds_and_gap(client: TestClient) -> None:
    wait_for(client, submit(client, PGLIB))
    text = client.get("/metrics").text
    done = [line for line in text.splitlines() if line.startswith('merit_order_schedules_total{status="done"}')]
    assert done and float(done[0].split()[-1]) >= 1
    count = [line for line in text.splitlines() if line.startswith("merit_order_schedule_solve_seconds_count")]
    assert count and float(count[0].split()[-1]) >= 1
    assert "merit_order_schedule_gap_bucket" in text


def test_a_solving_process_that_dies_leaves_its_schedule_failed_not_stuck(client: TestClient) -> None:
    rts = load_instance("pglib-uc/rts_gmlc/2020-01-27.json", 24)
    location = submit(client, rts, gap=0.0, time_limit_s=120)
    running = wait_for(client, location, ("running",))
    pid = int(running["worker"].split(":")[1])
    os.kill(pid, signal.SIGKILL)
    document = wait_for(client, location, timeout=10)
    assert document["status"] == "failed" and "died" in document["error"]


@pytest.mark.slow
def test_openapi_shows_both_formats_and_each_example_is_accepted(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/schedules"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == {"desk", "pglib-uc"}
    for item in examples.values():
        location = submit(client, item["value"])
        assert wait_for(client, location)["status"] == "done"


def test_late_clients_get_recent_plans_replayed_but_not_schedule_progress(client: TestClient) -> None:
    assert client.post("/productionplan", json=example("payload3.json")).status_code == 200
    wait_for(client, submit(client, PGLIB, gap=0.0))
    with client.websocket_connect("/ws") as ws:
        hello = ws.receive_json()
        replay = [ws.receive_json() for _ in range(hello["history"])]
    assert replay and {m["type"] for m in replay} == {"plan"}


def test_a_405_lists_every_method_of_the_path(client: TestClient) -> None:
    """Two routes share each path (GET/POST /schedules, GET/DELETE /schedules/{id}): Allow names all."""
    answer = client.put("/schedules", json={})
    assert answer.status_code == 405 and {"GET", "POST"} <= set(answer.headers["allow"].split(", "))
    answer = client.put(f"/schedules/{'0' * 32}", json={})
    assert answer.status_code == 405 and {"GET", "DELETE"} <= set(answer.headers["allow"].split(", "))


def test_a_finished_schedule_is_kept_its_ttl_on_the_stores_clock() -> None:
    """JOB_RESULT_TTL_SECONDS bounds how long a finished schedule is kept, on the queue's own
    clock (moved by hand here, no sleeping): readable until then, an unknown id after."""
    now = [5_000.0]
    with client_for(job_result_ttl_seconds=30) as c:
        c.app.state.services.schedules.clock = lambda: now[0]
        location = submit(c, PGLIB)
        assert wait_for(c, location)["status"] == "done"
        now[0] += 29.9
        assert c.get(location).status_code == 200
        now[0] += 0.2
        assert c.get(location).status_code == 404
        assert all(s["id"] != location.rsplit("/", 1)[1] for s in c.get("/schedules").json()["schedules"])
