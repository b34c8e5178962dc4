"""The calculator's plan for a generated case, checked against the rules on the way out.

What the calculator suites compare with their referees (brute force, lexicographic MILP, the
whole table): the plan as (name, tenths of a MW) in merit order, or None when the load is
infeasible. Every plan it returns has passed the independent rule checker (referee.py).
"""

from __future__ import annotations

from referee import check_plan_rules
from referee_strategies import Case

from merit_order.calculator import CostModel, InfeasibleLoad, ProductionPlanRequest, compute_plan


def checked_plan(case: Case, method: str = "auto") -> list[tuple[str, int]] | None:
    """The plan `method` gives for the case (None: infeasible), after the rule checker passed it."""
    request = ProductionPlanRequest.model_validate(case.payload)
    try:
        plan = compute_plan(request, cost_model=CostModel(), method=method)
    except InfeasibleLoad:
        return None
    answer = plan.as_challenge_list()
    assert check_plan_rules(case.payload, answer) == [], answer
    return [(e["name"], round(e["p"] * 10)) for e in answer]
