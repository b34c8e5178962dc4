"""One generated hourly case judged against the independent MILP referee (tests/support/referee.py):
the plan obeys every rule, costs what HiGHS proves optimal, and an infeasible load is infeasible
for HiGHS too, with nearest loads it confirms. Shared by the referee suites.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck
from referee import check_plan_rules, costs_tie, load_tenths, milp_plan, plan_cost, ref_plants
from referee_strategies import Case

from merit_order.calculator import CostModel, InfeasibleLoad, ProductionPlanRequest, compute_plan

_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}


def _describe(case: Case) -> str:
    return f"options={case.options()} payload={json.dumps(case.payload)}"


def _check_nearest(case: Case, error: InfeasibleLoad) -> None:
    """The nearest loads an infeasible request reports must be feasible, and nothing between."""
    load = load_tenths(case.payload)
    capacity = sum(p.hi for p in ref_plants(case.payload, **case.options()))

    def feasible(tenths: int) -> bool:
        return milp_plan(case.payload, load_override_tenths=tenths, **case.options()) is not None

    assert error.below_mw is not None, "0 MW is always feasible, so a load below always exists"
    below = round(error.below_mw * 10)
    assert below * 10 == pytest.approx(error.below_mw * 100) and below < load
    assert feasible(below), f"reported nearest load below, {error.below_mw} MW, is infeasible"
    if below + 1 < load:
        assert not feasible(below + 1), f"{(below + 1) / 10} MW is feasible, closer than {error.below_mw}"
    if load > capacity:
        assert error.above_mw is None, f"load above capacity {capacity / 10} MW, yet above={error.above_mw}"
        return
    assert error.above_mw is not None, f"load {load / 10} MW <= capacity {capacity / 10}, yet no load above"
    above = round(error.above_mw * 10)
    assert above > load
    assert feasible(above), f"reported nearest load above, {error.above_mw} MW, is infeasible"
    if above - 1 > load:
        assert not feasible(above - 1), f"{(above - 1) / 10} MW is feasible, closer than {error.above_mw}"


def check_against_milp(case: Case, *, nearest: bool, method: str = "auto") -> str:
    """Judge one case (solved by the route `method` forces); returns 'feasible' or 'infeasible' for the tally."""
    request = ProductionPlanRequest.model_validate(case.payload)
    cost_model = CostModel(gas_co2_t_per_mwh=case.gas_co2, kerosine_co2_t_per_mwh=case.kerosine_co2)
    referee = milp_plan(case.payload, **case.options())
    try:
        plan = compute_plan(request, cost_model=cost_model, wind_curtailment=case.wind_curtailment, method=method)
    except InfeasibleLoad as error:
        assert referee is None, f"we say infeasible, the MILP found {referee}: {_describe(case)}"
        assert error.load_mw == pytest.approx(case.payload["load"])
        if nearest:
            _check_nearest(case, error)
        return "infeasible"
    assert referee is not None, f"the MILP proves infeasible, we returned a plan: {_describe(case)}"
    answer = plan.as_challenge_list()
    problems = check_plan_rules(case.payload, answer, **case.options())
    assert problems == [], f"{problems}: {_describe(case)}"
    plants = ref_plants(case.payload, **case.options())
    ours = plan_cost(plants, {e["name"]: round(e["p"] * 10) for e in answer})
    best, best_plan = referee
    assert costs_tie(ours, best), f"ours {ours!r} vs MILP {best!r} ({best_plan}): {_describe(case)}"
    assert costs_tie(plan.total_cost, ours), f"plan.total_cost {plan.total_cost!r} vs recomputed {ours!r}"
    return "feasible"
