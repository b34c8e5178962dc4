"""The calculator's work limit: refused up front, as a 422 that says what to change, never a 500.

Identical units are solved as groups (one table column per group), so a fleet of hundreds
of interchangeable plants no longer comes near the limit. What still can is hundreds of
plants whose costs tie while their Pmin and Pmax differ: every split between them ties, so
the pruning keeps whole columns, one per plant.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from merit_order.calculator import CostModel, ProblemTooLarge, ProductionPlanRequest, build_units, compute_plan, solve
from merit_order.calculator import solver


def interchangeable_fleet(count: int, load: float) -> dict:
    """Hundreds of identical plants: every split between them ties; the groups answer at once."""
    share = load / count
    return {
        "load": load,
        "fuels": {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 0},
        "powerplants": [
            {"name": f"unit{i}", "type": "gasfired", "efficiency": 0.5, "pmin": round(share * 1.6, 1), "pmax": round(share * 2.5, 1)}
            for i in range(count)
        ],
    }


def tied_but_different_fleet(count: int, load: float) -> dict:
    """Hundreds of plants of one cost, each with its own Pmin and Pmax: no two identical."""
    return {
        "load": load,
        "fuels": {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 0},
        "powerplants": [
            {"name": f"unit{i}", "type": "gasfired", "efficiency": 0.5, "pmin": 10 + i / 10, "pmax": 100 + i / 10}
            for i in range(count)
        ],
    }


def test_a_tied_fleet_of_different_plants_is_refused_before_the_table_is_built() -> None:
    request = ProductionPlanRequest.model_validate(tied_but_different_fleet(500, 49_999.9))
    started = time.perf_counter()
    with pytest.raises(ProblemTooLarge) as raised:
        compute_plan(request)
    assert time.perf_counter() - started < 5  # refused, not computed (the full table takes ~10 s)
    assert raised.value.cells > solver.MAX_TABLE_CELLS
    assert "lower the load" in str(raised.value)


def test_the_interchangeable_fleet_that_used_to_be_refused_is_solved_by_groups() -> None:
    request = ProductionPlanRequest.model_validate(interchangeable_fleet(500, 50_000.1))
    result = solve(build_units(request, CostModel()), request.load_tenths)
    assert result.method == "groups" and result.cells < solver.MAX_TABLE_CELLS // 1000
    assert sum(result.plan) == request.load_tenths


def test_the_same_fleet_at_a_modest_load_is_solved() -> None:
    request = ProductionPlanRequest.model_validate(tied_but_different_fleet(60, 3_000.1))
    plan = compute_plan(request)
    assert plan.load_tenths == sum(e.p_tenths for e in plan.entries) == 30_001


def test_the_api_answers_422_with_the_reason(client: TestClient) -> None:
    payload = tied_but_different_fleet(500, 49_999.9)
    response = client.post("/productionplan", json=payload)
    assert response.status_code == 422, response.text[:300]
    body = response.json()
    assert "table cells" in body["detail"] and "Traceback" not in response.text
    assert body["errors"][0]["field"] == "powerplants"
