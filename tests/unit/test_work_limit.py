"""The calculator's work limit: what still reaches it, what no longer does, and the bound that proves it.

Identical units are solved as groups and units of exactly equal cost as one class (one table
column each), so hundreds of interchangeable plants, or of one efficiency with their own
Pmin and Pmax, no longer come near the limit. What still can: plants whose costs tie within
the tolerance without being equal (every split ties, and no two can be merged exactly), and
all-or-nothing units of many sizes at one cost (a subset sum). Those are refused up front, as
a 422 that says what to change, never a 500. Every table has at most (live units + 1) *
(load in tenths + 1) cells (tests/unit/test_calculator_classes.py checks it on generated fleets),
so below that product nothing is ever refused.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from referee import check_plan_rules, ref_plants

from merit_order.calculator import (
    CostModel,
    ProblemTooLarge,
    ProductionPlanRequest,
    build_units,
    compute_plan,
    prepare,
    solve,
    solver,
)
from merit_order.settings import Settings

FUELS = {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 0}


def interchangeable_fleet(count: int, load: float) -> dict:
    """Hundreds of identical plants: every split between them ties; the groups answer at once."""
    share = load / count
    return {
        "load": load,
        "fuels": FUELS,
        "powerplants": [
            {"name": f"unit{i}", "type": "gasfired", "efficiency": 0.5, "pmin": round(share * 1.6, 1), "pmax": round(share * 2.5, 1)}
            for i in range(count)
        ],
    }


def tied_but_different_fleet(count: int, load: float, spread: float = 0.0) -> dict:
    """Hundreds of plants of one cost, each with its own Pmin and Pmax: no two identical.

    With `spread`, plant i's efficiency is 0.5 * (1 + i * spread): costs that tie within the
    tolerance (1e-12 * 500 is far below 1e-9) without being equal, so no class forms.
    """
    return {
        "load": load,
        "fuels": FUELS,
        "powerplants": [
            {"name": f"unit{i}", "type": "gasfired", "efficiency": 0.5 * (1 + i * spread), "pmin": 10 + i / 10, "pmax": 100 + i / 10}
            for i in range(count)
        ],
    }


def greatest_feasible_plan(payload: dict, load: int) -> list[int]:
    """The tie rule's plan when every plan costs the same, from the referee's reading of the payload.

    The plan is then the lexicographically greatest one that meets the load: each plant in
    merit order gets the most such that the plants after it can still make up the rest,
    which reachable-total bitsets (bit v: v tenths can be produced) answer exactly.
    """
    plants = ref_plants(payload)
    mask = (1 << (load + 1)) - 1
    suffix = [1] * (len(plants) + 1)
    for k in range(len(plants) - 1, -1, -1):
        reach, p = suffix[k + 1], plants[k]
        on, covered = (reach << p.lo) & mask, 1  # on: every reach + v for v in [lo, lo + covered)
        while covered < p.hi - p.lo + 1:
            step = min(covered, p.hi - p.lo + 1 - covered)
            on |= (on << step) & mask
            covered += step
        suffix[k] = reach | on
    plan, left = [], load
    for k, p in enumerate(plants):
        choice = next(v for v in [*range(min(p.hi, left), p.lo - 1, -1), 0] if (suffix[k + 1] >> (left - v)) & 1)
        plan.append(choice)
        left -= choice
    return plan


def test_a_tied_fleet_of_different_plants_is_one_class_and_gets_the_tie_rules_plan() -> None:
    """The case that was refused (49.6 million cells): 500 plants of one efficiency, 500 different Pmins."""
    payload = tied_but_different_fleet(500, 49_999.9)
    request = ProductionPlanRequest.model_validate(payload)
    result = solve(build_units(request, CostModel()), request.load_tenths)
    assert result.method == "groups" and result.cells < 1_000
    answer = compute_plan(request).as_challenge_list()
    assert check_plan_rules(payload, answer) == []
    assert [round(e["p"] * 10) for e in answer] == greatest_feasible_plan(payload, request.load_tenths)


@pytest.mark.parametrize("load", [123.4, 5_000.1, 12_000.0])
def test_the_same_class_at_other_loads_gets_the_tie_rules_plan(load: float) -> None:
    payload = tied_but_different_fleet(120, load)
    request = ProductionPlanRequest.model_validate(payload)
    answer = compute_plan(request, method="groups").as_challenge_list()
    assert check_plan_rules(payload, answer) == []
    assert [round(e["p"] * 10) for e in answer] == greatest_feasible_plan(payload, request.load_tenths)


def test_near_tied_costs_are_refused_before_the_table_is_built() -> None:
    """No grouping applies: the costs are not equal. prepare() raises, and it never builds a table."""
    request = ProductionPlanRequest.model_validate(tied_but_different_fleet(500, 49_999.9, spread=1e-12))
    with pytest.raises(ProblemTooLarge) as raised:
        prepare(build_units(request, CostModel()), request.load_tenths)
    assert raised.value.cells > solver.MAX_TABLE_CELLS
    assert "lower the load" in str(raised.value)


def test_below_the_proven_bound_even_the_near_tied_fleet_is_answered() -> None:
    """With 500 plants, loads up to MAX_TABLE_CELLS / 501 - 1 tenths (5,987.9 MW) can never be refused."""
    plants = Settings().max_plants
    safe_tenths = solver.MAX_TABLE_CELLS // (plants + 1) - 1
    assert safe_tenths == 59_879
    request = ProductionPlanRequest.model_validate(tied_but_different_fleet(plants, safe_tenths / 10, spread=1e-12))
    cells = prepare(build_units(request, CostModel()), request.load_tenths).cells
    assert cells <= (plants + 1) * (safe_tenths + 1) <= solver.MAX_TABLE_CELLS


def test_the_default_limits_are_not_covered_by_the_bound() -> None:
    """Pinned so that the README's sentence stays true: at 500 plants and 50 GW the bound allows
    250 million cells, and the near-tied fleet above needs 49.6 million, over the limit. Lowering
    MAX_PLANTS or MAX_LOAD_MW until this product is under MAX_TABLE_CELLS makes ProblemTooLarge
    unreachable; this test then fails and says so."""
    settings = Settings()
    assert (settings.max_plants + 1) * (round(settings.max_load_mw * 10) + 1) > solver.MAX_TABLE_CELLS


def test_the_interchangeable_fleet_that_used_to_be_refused_is_solved_by_groups() -> None:
    request = ProductionPlanRequest.model_validate(interchangeable_fleet(500, 50_000.1))
    result = solve(build_units(request, CostModel()), request.load_tenths)
    assert result.method == "groups" and result.cells < solver.MAX_TABLE_CELLS // 1000
    assert sum(result.plan) == request.load_tenths


def test_the_api_answers_422_with_the_reason(client: TestClient) -> None:
    payload = tied_but_different_fleet(500, 49_999.9, spread=1e-12)
    response = client.post("/productionplan", json=payload)
    assert response.status_code == 422, response.text[:300]
    body = response.json()
    assert "table cells" in body["detail"] and "Traceback" not in response.text
    assert body["errors"][0]["field"] == "powerplants"
