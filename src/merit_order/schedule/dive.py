"""A Lagrangian dive: fix the units the relaxation has decided, round one it hesitates on,
re-solve the dual with those fixed, repeat until every unit's day is fixed.

Why: at the dual optimum, the bundle's convex combination of unit plans (`guide`) is close
to the convexified problem's solution. Most units are integral in it; a few are split
(e.g. a 350 MW unit "41 % on all day"). Repairing the integral plan greedily, one short
period at a time, is myopic: it starts that big unit for the whole day, where the optimum
covers the same reserve with two small units. Re-solving the dual after fixing the split
unit off lets the prices move and the small units come on by themselves, the way a MILP
solver's diving heuristic would. Each round is a few dozen bundle steps warm-started from
the previous multipliers; every round's relaxed commitment is also repaired, so the dive
yields schedules along the way, not only at its end.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .bundle import BundleMaximiser, OracleAnswer
from .deadline import Deadline
from .lagrangian import DualPoint, evaluate, plan_unit
from .model import Problem
from .primal import Repairer, Schedule

#: A unit whose weights stay this close to 0 or 1 in every period counts as decided.
DECIDED = 0.02


def _round_row(problem: Problem, g: int, guide_row: np.ndarray, point: DualPoint, threshold: float) -> np.ndarray:
    """A feasible day for unit g close to its fractional row: on where it is at least
    `threshold` on (then stricter thresholds if that is not a feasible day)."""
    unit = problem.thermal[g]
    for cut in (threshold, 0.75, 0.9):
        fixed = np.where(guide_row >= cut, 1, 0).astype(np.int8)
        plan = plan_unit(unit, point.price, point.reserve_price, fixed)
        if plan is not None:
            return plan.on.astype(bool)
        fixed = np.where(guide_row >= cut, 1, -1).astype(np.int8)
        plan = plan_unit(unit, point.price, point.reserve_price, fixed)
        if plan is not None:
            return plan.on.astype(bool)
    return point.on[g].copy()


def dive(
    problem: Problem,
    start: np.ndarray,
    repairer: Repairer,
    deadline: Deadline | float,
    on_schedule: Callable[[Schedule | None], None],
    guide0: np.ndarray | None = None,
    t0: float | None = None,
    steps_per_round: int = 25,
    min_steps: int = 12,
    threshold: float = 0.5,
    rng: np.random.Generator | None = None,
    fixed0: np.ndarray | None = None,
) -> None:
    """Run one dive from the multipliers `start` (and the fractional commitment `guide0` and
    proximal parameter `t0` of the bundle that found them); report every schedule it repairs."""
    deadline = Deadline.of(deadline)
    periods = problem.periods
    count = len(problem.thermal)
    # `fixed0`: rows already decided (a neighbourhood dive: every unit but a few keeps its day)
    fixed = np.full((count, periods), -1, dtype=np.int8) if fixed0 is None else fixed0.astype(np.int8).copy()
    nonnegative = np.r_[np.zeros(periods, dtype=bool), np.ones(periods, dtype=bool)]
    x = start.copy()
    while not deadline.passed():
        rows = list(fixed)

        def oracle(y: np.ndarray) -> OracleAnswer[DualPoint]:
            point = evaluate(problem, y[:periods], y[periods:], rows)  # noqa: B023 - only this round's bundle calls it
            if point is None:  # cannot happen: fixed rows are feasible unit schedules
                raise RuntimeError("dive: a fixed unit has no schedule")
            return OracleAnswer(point.value, np.concatenate([point.demand_residual, point.reserve_residual]), point)

        method = BundleMaximiser(oracle, x, nonnegative, t0=t0)
        for step in range(0 if guide0 is not None else steps_per_round):
            if deadline.passed():
                break
            method.step()
            converged = 0 <= method.state.predicted <= 1e-7 * max(1.0, abs(method.state.centre_value))
            if converged and step >= min_steps:  # enough cuts for the combination to mean something
                break
        point = method.state.centre_answer.payload
        if guide0 is not None:  # the first round: the caller's converged bundle already knows
            guide, guide0 = guide0, None
        else:
            guide = np.asarray(sum(w * p.on.astype(float) for w, p in method.weighted_payloads()), dtype=float)
            t0 = method.state.t
        on_schedule(repairer.repair(point.on, point.price, point.reserve_price, guide, fixed))
        x = np.concatenate([point.price, point.reserve_price])
        free = [g for g in range(count) if (fixed[g] < 0).any()]
        if not free:
            return
        if not any(np.minimum(guide[g], 1.0 - guide[g]).max() > DECIDED for g in free) and not any(
            point.on[g].any() for g in free
        ):
            return  # every free unit is decided off: the last repair above was the dive's end
        split = [g for g in free if np.minimum(guide[g], 1.0 - guide[g]).max() > DECIDED]
        for g in free:  # decided and committed: keep; decided off: leave free to come on later
            if g not in split and point.on[g].any():
                fixed[g] = point.on[g].astype(np.int8)
        if split:
            size = np.array([problem.thermal[g].pmax for g in split])
            mass = np.array([np.minimum(guide[g], 1.0 - guide[g]).sum() for g in split]) * size
            if rng is None:  # the unit the relaxation is most undecided about, by MW
                g = split[int(np.argmax(mass))]
                cut = threshold
            else:  # a randomised dive: another undecided unit, another rounding
                g = split[int(rng.choice(len(split), p=mass / mass.sum()))]
                cut = float(rng.uniform(0.2, 0.8))
            fixed[g] = _round_row(problem, g, guide[g], point, cut).astype(np.int8)
        if not (fixed < 0).any():
            on_schedule(repairer.repair(fixed.astype(bool), point.price, point.reserve_price, None, fixed))
            return
