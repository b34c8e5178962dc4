"""Jobs with the embedded executor (no Redis): the batch shapes, validation, status, results."""

from __future__ import annotations

import pytest
from common import payload3 as _payload3
from fastapi.testclient import TestClient
from jobs_helpers import assert_matches, fleet, series, wait_done

from merit_order.api.app import create_app
from merit_order.calculator import CostModel
from merit_order.jobs.compute import cost_model_from
from merit_order.settings import Settings


def _client(**overrides) -> TestClient:
    settings = dict(log_format="console", log_level="WARNING", redis_url=None, job_local_workers=0, job_chunk_size=40)
    settings.update(overrides)
    return TestClient(create_app(Settings(**settings)))


def test_series_job_in_chunks_matches_the_calculator_in_order() -> None:
    plants = fleet(10)
    periods = series(plants, 300)
    periods.append({"label": "too much", "load": 30_000.0, "fuels": periods[0]["fuels"]})  # infeasible
    with _client(job_local_workers=2) as client:  # a real process pool
        accepted = client.post("/productionplan/jobs?detail=true", json={"powerplants": plants, "periods": periods})
        assert accepted.status_code == 202
        body = accepted.json()
        assert body["status"] == "queued" and body["periods"] == 301
        assert accepted.headers["Location"] == f"/productionplan/jobs/{body['job_id']}" == body["location"]

        job = wait_done(client, accepted.headers["Location"])
        assert job["status"] == "done"  # an infeasible hour is an answer, not a failure
        assert job["progress"]["chunks"] == 8  # ceil(301 / 40)
        assert job["progress"]["periods_done"] == 301
        assert job["progress"]["infeasible"] >= 1
        assert job["results"][-1]["status"] == "infeasible"
        assert job["results"][-1]["nearest_loads"]["below"] is not None
        assert_matches(job["results"], plants, periods, detail=True)

        page = client.get(accepted.headers["Location"], params={"offset": 100, "limit": 5, "detail": "false"}).json()
        assert [r["index"] for r in page["results"]] == [100, 101, 102, 103, 104]
        assert all("detail" not in r for r in page["results"])


def test_list_of_payloads_and_single_payload_match_the_sync_route() -> None:
    payload = _payload3()
    with _client() as client:
        sync = client.post("/productionplan", json=payload).json()
        sync_detail = client.post("/productionplan?detail=true", json=payload).json()

        single = client.post("/productionplan/jobs?detail=true", json=payload)
        assert single.status_code == 202 and single.json()["periods"] == 1
        job = wait_done(client, single.headers["Location"])
        assert job["status"] == "done" and job["kind"] == "single"
        assert job["results"][0]["plan"] == sync
        assert job["results"][0]["detail"] == sync_detail

        other = dict(payload, load=500, label="desk B")
        batch = client.post("/productionplan/jobs", json={"requests": [dict(payload, label="desk A"), other]})
        job = wait_done(client, batch.headers["Location"])
        assert [r["label"] for r in job["results"]] == ["desk A", "desk B"]
        assert job["results"][0]["plan"] == sync
        assert job["results"][1]["plan"] == client.post("/productionplan", json=dict(payload, load=500)).json()


def test_wind_curtailment_option_reaches_the_job() -> None:
    payload = _payload3()
    with _client() as client:
        sync = client.post("/productionplan?wind_curtailment=true", json=payload).json()
        job = wait_done(client, client.post("/productionplan/jobs?wind_curtailment=true", json=payload).headers["Location"])
        assert job["options"]["wind_curtailment"] is True
        assert job["results"][0]["plan"] == sync


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"periods": "LATER"}, "periods"),
        ({"requests": []}, "requests"),
        ({"requests": [{"load": 1}]}, "requests[0].fuels"),
        ("not an object", "body"),
    ],
)
def test_invalid_jobs_are_422_naming_the_field(body: object, field: str) -> None:
    with _client() as client:
        answer = client.post("/productionplan/jobs", json=body)
        assert answer.status_code == 422
        assert field in [e["field"] for e in answer.json()["errors"]] or field in answer.json()["detail"]


def test_a_bad_period_is_a_422_naming_its_index_and_field() -> None:
    plants = fleet(6)
    periods = series(plants, 50)
    periods[41] = dict(periods[41], load=100.05)
    periods[7] = dict(periods[7], fuels=dict(periods[7]["fuels"], **{"wind(%)": 140}))
    with _client() as client:
        answer = client.post("/productionplan/jobs", json={"powerplants": plants, "periods": periods})
        assert answer.status_code == 422
        fields = [e["field"] for e in answer.json()["errors"]]
        assert fields == ["periods[7].fuels.wind(%)", "periods[41].load"]
        assert "multiple of 0.1 MW" in answer.json()["errors"][1]["message"]

        bad_fleet = plants + [dict(plants[0])]  # duplicate name
        answer = client.post("/productionplan/jobs", json={"powerplants": bad_fleet, "periods": periods[:2]})
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["plant"] == plants[0]["name"]


def test_batch_size_limit_and_bad_json() -> None:
    plants = fleet(4)
    with _client(max_batch_periods=10) as client:
        answer = client.post("/productionplan/jobs", json={"powerplants": plants, "periods": series(plants, 11)})
        assert answer.status_code == 422 and "MAX_BATCH_PERIODS" in answer.json()["detail"]
        broken = client.post("/productionplan/jobs", content=b"{nope", headers={"content-type": "application/json"})
        assert broken.status_code == 400


def test_unknown_job_is_404() -> None:
    with _client() as client:
        answer = client.get("/productionplan/jobs/does-not-exist")
        assert answer.status_code == 404
        assert "does-not-exist" in answer.json()["detail"]


@pytest.mark.slow
def test_jobs_accept_bodies_larger_than_the_sync_limit() -> None:
    plants = fleet(30)
    periods = series(plants, 1200)
    with _client(max_body_bytes=64 * 1024, job_chunk_size=600) as client:
        big = client.post("/productionplan/jobs", json={"powerplants": plants, "periods": periods})
        assert big.status_code == 202, big.text
        assert wait_done(client, big.headers["Location"])["progress"]["periods_done"] == 1200


def test_a_job_without_co2_options_is_costed_with_the_default_cost_model() -> None:
    # The options of a job message may leave the CO2 factors out; the defaults are CostModel's
    # (they were read off the slots dataclass's class once, which holds descriptors: TypeError).
    assert cost_model_from({}) == CostModel()
    assert cost_model_from({"gas_co2_t_per_mwh": 0.5}) == CostModel(gas_co2_t_per_mwh=0.5)


def test_a_finished_job_is_kept_its_ttl_then_says_it_expired() -> None:
    """JOB_RESULT_TTL_SECONDS, on the store's own clock moved by hand (no sleeping): a done job
    is readable until its TTL is up, then a 404 that says why, not "unknown"."""
    now = [1_000.0]
    plants = fleet(3)
    with _client(job_result_ttl_seconds=60) as client:
        client.app.state.services.jobs.clock = lambda: now[0]
        accepted = client.post("/productionplan/jobs", json={"powerplants": plants, "periods": series(plants, 3)})
        assert accepted.status_code == 202
        location = accepted.headers["Location"]
        assert wait_done(client, location)["status"] == "done"
        now[0] += 59.9
        assert client.get(location).status_code == 200
        now[0] += 0.2
        gone = client.get(location)
        assert gone.status_code == 404
        assert "expired" in gone.json()["detail"] and "JOB_RESULT_TTL_SECONDS" in gone.json()["detail"]
