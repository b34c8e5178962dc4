"""The tie rule, checked plan for plan against an exhaustive enumeration of tiny fleets.

The MILP referee only proves the cost; among equally cheap plans DESIGN.md picks the one
that gives the most to the first plant in merit order, then the second, and so on. On
fleets of <= 4 plants and loads of a few MW the brute force lists every plan on the grid,
so the *exact* plan must match, not only its cost. The draws are made to tie often:
identical plants, few distinct prices and efficiencies, zero prices, several wind parks.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from referee import TIE_RTOL, brute_force_plan, check_plan_rules, milp_lexicographic_plan, ref_plants
from referee_strategies import Case, cases

from merit_order.calculator import CostModel, InfeasibleLoad, ProductionPlanRequest, compute_plan


@st.composite
def tiny_plant(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["gasfired", "gasfired", "turbojet", "windturbine"]))
    if kind == "windturbine":
        return {"type": kind, "efficiency": 1.0, "pmin": 0.0, "pmax": draw(st.integers(1, 25)) / 10}
    pmax = draw(st.integers(0, 20))
    pmin = draw(st.integers(0, pmax))
    offgrid = draw(st.sampled_from([0, 0, 0, 5]))  # x.x5: pmin rounds up, pmax down
    return {
        "type": kind,
        "efficiency": draw(st.sampled_from([0.25, 0.5, 0.5, 1.0])),
        "pmin": (pmin * 10 + (offgrid if pmin else 0)) / 100,
        "pmax": (pmax * 10 + offgrid) / 100,
    }


@st.composite
def tiny_cases(draw: st.DrawFn) -> Case:
    n = draw(st.integers(1, 4))
    base = draw(st.lists(tiny_plant(), min_size=1, max_size=n))
    plants = [dict(draw(st.sampled_from(base))) if i >= len(base) else base[i] for i in range(n)]
    plants = draw(st.permutations(plants))
    fuels = {
        "gas(euro/MWh)": draw(st.sampled_from([0.0, 5.0, 10.0, 20.0])),
        "kerosine(euro/MWh)": draw(st.sampled_from([0.0, 5.0, 10.0, 20.0])),
        "co2(euro/ton)": draw(st.sampled_from([0.0, 0.0, 10.0, 20.0])),
        "wind(%)": draw(st.sampled_from([0.0, 50.0, 100.0, 60.0, 33.3])),
    }
    curtail = draw(st.integers(0, 7)) == 0
    kerosine_co2 = draw(st.sampled_from([0.0, 0.0, 0.0, 0.3]))
    payload = {
        "load": 0.0,
        "fuels": fuels,
        "powerplants": [{"name": f"p{i}", **p} for i, p in enumerate(plants)],
    }
    capacity = sum(p.hi for p in ref_plants(payload, wind_curtailment=curtail))
    load = draw(st.integers(0, min(60, capacity + 2)))
    return Case({**payload, "load": load / 10}, 0.3, kerosine_co2, curtail)


@pytest.mark.slow
def test_exact_plan_matches_brute_force(capsys: pytest.CaptureFixture[str]) -> None:
    tally: Counter[str] = Counter()

    @settings(
        max_examples=800,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=tiny_cases())
    def judge(case: Case) -> None:
        request = ProductionPlanRequest.model_validate(case.payload)
        cost_model = CostModel(gas_co2_t_per_mwh=case.gas_co2, kerosine_co2_t_per_mwh=case.kerosine_co2)
        expected = brute_force_plan(case.payload, **case.options())
        try:
            plan = compute_plan(request, cost_model=cost_model, wind_curtailment=case.wind_curtailment)
        except InfeasibleLoad:
            assert expected is None, f"we say infeasible, the brute force found {expected}: {case}"
            tally["infeasible"] += 1
            return
        assert expected is not None, f"the brute force finds no plan, we returned one: {case}"
        answer = plan.as_challenge_list()
        assert check_plan_rules(case.payload, answer, **case.options()) == []
        got = [(e["name"], round(e["p"] * 10)) for e in answer]
        assert got == expected[1], f"plan {got} != brute force {expected[1]}: {case}"
        # Count the cases where the tie rule actually had a choice to make.
        tally["tied" if _has_tie(case) else "feasible"] += 1

    judge()
    with capsys.disabled():
        print(f"\n[referee] tiny fleets vs brute force: {sum(tally.values())} cases ({dict(tally)})")
    assert tally["tied"] >= 50, "the generator no longer produces enough ties to test the tie rule"
    assert tally["infeasible"] > 0


def _has_tie(case: Case) -> bool:
    """True when two different plans share the cheapest cost (the tie rule decided)."""
    plants = ref_plants(case.payload, **case.options())
    load = round(case.payload["load"] * 10)
    options = []
    for p in plants:
        low = 0 if p.continuous_from_zero else p.lo
        options.append([0] + [v for v in range(max(low, 1), p.hi + 1)] if p.hi else [0])
    costs = [
        sum(p.cost * v for p, v in zip(plants, plan)) / 10
        for plan in itertools.product(*options)
        if sum(plan) == load
    ]
    if len(costs) < 2:
        return False
    best = min(costs)
    return sum(1 for c in costs if c <= best + TIE_RTOL * max(1.0, abs(best))) >= 2


def test_identical_plants_fill_the_first_in_request_order() -> None:
    """Two identical gas plants and a load one of them can cover: the first listed takes it all."""
    payload = {
        "load": 150,
        "fuels": {"gas(euro/MWh)": 10, "kerosine(euro/MWh)": 50, "co2(euro/ton)": 0, "wind(%)": 0},
        "powerplants": [
            {"name": "b", "type": "gasfired", "efficiency": 0.5, "pmin": 50, "pmax": 200},
            {"name": "a", "type": "gasfired", "efficiency": 0.5, "pmin": 50, "pmax": 200},
        ],
    }
    plan = compute_plan(ProductionPlanRequest.model_validate(payload))
    assert plan.as_challenge_list() == [{"name": "b", "p": 150.0}, {"name": "a", "p": 0.0}]
    assert brute_force_plan({**payload, "load": 15, "powerplants": [
        {**p, "pmin": p["pmin"] / 10, "pmax": p["pmax"] / 10} for p in payload["powerplants"]
    ]}) == (pytest.approx(300.0), [("b", 150), ("a", 0)])


@pytest.mark.slow
def test_exact_plan_matches_lexicographic_milp_on_larger_fleets(capsys: pytest.CaptureFixture[str]) -> None:
    """9-20 plants, past the calculator's small-fleet enumeration: the tie rule of the main search.

    The brute force cannot enumerate these; a chain of MILPs (optimum cost, then the most for
    each plant in merit order within the tie tolerance) gives the rule's plan instead.
    """
    tally: Counter[str] = Counter()

    @settings(
        max_examples=400,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=cases(9, 20))
    def judge(case: Case) -> None:
        request = ProductionPlanRequest.model_validate(case.payload)
        cost_model = CostModel(gas_co2_t_per_mwh=case.gas_co2, kerosine_co2_t_per_mwh=case.kerosine_co2)
        expected = milp_lexicographic_plan(case.payload, **case.options())
        try:
            plan = compute_plan(request, cost_model=cost_model, wind_curtailment=case.wind_curtailment)
        except InfeasibleLoad:
            assert expected is None, f"we say infeasible, the MILP found {expected}: {case}"
            tally["infeasible"] += 1
            return
        assert expected is not None, f"the MILP finds no plan, we returned one: {case}"
        got = [(e["name"], round(e["p"] * 10)) for e in plan.as_challenge_list()]
        assert got == expected, f"plan {got} != lexicographic MILP {expected}: {case}"
        tally["feasible"] += 1

    judge()
    with capsys.disabled():
        print(f"\n[referee] 9-20 plants vs lexicographic MILP: {sum(tally.values())} cases ({dict(tally)})")
    assert tally["feasible"] >= 300
