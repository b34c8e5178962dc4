"""Issue 13, item 6: an empty fleet is a valid request. Load 0 is met by producing nothing (the
answer is `[]`); any other load is infeasible and is a 422 naming the load, as for any fleet.
The same through the API, the CLI and the jobs route."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cli_runner import run
from fastapi.testclient import TestClient
from jobs_helpers import wait_done

FUELS = {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 60}


def _payload(load: float) -> dict[str, Any]:
    return {"load": load, "fuels": FUELS, "powerplants": []}


def test_api_plans_nothing_for_load_zero_with_no_plants(client: TestClient) -> None:
    answer = client.post("/productionplan", json=_payload(0))
    assert answer.status_code == 200, answer.text
    assert answer.json() == []
    detail = client.post("/productionplan?detail=true", json=_payload(0)).json()
    assert detail["plan"] == [] and detail["total_cost"] == 0 and detail["load"] == 0


def test_api_refuses_a_positive_load_with_no_plants_naming_the_load(client: TestClient) -> None:
    answer = client.post("/productionplan", json=_payload(10))
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert [error["field"] for error in body["errors"]] == ["load"]
    assert "no production plan meets a load of 10.0 MW" in body["detail"]


@pytest.mark.slow
def test_cli_agrees_with_the_api_on_an_empty_fleet() -> None:
    zero = run("plan", "-", stdin=json.dumps(_payload(0)).encode())
    assert zero.returncode == 0, zero.stderr
    assert json.loads(zero.stdout) == []
    positive = run("plan", "-", stdin=json.dumps(_payload(10)).encode())
    assert positive.returncode != 0
    assert "no production plan meets a load of 10.0 MW" in positive.stderr


def test_jobs_route_agrees_with_the_api_on_an_empty_fleet(app_client: Callable[..., TestClient]) -> None:
    client = app_client(job_local_workers=0)
    accepted = client.post("/productionplan/jobs", json={"requests": [_payload(0), _payload(10)]})
    assert accepted.status_code == 202, accepted.text
    job = wait_done(client, accepted.headers["Location"])
    first, second = job["results"]
    assert first["status"] == "ok" and first["plan"] == []
    assert second["status"] == "infeasible", second
    assert "no production plan meets a load of 10.0 MW" in second["reason"]
