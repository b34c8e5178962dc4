"""Identical units solved as groups, checked plan for plan against the tie tests' referees.

Fleets here are built from a few plant models repeated several times (a row of identical
CCGT blocks, a wind farm of one turbine model), so that the solver's groups carry the
plan. Some draws add what must *not* be grouped: a near-identical copy (efficiency off by
a hair, so the cost ties within the tolerance without being equal), a model with the same
cost but another Pmin, wind parks of other sizes (all wind costs 0), loose single plants.

- tiny fleets against the brute force of tests/support/referee.py, with the group routes forced
  (compute_plan would enumerate fleets this small): the exact plan must match;
- 9-24 plants against the lexicographic MILP chain, on the automatic route;
- the group route against the unit-by-unit route on larger fleets (the same plan, ties included);
- the issue's cases, which were refused or took seconds, against the rule checker and the MILP.
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import pairwise
from typing import Any

import pytest
from common import profile_examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plans import checked_plan
from referee import (
    brute_force_plan,
    check_plan_rules,
    costs_tie,
    milp_lexicographic_plan,
    milp_plan,
    plan_cost,
    ref_plants,
)
from referee_strategies import Case

from merit_order.calculator import CostModel, ProductionPlanRequest, build_units, compute_plan, solve

_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
}


@st.composite
def model(draw: st.DrawFn, scale: int) -> dict[str, Any]:
    """One plant model, MW figures in tenths of `scale` (pmin may be 0, equal to pmax, or off the grid)."""
    kind = draw(st.sampled_from(["gasfired", "gasfired", "gasfired", "turbojet", "windturbine"]))
    if kind == "windturbine":
        return {"type": kind, "efficiency": 1.0, "pmin": 0.0, "pmax": draw(st.integers(1, scale)) / 10}
    pmax = draw(st.integers(1, scale))
    pmin = draw(st.sampled_from([0, pmax, draw(st.integers(0, pmax))]))
    offgrid = draw(st.sampled_from([0, 0, 0, 5]))  # x.x5: pmin rounds up, pmax down
    return {
        "type": kind,
        "efficiency": draw(st.sampled_from([0.25, 0.4, 0.5, 0.5, 1.0])),
        "pmin": (pmin * 10 + (offgrid if pmin else 0)) / 100,
        "pmax": (pmax * 10 + offgrid) / 100,
    }


@st.composite
def grouped_cases(draw: st.DrawFn, max_units: int, scale: int, max_load: int | None = None) -> Case:
    """A fleet of a few models, each repeated, plus now and then what must not be grouped."""
    plants: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 3))):
        base = draw(model(scale))
        plants.extend(dict(base) for _ in range(draw(st.integers(2, max(2, max_units // 2)))))
        extra = draw(st.sampled_from(["none", "none", "near", "same-cost", "single"]))
        if extra == "near":  # ties within 1e-9 of the model, but not equal: a unit of its own
            plants.append({**base, "efficiency": base["efficiency"] * (1 - 1e-11)})
        elif extra == "same-cost" and base["type"] != "windturbine":
            plants.append({**base, "pmin": 0.0 if base["pmin"] else base["pmax"]})
        elif extra == "single":
            plants.append(draw(model(scale)))
    plants = plants[:max_units]
    if draw(st.booleans()):
        plants = draw(st.permutations(plants))
    fuels = {
        "gas(euro/MWh)": draw(st.sampled_from([0.0, 5.0, 13.4, 20.0])),
        "kerosine(euro/MWh)": draw(st.sampled_from([0.0, 10.0, 50.8])),
        "co2(euro/ton)": draw(st.sampled_from([0.0, 20.0])),
        "wind(%)": draw(st.sampled_from([0.0, 50.0, 100.0, 60.0])),
    }
    payload: dict[str, Any] = {"load": 0.0, "fuels": fuels, "powerplants": [{"name": f"p{i}", **p} for i, p in enumerate(plants)]}
    capacity = sum(p.hi for p in ref_plants(payload))
    top = capacity + 2 if max_load is None else min(max_load, capacity + 2)
    payload["load"] = draw(st.integers(0, top)) / 10
    return Case(payload)


def _grouped(case: Case) -> bool:
    """True when the solver sees at least one group of two or more identical units that can run."""
    units = [u for u in build_units(ProductionPlanRequest.model_validate(case.payload), CostModel()) if u.hi > 0]
    return any((a.cost, a.lo, a.hi) == (b.cost, b.lo, b.hi) for a, b in pairwise(units))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["groups", "groups-unbounded"])
def test_group_routes_match_the_brute_force(method: str, capsys: pytest.CaptureFixture[str]) -> None:
    tally: Counter[str] = Counter()

    @settings(max_examples=450, **_SETTINGS)
    @given(case=grouped_cases(max_units=7, scale=6, max_load=40))
    def judge(case: Case) -> None:
        try:
            expected = brute_force_plan(case.payload)
        except ValueError:  # too many plans to enumerate: not this referee's case
            tally["skipped"] += 1
            return
        got = checked_plan(case, method)
        if expected is None:
            assert got is None, f"we found {got}, the brute force no plan: {json.dumps(case.payload)}"
            tally["infeasible"] += 1
            return
        assert got == expected[1], f"plan {got} != brute force {expected[1]}: {json.dumps(case.payload)}"
        tally["grouped" if _grouped(case) else "feasible"] += 1

    judge()
    with capsys.disabled():
        print(f"\n[referee] grouped tiny fleets, route {method}, vs brute force: {dict(tally)}")
    assert tally["grouped"] >= 250 and tally["infeasible"] > 0 and tally["skipped"] < 40


@pytest.mark.slow
def test_grouped_fleets_match_the_lexicographic_milp(capsys: pytest.CaptureFixture[str]) -> None:
    """9-24 plants, the automatic route: the groups and the tie walk through them."""
    tally: Counter[str] = Counter()

    @settings(max_examples=250, **_SETTINGS)
    @given(case=grouped_cases(max_units=24, scale=400).filter(lambda c: len(c.payload["powerplants"]) >= 9))
    def judge(case: Case) -> None:
        expected = milp_lexicographic_plan(case.payload)
        got = checked_plan(case, "auto")
        assert got == expected, f"plan {got} != lexicographic MILP {expected}: {json.dumps(case.payload)}"
        tally["infeasible" if expected is None else "grouped" if _grouped(case) else "feasible"] += 1

    judge()
    with capsys.disabled():
        print(f"\n[referee] grouped 9-24 plants vs lexicographic MILP: {sum(tally.values())} cases ({dict(tally)})")
    assert tally["grouped"] >= 180


@settings(max_examples=profile_examples(300), **_SETTINGS)
@given(case=grouped_cases(max_units=60, scale=3000))
def test_groups_and_the_unit_by_unit_program_give_the_same_plan(case: Case) -> None:
    """The unit-by-unit program (proven by the referee suites) and the groups agree, ties included."""
    assert checked_plan(case, "groups") == checked_plan(case, "exact-dp"), json.dumps(case.payload)


def issue_fleet(count: int, load: float, pmin: float = 180, pmax: float = 420, efficiency: float = 0.55) -> dict[str, Any]:
    return {
        "load": load,
        "fuels": {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 60},
        "powerplants": [
            {"name": f"u{i}", "type": "gasfired", "efficiency": efficiency, "pmin": pmin, "pmax": pmax} for i in range(count)
        ],
    }


@pytest.mark.parametrize(
    "payload",
    [
        issue_fleet(20, 4_200.1),
        issue_fleet(100, 21_000.1),
        issue_fleet(200, 27_720.1),
        issue_fleet(200, 42_000.1),
        issue_fleet(300, 41_580.1),
        issue_fleet(60, 49_999.9, pmin=0.5, pmax=49_999.6, efficiency=0.5),
    ],
    ids=["20", "100", "200-a", "200-b", "300", "60-wide"],
)
def test_the_issue_cases_are_answered_by_the_groups(payload: dict[str, Any]) -> None:
    """Refused (200 and 300 units) or taking seconds and hundreds of MB (60 wide units) before;
    now one small table, and the plan the rules ask for: all units cost the same, so every
    plan that meets the load is optimal, and the greatest in merit order gives each unit in
    turn its Pmax as long as the rest can still make up the load."""
    request = ProductionPlanRequest.model_validate(payload)
    units = build_units(request, CostModel())
    result = solve(units, request.load_tenths)
    assert result.method == "groups" and result.cells < 1_000
    answer = compute_plan(request).as_challenge_list()
    assert check_plan_rules(payload, answer) == []
    plants = ref_plants(payload)
    lo, hi, load = plants[0].lo, plants[0].hi, request.load_tenths
    expected, left = [], load
    for k in range(len(plants)):  # the most for unit k such that the units after it can make up the rest
        rest = len(plants) - k - 1
        p = next(v for v in range(min(hi, left), -1, -1) if (v == 0 or v >= lo) and _makes(left - v, rest, lo, hi))
        expected.append(p)
        left -= p
    assert [round(e["p"] * 10) for e in answer] == expected
    referee = milp_plan(payload)
    assert referee is not None and costs_tie(plan_cost(plants, {e["name"]: round(e["p"] * 10) for e in answer}), referee[0])


def _makes(total: int, units: int, lo: int, hi: int) -> bool:
    """Can `units` identical units, each 0 or in [lo, hi], produce exactly `total`?"""
    return any(j * lo <= total <= j * hi for j in range(units + 1))


def test_the_greatest_split_beats_the_greatest_total() -> None:
    """Three units of 0.5-1.0 MW and a same-cost unit of 0-0.2 MW after them, 1.2 MW to make.

    Every plan costs the same. The group could produce it all, but only as 0.7 + 0.5; giving
    the first unit its 1.0 MW and the last 0.2 to the small unit is greater in merit order."""
    payload = {
        "load": 1.2,
        "fuels": {"gas(euro/MWh)": 10.0, "kerosine(euro/MWh)": 50.0, "co2(euro/ton)": 0.0, "wind(%)": 0.0},
        "powerplants": [
            *({"name": f"g{i}", "type": "gasfired", "efficiency": 0.5, "pmin": 0.5, "pmax": 1.0} for i in range(3)),
            {"name": "small", "type": "gasfired", "efficiency": 0.5, "pmin": 0.0, "pmax": 0.2},
        ],
    }
    expected = brute_force_plan(payload)
    assert expected is not None and expected[1] == [("g0", 10), ("g1", 0), ("g2", 0), ("small", 2)]
    assert checked_plan(Case(payload), "groups") == expected[1]


@pytest.mark.parametrize("count", [2, *(pytest.param(count, marks=pytest.mark.slow) for count in (3, 4))])
@pytest.mark.parametrize("tail", ["none", "free", "fixed", "dear-free", "dear-fixed"])
def test_every_small_group_at_every_load_matches_the_brute_force(count: int, tail: str) -> None:
    """Every group of `count` units with 0 <= Pmin <= Pmax <= 0.6 MW, at every load up to its
    capacity, alone or followed by a unit of the same cost or a dearer one (0-0.2 MW, or
    all-or-nothing 0.3 MW): where the group's intervals [j*Pmin, j*Pmax] merge, where they
    leave gaps, and which total the tie rule gives the group."""
    checked = 0
    for lo in range(0, 7):
        for hi in range(max(lo, 1), 7):
            plants = [
                {"name": f"g{i}", "type": "turbojet", "efficiency": 0.5, "pmin": lo / 10, "pmax": hi / 10}
                for i in range(count)
            ]
            efficiency = 0.4 if tail.startswith("dear") else 0.5
            if tail.endswith("free"):
                plants.append({"name": "t", "type": "turbojet", "efficiency": efficiency, "pmin": 0.0, "pmax": 0.2})
            elif tail.endswith("fixed"):
                plants.append({"name": "t", "type": "turbojet", "efficiency": efficiency, "pmin": 0.3, "pmax": 0.3})
            fuels = {"gas(euro/MWh)": 10.0, "kerosine(euro/MWh)": 40.0, "co2(euro/ton)": 0.0, "wind(%)": 0.0}
            for load in range(0, count * hi + 5):
                payload = {"load": load / 10, "fuels": fuels, "powerplants": plants}
                expected = brute_force_plan(payload)
                got = checked_plan(Case(payload), "groups")
                assert got == (None if expected is None else expected[1]), json.dumps(payload)
                checked += 1
    assert checked > 300
