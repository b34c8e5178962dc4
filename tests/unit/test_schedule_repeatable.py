"""A schedule solve that ends on its gap is repeatable: the clock never decides its path.

The driver shares its effort between the dual steps and the repairs by work done (unit-DP
solves, `Repairer.work`), not by seconds, so a slow machine, a loaded one, or a first solve
that pays numba's start-up gives the same schedule and bound as a fast one. The test slows
every exact dispatch down (as a loaded core or a cold process would) and asks for the very
same answer; with the effort shared by the clock, the slow run skipped repairs the fast
one made and ended on another schedule.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from uc_instances import load_instance

import merit_order.schedule.primal as primal
from merit_order.schedule.read import read_problem
from merit_order.schedule.solve import solve_schedule


def _answer(instance: dict[str, Any]) -> tuple[float, float, np.ndarray, int]:
    result = solve_schedule(read_problem(instance), gap=0.005, time_limit=300)
    return result.schedule.total, result.lower_bound, result.schedule.on.copy(), result.iterations


def test_a_slow_machine_ends_on_the_same_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    instance = load_instance("pglib-uc/rts_gmlc/2020-09-20.json", periods=24)
    fast = _answer(instance)
    dispatch = primal.dispatch

    def slow_dispatch(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.03)
        return dispatch(*args, **kwargs)

    monkeypatch.setattr(primal, "dispatch", slow_dispatch)
    slow = _answer(instance)
    assert slow[0] == fast[0] and slow[1] == fast[1] and slow[3] == fast[3]
    assert np.array_equal(slow[2], fast[2])
