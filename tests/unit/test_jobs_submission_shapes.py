"""Issue 13: a bare JSON array is a batch, and an infeasible period says what the hourly route says."""

from __future__ import annotations

import copy
from typing import Any

from common import load_example
from fastapi.testclient import TestClient
from jobs_helpers import wait_done

from merit_order.api.app import create_app
from merit_order.settings import Settings


def _client() -> TestClient:
    return TestClient(
        create_app(Settings(log_format="console", log_level="WARNING", redis_url=None, job_local_workers=0, job_chunk_size=2))
    )


def _with_load(load: float) -> dict[str, Any]:
    payload = copy.deepcopy(load_example("payload3"))
    payload["load"] = load
    return payload


def test_a_bare_array_of_payloads_is_a_batch_with_the_sync_routes_answers() -> None:
    payloads = [_with_load(480), _with_load(300.5), _with_load(910)]
    with _client() as client:
        accepted = client.post("/productionplan/jobs", json=payloads)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["periods"] == 3
        job = wait_done(client, accepted.headers["Location"])
        assert job["status"] == "done" and job["kind"] == "requests"
        assert [r["index"] for r in job["results"]] == [0, 1, 2]
        for result, payload in zip(job["results"], payloads, strict=True):
            assert result["status"] == "ok"
            assert result["plan"] == client.post("/productionplan", json=payload).json()


def test_a_bare_array_names_the_bad_period_and_an_empty_one_is_refused() -> None:
    bad = _with_load(480)
    bad["load"] = -1
    with _client() as client:
        refused = client.post("/productionplan/jobs", json=[_with_load(480), bad])
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["[1].load"]
        empty = client.post("/productionplan/jobs", json=[])
        assert empty.status_code == 422
        assert empty.json()["errors"][0]["field"] == "body"


def test_an_infeasible_period_has_the_hourly_routes_nearest_loads() -> None:
    payload = _with_load(30_000)  # above the fleet's capacity
    with _client() as client:
        hourly = client.post("/productionplan", json=payload)
        assert hourly.status_code == 422
        accepted = client.post("/productionplan/jobs", json=[payload])
        job = wait_done(client, accepted.headers["Location"])
        (result,) = job["results"]
        assert result["status"] == "infeasible"
        assert "nearest" not in result
        assert result["nearest_loads"] == hourly.json()["nearest_loads"]
        assert result["nearest_loads"]["below"] is not None and result["nearest_loads"]["above"] is None


def test_the_openapi_schema_offers_the_bare_array() -> None:
    with _client() as client:
        body = client.get("/openapi.json").json()["paths"]["/productionplan/jobs"]["post"]["requestBody"]
        content = body["content"]["application/json"]
        assert any(option.get("type") == "array" for option in content["schema"]["oneOf"])
        assert isinstance(content["examples"]["list"]["value"], list)
