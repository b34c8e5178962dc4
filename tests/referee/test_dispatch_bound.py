"""The dispatch bound (`merit_order.schedule.dispatch_bound`) against HiGHS's dispatch.

The local search trusts the bound twice: a move whose bound does not beat the best schedule
is never dispatched (so the bound must never exceed the exact dispatch cost), and a period it
finds short is taken as proof that no dispatch exists. The referee is MODEL.tex's LP with
the commitment fixed, written and solved independently (tests/support/dispatch_referee.py).
Where no ramp, start-up or shut-down limit exists the relaxation drops nothing, so there the
bound must *equal* the optimum: that is what makes it rank moves well.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator

import numpy as np
import pytest
from dispatch_referee import highs_dispatch, random_problem

from merit_order.schedule.dispatch import dispatch
from merit_order.schedule.dispatch_bound import DispatchBound, Estimate, production_bound
from merit_order.schedule.errors import ScheduleInfeasible
from merit_order.schedule.model import Problem

RTOL = 1e-7


def _without_ramps(problem: Problem) -> Problem:
    inf = math.inf
    units = tuple(
        dataclasses.replace(u, ramp_up=inf, ramp_down=inf, startup_limit=inf, shutdown_limit=inf, p_t0=u.pmin if u.on_t0 else 0.0)
        for u in problem.thermal
    )
    return dataclasses.replace(problem, thermal=units)


@pytest.mark.parametrize("first", [0, *(pytest.param(first, marks=pytest.mark.slow) for first in range(100, 1000, 100))])
def test_bound_never_exceeds_the_dispatch_and_short_means_infeasible(first: int) -> None:
    """1,000 generated fleets and commitments (1-10 units, 1-24 periods)."""
    judged = 0
    for seed in range(first, first + 100):
        problem, on = random_problem(seed)
        ref = highs_dispatch(problem, on)
        ours = production_bound(problem, on)
        if not ref.feasible:
            continue  # a relaxation may or may not see it: nothing to hold it to
        judged += 1
        assert math.isfinite(ours), f"seed {seed}: the bound calls a feasible commitment infeasible"
        assert ours <= ref.objective + RTOL * max(1.0, abs(ref.objective)), f"seed {seed}: bound {ours!r} > optimum {ref.objective!r}"
    assert judged >= 50


@pytest.mark.parametrize("first", [0, pytest.param(100, marks=pytest.mark.slow), pytest.param(200, marks=pytest.mark.slow)])
def test_bound_is_the_optimum_where_no_ramp_limits_exist(first: int) -> None:
    """The same fleets with every ramp, start-up and shut-down limit removed: equal to HiGHS,
    and infeasible exactly when HiGHS says so."""
    judged = 0
    for seed in range(first, first + 100):
        problem, on = random_problem(seed)
        problem = _without_ramps(problem)
        ref = highs_dispatch(problem, on)
        ours = production_bound(problem, on)
        if not ref.feasible:
            assert not math.isfinite(ours), f"seed {seed}: HiGHS finds no dispatch, the bound {ours!r}"
            continue
        judged += 1
        assert math.isclose(ours, ref.objective, rel_tol=RTOL, abs_tol=1e-6), f"seed {seed}: {ours!r} vs {ref.objective!r}"
    assert judged >= 50


def _fleets_with_a_bound(count: int) -> Iterator[tuple[int, Problem, np.ndarray, DispatchBound, Estimate]]:
    """Generated fleets and commitments (seeds 0..count-1) whose bound exists, with it."""
    for seed in range(count):
        problem, on = random_problem(seed)
        bound = DispatchBound(problem)
        base = bound.evaluate(on)
        if base is not None:
            yield seed, problem, on, bound, base


def test_a_changed_row_gives_what_a_fresh_evaluation_gives() -> None:
    """`change` re-derives only the periods a move touches; the answer is the same."""
    compared = 0
    for seed, problem, on, bound, base in _fleets_with_a_bound(300):
        rnd = random.Random(seed)
        for _ in range(5):
            changed = {g: np.array([rnd.random() < 0.5 for _ in range(problem.periods)]) for g in rnd.sample(range(on.shape[0]), k=1 + rnd.randrange(on.shape[0]))}
            moved = bound.change(base, changed)
            trial = on.copy()
            for g, row in changed.items():
                trial[g] = row
            fresh = bound.evaluate(trial)
            assert (moved is None) == (fresh is None), f"seed {seed}"
            if moved is None or fresh is None:
                continue
            compared += 1
            np.testing.assert_allclose(moved.column, fresh.column, rtol=1e-12, atol=1e-9)
            np.testing.assert_array_equal(moved.short > 1e-7, fresh.short > 1e-7)
            assert moved.total == fresh.total or math.isclose(moved.total, fresh.total, rel_tol=1e-12)
    assert compared >= 500



def test_a_one_row_total_is_a_fresh_evaluations_and_leaves_the_base_unchanged() -> None:
    """`change_total` (the settle's pricing: the unit's row swapped into the base's arrays
    inside the kernel and back out) gives a fresh evaluation's total, inf where that is
    infeasible or None, and the base's arrays come back exactly as they were."""
    compared = infinite = 0
    for seed, problem, on, bound, base in _fleets_with_a_bound(300):
        before = [a.copy() for a in (base.on, base.lo, base.hi, base.cap, base.column, base.short)]
        rnd = random.Random(seed)
        for _ in range(8):
            g = rnd.randrange(on.shape[0])
            row = base.on[g].copy()
            a, b = sorted(rnd.sample(range(problem.periods + 1), 2))
            row[a:b] = rnd.random() < 0.5
            trial = on.copy()
            trial[g] = row
            fresh = bound.evaluate(trial)
            expected = math.inf if fresh is None else fresh.total
            total = bound.change_total(base, g, row)
            if math.isinf(expected):
                infinite += 1
                assert math.isinf(total), f"seed {seed}"
            else:
                compared += 1
                assert math.isclose(total, expected, rel_tol=1e-12, abs_tol=1e-9), f"seed {seed}"
        after = (base.on, base.lo, base.hi, base.cap, base.column, base.short)
        assert all(np.array_equal(x, y) for x, y in zip(before, after, strict=True)), f"seed {seed}"
    assert compared >= 500 and infinite >= 50

def test_per_period_cost_scales_agree_with_the_exact_dispatch() -> None:
    """A desk's fuel prices scale each unit's curve per period (the merit order then changes
    from period to period). HiGHS's referee has no scales, so the judge here is our exact
    dispatch (an interior point, no code shared with the merit order): equal without ramps,
    never below it with them."""
    judged = 0
    for seed in range(150):
        problem, on = random_problem(seed)
        rnd = random.Random(seed)
        units = tuple(
            dataclasses.replace(u, cost_scale=tuple(rnd.uniform(0.3, 3.0) for _ in range(problem.periods))) for u in problem.thermal
        )
        for case in (dataclasses.replace(problem, thermal=units), _without_ramps(dataclasses.replace(problem, thermal=units))):
            try:
                exact = dispatch(case, on).production_cost
            except ScheduleInfeasible:
                continue
            ours = production_bound(case, on)
            judged += 1
            assert ours <= exact + RTOL * max(1.0, abs(exact)), f"seed {seed}"
            if all(math.isinf(u.ramp_up) for u in case.thermal):
                assert math.isclose(ours, exact, rel_tol=1e-6, abs_tol=1e-6), f"seed {seed}: {ours!r} vs {exact!r}"
    assert judged >= 150
