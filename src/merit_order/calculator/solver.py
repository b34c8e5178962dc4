"""The exact solver: the cheapest plan on the 0.1 MW grid, ties broken lexicographically.

How it works and why it is exact is written once, in docs/algorithm.md: the merit-order
relaxation, the enumeration of small fleets, the pruned dynamic program over blocks of
identical units and the tie walk that reads the plan back, and the memory and work bounds.

A solve comes in two halves (`prepare`, then `Solve.run`/`Solve.finish`) because a server
must know what a solve will cost before it spends anything on it: `prepare` does the cheap
half and reports `cells` (work) and `held` (memory); `run` builds the table, checking a
SolveControl once per column so that it can be stopped. No valid request is refused as too
large: a table's memory is bounded by checkpointing (docs/algorithm.md). `solve` and `solve_units` do both at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .control import SolveControl
from .errors import InfeasibleLoad
from .feasibility import nearest_feasible
from .fleet import Unit
from .groups import CLASS_MIN_SAVING, Block, group_blocks, group_column, group_share, passes, with_classes
from .window import on_range, window_min

#: Costs within this relative distance of each other are ties (docs/rules.md, the tie rule).
TIE_RTOL = 1e-9
#: Extra room when pruning, well above float noise and the tie tolerance, so that pruning
#: never removes a state of an optimal or tied plan. Only costs a little speed.
_PRUNE_RTOL = 1e-7

_INF = float("inf")

#: Up to this many units that can run, trying every on/off commitment in pure Python beats
#: the fixed cost of the array program (a few hundred microseconds of numpy calls).
SMALL_FLEET = 8

#: A table of up to this many cells keeps every column (8 bytes a cell: 32 MB, well under a
#: second); a larger one keeps checkpoint columns only and recomputes the others, one segment at
#: a time, while the plan is read back (`_layout`, docs/algorithm.md "Memory and work"). There is
#: no cap on a table's size: every table has at most (units + 1) * (load + 1) cells and holds at
#: most about 2 * sqrt(units + 1) columns, which the request limits bound.
KEEP_ALL_CELLS = 4_000_000

#: method= values that force a route (tests, benchmarks); "auto" picks the fastest exact one.
#: "exact-dp" is the dynamic program unit by unit, "groups" the one over blocks of identical
#: units and, where they pay, classes of equal cost; "classes" takes every class that never
#: costs more cells, however narrow (so that tests reach the class code on tiny fleets); the
#: "-unbounded" variants skip the repaired greedy's bound (its rare fallback).
METHODS = (
    "auto", "enumeration", "exact-dp", "exact-dp-unbounded", "groups", "groups-unbounded", "classes", "classes-unbounded"
)
#: Most units a forced enumeration accepts (2**n commitments).
MAX_ENUMERATION = 16


class SolveResult(NamedTuple):
    """A solved request: the plan, the route that proved it and the work it took.

    `method` is "instant" (no load, or the merit-order fill obeys every rule), "enumeration",
    "exact-dp" or "groups"; `cells` counts the table cells built over every pass (0 without a
    table), in the unit of the server's admission budget (docs/solve-budget.md).
    """

    plan: list[int]
    method: str
    cells: int


def solve(
    units: Sequence[Unit], load: int, *, method: str = "auto", control: SolveControl | None = None
) -> SolveResult:
    """prepare() and finish() at once: the plan (same order as `units`, in merit order) and how it was found."""
    return prepare(units, load, method=method).finish(control)


def solve_units(units: Sequence[Unit], load: int, control: SolveControl | None = None) -> list[int]:
    """Tenths of a MW for each unit (same order as `units`, which must be in merit order).

    Raises InfeasibleLoad when no plan produces exactly `load` tenths, SolveCancelled when
    `control` says stop.
    """
    return solve(units, load, control=control).plan


class Solve:
    """A solve with its cheap half done: the answer if that was enough, else the table's size.

    `cells` is the number of table cells stage 3 will build (0 when it builds none), `held`
    the most of them it holds in memory at once (see _layout); a caller uses them to decide
    whether, where and when to run the rest. When the repaired greedy finds no plan the table
    is widened pass after pass, and both are only the first pass's (each later pass is
    announced through SolveControl.admit).
    """

    __slots__ = ("_exact", "_fleet", "_live", "_load", "_method", "_over_capacity", "_plan", "_units", "cells", "held")

    def __init__(self, units: Sequence[Unit], load: int, live: list[int], fleet: list[Unit]) -> None:
        self._units = units
        self._load = load
        self._live = live
        self._fleet = fleet
        self._plan: list[int] | None = None  # the live units' plan, once known
        self._exact: _Exact | None = None
        self._over_capacity = False
        self._method = "instant"
        self.cells = 0
        self.held = 0

    @property
    def classes(self) -> int:
        """How many classes of differing equal-cost units have one table column each (0 without a table)."""
        if self._exact is None or self._exact.blocks is None:
            return 0
        return sum(1 for b in self._exact.blocks if b.sets is not None)

    @property
    def instant(self) -> bool:
        """True when run() is pure Python over at most SMALL_FLEET live units (or nothing at all):
        well under a millisecond, so not worth a thread hand-off."""
        return not self._over_capacity and self._exact is None

    def run(self, control: SolveControl | None = None) -> list[int]:
        """Tenths of a MW for each unit, in the order of the units given to prepare()."""
        return self.finish(control).plan

    def finish(self, control: SolveControl | None = None) -> SolveResult:
        """The plan, the route that proved it and the cells it built."""
        fleet, load = self._fleet, self._load
        if self._over_capacity:
            below, _ = nearest_feasible(self._units, load)
            raise InfeasibleLoad(load / 10, _mw(below), None)
        plan, cells = self._plan, 0
        if plan is None:
            if self._exact is None:
                plan = _enumerate(fleet, load)
            else:
                plan, cells = _run_exact(fleet, load, self._exact, control)
        p_all = [0] * len(self._units)
        for i, p in zip(self._live, plan, strict=True):
            p_all[i] = p
        return SolveResult(p_all, self._method, cells)


def prepare(units: Sequence[Unit], load: int, method: str = "auto") -> Solve:
    """Stages 1 and 2 and the size of stage 3 (see Solve).

    Never builds a table nor the reachable-set bitset (both are run()'s): what it does is
    linear in the fleet plus a bisection over it, so that a server can do it on its event loop.
    A forced `method` (see METHODS) skips the merit-order shortcut, so that the route it
    names is the one that answers.
    """
    if load < 0:
        raise ValueError("load must be >= 0")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
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
    if method == "auto":
        plan = _relaxation_fill(fleet, load)
        if _obeys_rules(fleet, plan):
            solve._plan = plan
            return solve
        method = "enumeration" if len(fleet) <= SMALL_FLEET else "paying"
    if method == "enumeration":
        if len(fleet) > MAX_ENUMERATION:
            raise ValueError(f"enumeration is for at most {MAX_ENUMERATION} units that can run, not {len(fleet)}")
        solve._method = "enumeration"
        return solve
    grouping = method.removesuffix("-unbounded").replace("exact-dp", "units")
    solve._exact = _prepare_exact(fleet, load, grouping, bound=not method.endswith("-unbounded"))
    blocks = solve._exact.blocks
    solve._method = "groups" if blocks is not None and len(blocks) < len(fleet) else "exact-dp"
    solve.cells = solve._exact.cells
    solve.held = _layout(solve._exact.width)[1]
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
    """Stage 3 before its table: the blocks, the merit-order fill's cumulative figures and the first pass's windows."""

    __slots__ = ("blocks", "bounded", "cells", "cum_cap", "cum_cost", "relaxed", "room", "start", "width")

    def __init__(
        self, cum_cap: np.ndarray, cum_cost: np.ndarray, relaxed: float, room: float, bounded: bool
    ) -> None:
        self.blocks: list[Block] | None = None  # None: every unit a block of its own (no Block objects)
        self.cum_cap = cum_cap
        self.cum_cost = cum_cost
        self.relaxed = relaxed
        self.room = room
        self.bounded = bounded  # room comes from a feasible plan's cost (one exact pass)
        self.start = np.empty(0, dtype=np.int64)
        self.width = np.empty(0, dtype=np.int64)
        self.cells = 0

    def windows(self, load: int, room: float) -> tuple[np.ndarray, np.ndarray]:
        """The admissible window of each block boundary (the start of each block, then the end)."""
        return self.at_blocks(*_windows(load, self.cum_cap, self.cum_cost, room))

    def at_blocks(self, start: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The windows of the unit boundaries that are block boundaries."""
        if self.blocks is None or len(self.blocks) == len(start) - 1:  # every block a unit: the units' boundaries
            return start, width
        at = [b.first for b in self.blocks] + [len(start) - 1]
        return start[at], width[at]

    def cells_of(self, start: np.ndarray, width: np.ndarray) -> int:
        """The work of the tables over these windows, in cells (see _cells)."""
        return _cells(self.blocks, start, width)


def _prepare_exact(fleet: Sequence[Unit], load: int, grouping: str, bound: bool = True) -> _Exact:
    """The bound of stage 2 and the admissible windows it gives, and the table's size.

    `grouping` says which blocks the table has: "units" (one per unit), "groups" (identical
    neighbours as groups, equal-cost classes where the first pass's windows say they save
    CLASS_MIN_SAVING cells per unit), "classes" (every group and every class that costs no
    more cells) or "paying" (the automatic route: groups and classes only where they save
    that much; else no Block at all, the per-block Python being a measurable share of a
    300-plant solve).

    Without a bound (the greedy found no plan) run() first settles whether the request is
    feasible (the reachable-set bitset), then widens the windows pass by pass.
    """
    hi = np.array([u.hi for u in fleet], dtype=np.int64)
    cost = np.array([u.cost for u in fleet], dtype=np.float64)
    cum_cap = np.concatenate(([0], np.cumsum(hi)))
    cum_cost = np.concatenate(([0.0], np.cumsum(cost * hi)))
    relaxed = float(np.interp(load, cum_cap, cum_cost))
    guess = _repaired_greedy(fleet, load) if bound else None
    if guess is not None:
        prep = _Exact(cum_cap, cum_cost, relaxed, _room(_cost(fleet, guess), relaxed), bounded=True)
    else:
        prep = _Exact(cum_cap, cum_cost, relaxed, max(1.0, abs(relaxed)) * 1e-3, bounded=False)
    start, width = _windows(load, cum_cap, cum_cost, prep.room)
    if grouping == "classes":
        prep.blocks = with_classes(fleet, load, group_blocks(fleet), width, 0)
    elif grouping == "groups":
        prep.blocks = with_classes(fleet, load, group_blocks(fleet), width, CLASS_MIN_SAVING)
    elif grouping == "paying" and _grouping_may_pay(cost, width, CLASS_MIN_SAVING):
        blocks = with_classes(fleet, load, group_blocks(fleet), width, CLASS_MIN_SAVING, split=True)
        prep.blocks = None if len(blocks) == len(fleet) else blocks
    prep.start, prep.width = prep.at_blocks(start, width)
    prep.cells = prep.cells_of(prep.start, prep.width)
    return prep


def _run_exact(fleet: Sequence[Unit], load: int, prep: _Exact, control: SolveControl | None) -> tuple[list[int], int]:
    """The pruned dynamic program of stage 3, with the tie rule applied on the way out; the plan and the cells built."""
    blocks = prep.blocks
    if prep.bounded:
        tables = _tables(fleet, blocks, prep.start, prep.width, control)
        return _read_plan(fleet, blocks, load, tables, control), prep.cells

    below, above = nearest_feasible(fleet, load)
    if below != load:
        raise InfeasibleLoad(load / 10, _mw(below), _mw(above))
    # Feasible, but the heuristic found no plan: widen the admitted gap until the DP finds one.
    # A plan found with gap `room` is only proven optimal if it costs at most relaxed + room
    # (a cheaper plan could hide among the states pruned at that level); otherwise its cost is
    # now a true upper bound, and one more pass at that level is exact. Each pass drops the
    # previous one's tables before building its own, so that two never coexist.
    relaxed, room = prep.relaxed, prep.room
    start, width = prep.start, prep.width
    built = 0
    while True:
        trial: _Tables | None = _tables(fleet, blocks, start, width, control)
        assert trial is not None
        built += prep.cells_of(start, width)
        found = float(trial.column(0)[0])
        if np.isfinite(found):
            if found > relaxed + room:
                trial = None  # dropped before the next pass is built
                start, width = prep.windows(load, _room(found, relaxed))
                exact = _tables(fleet, blocks, start, width, control)
                built += prep.cells_of(start, width)
                return _read_plan(fleet, blocks, load, exact, control), built
            return _read_plan(fleet, blocks, load, trial, control), built
        trial = None
        room = _INF if room > abs(relaxed) * 1e3 + 1e6 else room * 16
        start, width = prep.windows(load, room)


def _grouping_may_pay(cost: np.ndarray, width: np.ndarray, min_saving: int) -> bool:
    """Whether some run of equal-cost neighbours is wide enough that a group or class could save
    `min_saving` cells per unit (an upper bound: the run's cells unit by unit, less one column)."""
    firsts = np.flatnonzero(np.concatenate(([True], cost[1:] != cost[:-1])))
    if len(firsts) == len(cost):
        return False
    counts = np.diff(np.append(firsts, len(cost)))
    by_units = np.add.reduceat(width[:-1] + 1, firsts)
    return bool(np.any((counts > 1) & (by_units - (width[firsts] + 1) >= min_saving * counts)))


def _cells(blocks: Sequence[Block] | None, start: np.ndarray, width: np.ndarray) -> int:
    """The work of the tables over these windows: each block boundary holds width + 1 values,
    and a block's column costs one window per interval its group can produce (groups.passes)."""
    total = int(width.sum()) + len(width)  # one window per block, and the last boundary
    for k, block in enumerate(blocks or ()):
        if block.count > 1:  # the extra windows of a group or class (few blocks: a Python loop is fine)
            total += (int(width[k]) + 1) * (passes(block, int(start[k] + width[k] - start[k + 1])) - 1)
    return total


def _room(bound: float, relaxed: float) -> float:
    """How far above the relaxation a state's lower bound may be and still matter."""
    return bound - relaxed + _PRUNE_RTOL * max(1.0, abs(bound))


class _Tables:
    """G_b(y), the least cost for blocks b..B-1 to produce y, on y in [start[b], end[b]].

    Holds the columns _layout keeps; `column(b)` recomputes a column it does not keep, with
    the rest of its segment (from the checkpoint after it, by the same code on the same
    input, so bit for bit the column the build computed), and keeps that segment until the
    walk asks for a column of another one.
    """

    __slots__ = ("_blocks", "_control", "_fleet", "_kept", "_segment", "end", "start")

    def __init__(
        self,
        fleet: Sequence[Unit],
        blocks: Sequence[Block] | None,
        start: list[int],
        end: list[int],
        kept: dict[int, np.ndarray],
        control: SolveControl | None,
    ) -> None:
        self._fleet = fleet
        self._blocks = blocks
        self.start = start
        self.end = end
        self._kept = kept
        self._segment: dict[int, np.ndarray] = {}
        self._control = control

    def column(self, b: int) -> np.ndarray:
        """G_b on [start[b], end[b]]."""
        got = self._kept.get(b)
        if got is None:
            got = self._segment.get(b)
        if got is not None:
            return got
        top = min(k for k in self._kept if k > b)  # the checkpoint after b (the last column is always kept)
        self._segment = {}  # the previous segment goes before this one is built
        col = self._kept[top]
        for k in range(top - 1, b - 1, -1):
            if self._control is not None:
                self._control.check()
            col = _column(self._fleet, self._blocks, k, self.start, self.end, col)
            self._segment[k] = col
        return col


def _layout(width: np.ndarray) -> tuple[list[bool], int]:
    """Which of a table's columns are kept, and the most cells it holds at once.

    Up to KEEP_ALL_CELLS cells, all of them. Beyond, the columns 0, s, 2s, ... and the last,
    s = ceil(sqrt(columns)): the build keeps those (and the two columns it works on), and the
    plan's walk, which reads the columns in order, recomputes one segment of at most s - 1
    columns at a time from the checkpoint after it. At most about 2 * sqrt(columns) columns
    are held at once, for about twice the work.
    """
    sizes = (width + 1).tolist()
    total = sum(sizes)
    if total <= KEEP_ALL_CELLS:
        return [True] * len(sizes), total
    step = math.isqrt(len(sizes) - 1) + 1  # ceil(sqrt(len)) for len >= 2
    keep = [k % step == 0 for k in range(len(sizes))]
    keep[-1] = True
    kept = sum(size for size, kept in zip(sizes, keep) if kept)
    segment = run = 0
    for size, kept_ in zip(sizes, keep):
        run = 0 if kept_ else run + size
        segment = max(segment, run)
    biggest = max(sizes)  # the column being computed beside them, or the one the walk is reading
    return keep, min(total, kept + max(segment, biggest) + biggest)  # never more than every column


def held_bound(units: int, load: int) -> int:
    """The most table cells any solve of at most `units` units and `load` tenths holds at once.

    Every column has at most load + 1 cells and a table at most units + 1 columns (every pass
    of the widening loop too); _layout keeps them all up to KEEP_ALL_CELLS, else its
    checkpoints, one segment and one more column. The proof is in docs/algorithm.md.
    """
    most = 0
    for n in range(1, units + 1):
        columns = n + 1
        most = max(most, min(columns * (load + 1), KEEP_ALL_CELLS))  # a table small enough to keep whole
        if columns * (load + 1) > KEEP_ALL_CELLS:
            step = math.isqrt(n) + 1
            kept = n // step + 1 + (1 if n % step else 0)
            most = max(most, min(columns, kept + max(step - 1, 1) + 1) * (load + 1))
    return most


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


def _tables(
    fleet: Sequence[Unit], blocks: Sequence[Block] | None, start: np.ndarray, width: np.ndarray, control: SolveControl | None
) -> _Tables:
    """Fill G_b backwards from G_B = {0: 0}, only inside each boundary's admissible window (see _windows).

    Only the columns _layout keeps are kept. `control` is told the table's size first, then
    checked once per column: a column is at most a few windows of at most MAX_LOAD tenths,
    tens of milliseconds, so a cancelled solve stops that soon and, the columns being local
    to this frame, its memory goes with it.
    """
    n = len(fleet) if blocks is None else len(blocks)
    keep, held = _layout(width)
    if control is not None:
        control.admit(_cells(blocks, start, width), held)
        control.check()
    starts = [int(s) for s in start]
    ends = [int(s + w) for s, w in zip(start, width)]
    col = np.zeros(ends[n] - starts[n] + 1)
    kept = {n: col}
    for k in range(n - 1, -1, -1):
        if control is not None:
            control.check()
        col = _column(fleet, blocks, k, starts, ends, col)
        if keep[k]:
            kept[k] = col
    return _Tables(fleet, blocks, starts, ends, kept, control)


def _column(
    fleet: Sequence[Unit], blocks: Sequence[Block] | None, k: int, starts: list[int], ends: list[int], nxt: np.ndarray
) -> np.ndarray:
    """G_k on [starts[k], ends[k]] from G_{k+1} (`nxt`): a pure function of its arguments."""
    block = None if blocks is None else blocks[k]
    a0, b0, a1, b1 = starts[k], ends[k], starts[k + 1], ends[k + 1]
    out = np.full(b0 - a0 + 1, _INF)
    # off: the units after k produce all of y
    lo_, hi_ = max(a0, a1), min(b0, b1)
    if lo_ <= hi_:
        out[lo_ - a0 : hi_ - a0 + 1] = nxt[lo_ - a1 : hi_ - a1 + 1]
    if block is not None and block.count > 1:
        group_column(block, out, nxt, a0, b0, a1, b1)
        return out
    u = fleet[k if block is None else block.first]
    # on: y = z + p with p in [u.lo, u.hi], z produced by the units after k
    y_lo, y_hi = max(a0, a1 + u.lo), min(b0, b1 + u.hi)
    if y_lo <= y_hi:
        seg = slice(y_lo - a0, y_hi - a0 + 1)
        if u.lo == u.hi:
            on = nxt[y_lo - u.lo - a1 : y_hi - u.lo - a1 + 1] + u.cost * u.lo
        else:
            on = on_range(nxt, a1, b1, y_lo, y_hi, u.lo, u.hi, u.cost)
        np.minimum(out[seg], on, out=out[seg])
    return out


#: The sliding-window minimum, under the name the tests and older callers know it by.
_window_min = window_min


def _read_plan(
    fleet: Sequence[Unit], blocks: Sequence[Block] | None, load: int, tables: _Tables, control: SolveControl | None
) -> list[int]:
    """Walk the merit order forwards, giving each unit the most that still allows an optimal plan."""
    best = float(tables.column(0)[load - tables.start[0]])
    if not np.isfinite(best):  # pragma: no cover - callers only read tables that hold a plan
        raise AssertionError("no plan in the tables")
    limit = best + TIE_RTOL * max(1.0, abs(best))
    plan: list[int] = []
    left = load
    spent = 0.0
    for k in range(len(fleet) if blocks is None else len(blocks)):
        if control is not None:
            control.check()
        block = None if blocks is None else blocks[k]
        nxt = tables.column(k + 1)
        a1 = tables.start[k + 1]
        if block is not None and block.count > 1:
            shares, total = group_share(block, nxt, a1, left, spent, limit)
            plan.extend(shares)
            spent += block.cost * total
            left -= total
            continue
        u = fleet[k if block is None else block.first]
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
