"""Exact mode for small fleets without binding ramps: a dynamic programme over joint states.

When no unit's ramp, start-up or shut-down limit can bind (ramp limits at least Pmax - Pmin,
start-up/shut-down limits at least Pmax, as in pglib-uc's 5-20 unit fleets), the cheapest
dispatch of a period depends only on which units are on in that period. The whole problem
is then a shortest path over time whose state is, for every unit, on or off and for how
long (capped where the count no longer matters: the minimum up time when on; the minimum
down time or the coldest start-up lag when off; plus "off since before the horizon", whose
start-up price MODEL.tex sets apart). Each step pays the exact single-period dispatch of
the on-set (precomputed for every on-set and period) and the start-ups, priced as MODEL.tex
prices them. The optimum of this DP *is* the optimum of the MILP: no gap, no tolerance.

Its cost is the number of reachable joint states (about 70,000 per period at most for
pglib-uc's 5-unit fleet over 48 periods); past `max_states` in a period it gives up and the
solver falls back on branch and bound. Compiled with numba: the loops are a few tens of
millions of dictionary operations, far too many for the interpreter.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from .lagrangian import renewable_limits
from .model import Problem, ThermalUnit
from .primal import unit_startup_costs

#: Fleets up to this many thermal units are tried (the on-set table has 2**G columns).
MAX_UNITS = 12
#: Reachable joint states allowed in one period before the DP gives up.
MAX_STATES = 600_000
#: Joint transitions examined in all before the DP gives up (about half a second of work).
MAX_TRANSITIONS = 15_000_000
#: Joint code spaces up to this size are indexed by an array (8 bytes a code) instead of a hash map.
DENSE_CODES = 8_000_000


def ramps_never_bind(unit: ThermalUnit) -> bool:
    """True when no ramp, start-up or shut-down limit can restrict this unit's output."""
    span = unit.span
    return (
        unit.ramp_up >= span
        and unit.ramp_down >= span
        and unit.startup_limit >= unit.pmax
        and unit.shutdown_limit >= unit.pmax
    )


def applies(problem: Problem) -> bool:
    """Whether the joint DP is exact and affordable for this instance."""
    return 0 < len(problem.thermal) <= MAX_UNITS and exact_for(problem)


def exact_for(problem: Problem) -> bool:
    """Whether a period's cheapest dispatch depends on its on-set only (no ramp can bind),
    so that the DP, whole or on a neighbourhood, is exact. Bit sets hold 62 units."""
    return 0 < len(problem.thermal) <= 62 and all(ramps_never_bind(u) for u in problem.thermal)


def _period_costs(problem: Problem, full_masks: np.ndarray | None = None) -> np.ndarray:
    """(T, M) cheapest dispatch cost of each on-set in each period (inf: infeasible).

    `full_masks[t, m]` is the bit set of units on in column m of period t (default: every
    subset of the fleet, M = 2**G, column m = bit set m)."""
    units = problem.thermal
    count = len(units)
    periods = problem.periods
    lo, hi = renewable_limits(problem)
    ren_lo = lo.sum(axis=0) if lo.size else np.zeros(periods)
    ren_hi = hi.sum(axis=0) if hi.size else np.zeros(periods)
    pmin = np.array([u.pmin for u in units])
    pmax = np.array([u.pmax for u in units])
    no_load = np.array([u.curve_cost[0] for u in units])
    scale = np.array([u.scale(periods) for u in units])  # (G, T)
    seg_unit: list[int] = []
    seg_width: list[float] = []
    seg_slope: list[float] = []
    for g, unit in enumerate(units):
        widths = np.diff(np.asarray(unit.curve_mw, dtype=float))
        for width, slope in zip(widths, unit.segment_slopes(), strict=True):
            if width > 0:
                seg_unit.append(g)
                seg_width.append(float(width))
                seg_slope.append(float(slope))
    if full_masks is None:
        full_masks = np.broadcast_to(np.arange(1 << count, dtype=np.int64), (periods, 1 << count))
    return _period_cost_table(
        count,
        np.ascontiguousarray(full_masks, dtype=np.int64),
        problem.demand.astype(float),
        problem.reserve.astype(float),
        ren_lo,
        ren_hi,
        pmin,
        pmax,
        no_load,
        scale,
        np.array(seg_unit, dtype=np.int64),
        np.array(seg_width, dtype=float),
        np.array(seg_slope, dtype=float),
    )


@njit(cache=True)
def _period_cost_table(
    count: int,
    full_masks: np.ndarray,
    demand: np.ndarray,
    reserve: np.ndarray,
    ren_lo: np.ndarray,
    ren_hi: np.ndarray,
    pmin: np.ndarray,
    pmax: np.ndarray,
    no_load: np.ndarray,
    scale: np.ndarray,
    seg_unit: np.ndarray,
    seg_width: np.ndarray,
    seg_slope: np.ndarray,
) -> np.ndarray:
    periods = demand.shape[0]
    masks = full_masks.shape[1]
    table = np.full((periods, masks), np.inf)
    nseg = seg_unit.shape[0]
    slopes = np.empty(nseg)
    for t in range(periods):
        for s in range(nseg):
            slopes[s] = seg_slope[s] * scale[seg_unit[s], t]
        order = np.argsort(slopes, kind="mergesort")
        for column in range(masks):
            mask = full_masks[t, column]
            low = 0.0
            high = 0.0
            fixed = 0.0
            for g in range(count):
                if mask >> g & 1:
                    low += pmin[g]
                    high += pmax[g]
                    fixed += no_load[g] * scale[g, t]
            # Renewables cost nothing and free thermal headroom for reserve: use all of them
            # that the on units' minimum output leaves room for.
            renewable = min(ren_hi[t], demand[t] - low)
            if renewable < ren_lo[t] - 1e-9:
                continue
            thermal = demand[t] - renewable
            if thermal > high + 1e-9 or high - thermal < reserve[t] - 1e-9:
                continue
            rest = thermal - low
            cost = fixed
            for i in range(nseg):
                if rest <= 0.0:
                    break
                s = order[i]
                if mask >> seg_unit[s] & 1:
                    take = min(seg_width[s], rest)
                    cost += take * slopes[s]
                    rest -= take
            if rest <= 1e-9:
                table[t, column] = cost
    return table


def _unit_tables(unit: ThermalUnit, periods: int) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """(on states, off states, initial state index, start cost after k off (T, K+1), start
    cost from off-since-before (T,)) of one unit, in the DP's state numbering."""
    up = unit.min_up
    last_lag = unit.startup[-1].lag if unit.startup else 1
    koff = max(unit.min_down, last_lag, 1)
    start_in = np.zeros((periods, koff + 1))
    start_init = np.zeros(periods)
    for t in range(periods):
        for k in range(1, koff + 1):
            start_in[t, k] = unit.startup_cost(t + 1, k)
        start_init[t] = unit.startup_cost(t + 1, None)
    if unit.on_t0:
        initial = min(unit.time_up_t0, up)  # on states 0..up: k periods on
    else:
        initial = up + 1 + koff  # the "off since before the horizon" state
    return up, koff, initial, start_in, start_init


def solve_joint(
    problem: Problem,
    max_states: int = MAX_STATES,
    free: list[int] | None = None,
    base: np.ndarray | None = None,
) -> tuple[float, np.ndarray] | None:
    """(optimal cost, (G, T) commitment), or None when the state space is too large.

    With `free` (unit indices) and `base` ((G, T) commitment), only the free units' days are
    chosen; the others keep their rows of `base` (they are still dispatched): an exact search
    of that neighbourhood, which is how the solver improves schedules of fleets too large
    for the whole DP. Infeasible: (inf, empty) so the caller can say so.
    """
    units = problem.thermal
    periods = problem.periods
    if free is None:
        free = list(range(len(units)))
        table = _period_costs(problem)
        fixed_cost = 0.0
    else:
        assert base is not None
        fixed_bits = np.zeros(periods, dtype=np.int64)
        fixed_cost = 0.0
        for g, unit in enumerate(units):
            if g not in free:
                for t in range(periods):
                    if base[g, t]:
                        fixed_bits[t] |= 1 << g
                fixed_cost += float(unit_startup_costs(unit, base[g]).sum())
        columns = np.zeros((periods, 1 << len(free)), dtype=np.int64)
        for m in range(1 << len(free)):
            bits = 0
            for i, g in enumerate(free):
                if m >> i & 1:
                    bits |= 1 << g
            columns[:, m] = fixed_bits | bits
        table = _period_costs(problem, columns)
    count = len(free)
    ups = np.zeros(count, dtype=np.int64)
    koffs = np.zeros(count, dtype=np.int64)
    initial = np.zeros(count, dtype=np.int64)
    kmax = 1
    tables = []
    for i, g in enumerate(free):
        up, koff, init, start_in, start_init = _unit_tables(units[g], periods)
        ups[i], koffs[i], initial[i] = up, koff, init
        kmax = max(kmax, koff)
        tables.append((start_in, start_init))
    start_in_all = np.full((count, periods, kmax + 1), np.inf)
    start_init_all = np.zeros((count, periods))
    for i, (start_in, start_init) in enumerate(tables):
        start_in_all[i, :, : start_in.shape[1]] = start_in
        start_init_all[i] = start_init
    downs = np.array([units[g].min_down for g in free], dtype=np.int64)
    down_t0 = np.array([units[g].time_down_t0 for g in free], dtype=np.int64)
    must = np.array([units[g].must_run for g in free], dtype=np.bool_)
    radix = np.ones(count, dtype=np.int64)
    for i in range(1, count):
        radix[i] = radix[i - 1] * (ups[i - 1] + koffs[i - 1] + 2)
    code_space = int(radix[-1] * (ups[-1] + koffs[-1] + 2))
    dense_size = code_space if code_space <= DENSE_CODES else 0
    status, cost, on = _joint_dp(
        periods, ups, koffs, downs, down_t0, must, initial, radix, start_in_all, start_init_all, table, max_states, dense_size, MAX_TRANSITIONS
    )
    if status == 1:
        return None
    if status == 2 or not math.isfinite(cost):
        return math.inf, np.zeros((len(units), periods), dtype=bool)
    full = np.zeros((len(units), periods), dtype=bool) if base is None else base.astype(bool).copy()
    for i, g in enumerate(free):
        full[g] = on[i].astype(bool)
    return float(cost) + fixed_cost, full


@njit(cache=True)
def _joint_dp(
    periods: int,
    ups: np.ndarray,
    koffs: np.ndarray,
    downs: np.ndarray,
    down_t0: np.ndarray,
    must: np.ndarray,
    initial: np.ndarray,
    radix: np.ndarray,
    start_in: np.ndarray,
    start_init: np.ndarray,
    table: np.ndarray,
    max_states: int,
    dense_size: int,
    max_transitions: int,
) -> tuple[int, float, np.ndarray]:
    """Forward DP over joint states. Status 0 solved, 1 too many states, 2 infeasible.

    Unit state numbering: 0..up = on for k periods (k capped at up); up+1..up+koff = off
    for k periods since an in-horizon shutdown (capped at koff); up+1+koff = off since
    before the horizon.
    """
    count = ups.shape[0]
    layer_codes = []
    layer_parent = []
    codes = np.zeros(1, dtype=np.int64)
    for g in range(count):
        codes[0] += initial[g] * radix[g]
    costs = np.zeros(1)
    next_state = np.zeros((count, 2), dtype=np.int64)
    next_cost = np.zeros((count, 2))
    next_on = np.zeros((count, 2), dtype=np.int64)
    options = np.zeros(count, dtype=np.int64)
    state = np.zeros(count, dtype=np.int64)
    choice = np.zeros(count, dtype=np.int64)
    # Joint codes -> position in this period's lists: an array when the code space is
    # small (a lookup costs a few nanoseconds), a hash map otherwise.
    slot = np.full(max(dense_size, 1), -1, dtype=np.int64)
    transitions = 0
    # One period's new states, in preallocated buffers (typed lists cost twice as much).
    new_codes = np.empty(max_states + 1, dtype=np.int64)
    new_costs = np.empty(max_states + 1)
    new_parent = np.empty(max_states + 1, dtype=np.int64)
    for t in range(periods):
        # (the literal tells numba the key and value types, int64; a local annotation is not compiled)
        index: dict[Any, Any] = {np.int64(0): np.int64(0)}
        index.clear()
        n_new = 0
        for i in range(codes.shape[0]):
            if transitions > max_transitions:
                return 1, np.inf, np.zeros((count, periods), dtype=np.int64)
            code = codes[i]
            for g in range(count):
                state[g] = (code // radix[g]) % (ups[g] + koffs[g] + 2)
            for g in range(count):
                s = state[g]
                up = ups[g]
                koff = koffs[g]
                n = 0
                if s <= up:  # on for s periods
                    next_state[g, n] = min(s + 1, up)
                    next_cost[g, n] = 0.0
                    next_on[g, n] = 1
                    n += 1
                    if s >= up and not must[g]:
                        next_state[g, n] = up + 1  # off for 1 period
                        next_cost[g, n] = 0.0
                        next_on[g, n] = 0
                        n += 1
                elif s <= up + koff:  # off for k periods after an in-horizon shutdown
                    k = s - up
                    if not must[g]:
                        next_state[g, n] = up + min(k + 1, koff)
                        next_cost[g, n] = 0.0
                        next_on[g, n] = 0
                        n += 1
                    if k >= downs[g]:
                        next_state[g, n] = 1
                        next_cost[g, n] = start_in[g, t, k]
                        next_on[g, n] = 1
                        n += 1
                else:  # off since before the horizon
                    if not must[g]:
                        next_state[g, n] = s
                        next_cost[g, n] = 0.0
                        next_on[g, n] = 0
                        n += 1
                    if down_t0[g] + t >= downs[g]:
                        next_state[g, n] = 1
                        next_cost[g, n] = start_init[g, t]
                        next_on[g, n] = 1
                        n += 1
                options[g] = n
                if n == 0:
                    break
            feasible = True
            for g in range(count):
                if options[g] == 0:
                    feasible = False
            if not feasible:
                continue
            for g in range(count):
                choice[g] = 0
            while True:
                transitions += 1
                mask = 0
                add = costs[i]
                new_code = 0
                for g in range(count):
                    c = choice[g]
                    if next_on[g, c] == 1:
                        mask |= 1 << g
                    add += next_cost[g, c]
                    new_code += next_state[g, c] * radix[g]
                period = table[t, mask]
                if period < np.inf:
                    total = add + period
                    if dense_size > 0:
                        j = slot[new_code]
                    elif new_code in index:
                        j = index[new_code]
                    else:
                        j = -1
                    if j < 0:
                        if n_new >= max_states:
                            return 1, np.inf, np.zeros((count, periods), dtype=np.int64)
                        if dense_size > 0:
                            slot[new_code] = n_new
                        else:
                            index[new_code] = n_new
                        new_codes[n_new] = new_code
                        new_costs[n_new] = total
                        new_parent[n_new] = i
                        n_new += 1
                    elif total < new_costs[j]:
                        new_costs[j] = total
                        new_parent[j] = i
                # next combination (mixed radix over the units' options)
                g = 0
                while g < count:
                    choice[g] += 1
                    if choice[g] < options[g]:
                        break
                    choice[g] = 0
                    g += 1
                if g == count:
                    break
        if n_new == 0:
            return 2, np.inf, np.zeros((count, periods), dtype=np.int64)
        codes = new_codes[:n_new].copy()
        costs = new_costs[:n_new].copy()
        if dense_size > 0:
            for c in codes:
                slot[c] = -1
        layer_codes.append(codes)
        layer_parent.append(new_parent[:n_new].copy())
    best = int(np.argmin(costs))
    best_cost = costs[best]
    on = np.zeros((count, periods), dtype=np.int64)
    j = best
    for t in range(periods - 1, -1, -1):
        code = layer_codes[t][j]
        for g in range(count):
            s = (code // radix[g]) % (ups[g] + koffs[g] + 2)
            on[g, t] = 1 if s <= ups[g] else 0
        j = layer_parent[t][j]
    return 0, best_cost, on
