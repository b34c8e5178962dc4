"""From a relaxed commitment to a feasible schedule, and from a schedule to a cheaper one.

The Lagrangian's unit plans each respect their own unit's rules (min up/down, start-up
categories, initial state) but not the coupling rows: some periods lack capacity for demand
plus reserve, others carry more minimum output than demand. `repair` fixes that by changing
whole unit schedules through the exact unit subproblem itself (forcing a unit on, or off, in
a period and letting its DP choose the cheapest schedule around that at the current prices),
so every unit's schedule stays feasible by construction. Then the economic dispatch
(`dispatch.py`, exact for the fixed commitment) prices it, or names the period where ramps
make it infeasible, which the repair then treats as short of capacity.

`improve` is a decommitment search: drop a unit's on-block where the remaining units can still
carry demand and reserve, keep the change when the dispatched cost (production + starts) falls.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .deadline import Deadline
from .dispatch import Dispatch, dispatch
from .errors import ScheduleInfeasible
from .lagrangian import plan_unit, renewable_limits
from .model import Problem, ThermalUnit

_PERIOD = re.compile(r"period (\d+)")


@dataclass
class Schedule:
    """A feasible schedule: commitment, dispatch and what it costs."""

    on: np.ndarray  # (G, T) bool
    dispatch: Dispatch
    startup_cost: np.ndarray  # (G, T)

    @classmethod
    def priced(cls, problem: Problem, on: np.ndarray, result: Dispatch) -> Schedule:
        """The schedule of commitment `on` dispatched as `result`, its starts priced."""
        costs = np.array([unit_startup_costs(u, on[g]) for g, u in enumerate(problem.thermal)]).reshape(on.shape)
        return cls(on=on, dispatch=result, startup_cost=costs)

    @property
    def startup_total(self) -> float:
        return float(self.startup_cost.sum())

    @property
    def total(self) -> float:
        return self.dispatch.production_cost + self.startup_total


def unit_startup_costs(unit: ThermalUnit, on: np.ndarray) -> np.ndarray:
    """(T,) what each start of this commitment costs, as MODEL.tex prices it."""
    costs = np.zeros(on.shape[0])
    was_on = unit.on_t0
    off_since: int | None = None  # period of the in-horizon shutdown, if any
    for t, is_on in enumerate(on):
        if is_on and not was_on:
            costs[t] = unit.startup_cost(t + 1, None if off_since is None else t - off_since)
        elif not is_on and was_on:
            off_since = t
        was_on = bool(is_on)
    return costs


def start_and_stop_caps(unit: ThermalUnit, on: np.ndarray) -> np.ndarray:
    """(T,) most output + reserve each period of this commitment allows, ramps aside."""
    periods = on.shape[0]
    cap = np.where(on, unit.pmax, 0.0)
    for t in range(periods):
        if not on[t]:
            continue
        started = not (on[t - 1] if t > 0 else unit.on_t0)
        if started:
            cap[t] = min(cap[t], unit.startup_limit, unit.pmin + unit.ramp_up)
        if t + 1 < periods and not on[t + 1]:
            cap[t] = min(cap[t], unit.shutdown_limit)
    return np.maximum(cap, np.where(on, unit.pmin, 0.0))


#: A dispatch's cost in unit-DP solves, per thermal unit: measured on rts_gmlc 48 periods, one
#: exact dispatch (~107 ms) costs as much as ~18 dual steps' unit DPs (73 each, ~5.8 ms a step).
DISPATCH_WORK = 18


class Repairer:
    """Turns unit-feasible commitments into system-feasible schedules (see module doc)."""

    def __init__(self, problem: Problem, deadline: Deadline | float = math.inf) -> None:
        self.problem = problem
        self.deadline = Deadline.of(deadline)
        lo, hi = renewable_limits(problem)
        self.renewable_lo = lo.sum(axis=0) if lo.size else np.zeros(problem.periods)
        self.renewable_hi = hi.sum(axis=0) if hi.size else np.zeros(problem.periods)
        units = problem.thermal
        self.pmin = np.array([u.pmin for u in units])
        self.pmax = np.array([u.pmax for u in units])
        # Cost per MW at full output: the order in which to add capacity.
        self.full_cost = np.array([u.curve_cost[-1] / max(u.pmax, 1e-9) for u in units])
        self.attempts = 0
        #: Work spent, in unit-DP solves (a dispatch counts DISPATCH_WORK per thermal unit):
        #: what the driver shares its effort by, so that a solve's path never depends on the
        #: clock (the same instance gives the same schedule, loaded machine or not).
        self.work = 0
        self.guide: np.ndarray | None = None
        self.need = problem.demand + problem.reserve - self.renewable_hi
        self.frozen: np.ndarray | None = None  # (G, T) 0/1 where a repair may not change a unit

    def capacity_shortfall(self, on: np.ndarray) -> np.ndarray:
        """(T,) MW missing for demand + reserve (> 0 where short), ramps aside."""
        caps = np.array([start_and_stop_caps(u, on[g]) for g, u in enumerate(self.problem.thermal)])
        need = self.problem.demand + self.problem.reserve - self.renewable_hi
        return need - caps.sum(axis=0)

    def minimum_excess(self, on: np.ndarray) -> np.ndarray:
        """(T,) MW by which minimum outputs exceed demand (> 0 where too much is on)."""
        return (on * self.pmin[:, None]).sum(axis=0) + self.renewable_lo - self.problem.demand

    def _forced_row(
        self, on: np.ndarray, g: int, t: int, state: int, price: np.ndarray, reserve_price: np.ndarray
    ) -> np.ndarray | None:
        """Unit g's cheapest schedule at these prices with period t forced to `state`, keeping
        its other on periods on (when adding) or its other off periods off (when removing);
        None if that is impossible or changes nothing."""
        current = on[g].astype(np.int8)
        fixed = np.where(current == (1 if state == 1 else 0), current, -1).astype(np.int8)
        if self.frozen is not None:
            frozen = self.frozen[g] >= 0
            if frozen[t] and self.frozen[g, t] != state:
                return None
            fixed = np.where(frozen, self.frozen[g], fixed).astype(np.int8)
        fixed[t] = state
        self.work += 1
        plan = plan_unit(self.problem.thermal[g], price, reserve_price, fixed)
        if plan is None:
            return None
        new = plan.on.astype(bool)
        return None if np.array_equal(new, on[g]) else new

    def _row_value(self, g: int, row: np.ndarray, price: np.ndarray, reserve_price: np.ndarray) -> float:
        """Unit g's Lagrangian value for exactly this commitment row (inf if infeasible)."""
        self.work += 1
        plan = plan_unit(self.problem.thermal[g], price, reserve_price, row.astype(np.int8))
        return math.inf if plan is None else plan.value

    def repair(
        self,
        on: np.ndarray,
        price: np.ndarray,
        reserve_price: np.ndarray,
        guide: np.ndarray | None = None,
        frozen: np.ndarray | None = None,
    ) -> Schedule | None:
        """A feasible schedule close to `on`, or None if none was found in time.

        Each step fixes the worst period: capacity for demand + reserve short (a unit forced
        on there) or minimum output above demand (a unit forced off), choosing the move that
        leaves the least violation in all periods, then the cheapest per MW it fixes at the
        given prices. With no violation left, the exact dispatch decides; a period it cannot
        serve (ramps) becomes the next step's target. `guide` (G, T), between 0 and 1, is the
        dual's fractional commitment (it breaks ties); `frozen` (G, T), -1 where free, 0/1
        where a unit's commitment may not change.
        """
        self.guide = guide
        self.frozen = frozen
        on = on.copy()
        units = self.problem.thermal
        caps = np.array([start_and_stop_caps(u, on[g]) for g, u in enumerate(units)]).reshape(len(units), -1)
        seen: set[bytes] = set()
        for _ in range(4 * len(units) * max(1, self.problem.periods) + 10):
            if self.deadline.passed():
                return None
            short = self.need - caps.sum(axis=0)
            excess = (on * self.pmin[:, None]).sum(axis=0) + self.renewable_lo - self.problem.demand
            if short.max() > 1e-9 or excess.max() > 1e-9:
                if short.max() >= excess.max():
                    t, state = int(np.argmax(short)), 1
                else:
                    t, state = int(np.argmax(excess)), 0
                strict = True
            else:
                self.attempts += 1
                self.work += DISPATCH_WORK * len(units)
                try:
                    result = dispatch(self.problem, on, prove_infeasible=False)
                except ScheduleInfeasible as exc:
                    message = str(exc)
                    match = _PERIOD.search(message)
                    t = int(match.group(1)) - 1 if match else 0
                    state = 0 if ("at least" in message or "come down" in message) else 1
                    strict = False
                else:
                    return Schedule.priced(self.problem, on, result)
            if self._move(on, caps, t, state, price, reserve_price, strict):
                pass
            elif not (strict and self._move(on, caps, t, state, price, reserve_price, False)):
                return None  # no single move helps: give up on this start
            key = np.packbits(on).tobytes()
            if key in seen:
                return None  # moving in circles
            seen.add(key)
        return None

    def _violation(self, caps_sum: np.ndarray, min_sum: np.ndarray) -> float:
        short = self.need - caps_sum
        excess = min_sum + self.renewable_lo - self.problem.demand
        return float(np.maximum(short, 0.0).sum() + np.maximum(excess, 0.0).sum())

    def _move(
        self,
        on: np.ndarray,
        caps: np.ndarray,
        t: int,
        state: int,
        price: np.ndarray,
        reserve_price: np.ndarray,
        strict: bool,
    ) -> bool:
        """Force one unit to `state` in period t: among the moves that reduce the violation
        (`strict`; else: that don't increase it), the cheapest per MW it fixes."""
        units = self.problem.thermal
        base_caps = caps.sum(axis=0)
        base_min = (on * self.pmin[:, None]).sum(axis=0)
        before = self._violation(base_caps, base_min)
        need_t = max(float(self.need[t] - base_caps[t]), float(base_min[t] + self.renewable_lo[t] - self.problem.demand[t]), 1e-6)
        best: tuple[float, float, int, np.ndarray, np.ndarray] | None = None
        for g, unit in enumerate(units):
            if bool(on[g, t]) == bool(state) or (state == 0 and unit.must_run):
                continue
            row = self._forced_row(on, g, t, state, price, reserve_price)
            if row is None:
                continue
            row_caps = start_and_stop_caps(unit, row)
            after = self._violation(base_caps - caps[g] + row_caps, base_min + (row.astype(float) - on[g]) * self.pmin[g])
            if after > before - (1e-9 if strict else -1e-9):
                continue
            delta = self._row_value(g, row, price, reserve_price) - self._row_value(g, on[g], price, reserve_price)
            fixes = min(float(row_caps[t]) if state else float(unit.pmin), need_t)
            score = delta / max(fixes, 1e-6)
            if self.guide is not None:  # between equals, the unit the dual leans towards
                score -= 1e-9 * (float(self.guide[g, t]) if state else 1.0 - float(self.guide[g, t]))
            # The cheapest fix per MW among the moves that reduce the violation (ranking by
            # the violation left instead would start the biggest unit for the whole day).
            if best is None or score < best[1]:
                best = (after, score, g, row, row_caps)
        if best is not None:
            _, _, g, row, row_caps = best
            on[g] = row
            caps[g] = row_caps
            return True
        if state == 1:
            # Every unit that could is on in t, yet short: a start-up or shut-down limit may
            # bind; let a neighbouring period's unit stay on longer.
            for g in np.argsort(self.full_cost, kind="stable"):
                for s in (t - 1, t + 1):
                    if 0 <= s < on.shape[1] and not on[g, s]:
                        row = self._forced_row(on, int(g), s, 1, price, reserve_price)
                        if row is not None:
                            on[g] = row
                            caps[g] = start_and_stop_caps(units[g], row)
                            return True
        return False


def on_blocks(row: np.ndarray) -> list[tuple[int, int]]:
    """(start, end exclusive) of each run of on periods."""
    blocks = []
    t = 0
    periods = row.shape[0]
    while t < periods:
        if row[t]:
            s = t
            while t < periods and row[t]:
                t += 1
            blocks.append((s, t))
        else:
            t += 1
    return blocks


def _changed_unit(problem: Problem, best: Schedule, g: int, trial: np.ndarray) -> Schedule | None:
    """`best` with unit g's row replaced by trial[g], dispatched exactly (None: no dispatch).
    Only unit g's start-ups change, so only they are priced again."""
    try:
        result = dispatch(problem, trial, prove_infeasible=False)
    except ScheduleInfeasible:
        return None
    costs = best.startup_cost.copy()
    costs[g] = unit_startup_costs(problem.thermal[g], trial[g])
    return Schedule(on=trial, dispatch=result, startup_cost=costs)


def _cheaper(candidate: Schedule | None, best: Schedule) -> bool:
    """Whether a local-search move pays (by more than rounding)."""
    return candidate is not None and candidate.total < best.total - 1e-9 * abs(best.total)


def reprice(
    problem: Problem,
    schedule: Schedule,
    repairer: Repairer,
    deadline: Deadline | float,
    on_better: Callable[[Schedule], None] | None = None,
) -> Schedule:
    """Each unit re-plans itself at the schedule's own marginal prices; keep what pays.

    The dispatch's duals say what one more MW (and one more MW of reserve) is worth in each
    period given everything else. A unit whose best schedule at those prices differs from its
    current one is a candidate move (start earlier, stop later, skip a block...); the exact
    dispatch decides. Units are tried in the order of how much their own plan says it gains.
    """
    deadline = Deadline.of(deadline)
    best = schedule
    improved = True
    while improved and not deadline.passed():
        improved = False
        price, reserve_price = best.dispatch.marginal_price, np.maximum(best.dispatch.reserve_price, 0.0)
        moves = []
        for g, unit in enumerate(problem.thermal):
            plan = plan_unit(unit, price, reserve_price)
            current = plan_unit(unit, price, reserve_price, best.on[g].astype(np.int8))
            if plan is None or current is None or np.array_equal(plan.on.astype(bool), best.on[g]):
                continue
            moves.append((current.value - plan.value, g, plan.on.astype(bool)))
        moves.sort(key=lambda m: -m[0])
        for gain, g, row in moves:
            if deadline.passed() or gain <= 0:
                break
            trial = best.on.copy()
            trial[g] = row
            if repairer.capacity_shortfall(trial).max() > 1e-9 or repairer.minimum_excess(trial).max() > 1e-9:
                continue
            candidate = _changed_unit(problem, best, g, trial)
            if _cheaper(candidate, best):
                assert candidate is not None
                best = candidate
                improved = True
                if on_better is not None:
                    on_better(best)
                break
    return best


def shift_blocks(
    problem: Problem,
    schedule: Schedule,
    repairer: Repairer,
    deadline: Deadline | float,
    on_better: Callable[[Schedule], None] | None = None,
) -> Schedule:
    """Move the ends of on-blocks by one period (start earlier or later, stop earlier or
    later), each move judged by the exact dispatch; first improvement wins, until none.

    The dual decides which units run; where a block starts and stops is where the
    relaxation's price signals are weakest (ramps, reserve at the edges), and a one-period
    shift is the smallest change the unit's own rules may still allow.
    """
    deadline = Deadline.of(deadline)
    best = schedule
    periods = problem.periods
    improved = True
    while improved and not deadline.passed():
        improved = False
        for g, unit in enumerate(problem.thermal):
            for start, end in on_blocks(best.on[g]):
                for t, state in ((start - 1, 1), (start, 0), (end, 1), (end - 1, 0)):
                    if deadline.passed():
                        return best
                    if not 0 <= t < periods or (state == 0 and unit.must_run):
                        continue
                    row = best.on[g].copy()
                    row[t] = bool(state)
                    if plan_unit(unit, best.dispatch.marginal_price, np.zeros(periods), row.astype(np.int8)) is None:
                        continue  # the unit's own rules forbid it
                    trial = best.on.copy()
                    trial[g] = row
                    if repairer.capacity_shortfall(trial).max() > 1e-9 or repairer.minimum_excess(trial).max() > 1e-9:
                        continue
                    candidate = _changed_unit(problem, best, g, trial)
                    if _cheaper(candidate, best):
                        assert candidate is not None
                        best = candidate
                        improved = True
                        if on_better is not None:
                            on_better(best)
                        break
                if improved:
                    break
            if improved:
                break
    return best


def _block_margin(
    unit: ThermalUnit, g: int, schedule: Schedule, start: int, end: int, price: np.ndarray, reserve_price: np.ndarray
) -> float:
    """What an on-block costs beyond what its output and reserve are worth at the dual prices
    (> 0: the block looks overpriced, the first to try dropping)."""
    d = schedule.dispatch
    cost = float(schedule.startup_cost[g, start:end].sum())
    for t in range(start, end):
        cost += unit.production_cost(float(d.p[g, t]), t)
    worth = float(price[start:end] @ d.p[g, start:end] + reserve_price[start:end] @ d.r[g, start:end])
    return cost - worth


def improve(
    problem: Problem,
    schedule: Schedule,
    repairer: Repairer,
    price: np.ndarray,
    reserve_price: np.ndarray,
    deadline: Deadline | float,
    on_better: Callable[[Schedule], None] | None = None,
) -> Schedule:
    """Decommitment search: try dropping on-blocks, the most overpriced at the dual prices
    first (each try costs an exact dispatch, so the order matters)."""
    deadline = Deadline.of(deadline)
    best = schedule
    improved = True
    while improved and not deadline.passed():
        improved = False
        candidates = []
        for g, unit in enumerate(problem.thermal):
            if unit.must_run:
                continue
            for start, end in on_blocks(best.on[g]):
                candidates.append((_block_margin(unit, g, best, start, end, price, reserve_price), g, start, end))
        candidates.sort(key=lambda c: -c[0])
        for _, g, start, end in candidates:
            unit = problem.thermal[g]
            if deadline.passed():
                return best
            trial = best.on.copy()
            fixed = np.where(trial[g], 1, 0).astype(np.int8)
            # keep the rest of its schedule, let its DP adjust near the dropped block
            lo, hi = max(0, start - unit.min_down - 1), min(problem.periods, end + unit.min_down + 1)
            fixed[lo:start] = -1
            fixed[end:hi] = -1
            fixed[start:end] = 0
            plan = plan_unit(unit, price, reserve_price, fixed)
            if plan is None:
                continue
            trial[g] = plan.on.astype(bool)
            if np.array_equal(trial[g], best.on[g]):
                continue
            if repairer.capacity_shortfall(trial).max() > 1e-9:
                # Not enough left: the move is "drop this block, let others cover", the
                # others chosen by the repair at the schedule's own marginal prices (a big
                # unit's day can be worth less than three small ones').
                keep = np.where(trial, 1, -1).astype(np.int8)
                keep[g] = np.where(trial[g], 1, 0)  # the dropped unit stays as re-planned
                candidate = repairer.repair(
                    trial, best.dispatch.marginal_price, np.maximum(best.dispatch.reserve_price, 0.0), None, keep
                )
            else:
                candidate = _changed_unit(problem, best, g, trial)
            if _cheaper(candidate, best):
                assert candidate is not None
                best = candidate
                improved = True
                if on_better is not None:
                    on_better(best)
                break
    return best
