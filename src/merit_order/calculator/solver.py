"""The exact solver: the cheapest plan on the 0.1 MW grid, ties broken lexicographically.

The problem is a semi-continuous knapsack: every unit is off or on in [lo, hi] tenths,
costs are linear, the total must equal the load. Three stages, each exact:

1. **The merit-order relaxation.** Drop Pmin and all-or-nothing (each unit becomes
   continuous in [0, hi]); filling the load cheapest-first is then optimal. If that fill
   happens to obey every rule it is the answer: it is optimal for a larger set of plans,
   and it is the lexicographically greatest plan of all. Most real hours stop here.
2. **An upper bound.** A repaired greedy (switch a unit on at Pmin and take the excess
   back from cheaper units already running) gives a feasible plan whose cost U bounds
   the optimum from above.
3. **A pruned dynamic program** over (unit k in merit order, tenths y left for units
   k..n-1), run from the last unit back to the first so that the plan can then be read
   forwards, giving each unit in merit order the most it can while staying optimal (the
   tie rule). A state can only lie on an optimal path if the relaxation of the units before
   k producing load - y, plus that of the units from k on producing y, costs at most U;
   both relaxations are merit-order fills, so the admissible y form one interval per k
   (a convex function below a level), found for all k at once by bisection. Only those
   intervals are computed, which keeps time and memory near the path of the greedy fill.
   Within an interval, a unit's step "on anywhere in [lo, hi]" is a sliding-window minimum
   (costs are linear in p), computed in O(interval + width) with the van Herk/Gil-Werman
   block trick.

When no upper bound is known the interval level is widened geometrically until a plan is
found; infeasibility is settled beforehand by the reachable-set bitset of feasibility.py.

A solve comes in two halves (`prepare`, then `Solve.run`) because a server must know what a
solve will cost before it spends anything on it: stages 1 and 2 and the size of stage 3's
table (its admissible intervals) take about a millisecond for 300 plants, while the table itself
can take seconds and hundreds of MB. `prepare` does the cheap half and reports `cells`;
`run` builds the table, checking a SolveControl once per column so that it can be stopped.
`solve_units` does both at once, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .control import SolveControl
from .errors import InfeasibleLoad, ProblemTooLarge
from .feasibility import nearest_feasible
from .fleet import Unit

#: Costs within this relative distance of each other are ties (DESIGN.md).
TIE_RTOL = 1e-9
#: Extra room when pruning, well above float noise and the tie tolerance, so that pruning
#: never removes a state of an optimal or tied plan. Only costs a little speed.
_PRUNE_RTOL = 1e-7

_INF = float("inf")

#: _window_min accumulates row by row (releasing the GIL) up to this many rows of the block grid.
_ROWWISE_BLOCKS = 16

#: Up to this many units that can run, trying every on/off commitment in pure Python beats
#: the fixed cost of the array program (a few hundred microseconds of numpy calls).
SMALL_FLEET = 8

#: Most states the dynamic program may hold for one request: 8 bytes each, so at most
#: ~240 MB and about a second of work. Realistic 300-plant fleets use well under 1 %.
MAX_TABLE_CELLS = 30_000_000


def solve_units(units: Sequence[Unit], load: int, control: SolveControl | None = None) -> list[int]:
    """Tenths of a MW for each unit (same order as `units`, which must be in merit order).

    Raises InfeasibleLoad when no plan produces exactly `load` tenths, ProblemTooLarge over
    the work limit, SolveCancelled when `control` says stop.
    """
    return prepare(units, load).run(control)


class Solve:
    """A solve with its cheap half done: the answer if that was enough, else the table's size.

    `cells` is the number of table cells stage 3 will build (0 when it builds none); a
    caller uses it to decide whether, where and when to run the rest. When the repaired
    greedy finds no plan the table is widened pass after pass, and `cells` is only the first
    pass's size (each later pass is announced through SolveControl.admit).
    """

    __slots__ = ("_exact", "_fleet", "_live", "_load", "_over_capacity", "_plan", "_units", "cells")

    def __init__(self, units: Sequence[Unit], load: int, live: list[int], fleet: list[Unit]) -> None:
        self._units = units
        self._load = load
        self._live = live
        self._fleet = fleet
        self._plan: list[int] | None = None  # the live units' plan, once known
        self._exact: _Exact | None = None
        self._over_capacity = False
        self.cells = 0

    @property
    def instant(self) -> bool:
        """True when run() is pure Python over at most SMALL_FLEET live units (or nothing at all):
        well under a millisecond, so not worth a thread hand-off."""
        return not self._over_capacity and self._exact is None

    def run(self, control: SolveControl | None = None) -> list[int]:
        """Tenths of a MW for each unit, in the order of the units given to prepare()."""
        fleet, load = self._fleet, self._load
        if self._over_capacity:
            below, _ = nearest_feasible(self._units, load)
            raise InfeasibleLoad(load / 10, _mw(below), None)
        plan = self._plan
        if plan is None:
            plan = _enumerate(fleet, load) if self._exact is None else _run_exact(fleet, load, self._exact, control)
        p_all = [0] * len(self._units)
        for i, p in zip(self._live, plan, strict=True):
            p_all[i] = p
        return p_all


def prepare(units: Sequence[Unit], load: int) -> Solve:
    """Stages 1 and 2 and the size of stage 3 (see Solve); raises ProblemTooLarge up front.

    Never builds a table nor the reachable-set bitset (both are run()'s): what it does is
    linear in the fleet plus a bisection over it, so that a server can do it on its event loop.
    """
    if load < 0:
        raise ValueError("load must be >= 0")
    live = [i for i, u in enumerate(units) if u.hi > 0]  # units that cannot run stay at 0
    fleet = [units[i] for i in live]
    solve = Solve(units, load, live, fleet)
    if load == 0:
        solve._plan = [0] * len(fleet)
        return solve
    capacity = sum(u.hi for u in fleet)
    if load > capacity:
        solve._over_capacity = True
        return solve
    plan = _relaxation_fill(fleet, load)
    if _obeys_rules(fleet, plan):
        solve._plan = plan
    elif len(fleet) > SMALL_FLEET:
        solve._exact = _prepare_exact(fleet, load)
        solve.cells = solve._exact.cells
    return solve


def _mw(tenths: int | None) -> float | None:
    return None if tenths is None else tenths / 10


def _relaxation_fill(fleet: Sequence[Unit], load: int) -> list[int]:
    """Cheapest-first fill ignoring Pmin and all-or-nothing: optimal for the relaxation."""
    plan = []
    left = load
    for u in fleet:
        take = u.hi if u.hi < left else left
        plan.append(take)
        left -= take
    return plan


def _obeys_rules(fleet: Sequence[Unit], plan: Sequence[int]) -> bool:
    return all(p == 0 or u.lo <= p <= u.hi for u, p in zip(fleet, plan))


def _cost(fleet: Sequence[Unit], plan: Sequence[int]) -> float:
    return sum(u.cost * p for u, p in zip(fleet, plan))


def _repaired_greedy(fleet: Sequence[Unit], load: int) -> list[int] | None:
    """A feasible plan, usually close to optimal, to bound the search; None if it finds none.

    Walks the merit order like the relaxation, but a unit whose Pmin exceeds what is left
    is either skipped or, if cheaper units already running can give back the difference
    without going under their own Pmin, switched on at Pmin with the excess taken back
    from the dearest of them.
    """
    plan = [0] * len(fleet)
    left = load
    slack = 0  # how much the units already on could give back without going under their Pmin
    for k, u in enumerate(fleet):
        if left == 0:
            break
        if u.lo <= left:
            plan[k] = min(u.hi, left)
            left -= plan[k]
            slack += plan[k] - u.lo
            continue
        need = u.lo - left
        if slack < need:
            continue
        plan[k] = u.lo
        left = 0
        for j in range(k - 1, -1, -1):
            if need == 0:
                break
            if plan[j] > 0:
                give = min(need, plan[j] - fleet[j].lo)
                plan[j] -= give
                need -= give
    return plan if left == 0 else None


def _enumerate(fleet: Sequence[Unit], load: int) -> list[int]:
    """Every commitment (set of units on), each filled cheapest-first above its Pmins.

    Within one commitment that fill is the cheapest plan and also the lexicographically
    greatest, so the answer is the greatest fill among the commitments whose fill ties
    with the cheapest one.
    """
    n = len(fleet)
    room_after = [0] * (n + 1)
    for k in range(n - 1, -1, -1):
        room_after[k] = room_after[k + 1] + fleet[k].hi
    found: list[tuple[float, list[int]]] = []
    on = [False] * n

    def fill(floor_sum: int) -> None:
        left = load - floor_sum
        plan = []
        cost = 0.0
        for j, u in enumerate(fleet):
            p = 0
            if on[j]:
                extra = min(u.hi - u.lo, left)
                left -= extra
                p = u.lo + extra
                cost += u.cost * p
            plan.append(p)
        found.append((cost, plan))

    def walk(k: int, floor_sum: int, ceiling_sum: int) -> None:
        if floor_sum > load or ceiling_sum + room_after[k] < load:
            return
        if k == n:
            fill(floor_sum)
            return
        on[k] = True
        walk(k + 1, floor_sum + fleet[k].lo, ceiling_sum + fleet[k].hi)
        on[k] = False
        walk(k + 1, floor_sum, ceiling_sum)

    walk(0, 0, 0)
    if not found:
        below, above = nearest_feasible(fleet, load)
        raise InfeasibleLoad(load / 10, _mw(below), _mw(above))
    best = min(cost for cost, _ in found)
    limit = best + TIE_RTOL * max(1.0, abs(best))
    return max(plan for cost, plan in found if cost <= limit)


class _Exact:
    """Stage 3 before its table: the merit-order fill's cumulative figures and the first pass's windows."""

    __slots__ = ("bounded", "cells", "cum_cap", "cum_cost", "relaxed", "room", "start", "width")

    def __init__(self, cum_cap: np.ndarray, cum_cost: np.ndarray, relaxed: float, room: float, bounded: bool) -> None:
        self.cum_cap = cum_cap
        self.cum_cost = cum_cost
        self.relaxed = relaxed
        self.room = room
        self.bounded = bounded  # room comes from a feasible plan's cost (one exact pass)
        self.start = np.empty(0, dtype=np.int64)
        self.width = np.empty(0, dtype=np.int64)
        self.cells = 0


def _prepare_exact(fleet: Sequence[Unit], load: int) -> _Exact:
    """The bound of stage 2 and the admissible windows it gives; ProblemTooLarge if over the limit.

    Without a bound (the greedy found no plan) the limit is left to run(): the request may
    be infeasible, which the bitset settles there and which is the better answer.
    """
    hi = np.array([u.hi for u in fleet], dtype=np.int64)
    cost = np.array([u.cost for u in fleet], dtype=np.float64)
    cum_cap = np.concatenate(([0], np.cumsum(hi)))
    cum_cost = np.concatenate(([0.0], np.cumsum(cost * hi)))
    relaxed = float(np.interp(load, cum_cap, cum_cost))
    guess = _repaired_greedy(fleet, load)
    if guess is not None:
        prep = _Exact(cum_cap, cum_cost, relaxed, _room(_cost(fleet, guess), relaxed), bounded=True)
    else:
        prep = _Exact(cum_cap, cum_cost, relaxed, max(1.0, abs(relaxed)) * 1e-3, bounded=False)
    prep.start, prep.width = _windows(load, cum_cap, cum_cost, prep.room)
    prep.cells = _cells(prep.width)
    if prep.bounded and prep.cells > MAX_TABLE_CELLS:
        raise ProblemTooLarge(prep.cells, MAX_TABLE_CELLS)
    return prep


def _run_exact(fleet: Sequence[Unit], load: int, prep: _Exact, control: SolveControl | None) -> list[int]:
    """The pruned dynamic program of stage 3, with the tie rule applied on the way out."""
    if prep.bounded:
        tables = _tables(fleet, prep.start, prep.width, control)
        return _read_plan(fleet, load, tables, control)

    below, above = nearest_feasible(fleet, load)
    if below != load:
        raise InfeasibleLoad(load / 10, _mw(below), _mw(above))
    # Feasible, but the heuristic found no plan: widen the admitted gap until the DP finds one.
    # A plan found with gap `room` is only proven optimal if it costs at most relaxed + room
    # (a cheaper plan could hide among the states pruned at that level); otherwise its cost is
    # now a true upper bound, and one more pass at that level is exact. Each pass drops the
    # previous one's tables before building its own, so that two never coexist.
    cum_cap, cum_cost, relaxed, room = prep.cum_cap, prep.cum_cost, prep.relaxed, prep.room
    start, width = prep.start, prep.width
    while True:
        tables: _Tables | None = _tables(fleet, start, width, control)
        found = float(tables.values[0][0])
        if np.isfinite(found):
            if found > relaxed + room:
                tables = None
                start, width = _windows(load, cum_cap, cum_cost, _room(found, relaxed))
                tables = _tables(fleet, start, width, control)
            return _read_plan(fleet, load, tables, control)
        tables = None
        room = _INF if room > abs(relaxed) * 1e3 + 1e6 else room * 16
        start, width = _windows(load, cum_cap, cum_cost, room)


def _cells(width: np.ndarray) -> int:
    """Cells of the tables over these windows (each window holds width + 1 values)."""
    return int(width.sum()) + len(width)


def _room(bound: float, relaxed: float) -> float:
    """How far above the relaxation a state's lower bound may be and still matter."""
    return bound - relaxed + _PRUNE_RTOL * max(1.0, abs(bound))


class _Tables:
    """G_k(y), the least cost for units k..n-1 to produce y, on y in [start[k], start[k] + len)."""

    __slots__ = ("start", "values")

    def __init__(self, start: list[int], values: list[np.ndarray]) -> None:
        self.start = start
        self.values = values


def _windows(load: int, cum_cap: np.ndarray, cum_cost: np.ndarray, room: float) -> tuple[np.ndarray, np.ndarray]:
    """For each k, the interval of y (tenths left for units k..) that can be on a plan within `room`.

    With A = min(cap before k, load) and B = max(cap before k, load), the cheapest way to
    have y = load - A + d left costs the relaxation plus
        extra(d) = CC(B + d) - CC(B) - CC(A) + CC(A - d),
    CC being the cumulative cost of the merit-order fill; extra is convex and increasing,
    so the admissible d form [0, d_max], found by a vectorised bisection.
    """
    total = int(cum_cap[-1])
    a = np.minimum(cum_cap, load)
    b = np.maximum(cum_cap, load)
    start = load - a
    d_hi = np.minimum(a, total - b)  # beyond these the relaxation itself is infeasible

    def extra(d: np.ndarray) -> np.ndarray:
        return (
            np.interp(b + d, cum_cap, cum_cost)
            - np.interp(b, cum_cap, cum_cost)
            - np.interp(a, cum_cap, cum_cost)
            + np.interp(a - d, cum_cap, cum_cost)
        )

    if not np.isfinite(room):
        return start, d_hi
    ok = np.zeros_like(d_hi)  # extra(ok) <= room holds
    bad = d_hi + 1  # extra(bad) > room, or past d_hi
    fits = extra(d_hi) <= room
    ok = np.where(fits, d_hi, ok)
    bad = np.where(fits, d_hi + 1, bad)
    while True:
        gap = bad - ok > 1
        if not gap.any():
            break
        mid = (ok + bad) // 2
        good = extra(mid) <= room
        ok = np.where(gap & good, mid, ok)
        bad = np.where(gap & ~good, mid, bad)
    return start, ok


def _tables(fleet: Sequence[Unit], start: np.ndarray, width: np.ndarray, control: SolveControl | None) -> _Tables:
    """Fill G_k backwards from G_n = {0: 0}, only inside each k's admissible window (see _windows).

    `control` is checked once per column: a column is at most a few windows of at most
    MAX_LOAD tenths, tens of milliseconds, so a cancelled solve stops that soon and, the
    columns being local to this frame, its memory goes with it.
    """
    n = len(fleet)
    cells = _cells(width)
    if cells > MAX_TABLE_CELLS:
        raise ProblemTooLarge(cells, MAX_TABLE_CELLS)
    if control is not None:
        control.admit(cells)
        control.check()
    starts = [int(s) for s in start]
    ends = [int(s + w) for s, w in zip(start, width)]
    values: list[np.ndarray] = [np.empty(0)] * (n + 1)
    values[n] = np.zeros(ends[n] - starts[n] + 1)
    for k in range(n - 1, -1, -1):
        if control is not None:
            control.check()
        u = fleet[k]
        a0, b0, a1, b1 = starts[k], ends[k], starts[k + 1], ends[k + 1]
        nxt = values[k + 1]
        out = np.full(b0 - a0 + 1, _INF)
        # off: the units after k produce all of y
        lo_, hi_ = max(a0, a1), min(b0, b1)
        if lo_ <= hi_:
            out[lo_ - a0 : hi_ - a0 + 1] = nxt[lo_ - a1 : hi_ - a1 + 1]
        # on: y = z + p with p in [u.lo, u.hi], z produced by the units after k
        y_lo, y_hi = max(a0, a1 + u.lo), min(b0, b1 + u.hi)
        if y_lo <= y_hi:
            seg = slice(y_lo - a0, y_hi - a0 + 1)
            if u.lo == u.hi:
                on = nxt[y_lo - u.lo - a1 : y_hi - u.lo - a1 + 1] + u.cost * u.lo
            else:
                on = _on_range(nxt, a1, b1, y_lo, y_hi, u.lo, u.hi, u.cost)
            np.minimum(out[seg], on, out=out[seg])
        values[k] = out
    return _Tables(starts, values)


def _on_range(
    nxt: np.ndarray, a1: int, b1: int, y_lo: int, y_hi: int, lo: int, hi: int, cost: float
) -> np.ndarray:
    """min over p in [lo, hi] of cost*p + G(y - p), for y in [y_lo, y_hi].

    cost*p = cost*y - cost*z, so this is cost*y plus a sliding-window minimum of
    H(z) = G(z) - cost*z over z in [y - hi, y - lo].
    """
    z_lo, z_hi = max(a1, y_lo - hi), min(b1, y_hi - lo)
    zs = np.arange(z_lo, z_hi + 1)
    h = nxt[z_lo - a1 : z_hi - a1 + 1] - cost * zs
    ys = np.arange(y_lo, y_hi + 1)
    mins = _window_min(h, y_lo - hi - z_lo, y_hi - y_lo + 1, hi - lo + 1)
    return mins + cost * ys


def _window_min(h: np.ndarray, s0: int, count: int, w: int) -> np.ndarray:
    """min(h[s..s + w - 1] clipped to h) for the `count` consecutive windows s = s0, s0 + 1, ...

    Windows as wide as h touch one of its ends, so prefix/suffix minima answer them; narrower
    ones use van Herk/Gil-Werman on h padded with +inf so that every window is whole. The
    windows are consecutive, so every lookup is a slice (no fancy indexing).
    """
    m = len(h)
    if w >= m:
        prefix = np.minimum.accumulate(h)
        out = np.empty(count)
        head = min(count, max(0, 1 - s0))  # windows starting at or before h[0]: prefix minima
        e0 = s0 + w - 1
        whole = min(head, max(0, m - e0))
        out[:whole] = prefix[e0 : e0 + whole]
        out[whole:head] = prefix[m - 1]
        if head < count:  # the rest start inside h and run past its end: suffix minima
            suffix = np.minimum.accumulate(h[::-1])[::-1]
            out[head:] = suffix[s0 + head : s0 + count]
        return out
    pad = w - 1
    blocks = -(-(m + 2 * pad) // w)
    padded = np.full(blocks * w, _INF)
    padded[pad : pad + m] = h
    grid = padded.reshape(blocks, w)
    if blocks <= _ROWWISE_BLOCKS:
        # Row by row: numpy releases the GIL during a 1-D accumulate but holds it through a 2-D
        # one along axis 1 (measured on rows of 500k: every other thread stalled ~10 ms per
        # call), and a heavy solve in a thread must not stall the server's event loop.
        pre_rows, suf_rows = np.empty_like(grid), np.empty_like(grid)
        for r in range(blocks):
            np.minimum.accumulate(grid[r], out=pre_rows[r])
            np.minimum.accumulate(grid[r, ::-1], out=suf_rows[r, ::-1])
        pre, suf = pre_rows.ravel(), suf_rows.ravel()
    else:  # many short rows: one call each way (a row-by-row loop would cost more than it frees)
        pre = np.minimum.accumulate(grid, axis=1).ravel()
        suf = np.minimum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    j0 = s0 + pad  # window [j, j + w - 1] in padded coordinates
    return np.minimum(suf[j0 : j0 + count], pre[j0 + w - 1 : j0 + w - 1 + count])


def _read_plan(fleet: Sequence[Unit], load: int, tables: _Tables, control: SolveControl | None) -> list[int]:
    """Walk the merit order forwards, giving each unit the most that still allows an optimal plan."""
    best = float(tables.values[0][load - tables.start[0]])
    if not np.isfinite(best):  # pragma: no cover - callers only read tables that hold a plan
        raise AssertionError("no plan in the tables")
    limit = best + TIE_RTOL * max(1.0, abs(best))
    plan = []
    left = load
    spent = 0.0
    for k, u in enumerate(fleet):
        if control is not None:
            control.check()
        nxt = tables.values[k + 1]
        a1 = tables.start[k + 1]
        b1 = a1 + len(nxt) - 1
        p_max = min(u.hi, left - a1)
        p_min = max(u.lo, left - b1)
        chosen = 0
        if p_min <= p_max:
            # most first: p = p_max, p_max - 1, ... i.e. z = left - p ascending
            z = np.arange(left - p_max, left - p_min + 1)
            totals = spent + u.cost * (left - z) + nxt[z - a1]
            hits = np.flatnonzero(totals <= limit)
            if hits.size:
                chosen = int(left - z[hits[0]])
        if chosen == 0 and not (a1 <= left <= b1 and spent + nxt[left - a1] <= limit):
            raise AssertionError("tie walk lost the optimal plan")  # pragma: no cover
        plan.append(chosen)
        spent += u.cost * chosen
        left -= chosen
    return plan
