"""Each of the solver's routes, forced, against the MILP referee.

compute_plan picks its route by itself (the relaxation shortcut, the enumeration of
commitments for small fleets, the pruned DP with or without a heuristic bound), so the
random referee cases reach the rarer routes only by luck. A bug in the rarest one, the DP
without a bound, once went unseen through 2,250 cases; here each route gets cases of its own.
"""

from __future__ import annotations

from collections import Counter

import pytest
from common import profile_examples
from hypothesis import given, settings
from milp_judge import _SETTINGS, check_against_milp
from referee_strategies import Case, cases

#: The forced routes (solver.METHODS): every commitment, the unit-by-unit DP with the
#: repaired-greedy bound or without one, and the DP over groups of identical units (with and
#: without), and the one that takes every class of equal-cost units (with and without). A
#: forced route skips the merit-order shortcut, so it answers every case itself.
ROUTES = ["enumeration", "exact-dp", "exact-dp-unbounded", "groups", "groups-unbounded", "classes", "classes-unbounded"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ROUTES)
def test_route_against_milp(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    tally: Counter[str] = Counter()

    @settings(max_examples=150, **_SETTINGS)
    @given(case=cases(1, 12))
    def judge(case: Case) -> None:
        tally[check_against_milp(case, nearest=False, method=name)] += 1

    judge()
    with capsys.disabled():
        print(f"\n[referee] route {name}: {sum(tally.values())} cases ({dict(tally)})")
    assert tally["feasible"] > 100 and tally["infeasible"] > 0


def test_unbounded_route_finds_the_wind_off_optimum() -> None:
    """The case that exposed the bug: the DP's first level found a plan, not the cheapest one."""
    payload = {
        "load": 4.7,
        "fuels": {"gas(euro/MWh)": 6.5, "kerosine(euro/MWh)": 2.67, "co2(euro/ton)": 0.0, "wind(%)": 20.0},
        "powerplants": [
            *({"name": f"w{i}", "type": "windturbine", "efficiency": 1.0, "pmin": 0.0, "pmax": mw} for i, mw in enumerate([1, 1, 1, 5, 5])),
            {"name": "g5", "type": "gasfired", "efficiency": 0.3, "pmin": 2.0, "pmax": 2.0},
            {"name": "g6", "type": "gasfired", "efficiency": 0.3, "pmin": 2.0, "pmax": 2.0},
            {"name": "g7", "type": "gasfired", "efficiency": 1.0, "pmin": 0.2, "pmax": 1.6},
            {"name": "tj8", "type": "turbojet", "efficiency": 0.3, "pmin": 2.0, "pmax": 3.0},
        ],
    }
    assert check_against_milp(Case(payload, 0.3, 0.0, False), nearest=False, method="exact-dp-unbounded") == "feasible"


@settings(max_examples=profile_examples(1000), **_SETTINGS)
@given(case=cases(1, 12))
def test_routes_agree_with_each_other(case: Case) -> None:
    """Cheaper than the MILP, so many more cases: the three routes give the same plan (ties
    included) or all call the load infeasible."""
    from merit_order.calculator import CostModel, InfeasibleLoad, ProductionPlanRequest, compute_plan

    request = ProductionPlanRequest.model_validate(case.payload)
    cost_model = CostModel(gas_co2_t_per_mwh=case.gas_co2, kerosine_co2_t_per_mwh=case.kerosine_co2)
    answers = {}
    for name in ROUTES:
        try:
            plan = compute_plan(request, cost_model=cost_model, wind_curtailment=case.wind_curtailment, method=name)
            answers[name] = plan.as_challenge_list()
        except InfeasibleLoad as error:
            answers[name] = ("infeasible", error.below_mw, error.above_mw)
    for name in ROUTES[1:]:
        assert answers[name] == answers["enumeration"], (name, case.payload)
