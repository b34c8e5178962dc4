"""POST /productionplan and GET /_healthcheck through the real app (happy paths)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from common import load_example
from fastapi.testclient import TestClient

from merit_order.services import Services


def assert_obeys_rules(payload: dict[str, Any], answer: list[dict[str, Any]]) -> None:
    """The rules any answer must obey, whatever the optimum is."""
    names = [p["name"] for p in payload["powerplants"]]
    assert sorted(a["name"] for a in answer) == sorted(names), "every plant exactly once"
    assert all(set(a) == {"name", "p"} for a in answer), "the challenge's keys only"
    tenths = [a["p"] * 10 for a in answer]
    assert all(abs(t - round(t)) < 1e-9 for t in tenths), "every p on the 0.1 MW grid"
    assert sum(round(t) for t in tenths) == round(payload["load"] * 10), "sum == load"
    plants = {p["name"]: p for p in payload["powerplants"]}
    for a in answer:
        plant = plants[a["name"]]
        if a["p"] == 0:
            continue
        if plant["type"] == "windturbine":
            available = math.floor(plant["pmax"] * payload["fuels"]["wind(%)"] / 100 * 10 + 1e-6) / 10
            assert a["p"] == available, f"{a['name']}: wind all-or-nothing"
        else:
            assert plant["pmin"] - 1e-9 <= a["p"] <= plant["pmax"] + 1e-9, f"{a['name']}: within pmin/pmax"


@pytest.mark.parametrize("name", ["payload1", "payload2", "payload3"])
def test_examples_obey_the_rules(client: TestClient, name: str) -> None:
    payload = load_example(name)
    response = client.post("/productionplan", json=payload)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert_obeys_rules(payload, response.json())


def test_payload3_is_the_challenges_answer(client: TestClient) -> None:
    response = client.post("/productionplan", json=load_example("payload3"))
    assert response.status_code == 200
    assert response.json() == load_example("response3")


def test_payload2_switches_the_windless_parks_off_and_uses_two_gas_plants(client: TestClient) -> None:
    answer = {a["name"]: a["p"] for a in client.post("/productionplan", json=load_example("payload2")).json()}
    assert answer["gasfiredbig1"] == 380.0
    assert answer["gasfiredbig2"] == 100.0
    assert sum(answer.values()) == pytest.approx(480.0)


def test_detail_returns_costs_consistent_with_the_plan(client: TestClient) -> None:
    payload = load_example("payload3")
    plain = client.post("/productionplan", json=payload).json()
    response = client.post("/productionplan", params={"detail": "true"}, json=payload)
    assert response.status_code == 200
    doc = response.json()
    assert set(doc) >= {"load", "total_cost", "marginal_cost", "co2_tonnes", "plan"}
    assert [{"name": e["name"], "p": e["p"]} for e in doc["plan"]] == plain
    assert doc["load"] == 910.0
    fuels = payload["fuels"]
    for entry in doc["plan"]:
        assert entry["cost"] == pytest.approx(entry["p"] * entry["cost_per_mwh"])
        if entry["type"] == "windturbine":
            assert entry["cost_per_mwh"] == 0.0
    by_name = {e["name"]: e for e in doc["plan"]}
    # gasfired: gas / efficiency + 0.3 t/MWh * CO2 price
    assert by_name["gasfiredbig1"]["cost_per_mwh"] == pytest.approx(13.4 / 0.53 + 0.3 * 20)
    assert by_name["tj1"]["cost_per_mwh"] == pytest.approx(50.8 / 0.3)
    assert doc["total_cost"] == pytest.approx(sum(e["cost"] for e in doc["plan"]))
    running = [e["cost_per_mwh"] for e in doc["plan"] if e["p"] > 0]
    assert doc["marginal_cost"] == pytest.approx(max(running))
    gas_mwh = sum(e["p"] for e in doc["plan"] if e["type"] == "gasfired")
    assert doc["co2_tonnes"] == pytest.approx(0.3 * gas_mwh)
    assert fuels["co2(euro/ton)"] == 20


def _wind_trap() -> dict[str, Any]:
    """Load 100, a 150 MW available wind park and a gas plant of Pmin 100: all-or-nothing wind must go off."""
    return {
        "load": 100,
        "fuels": {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 100},
        "powerplants": [
            {"name": "gas", "type": "gasfired", "efficiency": 0.5, "pmin": 100, "pmax": 400},
            {"name": "wind", "type": "windturbine", "efficiency": 1, "pmin": 0, "pmax": 150},
        ],
    }


def test_wind_curtailment_query_parameter(client: TestClient) -> None:
    off = {a["name"]: a["p"] for a in client.post("/productionplan", json=_wind_trap()).json()}
    assert off == {"wind": 0.0, "gas": 100.0}
    on = client.post("/productionplan", params={"wind_curtailment": "true"}, json=_wind_trap())
    assert {a["name"]: a["p"] for a in on.json()} == {"wind": 100.0, "gas": 0.0}


def test_wind_curtailment_default_comes_from_the_settings(app_client: Any) -> None:
    client = app_client(wind_curtailment=True)
    answer = {a["name"]: a["p"] for a in client.post("/productionplan", json=_wind_trap()).json()}
    assert answer == {"wind": 100.0, "gas": 0.0}
    forced_off = client.post("/productionplan", params={"wind_curtailment": "false"}, json=_wind_trap())
    assert {a["name"]: a["p"] for a in forced_off.json()} == {"wind": 0.0, "gas": 100.0}


def test_emission_factor_settings_change_the_costs(app_client: Any) -> None:
    client = app_client(gas_co2_t_per_mwh=0.0, kerosine_co2_t_per_mwh=1.0)
    doc = client.post("/productionplan", params={"detail": "true"}, json=load_example("payload3")).json()
    by_name = {e["name"]: e for e in doc["plan"]}
    assert by_name["gasfiredbig1"]["cost_per_mwh"] == pytest.approx(13.4 / 0.53)
    assert by_name["tj1"]["cost_per_mwh"] == pytest.approx(50.8 / 0.3 + 20)


def test_x_cache_miss_then_hit(client: TestClient) -> None:
    payload = load_example("payload1")
    first = client.post("/productionplan", json=payload)
    second = client.post("/productionplan", json=payload)
    assert first.headers["x-cache"] == "miss"
    assert second.headers["x-cache"] == "hit"
    assert first.json() == second.json()


def test_off_grid_float_noise_is_accepted(client: TestClient) -> None:
    payload = load_example("payload1")
    payload["load"] = 480.00000001
    response = client.post("/productionplan", json=payload)
    assert response.status_code == 200, response.text
    assert sum(round(a["p"] * 10) for a in response.json()) == 4800


def test_zero_load_switches_everything_off(client: TestClient) -> None:
    payload = load_example("payload3")
    payload["load"] = 0
    response = client.post("/productionplan", json=payload)
    assert response.status_code == 200
    assert all(a["p"] == 0.0 for a in response.json())


def test_body_without_json_content_type_is_refused(client: TestClient) -> None:
    """`curl -d @payload.json` sends application/x-www-form-urlencoded: a 415 saying what to send.

    A form or text/plain post is what a page on another origin can make a browser send without
    a CORS preflight, so the POST routes take JSON only (tests/api/test_attacks.py has the rest).
    """
    import json

    response = client.post(
        "/productionplan",
        content=json.dumps(load_example("payload3")),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["detail"]


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    echoed = client.post("/productionplan", json=load_example("payload1"), headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    made = client.get("/_healthcheck")
    assert len(made.headers["x-request-id"]) >= 16
    other = client.get("/_healthcheck")
    assert other.headers["x-request-id"] != made.headers["x-request-id"]
    # A header that could inject text into the logs is replaced, not echoed.
    hostile = client.get("/_healthcheck", headers={"X-Request-ID": "x" * 500})
    assert hostile.headers["x-request-id"] != "x" * 500


def test_healthcheck_ok(client: TestClient) -> None:
    response = client.get("/_healthcheck")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    from importlib import metadata

    assert body["version"] == metadata.version("merit-order")
    assert {"cache", "broadcast"} <= set(body["backends"])
    assert all(report["status"] not in ("down", "error") for report in body["backends"].values())


class _DownCache:
    async def get(self, key: str) -> None:
        raise ConnectionError("cache is down")

    async def set(self, key: str, value: dict[str, Any]) -> None:
        raise ConnectionError("cache is down")

    async def health(self) -> dict[str, Any]:
        return {"status": "down", "backend": "test"}


class _BrokenBroadcaster:
    def has_audience(self) -> bool:
        return True  # so that the route does try to publish

    async def publish(self, message: dict[str, Any]) -> None:
        raise RuntimeError("broadcast is broken")

    async def health(self) -> dict[str, Any]:
        raise RuntimeError("health check exploded")


def test_healthcheck_degraded_when_a_backend_is_down_and_plans_still_answer(client: TestClient) -> None:
    client.app.state.services = Services(cache=_DownCache(), broadcaster=_BrokenBroadcaster())  # type: ignore[attr-defined]  # TestClient.app is typed as a bare ASGI app
    health = client.get("/_healthcheck")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded"
    assert body["backends"]["cache"]["status"] == "down"
    assert body["backends"]["broadcast"]["status"] == "down"
    assert "health check exploded" in body["backends"]["broadcast"]["error"]
    # A broken cache and broadcaster never fail the plan itself.
    response = client.post("/productionplan", json=load_example("payload3"))
    assert response.status_code == 200
    assert response.json() == load_example("response3")
    assert response.headers["x-cache"] == "miss"
