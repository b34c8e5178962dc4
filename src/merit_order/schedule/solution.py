"""The solver's answer as the documented JSON object (docs/schedules.md, "Output").

    {"status", "objective", "lower_bound", "gap", "time_periods",
     "thermal": {name: {"on", "p", "reserve", "startup_cost"}}, "renewable": {name: {"p"}},
     "marginal_price", "cost": {"production", "startup", "total"}, "solve_seconds"}

`p` is each unit's total output in MW (0 when off). `marginal_price` is the economic
dispatch's price of one more MW of demand in each period, the commitment being fixed.
"""

from __future__ import annotations

from typing import Any

from .model import Problem
from .solve import ScheduleResult


def _floats(values: Any) -> list[float]:
    return [float(v) for v in values]


def schedule_document(problem: Problem, result: ScheduleResult) -> dict[str, Any]:
    """The documented answer for a solved instance."""
    schedule = result.schedule
    dispatch = schedule.dispatch
    thermal = {
        unit.name: {
            "on": [int(v) for v in schedule.on[g]],
            "p": _floats(dispatch.p[g]),
            "reserve": _floats(dispatch.r[g]),
            "startup_cost": _floats(schedule.startup_cost[g]),
        }
        for g, unit in enumerate(problem.thermal)
    }
    renewable = {w.name: {"p": _floats(dispatch.renewable[i])} for i, w in enumerate(problem.renewable)}
    return {
        "status": result.status,
        "objective": float(schedule.total),
        "lower_bound": float(result.lower_bound),
        "gap": float(result.gap),
        "time_periods": problem.periods,
        "thermal": thermal,
        "renewable": renewable,
        "marginal_price": _floats(dispatch.marginal_price),
        "cost": {
            "production": float(dispatch.production_cost),
            "startup": float(schedule.startup_total),
            "total": float(schedule.total),
        },
        "solve_seconds": float(result.solve_seconds),
    }


def infeasible_document(problem: Problem, reason: str) -> dict[str, Any]:
    """The answer for an instance no schedule can meet: the status and why."""
    return {"status": "infeasible", "reason": reason, "time_periods": problem.periods}
