"""The joint DP's bounds and beam only prune: its optimum is the exhaustive DP's.

`solve_joint` drops every state whose cost plus a lower bound on the rest exceeds the cost
of a known schedule (a beam search's, or a neighbourhood's centre). If a bound were not a
bound, or the cut-off too tight, it would drop the optimal path and return a dearer
schedule (or none). The reference here is the same DP with nothing to prune by: zero
bounds, no beam, no centre, i.e. every reachable state expanded, which is what the
referee tests (tests/referee/test_schedule_solver.py) prove equal to HiGHS's optimum on
smaller fleets. Whole fleets and neighbourhoods (`free` units over a `base` commitment).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from uc_instances import random_case

from merit_order.schedule import joint_dp
from merit_order.schedule.model import Problem
from merit_order.schedule.read import read_problem


def _ramp_free(seed: int, units: tuple[int, int], periods: tuple[int, int]) -> Problem:
    case = random_case(seed, units=units, periods=periods, infeasible_percent=3, free_first_lag=seed % 2 == 1)
    instance = copy.deepcopy(case.instance)
    for unit in instance["thermal_generators"].values():  # lift every ramp limit
        span = unit["power_output_maximum"]
        unit["ramp_up_limit"] = unit["ramp_down_limit"] = span * 2
        unit["ramp_startup_limit"] = unit["ramp_shutdown_limit"] = span * 2
    return read_problem(instance)


def _exhaustive(monkeypatch: pytest.MonkeyPatch, problem: Problem, **options: Any) -> tuple[float, np.ndarray] | None:
    """`solve_joint` with nothing to prune by: zero bounds, no beam, no upper bound."""
    with monkeypatch.context() as patch:

        def zero_bound(periods: int, ups: np.ndarray, sizes: np.ndarray, *rest: Any) -> tuple[np.ndarray, np.ndarray]:
            return np.zeros((periods + 1, 1)), np.zeros((len(ups), int(sizes.max())), dtype=np.int64)

        def zero_unit_bounds(periods: int, ups: np.ndarray, sizes: np.ndarray, *rest: Any) -> np.ndarray:
            return np.zeros((len(ups), periods + 1, int(sizes.max())))

        patch.setattr(joint_dp, "_relaxed_bound", zero_bound)
        patch.setattr(joint_dp, "_unit_bounds", zero_unit_bounds)
        patch.setattr(joint_dp, "_path_cost", lambda *args: math.inf)
        patch.setattr(joint_dp, "BEAMS", ())
        return joint_dp.solve_joint(problem, **options)


def _assert_same_optimum(found: tuple[float, np.ndarray] | None, reference: tuple[float, np.ndarray] | None) -> None:
    if reference is None:  # the exhaustive DP gave up: nothing to compare
        return
    assert found is not None
    if math.isinf(reference[0]):
        assert math.isinf(found[0])
        return
    assert found[0] == pytest.approx(reference[0], rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed", range(30))
def test_whole_fleet_optimum_is_the_exhaustive_one(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    problem = _ramp_free(seed, units=(2, 6), periods=(6, 24))
    _assert_same_optimum(joint_dp.solve_joint(problem), _exhaustive(monkeypatch, problem))


@pytest.mark.parametrize("seed", range(16))
def test_neighbourhood_optimum_is_the_exhaustive_one(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    problem = _ramp_free(100 + seed, units=(6, 8), periods=(8, 20))
    rng = np.random.default_rng(seed)
    count, periods = len(problem.thermal), problem.periods
    free = sorted(int(g) for g in rng.choice(count, 4, replace=False))
    # The centre: the fleet's optimum with a block of a fixed unit's days flipped (so that
    # the neighbourhood's optimum is not the fleet's), or long random blocks without one.
    whole = joint_dp.solve_joint(problem)
    if whole is not None and math.isfinite(whole[0]):
        base = whole[1].copy()
        fixed = int(rng.choice([g for g in range(count) if g not in free]))
        start = int(rng.integers(periods))
        base[fixed, start : start + 4] = ~base[fixed, start : start + 4]
    else:
        base = np.repeat(rng.random((count, periods // 4 + 1)) < 0.6, 4, axis=1)[:, :periods]
    found = joint_dp.solve_joint(problem, free=free, base=base)
    _assert_same_optimum(found, _exhaustive(monkeypatch, problem, free=free, base=base))
