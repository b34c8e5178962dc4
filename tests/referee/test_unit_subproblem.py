"""The single-unit Lagrangian subproblem (schedule/unit_subproblem.py) against a HiGHS MILP.

The subproblem's value enters a *certified* lower bound, so "close" is not enough: it must be
the exact minimum over MODEL.tex's single-unit rows. The referee here is that unit's rows of
MODEL.tex written out for HiGHS (its own code, nothing shared with the solver, not even the
start-up pricing helper `ThermalUnit.startup_cost`), with the objective
    sum_t [ u cost(P) + startup - price P - reserve_price r ].
Each case checks: same feasibility, same value (1e-6 relative), the returned plan's own
objective recomputed from its arrays equals the value, and the plan is a feasible point of
the MILP with exactly that cost (HiGHS re-solves with u, p and r fixed to the plan).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import highspy
import numpy as np
import pytest

from merit_order.schedule.model import StartupCategory, ThermalUnit
from merit_order.schedule.read_pglib import problem_from_pglib
from merit_order.schedule.unit_subproblem import HAVE_NUMBA, FleetSubproblems, UnitPlan, solve_unit, solve_units

DATA = Path(__file__).resolve().parents[1] / "data" / "uc" / "pglib-uc"
REL_TOL = 1e-6


# ------------------------------------------------------------------------------ the referee


def _highs() -> highspy.Highs:
    """HiGHS with exact gaps, tight tolerances and presolve OFF.

    Presolve off is deliberate: HiGHS 1.16's presolve returned "optimal" -8081.93 on the
    single-unit model of `test_highs_presolve_regression_case` whose true optimum (feasible
    plan checked row by row, and HiGHS itself without presolve) is -8762.74.
    """
    h = highspy.Highs()
    h.setOptionValue("presolve", "off")
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 7)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    h.setOptionValue("mip_feasibility_tolerance", 1e-9)
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.setOptionValue("dual_feasibility_tolerance", 1e-9)
    return h


def referee(
    unit: ThermalUnit,
    price: np.ndarray,
    reserve_price: np.ndarray,
    fixed: np.ndarray | None = None,
    plan: UnitPlan | None = None,
) -> float | None:
    """MODEL.tex's rows for one unit (equation labels in the comments) solved by HiGHS.

    Returns the optimal value, or None when infeasible. With `plan`, u, p and r are fixed to
    the plan's values (start-up categories stay free): the value is then the plan's cost as
    MODEL.tex prices it, and None means the plan is not feasible.
    """
    T = price.shape[0]
    pmin, pmax = unit.pmin, unit.pmax
    span = pmax - pmin
    mw, cp = list(unit.curve_mw), list(unit.curve_cost)
    lags = [c.lag for c in unit.startup]
    cs = [c.cost for c in unit.startup]
    S, L = len(lags), len(mw)
    ut, dt = unit.min_up, unit.min_down
    u0 = 1 if unit.on_t0 else 0
    ut0, dt0 = unit.time_up_t0, unit.time_down_t0
    factor = np.ones(T) if unit.cost_scale is None else np.asarray(unit.cost_scale[:T], dtype=float)
    lower: list[float] = []
    upper: list[float] = []
    cost: list[float] = []
    integer: list[bool] = []

    def var(lo: float, hi: float, c: float, is_int: bool) -> int:
        lower.append(lo)
        upper.append(hi)
        cost.append(c)
        integer.append(is_int)
        return len(lower) - 1

    u, v, w, p, r = [], [], [], [], []
    delta: list[list[int]] = [[] for _ in range(S)]
    lam: list[list[int]] = [[] for _ in range(L)]
    for t in range(T):
        lo_u, hi_u = (1.0 if unit.must_run else 0.0), 1.0  # MustRun
        if fixed is not None and fixed[t] == 0:
            hi_u = 0.0
        if fixed is not None and fixed[t] == 1:
            lo_u = 1.0
        if plan is not None:
            lo_u = hi_u = float(plan.on[t])
        u.append(var(lo_u, hi_u, factor[t] * cp[0] - price[t] * pmin, True))
        v.append(var(0.0, 1.0, 0.0, True))
        w.append(var(0.0, 1.0, 0.0, True))
        for s in range(S):
            delta[s].append(var(0.0, 1.0, cs[s], True))
        if plan is not None:
            above = float(plan.p[t] - pmin) if plan.on[t] else 0.0
            p.append(var(above, above, -price[t], False))
            r.append(var(float(plan.r[t]), float(plan.r[t]), -reserve_price[t], False))
        else:
            p.append(var(0.0, span, -price[t], False))
            r.append(var(0.0, math.inf, -reserve_price[t], False))
        for l in range(L):
            lam[l].append(var(0.0, 1.0, factor[t] * (cp[l] - cp[0]), False))
    rows: list[tuple[float, float, list[tuple[int, float]]]] = []

    def row(lo: float, hi: float, terms: list[tuple[int, float]]) -> None:
        rows.append((lo, hi, terms))

    if u0 == 1:  # initialUpRequirement
        for t in range(min(ut - ut0, T)):
            row(1.0, 1.0, [(u[t], 1.0)])
    else:  # initialDownRequirement
        for t in range(min(dt - dt0, T)):
            row(0.0, 0.0, [(u[t], 1.0)])
    row(u0, u0, [(u[0], 1.0), (v[0], -1.0), (w[0], 1.0)])  # LogicalInitial
    for s in range(S - 1):  # STIInit
        for t1 in range(max(1, lags[s + 1] - dt0 + 1), min(lags[s + 1] - 1, T) + 1):
            row(0.0, 0.0, [(delta[s][t1 - 1], 1.0)])
    p0a = u0 * (unit.p_t0 - pmin)
    row(-math.inf, unit.ramp_up + p0a, [(p[0], 1.0), (r[0], 1.0)])  # RampUpInit
    row(p0a - unit.ramp_down, math.inf, [(p[0], 1.0)])  # RampDownInit
    row(-math.inf, span * u0 - p0a, [(w[0], max(pmax - unit.shutdown_limit, 0.0))])  # MaxOutput2Init
    for t in range(1, T):  # Logical
        row(0.0, 0.0, [(u[t], 1.0), (u[t - 1], -1.0), (v[t], -1.0), (w[t], 1.0)])
    for t in range(min(ut, T) - 1, T):  # Startup
        row(-math.inf, 0.0, [(v[i], 1.0) for i in range(t - min(ut, T) + 1, t + 1)] + [(u[t], -1.0)])
    for t in range(min(dt, T) - 1, T):  # Shutdown
        row(-math.inf, 1.0, [(w[i], 1.0) for i in range(t - min(dt, T) + 1, t + 1)] + [(u[t], 1.0)])
    for s in range(S - 1):  # STISelect
        for t1 in range(lags[s + 1], T + 1):
            terms = [(delta[s][t1 - 1], 1.0)] + [(w[t1 - i - 1], -1.0) for i in range(lags[s], lags[s + 1])]
            row(-math.inf, 0.0, terms)
    for t in range(T):  # STILink
        row(0.0, 0.0, [(v[t], 1.0)] + [(delta[s][t], -1.0) for s in range(S)])
    for t in range(T):  # MaxOutput1
        row(-math.inf, 0.0, [(p[t], 1.0), (r[t], 1.0), (u[t], -span), (v[t], max(pmax - unit.startup_limit, 0.0))])
    for t in range(T - 1):  # MaxOutput2
        row(-math.inf, 0.0, [(p[t], 1.0), (r[t], 1.0), (u[t], -span), (w[t + 1], max(pmax - unit.shutdown_limit, 0.0))])
    for t in range(1, T):  # RampUp, RampDown
        row(-math.inf, unit.ramp_up, [(p[t], 1.0), (r[t], 1.0), (p[t - 1], -1.0)])
        row(-math.inf, unit.ramp_down, [(p[t - 1], 1.0), (p[t], -1.0)])
    for t in range(T):  # PiecewiseParts, PiecewiseLimits
        row(0.0, 0.0, [(p[t], 1.0)] + [(lam[l][t], -(mw[l] - mw[0])) for l in range(L)])
        row(0.0, 0.0, [(u[t], 1.0)] + [(lam[l][t], -1.0) for l in range(L)])

    lp = highspy.HighsLp()
    lp.num_col_ = len(lower)
    lp.num_row_ = len(rows)
    lp.col_cost_ = np.array(cost)
    lp.col_lower_ = np.array(lower)
    lp.col_upper_ = np.array(upper)
    lp.row_lower_ = np.array([x[0] for x in rows], dtype=float)
    lp.row_upper_ = np.array([x[1] for x in rows], dtype=float)
    starts, index, value = [0], [], []
    for _, _, terms in rows:
        for col, coef in terms:
            if coef != 0.0:
                index.append(col)
                value.append(coef)
        starts.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = lp.num_col_
    lp.a_matrix_.num_row_ = lp.num_row_
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value, dtype=float)
    lp.integrality_ = [highspy.HighsVarType.kInteger if x else highspy.HighsVarType.kContinuous for x in integer]
    h = _highs()
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return None
    assert status == highspy.HighsModelStatus.kOptimal, h.modelStatusToString(status)
    return float(h.getInfo().objective_function_value)


# ------------------------------------------------------------------------------ helpers


def plan_objective(unit: ThermalUnit, plan: UnitPlan, price: np.ndarray, reserve_price: np.ndarray) -> float:
    """The objective of a plan from its own arrays: sum u cost(P) + startup - price P - rho r."""
    on = plan.on.astype(bool)
    factor = np.ones(price.shape[0]) if unit.cost_scale is None else np.asarray(unit.cost_scale[: price.shape[0]])
    curve = factor * np.interp(plan.p, unit.curve_mw, unit.curve_cost)
    return float(np.sum(np.where(on, curve, 0.0)) + plan.startup_cost.sum() - price @ plan.p - reserve_price @ plan.r)


def close(a: float, b: float) -> bool:
    """Equal within 1e-6 relative (absolute 1e-6 near zero)."""
    return abs(a - b) <= REL_TOL * max(1.0, abs(a), abs(b))


def check_case(
    unit: ThermalUnit,
    price: np.ndarray,
    reserve_price: np.ndarray,
    fixed: np.ndarray | None = None,
    *,
    verify_plan: bool = True,
    general_too: bool = False,
) -> UnitPlan | None:
    """Solver and referee agree on feasibility and value; the plan is feasible and priced right."""
    plan = solve_unit(unit, price, reserve_price, fixed)
    expected = referee(unit, price, reserve_price, fixed)
    if expected is None:
        assert plan is None, f"{unit}: solver found {plan} where the MILP is infeasible"
        return None
    assert plan is not None, f"{unit}: solver says infeasible, MILP value {expected}"
    assert close(plan.value, expected), (unit, price, reserve_price, fixed, plan.value, expected)
    assert close(plan_objective(unit, plan, price, reserve_price), plan.value)
    T = price.shape[0]
    assert plan.on.dtype == np.int8 and plan.on.shape == (T,)
    assert np.all((plan.p == 0.0) | (plan.on == 1)) and np.all((plan.r == 0.0) | (plan.on == 1))
    assert np.all(plan.r >= 0.0)
    if fixed is not None:
        assert np.all((fixed < 0) | (plan.on == fixed))
    if verify_plan:
        priced = referee(unit, price, reserve_price, fixed, plan=plan)
        assert priced is not None, f"{unit}: the plan is not MILP-feasible: {plan}"
        assert close(priced, plan.value), (priced, plan.value)
    if general_too:
        other = solve_unit(unit, price, reserve_price, fixed, _force_general=True)
        assert other is not None and close(other.value, plan.value)
    return plan


# ------------------------------------------------------------------------------ generated cases


def random_unit(rng: np.random.Generator) -> ThermalUnit:
    """A random unit: every combination of binding and non-binding limits, consistent initial state."""
    pmin = float(rng.choice([0.0, rng.uniform(1, 60)], p=[0.1, 0.9]))
    span = float(rng.choice([0.0, rng.uniform(1, 100)], p=[0.05, 0.95]))
    pmax = pmin + span
    no_load = float(rng.uniform(0, 800))
    if span > 0:
        mw = np.concatenate([[pmin], np.sort(rng.uniform(pmin, pmax, int(rng.integers(0, 3)))), [pmax]])
        slopes = np.sort(rng.uniform(5, 60, mw.size - 1))
        cost = np.concatenate([[no_load], no_load + np.cumsum(slopes * np.diff(mw))])
    else:
        mw, cost = np.array([pmin]), np.array([no_load])
    min_up, min_down = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    n_cat = int(rng.integers(1, 4))
    lags = [min_down]
    for _ in range(n_cat - 1):
        lags.append(lags[-1] + int(rng.integers(1, 6)))
    costs = np.sort(rng.choice([0.0, 1.0], p=[0.1, 0.9]) * rng.uniform(0, 3000, n_cat))
    startup = tuple(StartupCategory(lag=lag, cost=float(c)) for lag, c in zip(lags, costs, strict=True))

    def limit(low: float, high: float) -> float:
        choice = rng.integers(4)
        if choice == 0:
            return math.inf
        if choice == 1:
            return float(rng.uniform(high, 2 * high + 1))
        return float(rng.uniform(low, high))

    ramp_up = limit(0.05 * span, span)
    ramp_down = limit(0.05 * span, span)
    startup_limit = limit(pmin, pmax) if rng.random() > 0.03 else pmin * 0.5
    shutdown_limit = limit(pmin, pmax) if rng.random() > 0.03 else pmin * 0.5
    if rng.random() < 0.15:  # pglib's rts_gmlc: start and stop at exactly Pmin
        startup_limit = shutdown_limit = pmin
    on_t0 = bool(rng.random() < 0.5)
    if on_t0:
        time_up_t0, time_down_t0 = int(rng.integers(1, 12)), 0
        p_t0 = float(rng.choice([pmin, pmax, rng.uniform(pmin, pmax)]))
    else:
        time_up_t0, time_down_t0 = 0, int(rng.choice([rng.integers(1, 12), 100]))
        p_t0 = 0.0
    return ThermalUnit(
        name="random",
        pmin=pmin,
        pmax=pmax,
        curve_mw=tuple(float(x) for x in mw),
        curve_cost=tuple(float(x) for x in cost),
        startup=startup,
        min_up=min_up,
        min_down=min_down,
        ramp_up=ramp_up,
        ramp_down=ramp_down,
        startup_limit=startup_limit,
        shutdown_limit=shutdown_limit,
        must_run=bool(rng.random() < 0.05),
        cost_scale=tuple(rng.uniform(0.0, 2.0, 48).tolist()) if rng.random() < 0.2 else None,
        on_t0=on_t0,
        time_up_t0=time_up_t0,
        time_down_t0=time_down_t0,
        p_t0=p_t0,
    )


def random_prices(rng: np.random.Generator, unit: ThermalUnit, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Prices around the unit's marginal costs (some negative), reserve prices >= 0 (some 0)."""
    slopes = unit.segment_slopes()
    mid = float(np.mean(slopes)) if slopes.size else 30.0
    no_load = unit.no_load_cost / max(unit.pmax, 1.0)
    price = rng.uniform(-0.3, 1.8, T) * (mid + no_load)
    if rng.random() < 0.5:  # blocks of high and low prices: stops of every length, restarts
        level = rng.choice([-0.5, 0.2, 1.5, 3.0], size=T)
        cuts = np.sort(rng.integers(0, T, 3))
        for first, last in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [T]]), strict=True):
            price[first:last] = level[first] * (mid + no_load) * rng.uniform(0.9, 1.1, last - first)
    if rng.random() < 0.3:
        price = np.round(price / 5.0) * 5.0  # ties
    reserve_price = rng.uniform(0, 0.5 * mid, T) * (rng.random(T) < 0.7) * (rng.random() < 0.8)
    return price, reserve_price


def random_fixed(rng: np.random.Generator, T: int) -> np.ndarray | None:
    if rng.random() < 0.5:
        return None
    fixed = np.full(T, -1, dtype=np.int8)
    mask = rng.random(T) < rng.uniform(0.05, 0.4)
    fixed[mask] = rng.integers(0, 2, int(mask.sum()))
    return fixed


@pytest.mark.parametrize("seed", [0, *(pytest.param(seed, marks=pytest.mark.slow) for seed in range(1, 10))])
def test_random_units_match_the_milp(seed: int) -> None:
    """105 random units x prices x masks per seed (1,050 in all), short horizons for HiGHS."""
    rng = np.random.default_rng(1000 + seed)
    infeasible = 0
    for _ in range(105):
        T = int(rng.integers(1, 21)) if rng.random() < 0.3 else int(rng.integers(1, 13))
        unit = random_unit(rng)
        price, reserve_price = random_prices(rng, unit, T)
        fixed = random_fixed(rng, T)
        plan = check_case(unit, price, reserve_price, fixed, general_too=True)
        infeasible += plan is None
    assert infeasible < 60  # the generator mostly makes feasible cases


@pytest.mark.slow
def test_stop_and_restart_prices_every_category() -> None:
    """On at t0, high prices, a low block of every length, high again: restarts after any off time.

    Off times below, between and beyond the lags (hot, warm, cold) each pick their category;
    the MILP decides which one may be paid, so any mispricing of a restart shows as a value gap.
    """
    rng = np.random.default_rng(4242)
    categories_paid: set[float] = set()
    for _ in range(100):
        unit = random_unit(rng)
        min_down = int(rng.integers(1, 4))
        lags = np.cumsum(np.concatenate([[min_down], rng.integers(1, 4, int(rng.integers(0, 3)))]))
        costs = np.sort(rng.uniform(0, 400, lags.size)) * unit.pmax / 10
        unit = replace(
            unit,
            min_up=int(rng.integers(1, 4)),
            min_down=min_down,
            startup=tuple(StartupCategory(int(lag), float(c)) for lag, c in zip(lags, costs, strict=True)),
            on_t0=True,
            time_up_t0=10,
            time_down_t0=0,
            p_t0=unit.pmin,
            startup_limit=max(unit.startup_limit, unit.pmin),
            shutdown_limit=max(unit.shutdown_limit, unit.pmin),
            must_run=False,
        )
        T = 16
        average = (unit.curve_cost[-1] + 1.0) / max(unit.pmax, 1.0)
        price = np.full(T, 2.5 * average)
        first = int(rng.integers(1, 6))
        price[first : first + int(rng.integers(1, 10))] = -0.5 * average
        plan = check_case(unit, price, np.zeros(T))
        assert plan is not None
        categories_paid.update(plan.startup_cost[plan.startup_cost > 0].tolist())
    assert len(categories_paid) > 40


def test_binding_ramps_long_horizon() -> None:
    """Ramps far below Pmax - Pmin over 24 periods: many breakpoints in the value functions."""
    rng = np.random.default_rng(77)
    for _ in range(40):
        unit = random_unit(rng)
        span = unit.pmax - unit.pmin
        unit = replace(unit, ramp_up=float(rng.uniform(0.03, 0.3)) * span + 1e-3, ramp_down=float(rng.uniform(0.03, 0.3)) * span + 1e-3)
        price, reserve_price = random_prices(rng, unit, 24)
        check_case(unit, price, reserve_price, random_fixed(rng, 24), verify_plan=False)


def test_hand_case_ramp_limits_across_start_and_stop() -> None:
    """A unit that may only go up 10 MW per period, from Pmin at start, back to 10 before a stop.

    Pmin 10, Pmax 50, one segment at 10 $/MW, no-load 100; price 30 in periods 1-4, then -100.
    Best plan: start at t=1 (p = 10), 20, 30, then 20 in period 4 (at most RD = 10 above Pmin
    before the shutdown at t=5), off after. Value: run cost 4*100 + 10*(0+10+20+10) = 800,
    revenue 30*(10+20+30+20) = 2400, start-up 50  ->  -1550.
    """
    unit = ThermalUnit(
        name="hand",
        pmin=10.0,
        pmax=50.0,
        curve_mw=(10.0, 50.0),
        curve_cost=(100.0, 500.0),
        startup=(StartupCategory(lag=1, cost=50.0),),
        ramp_up=10.0,
        ramp_down=10.0,
        startup_limit=10.0,
        shutdown_limit=20.0,
        time_down_t0=5,
    )
    price = np.array([30.0, 30.0, 30.0, 30.0, -100.0, -100.0])
    plan = check_case(unit, price, np.zeros(6))
    assert plan is not None
    assert plan.value == pytest.approx(-1550.0)
    assert plan.on.tolist() == [1, 1, 1, 1, 0, 0]
    assert plan.p.tolist() == pytest.approx([10.0, 20.0, 30.0, 20.0, 0.0, 0.0])
    assert plan.startup_cost.tolist() == [50.0, 0, 0, 0, 0, 0]


def test_hand_case_startup_categories() -> None:
    """Hot start after 2 periods off costs 10, cold (>= 4 off) 100: the unit waits or not.

    On at t0 (long), min down 2; prices make periods 1 and 4-5 worth running (+200 each net of
    no-load) and 2-3 worth stopping (-50 each). Stopping for 2 periods saves 100 and costs a
    hot start of 10: the plan stops, and pays exactly the hot category in period 4.
    """
    unit = ThermalUnit(
        name="cats",
        pmin=10.0,
        pmax=10.0,
        curve_mw=(10.0,),
        curve_cost=(100.0,),
        startup=(StartupCategory(lag=2, cost=10.0), StartupCategory(lag=4, cost=100.0)),
        min_up=1,
        min_down=2,
        on_t0=True,
        time_up_t0=5,
        p_t0=10.0,
    )
    price = np.array([30.0, 5.0, 5.0, 30.0, 30.0])
    plan = check_case(unit, price, np.zeros(5))
    assert plan is not None
    assert plan.on.tolist() == [1, 0, 0, 1, 1]
    assert plan.startup_cost.tolist() == [0, 0, 0, 10.0, 0]
    assert plan.value == pytest.approx(3 * (100 - 300) + 10)


def test_highs_presolve_regression_case() -> None:
    """A case HiGHS's presolve gets wrong (see `_highs`): the solver's -8762.74 is the optimum.

    On at t0 at Pmax, forced on in period 3 and off in 4: the best plan runs flat out in
    periods 1-2, drops to Pmin in period 3 carrying the whole span as reserve, and stops.
    """
    unit = ThermalUnit(
        name="presolve",
        pmin=37.22392499235518,
        pmax=90.98117995856359,
        curve_mw=(37.22392499235518, 90.98117995856359),
        curve_cost=(110.4873567701488, 1141.004244344288),
        startup=(StartupCategory(lag=2, cost=737.3474897500425), StartupCategory(lag=3, cost=1301.2587071622897)),
        min_up=1,
        min_down=2,
        ramp_up=54.30128577373873,
        ramp_down=62.04213314947956,
        startup_limit=47.993095974265486,
        on_t0=True,
        time_up_t0=3,
        p_t0=90.98117995856359,
    )
    price = np.array([63.75026525399185, 58.3347560554091, -10.541508482330368, -10.267915763040163, 4.0610181484867685, 3.763307992149145])
    reserve_price = np.array([3.0180172013182656, 4.203853728003123, 8.188585911039517, 6.597932287146197, 2.4047263259665037, 2.5014790154376394])
    fixed = np.array([-1, -1, 1, 0, -1, -1], dtype=np.int8)
    plan = check_case(unit, price, reserve_price, fixed)
    assert plan is not None
    assert plan.value == pytest.approx(-8762.743028116865, rel=1e-9)
    assert plan.on.tolist() == [1, 1, 1, 0, 0, 0]
    assert plan.r[2] == pytest.approx(unit.pmax - unit.pmin)


def test_conflicting_fixed_mask_is_infeasible() -> None:
    """Min up 3: on in period 1 (a start) then forced off in period 2 is impossible -> None."""
    unit = ThermalUnit(
        name="mu",
        pmin=5.0,
        pmax=10.0,
        curve_mw=(5.0, 10.0),
        curve_cost=(10.0, 60.0),
        startup=(StartupCategory(lag=1, cost=1.0),),
        min_up=3,
        time_down_t0=3,
    )
    fixed = np.array([1, 0, -1, -1], dtype=np.int8)
    assert solve_unit(unit, np.full(4, 20.0), np.zeros(4), fixed) is None
    assert referee(unit, np.full(4, 20.0), np.zeros(4), fixed) is None


# ------------------------------------------------------------------------------ real units


def _fleet(path: Path, periods: int) -> tuple[ThermalUnit, ...]:
    return problem_from_pglib(json.loads(path.read_text()), periods).thermal


def _realistic_prices(rng: np.random.Generator, unit: ThermalUnit, T: int) -> tuple[np.ndarray, np.ndarray]:
    """A daily shape around the unit's own average cost at Pmax (so it sometimes runs)."""
    average = unit.curve_cost[-1] / max(unit.pmax, 1e-9)
    shape = 1.0 + 0.35 * np.sin(np.arange(T) * 2 * np.pi / 24.0 - 1.5) + rng.normal(0, 0.1, T)
    price = average * rng.uniform(0.7, 1.3) * shape
    reserve_price = rng.uniform(0, 5, T) * (rng.random() < 0.8)
    return price, reserve_price


def test_rts_gmlc_units_match_the_milp() -> None:
    """Every rts_gmlc 2020-01-27 unit (ramps and start/stop capabilities binding), 24 periods."""
    rng = np.random.default_rng(5)
    units = _fleet(DATA / "rts_gmlc" / "2020-01-27.json", 24)
    assert len(units) == 73
    ran = 0
    for unit in units:
        price, reserve_price = _realistic_prices(rng, unit, 24)
        plan = check_case(unit, price, reserve_price, verify_plan=False, general_too=True)
        assert plan is not None
        ran += int(plan.on.sum() > 0)
    assert ran > 10  # the prices make a good part of the fleet run


@pytest.mark.slow
def test_ca_units_match_the_milp() -> None:
    """A spread of the 610 CAISO units (all 36 with binding limits plus every 10th other)."""
    rng = np.random.default_rng(6)
    units = _fleet(DATA / "ca" / "2014-09-01_reserves_3.json", 24)
    chosen = [u for i, u in enumerate(units) if u.ramp_up < u.pmax - u.pmin or u.startup_limit < u.pmax or i % 10 == 0]
    assert len(chosen) > 80
    for unit in chosen:
        price, reserve_price = _realistic_prices(rng, unit, 24)
        fixed = random_fixed(rng, 24) if not unit.must_run else None
        check_case(unit, price, reserve_price, fixed, verify_plan=False)


def test_rts_gmlc_48_periods_some_units_and_batch() -> None:
    """48 periods as the solver runs them: a few units against HiGHS, then solve_units agrees."""
    rng = np.random.default_rng(8)
    units = _fleet(DATA / "rts_gmlc" / "2020-01-27.json", 48)
    price, reserve_price = _realistic_prices(rng, units[5], 48)
    for unit in units[::12]:
        scaled = price * (unit.curve_cost[-1] / unit.pmax) / (units[5].curve_cost[-1] / units[5].pmax)
        check_case(unit, scaled, reserve_price, verify_plan=False)
    plans = solve_units(units, price, reserve_price)
    assert len(plans) == len(units)
    for unit, plan in zip(units, plans, strict=True):
        single = solve_unit(unit, price, reserve_price)
        assert plan is not None and single is not None
        assert plan.value == single.value and np.array_equal(plan.on, single.on) and np.array_equal(plan.p, single.p)


def test_fleet_batch_with_masks_matches_single_calls() -> None:
    """FleetSubproblems (one compiled call for the fleet) = solve_unit unit by unit, masks included.

    Mixed fleet (CAISO units, rts_gmlc units, random units with binding ramps); the masks make
    some units infeasible, which the batch reports as inf / None like solve_unit.
    """
    rng = np.random.default_rng(9)
    T = 24
    units = list(_fleet(DATA / "rts_gmlc" / "2020-01-27.json", T)[:20]) + list(_fleet(DATA / "ca" / "2014-09-01_reserves_3.json", T)[:40])
    units += [random_unit(rng) for _ in range(20)]
    price = rng.uniform(-10, 80, T)
    reserve_price = rng.uniform(0, 5, T)
    masks: list[np.ndarray | None] = [random_fixed(rng, T) for _ in units]
    fleet = FleetSubproblems(units, T)
    plans = fleet.solve(price, reserve_price, masks)
    arrays = fleet.solve_arrays(price, reserve_price, np.array([m if m is not None else np.full(T, -1) for m in masks]))
    infeasible = 0
    for i, (unit, mask, plan) in enumerate(zip(units, masks, plans, strict=True)):
        single = solve_unit(unit, price, reserve_price, mask)
        if single is None:
            infeasible += 1
            assert plan is None and not math.isfinite(arrays.value[i])
            continue
        assert plan is not None and plan.value == single.value == arrays.value[i]
        assert np.array_equal(plan.on, single.on) and np.array_equal(plan.r, single.r)
        assert np.array_equal(plan.startup_cost, single.startup_cost)
    assert 0 < infeasible < len(units)
    again = solve_units(units, price, reserve_price, masks)  # the cached-fleet path
    assert [p.value if p is not None else None for p in again] == [p.value if p is not None else None for p in plans]
    with pytest.raises(ValueError):
        fleet.solve(price[:-1], reserve_price[:-1])
    with pytest.raises(ValueError):
        solve_unit(units[0], price, -reserve_price - 1.0)


def test_numba_is_active() -> None:
    """The kernels are compiled (the speed targets depend on it) and their code is what ran."""
    assert HAVE_NUMBA
