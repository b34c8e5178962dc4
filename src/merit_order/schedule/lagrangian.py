"""The Lagrangian dual of the unit-commitment problem: its value is a proven lower bound.

Relaxing the demand rows (multiplier `price[t]`, any sign) and the reserve rows (multiplier
`reserve_price[t] >= 0`) splits the problem into one subproblem per unit:

    L(price, reserve_price) = sum_t price[t] * D[t] + reserve_price[t] * R[t]
                              + sum_g min over unit g's schedules of
                                    sum_t cost_g(t) + startup_g(t) - price[t] P_g(t) - reserve_price[t] r_g(t)
                              + sum_w sum_t min over P_w(t) in [lo, hi] of -price[t] P_w(t)

For every (price, reserve_price) with reserve_price >= 0, L is at most the cost of any
feasible schedule (weak duality), *provided each unit's minimum is exact*: that is why the
unit subproblem (`unit_subproblem.py`) is solved exactly, ramps included. L is concave; the
unit solutions give a supergradient (the demand and reserve rows' residuals), which the dual
method (`bundle.py`) climbs.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .model import Problem, ThermalUnit
from .unit_subproblem import FleetSubproblems, UnitPlan, solve_unit

# Rounding on the safe side: the dual value is a sum of a few thousand floating-point terms
# of magnitude up to |value|; each addition errs by at most one ulp of the running sum. A
# relative margin of 1e-9 (plus an absolute 1e-6) is orders of magnitude above that error
# and orders below any gap a desk would read, so `certified()` stays a proven bound.
SAFETY_RELATIVE = 1e-9
SAFETY_ABSOLUTE = 1e-6


@dataclass
class DualPoint:
    """The dual function at one point: its value, a supergradient and the unit plans."""

    price: np.ndarray  # (T,)
    reserve_price: np.ndarray  # (T,)
    value: float
    demand_residual: np.ndarray  # (T,) D - sum P: supergradient w.r.t. price
    reserve_residual: np.ndarray  # (T,) R - sum r: supergradient w.r.t. reserve_price
    unit_on: np.ndarray  # (G, T) int8: each unit's minimising commitment
    renewable: np.ndarray  # (W, T) the renewables' minimising output

    def certified(self) -> float:
        """The value rounded down by more than any floating-point error it can carry."""
        return self.value - SAFETY_RELATIVE * abs(self.value) - SAFETY_ABSOLUTE

    @property
    def on(self) -> np.ndarray:
        """(G, T) commitments of the unit plans."""
        return self.unit_on.astype(bool)


def renewable_limits(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """(W, T) lower and upper output of the renewables (empty arrays when there are none)."""
    periods = problem.periods
    if not problem.renewable:
        return np.zeros((0, periods)), np.zeros((0, periods))
    lo = np.array([w.pmin for w in problem.renewable], dtype=float)
    hi = np.array([w.pmax for w in problem.renewable], dtype=float)
    return lo, hi


def plan_unit(
    unit: ThermalUnit, price: np.ndarray, reserve_price: np.ndarray, fixed: np.ndarray | None = None
) -> UnitPlan | None:
    """The unit's exact subproblem at these prices; None if `fixed` leaves it no schedule."""
    return solve_unit(unit, price, reserve_price, fixed)


_FLEETS: weakref.WeakKeyDictionary[Problem, FleetSubproblems] = weakref.WeakKeyDictionary()


def fleet_of(problem: Problem) -> FleetSubproblems:
    """The problem's units packed once for batched solves (kept as long as the problem lives)."""
    fleet = _FLEETS.get(problem)
    if fleet is None:
        fleet = _FLEETS[problem] = FleetSubproblems(problem.thermal, problem.periods)
    return fleet


def evaluate(
    problem: Problem,
    price: np.ndarray,
    reserve_price: np.ndarray,
    fixed: Sequence[np.ndarray | None] | None = None,
) -> DualPoint | None:
    """L at (price, reserve_price); None when some unit has no schedule (its `fixed` mask).

    `fixed[g]` (values -1 free, 0 off, 1 on per period) restricts unit g: a branch of the
    exact mode. The value is then a bound for that branch only.
    """
    reserve_price = np.maximum(reserve_price, 0.0)
    value = float(price @ problem.demand + reserve_price @ problem.reserve)
    unit_on = np.zeros((len(problem.thermal), problem.periods), dtype=np.int8)
    total_p = np.zeros(problem.periods)
    total_r = np.zeros(problem.periods)
    if problem.thermal:
        masks = None
        if fixed is not None:
            masks = np.array([np.full(problem.periods, -1) if m is None else m for m in fixed], dtype=np.int8)
        batch = fleet_of(problem).solve_arrays(price, reserve_price, masks)
        if not np.isfinite(batch.value).all():
            return None
        unit_on = batch.on  # (no per-unit plan objects: the dual's inner loop calls this ~10^5 times)
        value += float(batch.value.sum())
        total_p += batch.p.sum(axis=0)
        total_r += batch.r.sum(axis=0)
    lo, hi = renewable_limits(problem)
    renewable = np.where(price[None, :] > 0, hi, lo) if lo.size else lo
    if lo.size:
        value -= float((renewable * price[None, :]).sum())
        total_p += renewable.sum(axis=0)
    return DualPoint(
        price=price.copy(),
        reserve_price=reserve_price.copy(),
        value=value,
        demand_residual=problem.demand - total_p,
        reserve_residual=problem.reserve - total_r,
        unit_on=unit_on,
        renewable=renewable,
    )


def initial_prices(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """A starting point for the dual: each period's marginal cost in a merit order.

    Units sorted by their full-output average cost per MW; the price of a period is the
    average cost of the last unit needed to cover its net demand. Rough, but it puts the
    multipliers in the right range, which saves the dual method many steps.
    """
    periods = problem.periods
    price = np.zeros(periods)
    if not problem.thermal:
        return price, np.zeros(periods)
    average = np.array([u.curve_cost[-1] / max(u.pmax, 1e-9) for u in problem.thermal])
    order = np.argsort(average, kind="stable")
    pmax = np.array([problem.thermal[g].pmax for g in order])
    cumulative = np.cumsum(pmax)
    lo, _ = renewable_limits(problem)
    net = problem.demand - (lo.sum(axis=0) if lo.size else 0.0)
    for t in range(periods):
        k = int(np.searchsorted(cumulative, net[t]))
        price[t] = float(average[order[min(k, len(order) - 1)]])
    return price, np.zeros(periods)
