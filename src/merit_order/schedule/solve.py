"""The schedule solver: Lagrangian bound, repaired schedules, a certified gap.

    result = solve_schedule(problem, gap=0.001, time_limit=60.0, progress=print)

The loop alternates two things until the certified gap reaches `gap` or time runs out:

* the dual: a bundle step on the Lagrangian (demand and reserve rows relaxed), each unit's
  subproblem solved exactly; the best dual value seen, rounded down (`DualPoint.certified`),
  is the proven lower bound;
* the primal: every few steps, the units' relaxed commitments are repaired into a feasible
  schedule and dispatched exactly (`primal.py`); the cheapest one is the answer.

When the dual has converged and the gap is still open, the rest of the time goes to a
decommitment search on the best schedule; small fleets (exact mode) branch instead
(`branch.py`). `progress` receives (objective, bound, gap, elapsed) whenever one of them
improves, which is how a job reports while it runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import joint_dp
from .branch import branch_and_bound, exact_value
from .bundle import BundleMaximiser, OracleAnswer
from .deadline import Deadline
from .dive import dive
from .errors import ScheduleError, ScheduleInfeasible
from .exchange import exchange_search
from .lagrangian import (
    SAFETY_ABSOLUTE,
    SAFETY_RELATIVE,
    DualPoint,
    evaluate,
    initial_prices,
    plan_unit,
    renewable_limits,
)
from .model import Problem
from .primal import Repairer, Schedule, improve, reprice, shift_blocks

#: Share of the time limit the search may use; the rest covers the step in progress.
SEARCH_SHARE = 0.97
#: The dual phase stops at this share of the time limit even if not converged.
DUAL_SHARE = 0.75
#: Repairs during the dual phase may take at most this share of its work (they are the
#: expensive part on large fleets, and the dives after convergence find better schedules).
PRIMAL_SHARE = 0.4

# A gap at or below this is reported as "optimal": proven to a relative 1e-6.
OPTIMAL_GAP = 1e-6

# Fleets up to this many thermal units branch once the dual has converged (each node costs a
# few dozen dual steps, affordable for small fleets, where the dual's gap is also largest);
# larger fleets spend the remaining time on the decommitment search instead.
BRANCH_MAX_UNITS = 40


@dataclass(frozen=True)
class Progress:
    """What a running solve knows so far (objective None until a schedule is found)."""

    objective: float | None
    lower_bound: float
    gap: float | None
    elapsed: float
    iterations: int
    #: The best schedule so far (None until one is found): what a cancelled job keeps.
    best: Schedule | None = None


@dataclass
class ScheduleResult:
    """The solver's answer: the best schedule, the proven bound, and how it got there."""

    status: str  # "optimal" | "feasible"
    schedule: Schedule
    lower_bound: float
    gap: float
    iterations: int
    solve_seconds: float
    method: str  # "joint-dp" | "lagrangian" | "branch-and-bound": what proved the bound
    #: True when the caller's stop request ended the search (before the gap or the time limit).
    stopped: bool = False


def relative_gap(objective: float, bound: float) -> float:
    """(objective - bound) / |objective|, 0 when both are 0, never negative."""
    if objective == 0:
        return 0.0 if bound >= 0 else math.inf
    return max(0.0, (objective - bound) / abs(objective))


def check_capacity(problem: Problem) -> None:
    """Raise ScheduleInfeasible when some period can't be met whatever the commitment."""
    lo, hi = renewable_limits(problem)
    ren_lo = lo.sum(axis=0) if lo.size else np.zeros(problem.periods)
    ren_hi = hi.sum(axis=0) if hi.size else np.zeros(problem.periods)
    pmax = sum(u.pmax for u in problem.thermal)
    must_min = sum(u.pmin for u in problem.thermal if u.must_run)
    for t in range(problem.periods):
        if pmax + ren_hi[t] < problem.demand[t] + problem.reserve[t] - 1e-9:
            raise ScheduleInfeasible(
                f"period {t + 1}: demand {problem.demand[t]:,.1f} MW + reserve {problem.reserve[t]:,.1f} MW "
                f"exceeds the whole fleet's capacity {pmax + ren_hi[t]:,.1f} MW",
                period=t + 1,
            )
        if must_min + ren_lo[t] > problem.demand[t] + 1e-9:
            raise ScheduleInfeasible(
                f"period {t + 1}: must-run minimum output and renewables' minimum "
                f"{must_min + ren_lo[t]:,.1f} MW exceed demand {problem.demand[t]:,.1f} MW",
                period=t + 1,
            )


def cost_ceiling(problem: Problem) -> float:
    """More than any schedule can cost: every unit on in every period at its dearest point
    (a convex curve's dearest point is an end), and started in every period at its dearest
    category. Renewables cost nothing.

    Why: a Lagrangian value is a lower bound on every schedule's cost, so a value above this
    ceiling proves that no schedule exists at all. That is how a day which no single period
    rules out (check_capacity) but the units' dynamics do (ramps, minimum up/down times:
    start-up limits too low to reach the demand in time) is told apart: its dual has no
    maximum, and the bundle method climbs until the ceiling is passed.
    """
    total = 0.0
    for unit in problem.thermal:
        scale = unit.scale(problem.periods)
        dearest = max(0.0, unit.curve_cost[0], unit.curve_cost[-1]) * float(np.maximum(scale, 0.0).sum())
        start = max([0.0, *(c.cost for c in unit.startup)]) * problem.periods
        total += dearest + start
    return total


class _Search:
    """One solve's state: best dual point, best schedule, clock, reporting."""

    def __init__(
        self,
        problem: Problem,
        time_limit: float,
        progress: Callable[[Progress], None] | None,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.problem = problem
        self.started = time.monotonic()
        # The search stops a little early so that the step in progress (a dispatch, a dual
        # step) ends within the limit the caller set; `stop` ends it at once (a cancel).
        self.deadline = Deadline(self.started + time_limit * SEARCH_SHARE, stop)
        self.progress = progress
        self.best_dual: DualPoint | None = None
        self.lower_bound = -math.inf
        self.best: Schedule | None = None
        self.iterations = 0
        self.repairer = Repairer(problem, deadline=self.deadline)
        #: Distinct schedules repaired from the relaxation (dives, primal rounds): starts for
        #: more local search once the best one's is exhausted (see _polish_starts).
        self.starts: dict[bytes, Schedule] = {}

    @property
    def gap(self) -> float:
        return math.inf if self.best is None else relative_gap(self.best.total, self.lower_bound)

    def report(self) -> None:
        if self.progress is not None:
            objective = None if self.best is None else self.best.total
            gap = None if self.best is None else self.gap
            self.progress(
                Progress(objective, self.lower_bound, gap, time.monotonic() - self.started, self.iterations, self.best)
            )

    def offer_dual(self, point: DualPoint) -> None:
        bound = point.certified()
        if bound > self.lower_bound:
            self.lower_bound = bound
            self.best_dual = point
            self.report()

    def offer_schedule(self, schedule: Schedule | None) -> None:
        if schedule is not None and (self.best is None or schedule.total < self.best.total):
            self.best = schedule
            self.report()

    def offer_start(self, schedule: Schedule | None) -> None:
        """A schedule repaired from the relaxation: a candidate best, and a start kept for later
        local search (the STARTS_KEPT cheapest distinct ones)."""
        self.offer_schedule(schedule)
        if schedule is None:
            return
        self.starts.setdefault(np.packbits(schedule.on).tobytes(), schedule)
        if len(self.starts) > STARTS_KEPT:
            dearest = max(self.starts, key=lambda key: self.starts[key].total)
            del self.starts[dearest]

    def time_left(self) -> float:
        return self.deadline.left()

    def until(self, at: float) -> Deadline:
        """A phase's end: `at`, or sooner if the whole search ends (time or stop)."""
        return self.deadline.before(at)

    def share(self, fraction: float) -> Deadline:
        """The point at `fraction` of the search's time, as a phase's end."""
        return self.until(self.started + fraction * (self.deadline.at - self.started))


def solve_schedule(
    problem: Problem,
    gap: float = 0.001,
    time_limit: float = 60.0,
    progress: Callable[[Progress], None] | None = None,
    primal_every: int = 10,
    stop: Callable[[], bool] | None = None,
) -> ScheduleResult:
    """The cheapest schedule found within `time_limit` seconds, with its certified gap.

    Stops as soon as the certified gap is at most `gap`, or soon after `stop()` turns true
    (a cancel: every phase checks it where it checks the clock; `stopped` is then set).
    `stop` is called often: make it cheap (e.g. `threading.Event.is_set`). Raises ScheduleInfeasible when no
    schedule can meet demand and reserve (with the period and the reason), and
    ScheduleError when none was found in the time allowed.
    """
    check_capacity(problem)
    gap = max(gap, OPTIMAL_GAP)  # "exact" means proven to 1e-6: floating point allows no less
    search = _Search(problem, time_limit, progress, stop)
    if joint_dp.applies(problem):
        exact = _solve_joint(problem, search)
        if exact is not None:
            return exact
    periods = problem.periods
    price, reserve_price = initial_prices(problem)

    ceiling = cost_ceiling(problem)

    def oracle(x: np.ndarray) -> OracleAnswer[DualPoint]:
        point = evaluate(problem, x[:periods], x[periods:])
        assert point is not None  # no unit is fixed here, so each has a schedule
        search.iterations += 1
        search.offer_dual(point)
        if point.certified() > ceiling:
            raise ScheduleInfeasible(_unbounded_dual_reason(point, ceiling))
        return OracleAnswer(point.value, np.concatenate([point.demand_residual, point.reserve_residual]), point)

    nonnegative = np.r_[np.zeros(periods, dtype=bool), np.ones(periods, dtype=bool)]
    method = BundleMaximiser(oracle, np.concatenate([price, reserve_price]), nonnegative)
    tried: set[bytes] = set()

    def primal_round(latest: DualPoint) -> None:
        """Repair the relaxation's commitments (centre, latest, and the one the bundle's
        convex combination of plans points to) into schedules; keep the cheapest."""
        weighted = method.weighted_payloads()
        guide = sum(w * p.on.astype(float) for w, p in weighted)
        centre = method.state.centre_answer.payload
        candidates = [centre.on, latest.on, guided_commitment(problem, np.asarray(guide), centre)]
        for on in candidates:
            key = np.packbits(on).tobytes()
            if key in tried or search.time_left() <= 0:
                continue
            tried.add(key)
            search.offer_start(search.repairer.repair(on, centre.price, centre.reserve_price, np.asarray(guide)))
            search.offer_start(search.repairer.repair(on, centre.price, centre.reserve_price, None))

    steps = 0
    # Effort is shared by work done (unit-DP solves), not by the clock: see Repairer.work.
    primal_work = 0
    # The dual phase ends at convergence or when this share of the time is gone: the dives
    # that follow need a converged-enough dual, and time.
    dual_until = search.share(DUAL_SHARE)
    while search.time_left() > 0 and search.gap > gap:
        answer = method.step()
        steps += 1
        centre_value = method.state.centre_value
        converged = 0 <= method.state.predicted <= 1e-7 * max(1.0, abs(centre_value))
        out_of_time = dual_until.passed()
        dual_work = steps * len(problem.thermal)
        due = steps % primal_every == 0 and primal_work <= PRIMAL_SHARE * (dual_work + primal_work)
        if due or converged or out_of_time or (search.best is None and steps % 3 == 0):
            work_before = search.repairer.work
            primal_round(answer.payload)
            primal_work += search.repairer.work - work_before
        if converged or (out_of_time and search.best is not None):
            break
    # Dives from the converged dual: fix what the relaxation decided, round what it splits,
    # re-solve, repeat (dive.py). Rounding split units at 0.5 first, then more eagerly on.
    if search.best_dual is not None and search.gap > gap:
        weighted = method.weighted_payloads()
        guide = np.asarray(sum(w * p.on.astype(float) for w, p in weighted), dtype=float)
        centre = method.state.centre_answer.payload
        start = np.concatenate([centre.price, centre.reserve_price])
        for threshold in (0.5, 0.3, 0.7):
            if search.time_left() <= 0 or search.gap <= gap:
                break
            dive(problem, start, search.repairer, search.deadline, search.offer_start, guide0=guide,
                 t0=method.state.t, threshold=threshold)
        # Randomised dives while they keep paying, up to a sixth of the time left.
        rng = np.random.default_rng(1)
        until = search.until(time.monotonic() + max(search.time_left(), 0.0) / 6)
        stale = 0
        while not until.passed() and search.gap > gap and stale < 6:
            before = search.best.total if search.best is not None else math.inf
            dive(problem, start, search.repairer, until, search.offer_start, guide0=guide, t0=method.state.t, rng=rng)
            stale = 0 if search.best is not None and search.best.total < before else stale + 1
    # The start the searches below polish first (its basin needs no second visit).
    first_start = b"" if search.best is None else np.packbits(search.best.on).tobytes()
    # Compound moves on the dives' best schedule (exchange.py): cheap, and what the dives miss.
    # Fleets that branch leave them out: their gap is the bound's, which the branching raises
    # (on 10/20-unit fleets the time the moves took left 1.2 % instead of 0.6-0.9 %).
    compound = len(problem.thermal) > BRANCH_MAX_UNITS
    if compound and search.best is not None and search.gap > gap:
        until = search.until(time.monotonic() + 0.3 * max(search.time_left(), 0.0))
        search.offer_schedule(exchange_search(problem, search.best, search.repairer, until, search.offer_schedule))
    # Neighbourhood dives: every unit but a few keeps the best schedule's day; a dive re-decides
    # those few with the dual re-solved around them (any fleet: ramps are in the dual).
    if search.best is not None and search.best_dual is not None and search.gap > gap and not joint_dp.exact_for(problem):
        _neighbourhood_dives(problem, search, gap, method, search.until(time.monotonic() + 0.6 * max(search.time_left(), 0.0)))
    # Local search on the best schedule: units re-planning at its marginal prices, and
    # dropping on-blocks, in turn until neither finds anything.
    # At most half the time left: what follows (neighbourhoods, branching) needs some too.
    if search.best is not None:
        _local_search(problem, search, search.best, gap, compound, search.until(time.monotonic() + 0.5 * max(search.time_left(), 0.0)))
    # Large fleets: the same local search from the relaxation's other repaired schedules.
    if compound:
        _polish_starts(problem, search, gap, search.share(POLISH_UNTIL), first_start)
    # Small fleets without binding ramps: exact neighbourhoods until 60 % of the time is gone.
    _neighbourhoods(problem, search, gap, search.share(0.6))
    # Large fleets: what time is left goes back to the dual (its phase may have been cut
    # short), with a repair now and then.
    while len(problem.thermal) > BRANCH_MAX_UNITS and search.time_left() > 0 and search.gap > gap:
        answer = method.step()
        steps += 1
        if 0 <= method.state.predicted <= 1e-9 * max(1.0, abs(method.state.centre_value)):
            break
        if steps % (4 * primal_every) == 0:
            primal_round(answer.payload)
    how = "lagrangian"
    if search.gap > gap and search.time_left() > 0 and search.best_dual is not None and len(problem.thermal) <= BRANCH_MAX_UNITS:
        how = "branch-and-bound"
        dual = search.best_dual

        def raise_bound(bound: float) -> None:
            if bound > search.lower_bound:
                search.lower_bound = bound
                search.report()

        bound, best, _ = branch_and_bound(
            problem,
            root_fixed=np.full((len(problem.thermal), periods), -1, dtype=np.int8),
            root_start=np.concatenate([dual.price, dual.reserve_price]),
            root_bound=search.lower_bound,
            incumbent=search.best,
            gap=gap,
            deadline=search.deadline,
            on_bound=raise_bound,
            on_schedule=search.offer_schedule,
            repairer=search.repairer,
        )
        raise_bound(bound)
    if search.best is None:
        if search.deadline.stopped():
            raise ScheduleError("stopped before any feasible schedule was found")
        raise ScheduleError(f"no feasible schedule found within {time_limit:g} s (infeasibility not proven)")
    final_gap = search.gap
    return ScheduleResult(
        # (the branch and bound proves "within OPTIMAL_GAP" exactly at that gap: allow its rounding)
        status="optimal" if final_gap <= OPTIMAL_GAP * (1 + 1e-6) else "feasible",
        schedule=search.best,
        lower_bound=min(search.lower_bound, search.best.total),
        gap=final_gap,
        iterations=search.iterations,
        solve_seconds=time.monotonic() - search.started,
        method=how,
        stopped=search.deadline.stopped(),
    )


def _local_search(problem: Problem, search: _Search, start: Schedule, gap: float, compound: bool, until: Deadline) -> Schedule:
    """Local search from `start` (compound moves, re-planning at the schedule's prices,
    dropping and shifting blocks) until a round finds nothing; every better schedule is
    offered to the search. Returns where it ended."""
    current = start
    while search.gap > gap and not until.passed() and search.best_dual is not None:
        before = current.total
        dual = search.best_dual
        # Compound moves first: screened by the dispatch bound, they are the cheapest per gain.
        if compound:
            current = exchange_search(problem, current, search.repairer, until, search.offer_schedule)
        current = reprice(problem, current, search.repairer, until, search.offer_schedule)
        current = improve(problem, current, search.repairer, dual.price, dual.reserve_price, until, search.offer_schedule)
        current = shift_blocks(problem, current, search.repairer, until, search.offer_schedule)
        if current.total >= before - 1e-9 * abs(before):
            break
    return current


#: Schedules repaired from the relaxation kept as starts for more local search.
STARTS_KEPT = 6
#: The polishing of those starts ends at this share of the time limit at the latest.
POLISH_UNTIL = 0.85


def _polish_starts(problem: Problem, search: _Search, gap: float, until: Deadline, first: bytes) -> None:
    """Local search from each kept start but `first` (already polished), cheapest first,
    while time is left.

    Why: the local search from the best repaired schedule ends in *its* basin. On rts_gmlc
    2020-03-05 (24 periods) the dives' best (1,142,078.4) polished to 1,141,915.0, while a
    dive schedule 1.1 % dearer (1,154,919.1, the relaxation rounded) polished to 1,141,063.2:
    the relaxation's own commitment, which its repair had turned away from, was the better
    start. These solves otherwise end with most of their time unused.
    """
    done = {first}
    if search.best is not None:
        done.add(np.packbits(search.best.on).tobytes())
    for key, start in sorted(search.starts.items(), key=lambda item: item[1].total):
        if until.passed() or search.gap <= gap:
            return
        if key in done:
            continue
        end = _local_search(problem, search, start, gap, True, until)
        done.add(key)
        done.add(np.packbits(end.on).tobytes())


def _unbounded_dual_reason(point: DualPoint, ceiling: float) -> str:
    """Why the day is infeasible when its dual passed the cost ceiling, naming the periods the
    relaxation still cannot serve (where the prices climb)."""
    short = [str(t) for t in np.flatnonzero(point.demand_residual > 1e-6)[:8] + 1]
    reserve_short = [str(t) for t in np.flatnonzero(point.reserve_residual > 1e-6)[:8] + 1]
    where = []
    if short:
        where.append(f"demand in period{'s' if len(short) > 1 else ''} {', '.join(short)}")
    if reserve_short:
        where.append(f"reserve in period{'s' if len(reserve_short) > 1 else ''} {', '.join(reserve_short)}")
    detail = f"; the relaxation stays short of {' and '.join(where)}" if where else ""
    return (
        "no schedule can meet demand and reserve with these units' ramps, start-up limits and minimum "
        f"up/down times (the Lagrangian bound passed {ceiling:,.1f}, more than any schedule can cost{detail})"
    )


#: Units re-chosen together in one neighbourhood of the local search (2**size on-sets).
NEIGHBOURHOOD_UNITS = 5
#: The exact neighbourhoods stop after this many rounds per unit without an improvement. Each
#: round costs ~0.6 s on a 10-unit fleet at 48 periods, and the time after them goes to the
#: branching, which is what closes these fleets' gap (at 2 per unit, 13 of 60 s went to rounds
#: that found nothing on pwdemars 10gen/prof2, and its gap stayed at 1.1 %).
NEIGHBOURHOOD_PATIENCE = 1


def _neighbourhoods(problem: Problem, search: _Search, gap: float, until: Deadline) -> None:
    """Large-neighbourhood search for fleets without binding ramps: re-choose the days of a
    few units at a time, exactly (the joint DP with the other units' days fixed), keeping
    every improvement. Stops at `until`, at the target gap, or when a round of
    neighbourhoods covering every unit finds nothing."""
    count = len(problem.thermal)
    if search.best is None or count <= NEIGHBOURHOOD_UNITS or not joint_dp.exact_for(problem):
        return
    rng = np.random.default_rng(0)
    stale = 0
    while not until.passed() and search.gap > gap and stale < NEIGHBOURHOOD_PATIENCE * count:
        free = sorted(int(g) for g in rng.choice(count, NEIGHBOURHOOD_UNITS, replace=False))
        found = joint_dp.solve_joint(problem, free=free, base=search.best.on)
        if found is None or not math.isfinite(found[0]) or found[0] >= search.best.total * (1 - 1e-9):
            stale += 1
            continue
        schedule = exact_value(problem, found[1])
        if schedule is not None and schedule.total < search.best.total:
            search.offer_schedule(schedule)
            stale = 0
        else:
            stale += 1


#: Units re-decided together by one neighbourhood dive.
DIVE_NEIGHBOURHOOD_UNITS = 6


def _neighbourhood_dives(problem: Problem, search: _Search, gap: float, method: BundleMaximiser[DualPoint], until: Deadline) -> None:
    """Dives restricted to a few units, the rest fixed to the best schedule: units the
    relaxation disagrees with the schedule about are picked first, then at random."""
    count = len(problem.thermal)
    if count <= DIVE_NEIGHBOURHOOD_UNITS:
        return
    rng = np.random.default_rng(2)
    centre = method.state.centre_answer.payload
    start = np.concatenate([centre.price, centre.reserve_price])
    stale = 0
    while not until.passed() and search.gap > gap and stale < 3 * count // DIVE_NEIGHBOURHOOD_UNITS + 3:
        assert search.best is not None
        best_on = search.best.on
        differs = (centre.on != best_on).any(axis=1).astype(float)
        weights = 1.0 + 4.0 * differs
        chosen = rng.choice(count, DIVE_NEIGHBOURHOOD_UNITS, replace=False, p=weights / weights.sum())
        fixed = best_on.astype(np.int8).copy()
        fixed[chosen] = -1
        before = search.best.total
        dive(problem, start, search.repairer, until, search.offer_schedule, t0=method.state.t, fixed0=fixed, steps_per_round=15)
        stale = 0 if search.best.total < before else stale + 1


def guided_commitment(problem: Problem, guide: np.ndarray, point: DualPoint) -> np.ndarray:
    """Each unit's cheapest schedule at the point's prices that is on where the bundle's
    fractional commitment is mostly on (> 0.75) and off where it is mostly off (< 0.25)."""
    on = point.on.copy()
    for g, unit in enumerate(problem.thermal):
        fixed = np.full(problem.periods, -1, dtype=np.int8)
        fixed[guide[g] > 0.75] = 1
        fixed[guide[g] < 0.25] = 0
        plan = plan_unit(unit, point.price, point.reserve_price, fixed)
        if plan is not None:
            on[g] = plan.on.astype(bool)
    return on


def _solve_joint(problem: Problem, search: _Search) -> ScheduleResult | None:
    """The joint DP's exact answer, or None when its state space is too large."""
    found = joint_dp.solve_joint(problem)
    if found is None:
        return None
    cost, on = found
    if not math.isfinite(cost):
        raise ScheduleInfeasible(
            "no commitment meets demand and reserve in every period within the units' "
            "minimum up/down times and initial states (exhaustive search)"
        )
    schedule = exact_value(problem, on)
    if schedule is None:  # the DP and the dispatch disagree: let the general method decide
        return None
    search.offer_schedule(schedule)
    search.lower_bound = min(cost, schedule.total) - SAFETY_RELATIVE * abs(cost) - SAFETY_ABSOLUTE
    search.report()
    return ScheduleResult(
        status="optimal",
        schedule=schedule,
        lower_bound=search.lower_bound,
        gap=search.gap,
        iterations=0,
        solve_seconds=time.monotonic() - search.started,
        method="joint-dp",
    )
