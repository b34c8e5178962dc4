"""No valid request is too large: what used to reach the work limit is answered, and the bound that proves it.

Identical units are solved as groups and units of exactly equal cost as one class (one table
column each). What no grouping shrinks (plants whose costs tie within the tolerance without
being equal; all-or-nothing units of many sizes at one cost, a subset sum) used to be refused
above 30 million cells. A table now keeps checkpoint columns only and recomputes the others
while the plan is read back, so its memory is bounded whatever its size
(docs/algorithm.md, "Memory and work"): every table has at most (live units + 1) * (load in
tenths + 1) cells (tests/unit/test_calculator_classes.py checks it on generated fleets) and
holds at most `held_bound` of them, which under the default limits is within the server's
cell budget, so neither the calculator nor the budget refuses a valid request as too large.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient
from referee import RefPlant, check_plan_rules, ref_plants

from merit_order.calculator import (
    CostModel,
    ProductionPlanRequest,
    build_units,
    compute_plan,
    held_bound,
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
    return greatest_plan(ref_plants(payload), load)


def reachable(plants: list[RefPlant], load: int) -> list[int]:
    """suffix[k]: bitset of the totals (up to `load`) plants k.. can produce together."""
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
    return suffix


def greatest_plan(plants: list[RefPlant], load: int) -> list[int]:
    """The lexicographically greatest plan of these plants (in this order) that meets `load`."""
    suffix = reachable(plants, load)
    plan, left = [], load
    for k, p in enumerate(plants):
        choice = next(v for v in [*range(min(p.hi, left), p.lo - 1, -1), 0] if (suffix[k + 1] >> (left - v)) & 1)
        plan.append(choice)
        left -= choice
    return plan


def wind_then_least_gas_plan(payload: dict, load: int) -> list[int]:
    """The tie rule's plan of a wind portfolio with one gas plant, dearest in merit order: the
    least gas output that the wind parks can complete, then their greatest plan for the rest."""
    plants = ref_plants(payload)
    wind, gas = plants[:-1], plants[-1]
    reach = reachable(wind, load)[0]
    g = next(g for g in [0, *range(gas.lo, gas.hi + 1)] if (reach >> (load - g)) & 1)
    return [*greatest_plan(wind, load - g), g]


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


def all_or_nothing_fleet(count: int, load: float) -> dict:
    """Hundreds of all-or-nothing gas plants (Pmin = Pmax) of one efficiency and as many sizes: a subset sum."""
    return {
        "load": load,
        "fuels": FUELS,
        "powerplants": [
            {"name": f"unit{i}", "type": "gasfired", "efficiency": 0.5, "pmin": 60 + i * 0.7, "pmax": 60 + i * 0.7}
            for i in range(count)
        ],
    }


def wind_portfolio(count: int, load: float) -> dict:
    """`count` wind parks of 100-149.8 MW (all-or-nothing, all at cost 0) and one gas plant."""
    plants = [
        {"name": f"wind{i}", "type": "windturbine", "efficiency": 1, "pmin": 0, "pmax": 100 + (i % 250) * 0.2}
        for i in range(count)
    ]
    plants.append({"name": "gas", "type": "gasfired", "efficiency": 0.5, "pmin": 100, "pmax": 500})
    return {"load": load, "fuels": {**FUELS, "wind(%)": 100}, "powerplants": plants}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "payload", "expected"),
    [
        # every plan ties (costs within 500 * 1e-12 of each other): 49.6 M cells, ~3-5 s
        ("near-tied costs", tied_but_different_fleet(500, 49_999.9, spread=1e-12), greatest_feasible_plan),
        # a subset sum at one cost: every plan costs the same, 125 M cells, ~1.5 s
        ("all-or-nothing sizes at one cost", all_or_nothing_fleet(500, 49_999.9), greatest_feasible_plan),
        # the realistic one: wind parks are all-or-nothing at cost 0 (here all of an even number of
        # tenths, so an odd load needs gas); passes of 49 M cells and more, ~1-2 s
        ("499 wind parks and a gas plant", wind_portfolio(499, 49_999.9), wind_then_least_gas_plan),
    ],
)
def test_the_worst_cases_that_were_refused_are_answered_with_the_tie_rules_plan(
    name: str, payload: dict, expected: Callable[[dict, int], list[int]]
) -> None:
    """Each used to be a 422 (ProblemTooLarge). The tie rule's plan of each is computed by
    bitsets over the referee's reading of the payload, without the calculator."""
    request = ProductionPlanRequest.model_validate(payload)
    prepared = prepare(build_units(request, CostModel()), request.load_tenths)
    assert prepared.cells > 30_000_000 and prepared.held < prepared.cells // 4  # large, held in checkpoints
    answer = compute_plan(request).as_challenge_list()
    assert check_plan_rules(payload, answer) == []
    assert [round(e["p"] * 10) for e in answer] == expected(payload, request.load_tenths), name


def test_the_largest_table_the_limits_allow_is_held_within_the_bound() -> None:
    """500 plants whose windows are all the whole load (issue 14's shape, near-tied): 249.5 M
    cells, about the (plants + 1) * (load + 1) bound; prepared only (the solve takes ~30 s)."""
    settings = Settings()
    load = round(settings.max_load_mw * 10) - 1
    payload = {
        "load": load / 10,
        "fuels": FUELS,
        "powerplants": [
            {"name": f"g{i}", "type": "gasfired", "efficiency": 0.5 * (1 + i * 1e-12), "pmin": 0.5, "pmax": (load - 3) / 10}
            for i in range(settings.max_plants)
        ],
    }
    request = ProductionPlanRequest.model_validate(payload)
    prepared = prepare(build_units(request, CostModel()), request.load_tenths)
    assert 240_000_000 < prepared.cells <= (settings.max_plants + 1) * (load + 1)
    assert prepared.held <= held_bound(settings.max_plants, load) < prepared.cells // 10


def test_under_the_default_limits_no_solve_holds_more_than_the_servers_cell_budget() -> None:
    """What makes ProblemTooLarge unreachable by a valid request under the default settings: the
    most any table of MAX_PLANTS units at MAX_LOAD_MW holds fits in MAX_SOLVE_CELLS_IN_FLIGHT
    (the budget's one remaining 422, for a single solve larger than the whole budget)."""
    settings = Settings()
    bound = held_bound(settings.max_plants, round(settings.max_load_mw * 10))
    assert bound == 46 * 500_001  # 23 checkpoints, a segment of 22 columns, one more column
    assert bound <= settings.max_solve_cells_in_flight
    assert bound < (settings.max_plants + 1) * (round(settings.max_load_mw * 10) + 1) // 10


@pytest.mark.parametrize("units", [1, 2, 3, 10, 57, 499])
@pytest.mark.parametrize("load", [100, 3_999, 20_000, 500_000])
def test_held_bound_covers_the_layout_of_every_full_table(units: int, load: int) -> None:
    """held_bound against the layout itself on tables whose every window is the whole load."""
    width = np.full(units + 1, load)
    keep, held = solver._layout(width)
    assert keep[0] and keep[-1]
    assert held <= held_bound(units, load)
    assert held <= (units + 1) * (load + 1)


def test_the_interchangeable_fleet_that_used_to_be_refused_is_solved_by_groups() -> None:
    request = ProductionPlanRequest.model_validate(interchangeable_fleet(500, 50_000.1))
    result = solve(build_units(request, CostModel()), request.load_tenths)
    assert result.method == "groups" and result.cells < 30_000
    assert sum(result.plan) == request.load_tenths


def test_the_api_answers_a_subset_sum_fleet_that_used_to_be_a_422(client: TestClient) -> None:
    """125 M cells of all-or-nothing plants at one cost, through the server's budget: answered."""
    payload = all_or_nothing_fleet(500, 49_999.9)
    response = client.post("/productionplan", json=payload)
    assert response.status_code == 200, response.text[:300]
    assert check_plan_rules(payload, response.json()) == []
