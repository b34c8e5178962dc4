"""Compound moves on a schedule, screened by the dispatch bound, confirmed by the dispatch.

The one-unit moves of `primal.py` (drop a block, shift an end, re-plan at the prices) miss
what a cheaper schedule often needs on a day with much wind: several units changed at once.
Example (rts_gmlc 2020-11-25, 24 periods): stopping a steam unit in the morning only pays
if a combined cycle starts in the afternoon, which makes a second steam unit and nine small
turbines at the peak unnecessary: four moves, each of which alone costs more.

A move here is one unit's new row (started somewhere, or a block dropped), then completed
the way a dispatcher would: while some period lacks capacity, the unit whose cheapest
schedule covering it does best is brought in (a few are tried); then units whose blocks
have become unnecessary are dropped or shortened, greedily, while that lowers the cost.
Every step is judged by the dispatch bound (`dispatch_bound.py`, well under a millisecond),
so a round can try hundreds of compound moves; the few with the best estimated saving are
dispatched exactly, and the first that really pays is kept. Rounds repeat until none does.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator

import numpy as np

from .deadline import Deadline
from .dispatch import dispatch
from .dispatch_bound import DispatchBound, Estimate
from .errors import ScheduleInfeasible
from .lagrangian import plan_unit
from .model import Problem
from .primal import DISPATCH_WORK, Repairer, Schedule, on_blocks

#: Start-moves kept per round: those whose unit gains most at the schedule's own prices.
START_MOVES = 60
#: Units tried to cover a period left short by a move (the cheapest by their own plans).
REPLACEMENTS = 4
#: Periods left short that a move may cover before it is given up (quick / thorough rounds).
#: Thorough: on rts_gmlc 2020-03-05 (24 periods) dropping a 76 MW steam unit pays only with
#: four 20 MW turbines started at the evening peak (1,141,063.2 -> 1,140,054.0).
MAX_COVERS = 3
MAX_COVERS_THOROUGH = 6
#: Drop / shorten steps after a move.
SETTLE_STEPS = 12
#: Commitments kept at each of those steps (a beam search; 1 would be the steepest descent).
SETTLE_BEAM = 3
#: Moves dispatched exactly per round, best estimated saving first.
VERIFY_PER_ROUND = 6
#: Hand-over moves kept per round, those whose two units gain most at the schedule's prices
#: (rts_gmlc has 250-270 in all, which the cap keeps: their prices rank them poorly, see `handovers`).
HANDOVER_MOVES = 400


class _Round:
    """One round's fixed context: the schedule, its prices, its bound."""

    def __init__(
        self,
        problem: Problem,
        bound: DispatchBound,
        best: Schedule,
        base: Estimate,
        kinds: _Kinds,
        thorough: bool,
    ) -> None:
        self.problem = problem
        #: A thorough round adds the hand-overs, covers more short periods and settles by a
        #: beam (see exchange_search).
        self.thorough = thorough
        self.bound = bound
        self.best = best
        self.base = base
        self.twin = kinds.twin
        self.twin_groups = kinds.twin_groups
        self.alike = kinds.alike
        self.price = best.dispatch.marginal_price
        self.reserve_price = np.maximum(best.dispatch.reserve_price, 0.0)
        self._values: dict[tuple[int, bytes], float] = {}
        self._block_cache: dict[bytes, list[tuple[int, int]]] = {}

    def value(self, g: int, row: np.ndarray) -> float:
        """Unit g's Lagrangian value for this row at the round's prices (inf: not allowed)."""
        key = (g, np.packbits(row).tobytes())
        if key not in self._values:
            plan = plan_unit(self.problem.thermal[g], self.price, self.reserve_price, row.astype(np.int8))
            self._values[key] = math.inf if plan is None else plan.value
        return self._values[key]

    def allowed(self, g: int, row: np.ndarray) -> bool:
        """Whether the unit's own rules (minimum up/down, initial state, must-run) allow the row."""
        return math.isfinite(self.value(g, row))

    def forced(self, g: int, on_row: np.ndarray, t: int) -> np.ndarray | None:
        """Unit g's cheapest row at the prices that keeps its on periods and is on in t."""
        fixed = np.where(on_row, 1, -1).astype(np.int8)
        fixed[t] = 1
        plan = plan_unit(self.problem.thermal[g], self.price, self.reserve_price, fixed)
        return None if plan is None else plan.on.astype(bool)

    # -- the moves ---------------------------------------------------------------------

    def proposals(self) -> list[dict[int, np.ndarray]]:
        """The moves to complete: the most promising starts, every block dropped, and in a
        thorough round every block lengthened by a period and the hand-overs."""
        on = self.best.on
        starts: dict[tuple[int, bytes], tuple[float, int, np.ndarray]] = {}
        for g in range(on.shape[0]):
            current = self.value(g, on[g])
            for t in np.flatnonzero(~on[g]):
                row = self.forced(g, on[g], int(t))
                if row is None:
                    continue
                key = (g, np.packbits(row).tobytes())
                if key not in starts:
                    starts[key] = (self.value(g, row) - current, g, row)
        moves = [{g: row} for _, g, row in sorted(starts.values(), key=lambda m: m[0])[:START_MOVES]]
        if self.thorough:
            moves += self.extensions()
            moves += self.handovers()
        for g, unit in enumerate(self.problem.thermal):
            if unit.must_run:
                continue
            for start, end in on_blocks(on[g]):
                row = on[g].copy()
                row[start:end] = False
                if self.allowed(g, row):
                    moves.append({g: row})
        return moves

    def extensions(self) -> list[dict[int, np.ndarray]]:
        """Every block one period longer at either end, where the unit's rules allow.

        Why, beside the start moves: a start move's row is the unit's cheapest at the
        schedule's prices, which may also run it longer at the other end. On rts_gmlc
        2020-09-20 (48 periods) a combined cycle started one period earlier is up to speed
        when two turbines are needed, and they can go; the start move ran it to the end of
        the horizon as well, and settling that back undid the earlier start first."""
        on = self.best.on
        moves: list[dict[int, np.ndarray]] = []
        for g in range(on.shape[0]):
            for start, end in on_blocks(on[g]):
                for t in (start - 1, end):
                    if 0 <= t < on.shape[1]:
                        row = on[g].copy()
                        row[t] = True
                        if self.allowed(g, row):
                            moves.append({g: row})
        return moves

    def handovers(self) -> list[dict[int, np.ndarray]]:
        """A block handed to a unit alike (same size and dynamics) that is off then, which
        frees its unit to run elsewhere: `{g: g's new row, h: h's row with the block}`.

        Why: a unit on at the start of the day and stopped, then restarted for the evening
        (the cheapest of its kind takes the evening), may be better kept on through the
        morning while a sister unit takes the evening. Neither half pays alone (the unit
        cannot do both: minimum down time), and the start moves above only extend a row.
        Found on rts_gmlc 2020-01-27 (24 periods), where it is what a 0.17 % cheaper
        schedule needs first."""
        on = self.best.on
        found: dict[tuple[int, int, bytes, bytes], tuple[float, dict[int, np.ndarray]]] = {}
        for g, unit in enumerate(self.problem.thermal):
            if unit.must_run:
                continue
            current_g = self.value(g, on[g])
            for start, end in on_blocks(on[g]):
                without = on[g].copy()
                without[start:end] = False
                takers: dict[int, tuple[int, np.ndarray, float]] = {}
                for h in self.alike[g]:
                    # (a twin taking the block while g runs elsewhere is g keeping it while
                    # the twin runs there: a start move)
                    if self.twin[h] == self.twin[g] or on[h, start:end].any() or self.twin[h] in takers:
                        continue
                    row_h = on[h].copy()
                    row_h[start:end] = True
                    value_h = self.value(h, row_h)
                    if math.isfinite(value_h):
                        takers[self.twin[h]] = (h, row_h, value_h - self.value(h, on[h]))
                if not takers:
                    continue
                for t in range(on.shape[1]):
                    if without[t]:
                        continue
                    row_g = self.forced(g, without, t)
                    if row_g is None:
                        continue
                    # Only rows that overlap the block or cannot run beside it need a second
                    # unit for the block; the others are start moves.
                    if not row_g[start:end].any() and self.allowed(g, row_g | on[g]):
                        continue
                    gain_g = self.value(g, row_g) - current_g
                    for h, row_h, gain_h in takers.values():
                        key = (g, h, np.packbits(row_g).tobytes(), np.packbits(row_h).tobytes())
                        found.setdefault(key, (gain_g + gain_h, {g: row_g, h: row_h}))
        return [move for _, move in sorted(found.values(), key=lambda m: m[0])[:HANDOVER_MOVES]]

    def complete(self, est: Estimate, changed: set[int]) -> Estimate | None:
        """Cover what the move left short, then drop what it made unnecessary."""
        keep = set(changed)
        for _ in range(MAX_COVERS_THOROUGH if self.thorough else MAX_COVERS):
            if est.feasible:
                break
            t = int(np.argmax(est.short))
            options: dict[tuple[float, int, bytes], tuple[float, int, np.ndarray]] = {}
            for h in (int(u) for u in np.flatnonzero(~est.on[:, t])):
                row = self.forced(h, est.on[h], t)
                if row is not None:
                    gain = self.value(h, row) - self.value(h, est.on[h])
                    # Identical units (a plant's twin turbines) give the same option: keep one.
                    options.setdefault((round(gain, 6), self.twin[h], row.tobytes()), (gain, h, row))
            best: Estimate | None = None
            chosen = -1
            # The cheapest options, and the cheapest per MW they add (a big unit's day costs
            # more than a small one's but may replace several).
            cheapest = sorted(options.values(), key=lambda o: o[0])[:REPLACEMENTS]
            per_mw = sorted(options.values(), key=lambda o: o[0] / max(self.problem.thermal[o[1]].pmax, 1e-6))[:REPLACEMENTS]
            tried = {id(o) for o in cheapest}
            for _, h, row in cheapest + [o for o in per_mw if id(o) not in tried]:
                trial = self.bound.change(est, {h: row})
                if trial is None:
                    continue
                trial = self.settle(trial, keep | {h}, width=1)
                if best is None or _key(trial) < _key(best):
                    best, chosen = trial, h
            if best is None:
                return None
            est = best
            keep.add(chosen)
        if not est.feasible:
            return None
        return self.settle(est, keep, width=SETTLE_BEAM if self.thorough else 1)

    def settle(self, est: Estimate, keep: set[int], width: int) -> Estimate:
        """Drop or shorten (by a period at either end) the blocks of units other than `keep`
        in the periods the move touched while the bound falls: a beam search keeping the
        `width` best commitments at each step; the best met is returned. (Choosing which
        unit covers a short period settles each option with width 1: a ranking, many calls.)

        Why a beam, not the steepest descent: after a unit is kept on through a morning on
        rts_gmlc 2020-01-27, dropping one large steam unit lowers the bound most, and then
        nothing more does; dropping two smaller ones, then a turbine, goes 1,800 lower."""
        # Touched: where a unit's commitment or its reach (the ramp bounds) moved. A unit
        # started an hour earlier is up to speed hours earlier: on rts_gmlc 2020-09-20 (48
        # periods) that makes two turbines three periods later unnecessary.
        base = self.base
        moved = (est.on != base.on) | (est.hi != base.hi) | (est.lo != base.lo) | (est.cap != base.cap)
        touched = np.flatnonzero(moved.any(axis=0))
        if touched.size == 0:
            return est
        lo_t, hi_t = int(touched[0]) - 1, int(touched[-1]) + 2
        beam = [est]
        best = est
        for _ in range(SETTLE_STEPS):
            # Every edit of every kept commitment priced (totals only), the best few built.
            scored: list[tuple[float, int, int, np.ndarray]] = []
            for i, current in enumerate(beam):
                limit = current.total - 1e-9 * abs(current.total)
                for h, row in self._edits(current, keep, lo_t, hi_t):
                    total = self.bound.change_total(current, h, row)
                    if total < limit:
                        scored.append((total, i, h, row))
            if not scored:
                break
            scored.sort(key=lambda item: item[0])
            kept: dict[bytes, Estimate] = {}
            for _, i, h, row in scored:
                trial = self.bound.change(beam[i], {h: row})
                if trial is not None:
                    kept.setdefault(self._state_key(trial.on), trial)
                if len(kept) == width:
                    break
            beam = sorted(kept.values(), key=lambda e: e.total)
            if beam[0].total < best.total:
                best = beam[0]
        return best

    def _blocks(self, row: np.ndarray) -> list[tuple[int, int]]:
        """`on_blocks(row)`, cached: a settle asks for the same rows' blocks a million times."""
        key = row.tobytes()
        blocks = self._block_cache.get(key)
        if blocks is None:
            blocks = self._block_cache[key] = on_blocks(row)
        return blocks

    def _state_key(self, on: np.ndarray) -> bytes:
        """The commitment up to twins: the same rows on identical units are the same state
        (the beam would otherwise spend its places on the same drop of either twin turbine)."""
        rows = [row.tobytes() for row in np.packbits(on, axis=1)]
        return b"".join(b"".join(sorted(rows[g] for g in group)) for group in self.twin_groups)

    def _edits(self, est: Estimate, keep: set[int], lo_t: int, hi_t: int) -> Iterator[tuple[int, np.ndarray]]:
        """The rows settle tries: each block near the touched periods shortened by a period
        at either end, or dropped (units the move did not choose), or lengthened (those it
        did). A chosen unit is never put back on its row before the move: that undoes the
        move, and it cost the beam a place at every step (rts_gmlc 2020-09-20, 48 periods)."""
        periods = est.on.shape[1]
        for h, unit in enumerate(self.problem.thermal):
            for start, end in self._blocks(est.on[h]):
                if end < lo_t or start > hi_t:
                    continue
                # (a, b, state): periods a..b-1 set to state.
                edits = [(start, start + 1, False), (end - 1, end, False)]
                if h in keep:
                    edits += [(start - 1, start, True), (end, end + 1, True)]
                elif not unit.must_run:
                    edits.append((start, end, False))
                seen: set[bytes] = set()  # a one-period block's three edits are one row
                for a, b, state in edits:
                    if a < 0 or b > periods or (not state and unit.must_run):
                        continue
                    row = est.on[h].copy()
                    row[a:b] = state
                    key = row.tobytes()
                    if key in seen or (h in keep and np.array_equal(row, self.base.on[h])):
                        continue
                    seen.add(key)
                    if self.allowed(h, row):
                        yield h, row


@dataclasses.dataclass(frozen=True)
class _Kinds:
    """The fleet's units grouped once per search: each unit's group of twins (the same data but
    the name: interchangeable) and of alike units (the same size and dynamics, costs may
    differ: any of them can take over a block the unit runs, as far as its own initial state
    allows). `twin[g]` is the first unit of g's twin group, which names it."""

    twin: list[int]
    twin_groups: list[list[int]]
    alike: list[list[int]]


def _groups(keys: list[tuple[object, ...]]) -> list[list[int]]:
    """For each position, the positions with an equal key (in order)."""
    groups: dict[tuple[object, ...], list[int]] = {}
    for g, key in enumerate(keys):
        groups.setdefault(key, []).append(g)
    return [groups[key] for key in keys]


def _kinds(problem: Problem) -> _Kinds:
    twins = _groups([dataclasses.astuple(dataclasses.replace(u, name="")) for u in problem.thermal])
    alike = _groups(
        [(u.pmin, u.pmax, u.min_up, u.min_down, u.ramp_up, u.ramp_down, u.startup_limit, u.shutdown_limit) for u in problem.thermal]
    )
    twin = [group[0] for group in twins]
    return _Kinds(twin, [group for g, group in enumerate(twins) if group[0] == g], alike)


def _key(est: Estimate) -> tuple[float, float]:
    """Feasible and cheap first, then the least short."""
    return (est.total, float(est.short.sum()))


def exchange_search(
    problem: Problem,
    schedule: Schedule,
    repairer: Repairer,
    deadline: Deadline | float,
    on_better: Callable[[Schedule], None] | None = None,
) -> Schedule:
    """Compound moves on `schedule` until none pays or the deadline passes (see module doc).

    Rounds are quick (start and drop moves, settled by steepest descent) while they pay; a
    round that finds nothing is followed by a thorough one (hand-overs too, more periods covered,
    settled by a beam), which costs several times as much: on a poor start (rts_gmlc 2020-03-05, a
    commitment 1 % too dear) thorough rounds throughout took 26 s where quick ones took 1."""
    deadline = Deadline.of(deadline)
    bound = DispatchBound(problem)
    kinds = _kinds(problem)
    best = schedule
    thorough = False
    while not deadline.passed():
        base = bound.evaluate(best.on)
        if base is None:
            break
        round_ = _Round(problem, bound, best, base, kinds, thorough)
        found: dict[bytes, tuple[float, np.ndarray]] = {}
        for move in round_.proposals():
            if deadline.passed():
                break
            est = bound.change(base, move)
            if est is None:
                continue
            est = round_.complete(est, set(move))
            if est is None or not est.total < base.total - 1e-9 * abs(base.total):
                continue
            key = np.packbits(est.on).tobytes()
            found.setdefault(key, (est.total - base.total, est.on))
        improved = False
        for _, on in sorted(found.values(), key=lambda f: f[0])[:VERIFY_PER_ROUND]:
            if deadline.passed():
                break
            candidate = _exact(problem, on, repairer, round_)
            if candidate is not None and candidate.total < best.total - 1e-9 * abs(best.total):
                best = candidate
                improved = True
                if on_better is not None:
                    on_better(best)
                break
        if improved:
            thorough = False
        elif thorough:
            break
        else:
            thorough = True
    return best


def _exact(problem: Problem, on: np.ndarray, repairer: Repairer, round_: _Round) -> Schedule | None:
    """The move's schedule, dispatched exactly; when ramps make it infeasible (which the bound
    cannot see), repaired the usual way at the round's prices."""
    repairer.work += DISPATCH_WORK * len(problem.thermal)
    try:
        result = dispatch(problem, on, prove_infeasible=False)
    except ScheduleInfeasible:
        return repairer.repair(on, round_.price, round_.reserve_price, None, None)
    return Schedule.priced(problem, on, result)
