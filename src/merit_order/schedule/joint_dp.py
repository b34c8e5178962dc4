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

Reachable joint states number tens of thousands per period (about 70,000 for pglib-uc's
5-unit fleet over 48 periods), but almost all of them are provably useless, so the search
is a bounded one (branch and bound on the DP's layers), which keeps it exact:

- a lower bound on the cost still to come from every state, from two relaxations solved
  backwards over time: one keeps every unit's on/off bit (or its whole state, for a few
  units, while that stays small) but lets a unit switch whenever it likes at its cheapest
  start-up price; the other keeps one unit's whole state and lets the others do whatever
  is cheapest. The first prices the on-sets, the second sees the minimum up/down times
  that make a state a dead end (its bound is infinite);
- an upper bound: the cost of a real schedule, from a beam search (the same DP keeping
  only the few states with the best cost + bound in each period), and, for a
  neighbourhood, the base schedule itself;
- the exact DP then drops every new state whose cost plus bound exceeds the upper bound
  (plus a hair for rounding). No dropped state lies on an optimal path, and the kept
  ones are priced with the same arithmetic as before, so the optimum is the same.

On pglib-uc's 5-unit fleets the bound is tight enough that one state or two per period
survive (a solve takes well under a millisecond), and the 10-unit pwdemars fleets, whose
joint state space the exhaustive DP could not hold, are solved in milliseconds too. Where
the bound is weak the DP is as before: past `max_states` states in a period or
`MAX_TRANSITIONS` in all it gives up and the solver falls back on branch and bound.
Compiled with numba: the loops are far too many for the interpreter.
"""

from __future__ import annotations

import math

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
#: States of the on/off relaxation behind the lower bound: every unit's bit while that fits,
#: then the whole state of the units with the longest memory while that still fits. The
#: bound costs about 2 * G * states steps a period. The small one is enough when the beam's
#: schedule comes within BEAM_GAP of it (pglib-uc's 5-unit fleets); otherwise the larger
#: one, whose exact units see their minimum up/down times, prunes more (on random 2-8 unit
#: fleets: about 15 % less time in all; larger budgets bought nothing more).
BOUND_STATES = (256, 4096)
#: Beam widths tried for the upper bound, the next one only when the previous beam died
#: (every state it kept ran into a dead end) or left a gap above BEAM_GAP to the lower bound;
#: the widest only when no beam has found a schedule yet.
BEAMS = (4, 64, 512)
#: Relative gap between the beam's schedule and the root lower bound that is worth a wider beam.
BEAM_GAP = 0.01
#: Transitions one beam search may examine before it is abandoned (it is only a heuristic).
BEAM_TRANSITIONS = 2_000_000


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
    # From period `last_lag` on (1-based), every category's window test is t1 >= lag[s+1]:
    # the price no longer depends on the period, so the later rows copy that one (pricing
    # each cell in Python was most of a 5-unit solve's time).
    rows = min(periods, max(last_lag, 1))
    for t in range(rows):
        for k in range(1, koff + 1):
            start_in[t, k] = unit.startup_cost(t + 1, k)
        start_init[t] = unit.startup_cost(t + 1, None)
    start_in[rows:] = start_in[rows - 1]
    start_init[rows:] = start_init[rows - 1]
    if unit.on_t0:
        initial = min(unit.time_up_t0, up)  # on states 0..up: k periods on
    else:
        initial = up + 1 + koff  # the "off since before the horizon" state
    return up, koff, initial, start_in, start_init


def _bound_kinds(sizes: np.ndarray, states: int) -> np.ndarray:
    """How the on/off relaxation keeps each unit: 0 not at all, 1 its on/off bit, 2 its
    whole state. Units with the most states (the longest minimum up/down times and lags,
    whose timing matters most) first, within `states` relaxed states."""
    kind = np.zeros(sizes.shape[0], dtype=np.int64)
    order = np.argsort(-sizes, kind="stable")
    space = 1
    for i in order:
        if space * 2 <= states:
            kind[i] = 1
            space *= 2
    for i in order:
        if kind[i] == 1 and space // 2 * int(sizes[i]) <= states:
            kind[i] = 2
            space = space // 2 * int(sizes[i])
    return kind


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
    sizes = ups + koffs + 2
    moves, move_next, move_cost = _unit_moves(periods, ups, koffs, downs, down_t0, must, start_in_all, start_init_all)
    unit_bound = _unit_bounds(periods, ups, sizes, moves, move_next, move_cost, table)
    unit_root = max((float(unit_bound[i, 0, initial[i]]) for i in range(count)), default=0.0)
    upper = math.inf
    if base is not None:  # the neighbourhood's centre is one of its schedules
        upper = float(_path_cost(periods, ups, initial, moves, move_next, move_cost, table, base[free].astype(np.int64)))
    for states in BOUND_STATES:
        bound, bound_of = _relaxed_bound(periods, ups, sizes, _bound_kinds(sizes, states), must, moves, move_next, move_cost, table)
        root = max(unit_root, float(bound[0, int(bound_of[np.arange(count), initial].sum())]))
        if root == math.inf:  # even a relaxation cannot meet every period
            return math.inf, np.zeros((len(units), periods), dtype=bool)
        if upper <= root + BEAM_GAP * abs(root):
            break
        for width in BEAMS:
            if width > BEAMS[1] and upper < math.inf:
                break
            status, cost, _ = _joint_dp(
                periods, ups, sizes, initial, moves, move_next, move_cost, table, bound, bound_of, unit_bound,
                math.inf, width, max_states, BEAM_TRANSITIONS,
            )
            if status == 0:
                upper = min(upper, float(cost))
                if upper <= root + BEAM_GAP * abs(root):
                    break
        if upper <= root + BEAM_GAP * abs(root):
            break
    # The hair above the upper bound covers rounding between the bound's sums and the DP's.
    cutoff = upper + 1e-9 * abs(upper) + 1e-9 if math.isfinite(upper) else math.inf
    status, cost, on = _joint_dp(
        periods, ups, sizes, initial, moves, move_next, move_cost, table, bound, bound_of, unit_bound,
        cutoff, 0, max_states, MAX_TRANSITIONS,
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
def _unit_moves(
    periods: int,
    ups: np.ndarray,
    koffs: np.ndarray,
    downs: np.ndarray,
    down_t0: np.ndarray,
    must: np.ndarray,
    start_in: np.ndarray,
    start_init: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every unit's moves from every state in every period, tabulated once: (count (T, G, S),
    next state (T, G, S, 2), cost (T, G, S, 2)), S the largest unit's state count.

    Unit state numbering: 0..up = on for k periods (k capped at up); up+1..up+koff = off
    for k periods since an in-horizon shutdown (capped at koff); up+1+koff = off since
    before the horizon. A state is on exactly when its number is at most up.
    """
    count = ups.shape[0]
    width = 1
    for g in range(count):
        width = max(width, ups[g] + koffs[g] + 2)
    moves = np.zeros((periods, count, width), dtype=np.int64)
    move_next = np.zeros((periods, count, width, 2), dtype=np.int64)
    move_cost = np.zeros((periods, count, width, 2))
    for t in range(periods):
        for g in range(count):
            up = ups[g]
            koff = koffs[g]
            for s in range(up + koff + 2):
                n = 0
                if s <= up:  # on for s periods
                    move_next[t, g, s, n] = min(s + 1, up)
                    n += 1
                    if s >= up and not must[g]:
                        move_next[t, g, s, n] = up + 1  # off for 1 period
                        n += 1
                elif s <= up + koff:  # off for k periods after an in-horizon shutdown
                    k = s - up
                    if not must[g]:
                        move_next[t, g, s, n] = up + min(k + 1, koff)
                        n += 1
                    if k >= downs[g]:
                        move_next[t, g, s, n] = 1
                        move_cost[t, g, s, n] = start_in[g, t, k]
                        n += 1
                else:  # off since before the horizon
                    if not must[g]:
                        move_next[t, g, s, n] = s
                        n += 1
                    if down_t0[g] + t >= downs[g]:
                        move_next[t, g, s, n] = 1
                        move_cost[t, g, s, n] = start_init[g, t]
                        n += 1
                moves[t, g, s] = n
    return moves, move_next, move_cost


@njit(cache=True)
def _relaxed_bound(
    periods: int,
    ups: np.ndarray,
    sizes: np.ndarray,
    kind: np.ndarray,
    must: np.ndarray,
    moves: np.ndarray,
    move_next: np.ndarray,
    move_cost: np.ndarray,
    table: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(bound (T+1, R), code (G, S)): a lower bound on the cost of periods t.. from each
    relaxed state, and each unit state's share of a joint state's relaxed code (a sum).

    Units of kind 2 keep their moves; kind 1 keep only on/off, may switch off whenever they
    are not must-run and on at the cheapest start-up price of the period (every real path
    is a relaxed one, no dearer); kind 0 are dropped and each period charged the cheapest
    on-set over their choices. The step cost is a sum over units, so the backward step is
    G passes of a min over one unit's moves, not a pass over all 2**G joint moves.
    """
    count = ups.shape[0]
    width = moves.shape[2]
    rsize = np.empty(count, dtype=np.int64)
    keep = 0
    for g in range(count):
        rsize[g] = sizes[g] if kind[g] == 2 else (2 if kind[g] == 1 else 1)
        if kind[g] > 0:
            keep |= 1 << g
    rmoves = np.zeros((periods, count, width), dtype=np.int64)
    rnext = np.zeros((periods, count, width, 2), dtype=np.int64)
    rcost = np.zeros((periods, count, width, 2))
    ron = np.zeros((count, width), dtype=np.int64)
    code_of = np.zeros((count, width), dtype=np.int64)
    rradix = np.ones(count, dtype=np.int64)
    for g in range(1, count):
        rradix[g] = rradix[g - 1] * rsize[g - 1]
    space = rradix[count - 1] * rsize[count - 1]
    kept = np.full(table.shape, np.inf)
    for t in range(periods):
        for m in range(table.shape[1]):
            if table[t, m] < kept[t, m & keep]:
                kept[t, m & keep] = table[t, m]
    for g in range(count):
        if kind[g] == 2:
            for s in range(sizes[g]):
                ron[g, s] = 1 if s <= ups[g] else 0
                code_of[g, s] = s * rradix[g]
            for t in range(periods):
                for s in range(sizes[g]):
                    rmoves[t, g, s] = moves[t, g, s]
                    for c in range(2):
                        rnext[t, g, s, c] = move_next[t, g, s, c]
                        rcost[t, g, s, c] = move_cost[t, g, s, c]
        elif kind[g] == 0:
            for t in range(periods):
                rmoves[t, g, 0] = 1  # stays in its one state, for nothing
        else:  # relaxed state 0 on, 1 off
            ron[g, 0] = 1
            for s in range(sizes[g]):
                code_of[g, s] = (0 if s <= ups[g] else 1) * rradix[g]
            for t in range(periods):
                cheapest = np.inf
                for s in range(ups[g] + 1, sizes[g]):
                    for c in range(moves[t, g, s]):
                        if move_next[t, g, s, c] <= ups[g]:
                            cheapest = min(cheapest, move_cost[t, g, s, c])
                n = 1  # on: stays on (rnext 0), or goes off unless must-run
                if not must[g]:
                    rnext[t, g, 0, 1] = 1
                    n = 2
                rmoves[t, g, 0] = n
                n = 0
                if not must[g]:
                    rnext[t, g, 1, 0] = 1
                    n = 1
                if cheapest < np.inf:
                    rnext[t, g, 1, n] = 0
                    rcost[t, g, 1, n] = cheapest
                    n += 1
                rmoves[t, g, 1] = n
    mask_of = np.zeros(space, dtype=np.int64)
    for y in range(space):
        rest = y
        m = 0
        for g in range(count):
            if ron[g, rest % rsize[g]]:
                m |= 1 << g
            rest //= rsize[g]
        mask_of[y] = m
    bound = np.zeros((periods + 1, space))
    a = np.empty(space)
    b = np.empty(space)
    for t in range(periods - 1, -1, -1):
        after = bound[t + 1]
        for y in range(space):
            a[y] = kept[t, mask_of[y]] + after[y]
        for g in range(count):
            stride = rradix[g]
            size = rsize[g]
            block = stride * size
            for s in range(size):
                k = rmoves[t, g, s]
                shift0 = (rnext[t, g, s, 0] - s) * stride
                cost0 = rcost[t, g, s, 0]
                shift1 = (rnext[t, g, s, 1] - s) * stride
                cost1 = rcost[t, g, s, 1]
                for outer in range(s * stride, space, block):
                    for x in range(outer, outer + stride):
                        if k == 0:
                            b[x] = np.inf
                        elif k == 1:
                            b[x] = cost0 + a[x + shift0]
                        else:
                            b[x] = min(cost0 + a[x + shift0], cost1 + a[x + shift1])
            a, b = b, a
        bound[t] = a
    return bound, code_of


@njit(cache=True)
def _unit_bounds(
    periods: int,
    ups: np.ndarray,
    sizes: np.ndarray,
    moves: np.ndarray,
    move_next: np.ndarray,
    move_cost: np.ndarray,
    table: np.ndarray,
) -> np.ndarray:
    """(G, T+1, S) for each unit, a lower bound on the cost of periods t.. from each of its
    states: its own moves exactly, every period charged the cheapest on-set in which it has
    the status it chose. Infinite where its minimum up/down times make the state a dead end,
    which is what the on/off relaxation cannot see."""
    count = ups.shape[0]
    width = moves.shape[2]
    cheapest = np.full((periods, count, 2), np.inf)  # [t, g, on]
    for t in range(periods):
        for m in range(table.shape[1]):
            v = table[t, m]
            if v < np.inf:
                for g in range(count):
                    on = (m >> g) & 1
                    if v < cheapest[t, g, on]:
                        cheapest[t, g, on] = v
    bound = np.zeros((count, periods + 1, width))
    for g in range(count):
        up = ups[g]
        for t in range(periods - 1, -1, -1):
            for s in range(sizes[g]):
                best = np.inf
                for c in range(moves[t, g, s]):
                    nx = move_next[t, g, s, c]
                    v = move_cost[t, g, s, c] + cheapest[t, g, 1 if nx <= up else 0] + bound[g, t + 1, nx]
                    if v < best:
                        best = v
                bound[g, t, s] = best
    return bound


@njit(cache=True)
def _path_cost(
    periods: int,
    ups: np.ndarray,
    initial: np.ndarray,
    moves: np.ndarray,
    move_next: np.ndarray,
    move_cost: np.ndarray,
    table: np.ndarray,
    on: np.ndarray,
) -> float:
    """The DP's cost of the commitment `on` ((G, T) of 0/1), inf when its moves are not allowed."""
    count = ups.shape[0]
    state = initial.copy()
    total = 0.0
    for t in range(periods):
        mask = 0
        for g in range(count):
            s = state[g]
            found = False
            for c in range(moves[t, g, s]):
                nx = move_next[t, g, s, c]
                if (1 if nx <= ups[g] else 0) == on[g, t]:
                    total += move_cost[t, g, s, c]
                    state[g] = nx
                    found = True
                    break
            if not found:
                return np.inf
            if on[g, t]:
                mask |= 1 << g
        total += table[t, mask]
    return total


@njit(cache=True)
def _grown(values: np.ndarray, room: int) -> np.ndarray:
    """`values` copied into a larger array of `room` entries (the rest left unset)."""
    out = np.empty(room, dtype=values.dtype)
    out[: values.shape[0]] = values
    return out


@njit(cache=True)
def _joint_dp(
    periods: int,
    ups: np.ndarray,
    sizes: np.ndarray,
    initial: np.ndarray,
    moves: np.ndarray,
    move_next: np.ndarray,
    move_cost: np.ndarray,
    table: np.ndarray,
    bound: np.ndarray,
    bound_of: np.ndarray,
    unit_bound: np.ndarray,
    cutoff: float,
    beam: int,
    max_states: int,
    max_transitions: int,
) -> tuple[int, float, np.ndarray]:
    """Forward DP over joint states. Status 0 solved, 1 too many states, 2 infeasible.

    A new state is kept only when its cost plus its lower bound (the larger of the on/off
    relaxation's and its units' own) is finite and at most `cutoff`. With `beam` > 0 only
    the `beam` states of best cost + bound go on to the next period: a heuristic schedule
    (status 2 then only means that the beam died).
    """
    count = ups.shape[0]
    radix = np.ones(count, dtype=np.int64)
    for g in range(1, count):
        radix[g] = radix[g - 1] * sizes[g - 1]
    layer_codes = []
    layer_parent = []
    codes = np.zeros(1, dtype=np.int64)
    for g in range(count):
        codes[0] += initial[g] * radix[g]
    costs = np.zeros(1)
    # One state's joint moves, built unit by unit (unit 0's choice varies fastest).
    combos = 1 << count
    c_code = np.zeros(combos, dtype=np.int64)
    c_cost = np.zeros(combos)
    c_mask = np.zeros(combos, dtype=np.int64)
    c_relaxed = np.zeros(combos, dtype=np.int64)
    c_units = np.zeros(combos)
    state = np.zeros(count, dtype=np.int64)
    transitions = 0
    # Joint code -> position in this period's lists: open addressing (Fibonacci hashing,
    # linear probing), kept under half full; far cheaper than a typed dict, and unlike an
    # array over the whole code space (millions of codes) it costs nothing to set up.
    cap = 1024
    bits = 10
    keys = np.full(cap, -1, dtype=np.int64)
    slots = np.zeros(cap, dtype=np.int64)
    room = 256
    new_codes = np.empty(room, dtype=np.int64)
    new_costs = np.empty(room)
    new_parent = np.empty(room, dtype=np.int64)
    new_score = np.empty(room)
    for t in range(periods):
        keys[:] = -1
        n_new = 0
        period_cost = table[t]
        after = bound[t + 1]
        for i in range(codes.shape[0]):
            if transitions > max_transitions:
                return 1, np.inf, np.zeros((count, periods), dtype=np.int64)
            rest = codes[i]
            for g in range(count):
                state[g] = rest % sizes[g]
                rest //= sizes[g]
            n = 1
            c_code[0] = 0
            c_cost[0] = costs[i]
            c_mask[0] = 0
            c_relaxed[0] = 0
            c_units[0] = 0.0
            for g in range(count):
                s = state[g]
                k = moves[t, g, s]
                if k == 0:
                    n = 0
                    break
                if k == 2:
                    for j in range(n):
                        c_code[n + j] = c_code[j]
                        c_cost[n + j] = c_cost[j]
                        c_mask[n + j] = c_mask[j]
                        c_relaxed[n + j] = c_relaxed[j]
                        c_units[n + j] = c_units[j]
                for c in range(k):
                    nx = move_next[t, g, s, c]
                    add = nx * radix[g]
                    bit = (1 if nx <= ups[g] else 0) << g
                    step = move_cost[t, g, s, c]
                    relaxed = bound_of[g, nx]
                    own = unit_bound[g, t + 1, nx]
                    for j in range(c * n, c * n + n):
                        c_code[j] += add
                        c_cost[j] += step
                        c_mask[j] |= bit
                        c_relaxed[j] += relaxed
                        if own > c_units[j]:
                            c_units[j] = own
                n *= k
            transitions += n
            for j in range(n):
                p = period_cost[c_mask[j]]
                if p == np.inf:
                    continue
                total = c_cost[j] + p
                score = total + max(after[c_relaxed[j]], c_units[j])
                if score > cutoff or score == np.inf:
                    continue
                new_code = c_code[j]
                pos = np.int64((np.uint64(new_code) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits))
                while keys[pos] != new_code and keys[pos] >= 0:
                    pos = (pos + 1) & (cap - 1)
                if keys[pos] >= 0:
                    q = slots[pos]
                    if total < new_costs[q]:
                        new_costs[q] = total
                        new_parent[q] = i
                        new_score[q] = score
                    continue
                if n_new >= max_states:
                    return 1, np.inf, np.zeros((count, periods), dtype=np.int64)
                if n_new == room:
                    room *= 2
                    new_codes = _grown(new_codes, room)
                    new_costs = _grown(new_costs, room)
                    new_parent = _grown(new_parent, room)
                    new_score = _grown(new_score, room)
                keys[pos] = new_code
                slots[pos] = n_new
                new_codes[n_new] = new_code
                new_costs[n_new] = total
                new_parent[n_new] = i
                new_score[n_new] = score
                n_new += 1
                if 2 * n_new > cap:  # rehash into a table four times larger
                    cap *= 4
                    bits += 2
                    keys = np.full(cap, -1, dtype=np.int64)
                    slots = np.zeros(cap, dtype=np.int64)
                    for q in range(n_new):
                        kq = new_codes[q]
                        pq = np.int64((np.uint64(kq) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits))
                        while keys[pq] >= 0:
                            pq = (pq + 1) & (cap - 1)
                        keys[pq] = kq
                        slots[pq] = q
        if n_new == 0:
            return 2, np.inf, np.zeros((count, periods), dtype=np.int64)
        if 0 < beam < n_new:
            worst = np.partition(new_score[:n_new].copy(), beam - 1)[beam - 1]
            kept = 0
            for q in range(n_new):
                if new_score[q] <= worst and kept < beam:
                    new_codes[kept] = new_codes[q]
                    new_costs[kept] = new_costs[q]
                    new_parent[kept] = new_parent[q]
                    kept += 1
            n_new = kept
        codes = new_codes[:n_new].copy()
        costs = new_costs[:n_new].copy()
        layer_codes.append(codes)
        layer_parent.append(new_parent[:n_new].copy())
    best = int(np.argmin(costs))
    best_cost = costs[best]
    on = np.zeros((count, periods), dtype=np.int64)
    j = best
    for t in range(periods - 1, -1, -1):
        rest = layer_codes[t][j]
        for g in range(count):
            on[g, t] = 1 if rest % sizes[g] <= ups[g] else 0
            rest //= sizes[g]
        j = layer_parent[t][j]
    return 0, best_cost, on
