"""HiGHS referee for the fixed-commitment dispatch LP, and random fleets to try it on.

Shares no code with `merit_order.schedule.dispatch`: the LP is written here row by row from
pglib-uc's MODEL.tex with u fixed (Sridhar's lambda formulation of the piecewise cost, the
constant rows of the initial period checked as constants), and solved by HiGHS. The checker
`violations` recomputes every row of MODEL.tex from a dispatch (p total MW, r, renewables).
Periods are 0-based here.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass

import highspy
import numpy as np
from uc_milp import quiet_highs

from merit_order.schedule.model import Problem, RenewableUnit, StartupCategory, ThermalUnit

INF = math.inf


@dataclass
class RefereeAnswer:
    """What HiGHS says about one fixed-commitment LP."""

    feasible: bool
    objective: float = math.nan  # production cost (no-load included)
    p: np.ndarray | None = None  # (G, T) total MW
    r: np.ndarray | None = None
    price: np.ndarray | None = None  # (T,) demand-row duals
    reserve_price: np.ndarray | None = None


def _constant_rows_hold(unit: ThermalUnit, on: np.ndarray, tol: float = 1e-9) -> bool:
    """RampDownInit and MaxOutput2Init when the unit is on before the horizon and off in period 1."""
    if not unit.on_t0 or on[0]:
        return True
    above = unit.p_t0 - unit.pmin
    if above > unit.ramp_down + tol:
        return False
    return above <= (unit.pmax - unit.pmin) - max(unit.pmax - unit.shutdown_limit, 0.0) + tol


def highs_dispatch(problem: Problem, on: np.ndarray, prices: tuple[np.ndarray, np.ndarray] | None = None) -> RefereeAnswer:
    """Solve MODEL.tex's LP with u = on by HiGHS (the referee).

    With `prices` = (lambda, mu) the demand and reserve rows are priced instead of imposed
    (Lagrangian relaxation): the answer's objective is then the dual function
    min_x [cost - lambda.(supply) - mu.(reserve)] + lambda.D + mu.R, a lower bound on the
    optimum that equals it exactly when (lambda, mu) are optimal duals.
    """
    G, T = on.shape
    units = problem.thermal
    if not all(_constant_rows_hold(u, on[g]) for g, u in enumerate(units)):
        return RefereeAnswer(feasible=False)
    h = quiet_highs()  # no banner (see tests/support/uc_milp.py)
    h.setOptionValue("output_flag", False)
    # One thread, as every HiGHS referee here: HiGHS's thread pool is process-wide and
    # refuses to run once another instance has started it with a different count.
    h.setOptionValue("threads", 1)
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.setOptionValue("dual_feasibility_tolerance", 1e-9)
    h.setOptionValue("presolve", "off")
    lower: list[float] = []
    upper: list[float] = []
    obj: list[float] = []

    def var(lo: float, hi: float, c: float = 0.0) -> int:
        lower.append(lo)
        upper.append(hi)
        obj.append(c)
        return len(lower) - 1

    p = np.full((G, T), -1, dtype=int)
    r = np.full((G, T), -1, dtype=int)
    lam: dict[tuple[int, int], list[int]] = {}
    for g, u in enumerate(units):
        span = u.pmax - u.pmin
        for t in range(T):
            ub = span if on[g, t] else 0.0
            p[g, t] = var(0.0, ub)
            r[g, t] = var(0.0, INF if on[g, t] else 0.0)
            lam[g, t] = [var(0.0, 1.0, u.curve_cost[l] - u.curve_cost[0]) for l in range(len(u.curve_mw))]
    pw = [[var(float(w.pmin[t]), float(w.pmax[t])) for t in range(T)] for w in problem.renewable]
    rows: list[tuple[dict[int, float], float, float]] = []

    def row(coefs: dict[int, float], lo: float, hi: float) -> None:
        rows.append((coefs, lo, hi))

    constant = 0.0
    for t in range(T):  # Demand, Reserves
        coefs = {int(p[g, t]): 1.0 for g in range(G)}
        coefs.update({pw[i][t]: 1.0 for i in range(len(pw))})
        fixed = sum(units[g].pmin for g in range(G) if on[g, t])
        if prices is None:
            row(coefs, problem.demand[t] - fixed, problem.demand[t] - fixed)
        else:
            for k in coefs:
                obj[k] -= float(prices[0][t])
            constant += float(prices[0][t]) * (problem.demand[t] - fixed)
    for t in range(T):
        if prices is None:
            row({int(r[g, t]): 1.0 for g in range(G)}, problem.reserve[t], INF)
        else:
            for g in range(G):
                obj[int(r[g, t])] -= float(prices[1][t])
            constant += float(prices[1][t]) * problem.reserve[t]
    for g, u in enumerate(units):
        span = u.pmax - u.pmin
        u0 = 1.0 if u.on_t0 else 0.0
        for t in range(T):
            ut = 1.0 if on[g, t] else 0.0
            prev = u0 if t == 0 else (1.0 if on[g, t - 1] else 0.0)
            vt = max(ut - prev, 0.0)
            wt1 = max((1.0 if on[g, t] else 0.0) - (1.0 if on[g, t + 1] else 0.0), 0.0) if t < T - 1 else 0.0
            # MaxOutput1 / MaxOutput2
            row({int(p[g, t]): 1.0, int(r[g, t]): 1.0}, -INF, span * ut - max(u.pmax - u.startup_limit, 0.0) * vt)
            if t < T - 1:
                row({int(p[g, t]): 1.0, int(r[g, t]): 1.0}, -INF, span * ut - max(u.pmax - u.shutdown_limit, 0.0) * wt1)
            if t == 0:  # RampUpInit, RampDownInit
                above0 = u0 * (u.p_t0 - u.pmin)
                if math.isfinite(u.ramp_up):
                    row({int(p[g, 0]): 1.0, int(r[g, 0]): 1.0}, -INF, u.ramp_up + above0)
                if math.isfinite(u.ramp_down):
                    row({int(p[g, 0]): -1.0}, -INF, u.ramp_down - above0)
            else:  # RampUp, RampDown
                if math.isfinite(u.ramp_up):
                    row({int(p[g, t]): 1.0, int(r[g, t]): 1.0, int(p[g, t - 1]): -1.0}, -INF, u.ramp_up)
                if math.isfinite(u.ramp_down):
                    row({int(p[g, t - 1]): 1.0, int(p[g, t]): -1.0}, -INF, u.ramp_down)
            # PiecewiseParts, PiecewiseLimits
            coefs = {int(p[g, t]): -1.0}
            for l, k in enumerate(lam[g, t]):
                coefs[k] = u.curve_mw[l] - u.curve_mw[0]
            row(coefs, 0.0, 0.0)
            row({k: 1.0 for k in lam[g, t]}, ut, ut)
    h.addVars(len(lower), np.array(lower), np.array(upper))
    h.changeColsCost(len(obj), np.arange(len(obj), dtype=np.int32), np.array(obj))
    for coefs, lo, hi in rows:
        idx = np.array(list(coefs.keys()), dtype=np.int32)
        val = np.array(list(coefs.values()), dtype=float)
        h.addRow(lo, hi, len(idx), idx, val)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return RefereeAnswer(feasible=False)
    assert status == highspy.HighsModelStatus.kOptimal, h.modelStatusToString(status)
    sol = h.getSolution()
    x = np.array(sol.col_value)
    duals = np.array(sol.row_dual)
    no_load = sum(u.curve_cost[0] * float(on[g].sum()) for g, u in enumerate(units)) + constant
    total = np.where(on, x[p] + np.array([u.pmin for u in units])[:, None], 0.0)
    return RefereeAnswer(
        feasible=True,
        objective=float(h.getInfo().objective_function_value) + no_load,
        p=total,
        r=x[r],
        price=duals[:T] if prices is None else None,
        reserve_price=duals[T:2 * T] if prices is None else None,
    )


def violations(problem: Problem, on: np.ndarray, p: np.ndarray, r: np.ndarray, ren: np.ndarray) -> dict[str, float]:
    """The worst violation (MW) of each kind of MODEL.tex row by a dispatch (0 when all hold)."""
    G, T = on.shape
    worst: dict[str, float] = {}

    def note(kind: str, amount: float) -> None:
        worst[kind] = max(worst.get(kind, 0.0), float(amount))

    units = problem.thermal
    for t in range(T):
        note("demand", abs(p[:, t].sum() + ren[:, t].sum() - problem.demand[t]))
        note("reserve", problem.reserve[t] - r[:, t].sum())
    for i, w in enumerate(problem.renewable):
        note("renewable", np.max(np.maximum(w.pmin[:T] - ren[i], ren[i] - w.pmax[:T])))
    for g, u in enumerate(units):
        above = np.where(on[g], p[g] - u.pmin, 0.0)
        note("off", np.max(np.abs(np.where(on[g], 0.0, p[g]))))
        note("off", np.max(np.abs(np.where(on[g], 0.0, r[g]))))
        note("bounds", np.max(-above))
        note("bounds", np.max(-r[g]))
        span = u.pmax - u.pmin
        u0 = 1.0 if u.on_t0 else 0.0
        prev_above = u0 * (u.p_t0 - u.pmin)
        for t in range(T):
            ut = 1.0 if on[g, t] else 0.0
            prev = u0 if t == 0 else (1.0 if on[g, t - 1] else 0.0)
            vt = max(ut - prev, 0.0)
            note("MaxOutput1", above[t] + r[g, t] - (span * ut - max(u.pmax - u.startup_limit, 0.0) * vt))
            if t < T - 1:
                wt1 = max(ut - (1.0 if on[g, t + 1] else 0.0), 0.0)
                note("MaxOutput2", above[t] + r[g, t] - (span * ut - max(u.pmax - u.shutdown_limit, 0.0) * wt1))
            before = prev_above if t == 0 else above[t - 1]
            note("RampUp", above[t] + r[g, t] - before - u.ramp_up)
            note("RampDown", before - above[t] - u.ramp_down)
    return worst


# --------------------------------------------------------------------------------------------
# Random fleets.


def _convex_curve(rnd: random.Random, pmin: float, span: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    no_load = round(rnd.uniform(0.0, 500.0), 2)
    if span == 0.0:
        return (pmin,), (no_load,)
    k = rnd.randint(1, 4)
    cuts = sorted(rnd.uniform(0.0, span) for _ in range(k - 1))
    mws = [pmin] + [pmin + c for c in cuts] + [pmin + span]
    slope = rnd.uniform(0.0, 60.0)
    costs = [no_load]
    for j in range(k):
        costs.append(costs[-1] + slope * (mws[j + 1] - mws[j]))
        slope += rnd.choice([0.0, rnd.uniform(0.0, 30.0)])
    return tuple(mws), tuple(costs)


def random_problem(seed: int) -> tuple[Problem, np.ndarray]:
    """A random fleet, a random commitment and a demand/reserve that is usually feasible."""
    rnd = random.Random(seed)
    G = rnd.randint(1, 10)
    T = rnd.randint(1, 24)
    units = []
    on = np.zeros((G, T), dtype=bool)
    for g in range(G):
        pmin = rnd.choice([0.0, round(rnd.uniform(5.0, 150.0), 1)])
        span = 0.0 if rnd.random() < 0.07 else round(rnd.uniform(5.0, 300.0), 1)
        mws, costs = _convex_curve(rnd, pmin, span)

        def limit(base: float) -> float:
            return INF if rnd.random() < 0.2 else round(rnd.uniform(0.05, 1.2) * max(base, 1.0), 1)

        su = rnd.choice([INF, pmin, pmin + round(rnd.uniform(0.0, span), 1)])
        sd = rnd.choice([INF, pmin, pmin + round(rnd.uniform(0.0, span), 1)])
        on_t0 = rnd.random() < 0.6
        units.append(
            ThermalUnit(
                name=f"g{g}", pmin=pmin, pmax=pmin + span, curve_mw=mws, curve_cost=costs,
                startup=(StartupCategory(lag=1, cost=100.0),), ramp_up=limit(span), ramp_down=limit(span),
                startup_limit=su, shutdown_limit=sd, on_t0=on_t0, time_up_t0=3 if on_t0 else 0,
                time_down_t0=0 if on_t0 else 3, p_t0=pmin + (round(rnd.uniform(0.0, span), 1) if on_t0 else 0.0),
            )
        )
        if on_t0 and rnd.random() < 0.85:  # a shutdown in period 1 must be possible, mostly
            p_t0 = min(units[-1].p_t0, pmin + units[-1].ramp_down, units[-1].shutdown_limit, pmin + span)
            units[-1] = dataclasses.replace(units[-1], p_t0=max(p_t0, pmin))
        state = on_t0 if rnd.random() < 0.8 else not on_t0
        for t in range(T):
            if rnd.random() < 0.15:
                state = not state
            on[g, t] = state
    renewables = []
    for i in range(rnd.choice([0, 0, 1, 2])):
        hi = np.round(np.array([rnd.uniform(0.0, 200.0) for _ in range(T)]), 1)
        lo = np.round(hi * rnd.choice([0.0, 0.0, 0.5, 1.0]), 1)
        renewables.append(RenewableUnit(name=f"w{i}", pmin=lo, pmax=hi))
    demand, reserve = _witness_demand(rnd, units, renewables, on, T)
    return Problem(demand=demand, reserve=reserve, thermal=tuple(units), renewable=tuple(renewables)), on


def _witness_demand(rnd: random.Random, units: list[ThermalUnit], renewables: list[RenewableUnit],
                    on: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Demand and reserve built around a random dispatch that obeys each unit's rows (when one exists)."""
    total = np.zeros(T)
    room = np.zeros(T)
    for g, u in enumerate(units):
        span = u.pmax - u.pmin
        cap = np.zeros(T)
        for t in range(T):
            if not on[g, t]:
                continue
            c = span
            prev_on = u.on_t0 if t == 0 else on[g, t - 1]
            if not prev_on:
                c = min(c, u.startup_limit - u.pmin, u.ramp_up)
            elif t == 0:
                c = min(c, u.ramp_up + u.p_t0 - u.pmin)
            if t < T - 1 and not on[g, t + 1]:
                c = min(c, u.shutdown_limit - u.pmin, u.ramp_down)
            cap[t] = c
        # The most each on period may hold so that the shutdowns ahead can be reached.
        reach = cap.copy()
        for t in range(T - 2, -1, -1):
            if on[g, t] and on[g, t + 1]:
                reach[t] = min(reach[t], reach[t + 1] + u.ramp_down)
        # Walk forward inside [max(prev - RD, 0), min(prev + RU, reach)], rarely exact.
        prev = (u.p_t0 - u.pmin) if u.on_t0 else 0.0
        above = np.zeros(T)
        for t in range(T):
            if not on[g, t]:
                prev = 0.0
                continue
            lo = max(0.0, prev - u.ramp_down)
            hi = min(reach[t], prev + u.ramp_up)
            above[t] = lo if hi < lo else rnd.uniform(lo, hi)
            prev = above[t]
            total[t] += u.pmin + above[t]
            room[t] += max(0.0, min(cap[t] - above[t], u.ramp_up + (above[t - 1] if t > 0 else 0.0) - above[t]))
    for w in renewables:
        total += np.array([rnd.uniform(w.pmin[t], w.pmax[t]) for t in range(T)])
    demand = np.round(total, 3)
    reserve = np.round(room * rnd.choice([0.0, 0.3, 0.8, 1.0]), 3)
    roll = rnd.random()
    if roll < 0.08 and T:
        demand[rnd.randrange(T)] += rnd.choice([-1.0, 1.0]) * rnd.uniform(1.0, 200.0)
    elif roll < 0.12 and T:
        reserve[rnd.randrange(T)] += rnd.uniform(1.0, 100.0)
    return demand, np.maximum(reserve, 0.0)
