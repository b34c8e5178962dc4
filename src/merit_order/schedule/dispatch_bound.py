"""A fast lower bound on a commitment's dispatch cost: the dispatch without ramp coupling.

The exact dispatch (`dispatch.py`) is an interior-point solve: tens to hundreds of
milliseconds on a fleet of 73 units over a day. A local search that judged every move by it
could afford a few hundred moves a minute. This bound costs well under a millisecond: drop
the rows that couple a unit's periods (ramps) and keep, for each unit and period, the bounds
those rows imply (`dispatch._unit_bounds`: start-up and shut-down capability, the ramp chain
propagated from the initial output and towards shutdowns). What is left falls apart into one
problem per period, solved exactly by merit order: every unit at its least output, then the
cheapest segments of the cost curves until demand is met, within what the reserve leaves.

Why it is a bound: every row kept is a row (or an implication of rows) of MODEL.tex's LP for
this commitment, and rows were only dropped, so its optimum is at most the exact dispatch's.
A move whose bound (plus start-up costs) is not below the best schedule's cost cannot pay
and is skipped without a dispatch; the others are dispatched exactly. Where ramps do not
bind, the bound *is* the dispatch cost, which is why it ranks moves well.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from .dispatch import _fleet, _unit_bounds
from .errors import ScheduleInfeasible
from .model import Problem
from .primal import unit_startup_costs

#: MW of slack allowed before a period is declared short (rounding in the bounds).
_TOL = 1e-7


@dataclass(frozen=True)
class Estimate:
    """A commitment with its bound, kept per period so that a move re-derives only the
    periods and units it changes."""

    on: np.ndarray  # (G, T) bool
    lo: np.ndarray  # (G, T) MW above Pmin, the unit's least output (0 when off)
    hi: np.ndarray  # (G, T) most output
    cap: np.ndarray  # (G, T) most output + reserve
    startup: np.ndarray  # (G,) each unit's start-up costs over the day
    column: np.ndarray  # (T,) each period's production bound
    short: np.ndarray  # (T,) MW the period lacks even in the bound (> 0: no dispatch exists)

    # Cached: a settle reads them a million times on one start (rts_gmlc, 73 units).
    @functools.cached_property
    def feasible(self) -> bool:
        return bool(self.short.max(initial=0.0) <= _TOL)

    @functools.cached_property
    def total(self) -> float:
        """Lower bound on the commitment's cost (production + starts), inf if infeasible."""
        return float(self.column.sum() + self.startup.sum()) if self.feasible else math.inf


@dataclass(frozen=True)
class _Row:
    lo: np.ndarray
    hi: np.ndarray
    cap: np.ndarray
    startup: float


class DispatchBound:
    """Bounds of commitments, computed from scratch (`evaluate`) or from a near one (`change`).

    Unit rows are cached by content: a local search meets the same rows again and again."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.fleet = fleet = _fleet(problem)
        # The dispatch's cost segments (fleet.seg_*): each one's unit, and their order by slope
        # when it is the same in every period (no unit has a per-period cost scale).
        self._seg_unit = np.repeat(np.arange(len(problem.thermal), dtype=np.int64), np.diff(fleet.seg_ptr))
        scaled = any(u.cost_scale is not None for u in problem.thermal)
        self._order = np.empty(0, dtype=np.int64) if scaled else np.argsort(fleet.seg_m, kind="stable").astype(np.int64)
        self._rows: dict[tuple[int, bytes], _Row | None] = {}

    def row(self, g: int, on_row: np.ndarray) -> _Row | None:
        """Unit g's bounds under this commitment row; None when it cannot follow it."""
        key = (g, np.packbits(on_row).tobytes())
        if key not in self._rows:
            try:
                units = _unit_bounds(self.problem, self.fleet, on_row[None, :], np.array([g]))
            except ScheduleInfeasible:
                self._rows[key] = None
            else:
                startup = float(unit_startup_costs(self.problem.thermal[g], on_row).sum())
                self._rows[key] = _Row(units.lo[0], units.hi[0], units.cap[0], startup)
        return self._rows[key]

    def evaluate(self, on: np.ndarray) -> Estimate | None:
        """The bound of `on`; None when some unit cannot follow its row."""
        on = np.asarray(on, dtype=bool)
        G, T = on.shape
        lo, hi, cap, startup = np.zeros((G, T)), np.zeros((G, T)), np.zeros((G, T)), np.zeros(G)
        for g in range(G):
            row = self.row(g, on[g])
            if row is None:
                return None
            lo[g], hi[g], cap[g], startup[g] = row.lo, row.hi, row.cap, row.startup
        column, short = self._columns(on, lo, hi, cap, np.arange(T))
        return Estimate(on, lo, hi, cap, startup, column, short)

    def change(self, base: Estimate, rows: dict[int, np.ndarray]) -> Estimate | None:
        """The bound of `base` with some units' rows replaced; None if one cannot follow."""
        on, lo, hi, cap, startup = base.on.copy(), base.lo.copy(), base.hi.copy(), base.cap.copy(), base.startup.copy()
        touched = np.zeros(on.shape[1], dtype=bool)
        for g, new in rows.items():
            row = self.row(g, new)
            if row is None:
                return None
            moved = (new != on[g]) | (row.lo != lo[g]) | (row.hi != hi[g]) | (row.cap != cap[g])
            touched |= moved
            touched[1:] |= moved[:-1]  # the ramp check of the next period reads this one
            on[g], lo[g], hi[g], cap[g], startup[g] = new, row.lo, row.hi, row.cap, row.startup
        column, short = base.column.copy(), base.short.copy()
        periods = np.flatnonzero(touched)
        if periods.size:
            column[periods], short[periods] = self._columns(on, lo, hi, cap, periods)
        return Estimate(on, lo, hi, cap, startup, column, short)

    def change_total(self, base: Estimate, g: int, new: np.ndarray) -> float:
        """`change(base, {g: new}).total` without building the estimate: a settle tries
        hundreds of thousands of one-row changes and keeps a few (math.inf: infeasible, or
        the unit cannot follow the row). One compiled call: the Python around the kernel
        cost twice the kernel (profile of a 48-period settle)."""
        row = self.row(g, new)
        if row is None:
            return math.inf
        fleet, problem = self.fleet, self.problem
        return float(_one_row_total(
            base.on, base.lo, base.hi, base.cap, base.column, base.short, base.startup, g, new, row.lo, row.hi,
            row.cap, row.startup, fleet.scale, fleet.no_load, fleet.pmin, problem.demand, problem.reserve,
            fleet.w_lo, fleet.w_hi, self._seg_unit, fleet.seg_start, fleet.seg_width, fleet.seg_m, self._order,
            fleet.ru,
        ))

    def _columns(
        self, on: np.ndarray, lo: np.ndarray, hi: np.ndarray, cap: np.ndarray, periods: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each listed period's merit-order cost and shortfall (see the module's doc)."""
        fleet, problem = self.fleet, self.problem
        return _merit_order_columns(
            on, lo, hi, cap, periods.astype(np.int64), fleet.scale, fleet.no_load, fleet.pmin,
            problem.demand, problem.reserve, fleet.w_lo, fleet.w_hi,
            self._seg_unit, fleet.seg_start, fleet.seg_width, fleet.seg_m, self._order, fleet.ru,
        )


@nb.njit(cache=True)
def _merit_order_columns(
    on: np.ndarray, lo: np.ndarray, hi: np.ndarray, cap: np.ndarray, periods: np.ndarray, scale: np.ndarray,
    no_load: np.ndarray, pmin: np.ndarray, demand: np.ndarray, reserve: np.ndarray, w_lo: np.ndarray,
    w_hi: np.ndarray, seg_unit: np.ndarray, seg_start: np.ndarray, seg_width: np.ndarray, seg_slope: np.ndarray,
    order: np.ndarray, ramp_up: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per period: every unit on at its least output, then the cheapest parts of the cost
    curves up to the output needed (a part that earns is taken as far as the room allows);
    the shortfall where even all of it is not enough, or where the reserve leaves no room."""
    G = on.shape[0]
    S = seg_unit.shape[0]
    P = periods.shape[0]
    cost = np.zeros(P)
    short = np.zeros(P)
    avail = np.empty(S)
    slope = np.empty(S)
    for k in range(P):
        t = periods[k]
        c = 0.0
        base = 0.0
        least = 0.0
        caps = 0.0
        for g in range(G):
            if on[g, t]:
                c += no_load[g] * scale[g, t]
                base += pmin[g]
                least += lo[g, t]
                caps += cap[g, t]
        total_avail = 0.0
        for j in range(S):
            g = seg_unit[j]
            m = seg_slope[j] * scale[g, t]
            slope[j] = m
            if not on[g, t]:
                avail[j] = 0.0
                continue
            below = min(max(lo[g, t] - seg_start[j], 0.0), seg_width[j])
            upto = min(max(hi[g, t] - seg_start[j], 0.0), seg_width[j])
            c += below * m
            avail[j] = upto - below
            total_avail += upto - below
        least += base
        need = max(demand[t] - w_hi[t] - least, 0.0)
        room = min(demand[t] - w_lo[t], caps + base - reserve[t]) - least
        short[k] = max(max(need - room, need - total_avail), 0.0)
        if t > 0:
            # Ramps between t-1 and t (RampUp: p + r - p(t-1) <= RU): output + reserve in t is
            # at most what the units held in t-1 plus their ramps, and what they held in t-1 is
            # limited by that period's demand (less the renewables' least). Each MW held in t-1
            # buys one MW in t, up to the unit's cap, so the most is a greedy sum.
            reach = base  # Pmin of the units on in t
            spare = demand[t - 1] - w_lo[t - 1]  # most thermal output in t-1
            lift = 0.0
            for g in range(G):
                if on[g, t - 1]:
                    spare -= pmin[g] + lo[g, t - 1]
                if not on[g, t]:
                    continue
                if on[g, t - 1]:
                    reach += min(cap[g, t], lo[g, t - 1] + ramp_up[g])
                    lift += max(min(cap[g, t] - ramp_up[g], hi[g, t - 1]) - lo[g, t - 1], 0.0)
                else:
                    reach += cap[g, t]
            reach += min(max(spare, 0.0), lift)
            short[k] = max(short[k], demand[t] - w_hi[t] + reserve[t] - reach)
        room = max(room, need)
        sequence = order if order.shape[0] == S else np.argsort(slope, kind="mergesort")
        before = 0.0
        for i in range(S):
            j = sequence[i]
            a = avail[j]
            if a <= 0.0:
                continue
            limit = room if slope[j] < 0.0 else need
            take = min(max(limit - before, 0.0), a)
            c += take * slope[j]
            before += a
        cost[k] = c
    return cost, short


@nb.njit(cache=True)
def _one_row_total(
    on: np.ndarray, lo: np.ndarray, hi: np.ndarray, cap: np.ndarray, column: np.ndarray, short: np.ndarray,
    startup: np.ndarray, g: int, new_on: np.ndarray, new_lo: np.ndarray, new_hi: np.ndarray, new_cap: np.ndarray,
    new_startup: float, scale: np.ndarray, no_load: np.ndarray, pmin: np.ndarray, demand: np.ndarray,
    reserve: np.ndarray, w_lo: np.ndarray, w_hi: np.ndarray, seg_unit: np.ndarray, seg_start: np.ndarray,
    seg_width: np.ndarray, seg_slope: np.ndarray, order: np.ndarray, ramp_up: np.ndarray,
) -> float:
    """The bound's total with unit g's row replaced (see DispatchBound.change_total): only the
    periods the row changes, and the next ones (their ramp check reads them), re-derived.

    The row is swapped into the base's arrays for the kernel and back out (nothing in between
    can raise), so the caller's arrays are unchanged on return: cheaper than copying the whole
    fleet's arrays for each of the hundreds of thousands of one-row changes a settle prices."""
    T = on.shape[1]
    touched = np.zeros(T, dtype=np.bool_)
    for t in range(T):
        if new_on[t] != on[g, t] or new_lo[t] != lo[g, t] or new_hi[t] != hi[g, t] or new_cap[t] != cap[g, t]:
            touched[t] = True
            if t + 1 < T:
                touched[t + 1] = True
    production = 0.0
    count = 0
    for t in range(T):
        if touched[t]:
            count += 1
        else:
            if short[t] > _TOL:
                return np.inf
            production += column[t]
    periods = np.empty(count, dtype=np.int64)
    k = 0
    for t in range(T):
        if touched[t]:
            periods[k] = t
            k += 1
    saved_on, saved_lo, saved_hi, saved_cap = on[g].copy(), lo[g].copy(), hi[g].copy(), cap[g].copy()
    on[g], lo[g], hi[g], cap[g] = new_on, new_lo, new_hi, new_cap
    cost, lack = _merit_order_columns(on, lo, hi, cap, periods, scale, no_load, pmin, demand, reserve, w_lo, w_hi,
                                      seg_unit, seg_start, seg_width, seg_slope, order, ramp_up)
    on[g], lo[g], hi[g], cap[g] = saved_on, saved_lo, saved_hi, saved_cap
    for k in range(count):
        if lack[k] > _TOL:
            return np.inf
        production += cost[k]
    return production + startup.sum() - startup[g] + new_startup


def production_bound(problem: Problem, on: np.ndarray) -> float:
    """A lower bound on `dispatch(problem, on).production_cost`; math.inf when the bound alone
    proves that no dispatch exists (a period short, or a unit unable to follow its row)."""
    estimate = DispatchBound(problem).evaluate(on)
    return math.inf if estimate is None or not estimate.feasible else float(estimate.column.sum())
