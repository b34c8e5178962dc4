"""Branch and bound on the Lagrangian bound: closes the gap the dual alone leaves.

Why it is needed: on small fleets each unit is a large share of demand, and the Lagrangian
dual (which equals the convex-hull relaxation of every unit's own rules) sits 2-6 % below the
best schedule on pglib-uc's 5-20 unit fleets. No dual method closes that; splitting the
problem does. A node fixes some commitments u_g(t) to 0 or 1 (`fixed` masks, honoured exactly
by the unit DP), so its dual value bounds every schedule below it; nodes whose bound reaches
the incumbent (within the requested gap) are dropped, the others are split on the unit and
period where the node's recent unit plans disagree most (the dual's own fractional
commitment). Nodes are taken best bound first, so the global bound (the smallest bound among
open nodes) rises steadily, and every node's plans are repaired into schedules, which is
where better incumbents come from.

A node whose every period is fixed for every unit is solved outright: its value is the exact
economic dispatch of that commitment.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .bundle import BundleMaximiser, OracleAnswer
from .deadline import Deadline
from .dispatch import dispatch
from .errors import ScheduleInfeasible
from .lagrangian import DualPoint, evaluate, plan_unit
from .model import Problem
from .primal import Repairer, Schedule

#: Most of the branching's time the nodes' repairs may take. A repair costs a dispatch (5-10 ms
#: on a 20-unit fleet at 48 periods), more than a node's twenty dual steps; with a repair at
#: every node, repairs took 56 % of the branching on pwdemars 20gen/prof3, where the bound,
#: not the incumbent, is what the branching moves (certified gap at 60 s, 20gen/prof3 and
#: 10gen/prof2: every node 0.83 / 0.74 %, a quarter 0.77 / 0.67 %, a tenth 0.73 / 0.64 %).
REPAIR_SHARE = 0.1


class _NodeInfeasible(Exception):
    """Some unit has no schedule compatible with the node's fixings."""


@dataclass(order=True)
class Node:
    bound: float
    order: int
    fixed: np.ndarray = field(compare=False)  # (G, T) int8: -1 free, 0 off, 1 on
    start: np.ndarray = field(compare=False)  # multipliers to start the node's dual from


@dataclass
class NodeOutcome:
    bound: float  # certified bound of the node (inf: infeasible)
    point: DualPoint | None
    fractional: np.ndarray | None  # (G, T) share of recent plans with the unit on
    evaluations: int = 0  # dual function evaluations (each solves every unit's DP once)


def solve_node(
    problem: Problem,
    fixed: np.ndarray,
    start: np.ndarray,
    cutoff: float,
    max_steps: int,
    deadline: Deadline | float,
) -> NodeOutcome:
    """The node's dual, climbed until it passes `cutoff`, converges or runs out of steps."""
    deadline = Deadline.of(deadline)
    periods = problem.periods
    masks = [row for row in fixed]
    recent: list[np.ndarray] = []
    evaluations = 0

    def oracle(x: np.ndarray) -> OracleAnswer[DualPoint]:
        nonlocal evaluations
        evaluations += 1
        point = evaluate(problem, x[:periods], x[periods:], masks)
        if point is None:
            raise _NodeInfeasible
        recent.append(point.on)
        if len(recent) > 12:
            recent.pop(0)
        return OracleAnswer(point.value, np.concatenate([point.demand_residual, point.reserve_residual]), point)

    nonnegative = np.r_[np.zeros(periods, dtype=bool), np.ones(periods, dtype=bool)]
    try:
        method = BundleMaximiser(oracle, start, nonnegative)
        best = method.state.centre_answer.payload
        for _ in range(max_steps):
            if best.certified() >= cutoff or deadline.passed():
                break
            method.step()
            best = method.state.centre_answer.payload
            if 0 <= method.state.predicted <= 1e-9 * max(1.0, abs(method.state.centre_value)):
                break
    except _NodeInfeasible:
        return NodeOutcome(math.inf, None, None, evaluations)
    weighted = method.weighted_payloads()
    fractional: np.ndarray | None
    if len(weighted) > 1:  # the bundle's convex combination: the node's fractional commitment
        fractional = np.asarray(sum(w * p.on.astype(float) for w, p in weighted), dtype=float)
    else:
        fractional = np.mean(np.array(recent, dtype=float), axis=0) if recent else None
    return NodeOutcome(best.certified(), best, fractional, evaluations)


def exact_value(problem: Problem, on: np.ndarray) -> Schedule | None:
    """The schedule of a fully fixed commitment (None if a unit's own rules forbid its row,
    or if it admits no dispatch)."""
    zero = np.zeros(problem.periods)
    for g, unit in enumerate(problem.thermal):
        if plan_unit(unit, zero, zero, on[g].astype(np.int8)) is None:
            return None  # a leaf of the branching can fix a day no unit may follow
    try:
        result = dispatch(problem, on)
    except ScheduleInfeasible:
        return None
    return Schedule.priced(problem, on, result)


def branch_and_bound(
    problem: Problem,
    root_fixed: np.ndarray,
    root_start: np.ndarray,
    root_bound: float,
    incumbent: Schedule | None,
    gap: float,
    deadline: Deadline | float,
    on_bound: Callable[[float], None],
    on_schedule: Callable[[Schedule], None],
    repairer: Repairer,
    steps_per_node: int = 20,
) -> tuple[float, Schedule | None, int]:
    """Best-first branch and bound. Returns (proven bound, best schedule, nodes explored).

    `on_bound` hears the global bound whenever it rises, `on_schedule` every better schedule.
    The proven bound is the least bound among nodes still open (or the incumbent's cost when
    none is left: then the incumbent is optimal within `gap`).
    """
    deadline = Deadline.of(deadline)
    best = incumbent
    counter = itertools.count()
    heap: list[Node] = [Node(root_bound, next(counter), root_fixed.copy(), root_start.copy())]
    explored = 0
    reported = root_bound
    # Repairs get at most a share of the branching's work (see REPAIR_SHARE; counted in unit-DP
    # solves, as Repairer.work counts, not in seconds: the clock never decides the path), and
    # a relaxed commitment already repaired is not repaired again.
    repaired: set[bytes] = set()
    bound_work = repair_work = 0

    def cutoff() -> float:
        return math.inf if best is None else best.total - gap * abs(best.total)

    while heap and not deadline.passed():
        node = heapq.heappop(heap)
        if node.bound >= cutoff():
            continue
        explored += 1
        free = node.fixed < 0
        if not free.any():
            candidate = exact_value(problem, node.fixed.astype(bool))
            if candidate is not None and (best is None or candidate.total < best.total):
                best = candidate
                on_schedule(candidate)
            continue
        outcome = solve_node(problem, node.fixed, node.start, cutoff(), steps_per_node, deadline)
        bound_work += outcome.evaluations * len(problem.thermal)
        if outcome.point is None or outcome.bound >= cutoff():
            continue
        point = outcome.point
        key = np.packbits(point.on).tobytes()
        if key not in repaired and (best is None or repair_work <= REPAIR_SHARE * (bound_work + repair_work)):
            repaired.add(key)
            work_before = repairer.work
            candidate = repairer.repair(point.on, point.price, point.reserve_price)
            repair_work += repairer.work - work_before
            if candidate is not None and (best is None or candidate.total < best.total):
                best = candidate
                on_schedule(candidate)
                if outcome.bound >= cutoff():
                    continue
        g, t = _branching_variable(outcome.fractional, point.on, best.on if best is not None else None, free, problem)
        start = np.concatenate([point.price, point.reserve_price])
        for state in (1, 0) if (outcome.fractional is not None and outcome.fractional[g, t] >= 0.5) else (0, 1):
            child = node.fixed.copy()
            child[g, t] = state
            heapq.heappush(heap, Node(max(outcome.bound, node.bound), next(counter), child, start))
        if heap:
            bound_now = min(heap[0].bound, best.total if best is not None else math.inf)
            if bound_now > reported:
                reported = bound_now
                on_bound(bound_now)
    if not heap and not deadline.passed():
        final = best.total - gap * abs(best.total) if best is not None else math.inf
        return max(reported, final), best, explored
    open_bound = min((n.bound for n in heap), default=math.inf)
    return max(reported, min(open_bound, best.total if best is not None else math.inf)), best, explored


def _branching_variable(
    fractional: np.ndarray | None,
    relaxed_on: np.ndarray,
    incumbent_on: np.ndarray | None,
    free: np.ndarray,
    problem: Problem,
) -> tuple[int, int]:
    """The free (unit, period) to split on: most fractional, weighted by the unit's size."""
    size = np.array([u.pmax for u in problem.thermal])[:, None]
    if fractional is not None:
        score = np.minimum(fractional, 1.0 - fractional) * size
        score = np.where(free, score, -1.0)
        if score.max() > 0:
            g, t = np.unravel_index(int(np.argmax(score)), score.shape)
            return int(g), int(t)
    if incumbent_on is not None:
        differ = (relaxed_on != incumbent_on) & free
        if differ.any():
            score = np.where(differ, np.broadcast_to(size, differ.shape), -1.0)
            g, t = np.unravel_index(int(np.argmax(score)), score.shape)
            return int(g), int(t)
    # Everything agrees: split the first free variable (earliest period, largest unit).
    score = np.where(free, np.broadcast_to(size, free.shape) - 1e-6 * np.arange(free.shape[1])[None, :], -np.inf)
    g, t = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(g), int(t)
