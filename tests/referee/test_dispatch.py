"""The fixed-commitment dispatch LP (`merit_order.schedule.dispatch`) against HiGHS.

The referee (tests/support/dispatch_referee.py) writes MODEL.tex's LP with u fixed row by row,
independently of the solver, and HiGHS solves it. For every generated case: the same
feasibility verdict, the same optimal cost (1e-7 relative), every MODEL.tex row held by our
dispatch (1e-6 MW), and prices that are *optimal duals*: the Lagrangian dual function at our
(marginal_price, reserve_price), computed by HiGHS with demand and reserve priced instead of
imposed, equals the optimum (strong duality holds only at an optimal dual), the reserve
price is >= 0 and complementary to the reserve row. Where HiGHS's own demand duals are
unique they must then agree with ours; where they are not, any optimal dual is right.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dispatch_referee import highs_dispatch, random_problem, violations

from merit_order.schedule.dispatch import Dispatch, dispatch
from merit_order.schedule.errors import ScheduleInfeasible
from merit_order.schedule.model import Problem, RenewableUnit, StartupCategory, ThermalUnit
from merit_order.schedule.read_pglib import problem_from_pglib

DATA = Path(__file__).resolve().parents[1] / "data" / "uc" / "pglib-uc"
ROW_TOL = 1e-6  # MW
COST_RTOL = 1e-7


def _assert_optimal(problem: Problem, on: np.ndarray, ours: Dispatch, label: str) -> None:
    """Cost equal to HiGHS's, every row held, prices optimal duals (see the module doc)."""
    ref = highs_dispatch(problem, on)
    assert ref.feasible, f"{label}: HiGHS finds no dispatch but we did"
    scale = max(1.0, abs(ref.objective))
    assert abs(ours.production_cost - ref.objective) <= COST_RTOL * scale, (
        f"{label}: cost {ours.production_cost!r} vs HiGHS {ref.objective!r}"
    )
    for name, arr in (("p", ours.p), ("r", ours.r), ("renewable", ours.renewable), ("price", ours.marginal_price),
                      ("reserve price", ours.reserve_price)):
        assert np.all(np.isfinite(arr)), f"{label}: {name} not finite"
    worst = violations(problem, on, ours.p, ours.r, ours.renewable)
    bad = {k: v for k, v in worst.items() if v > ROW_TOL}
    assert not bad, f"{label}: rows broken {bad}"
    # Our own cost figure is the curve at our p.
    recomputed = sum(
        float(np.interp(ours.p[g, on[g]], u.curve_mw, u.curve_cost).sum()) for g, u in enumerate(problem.thermal)
    )
    assert abs(recomputed - ours.production_cost) <= 1e-9 * scale
    assert np.all(ours.reserve_price >= 0.0)
    # Complementary slackness of the reserve row.
    surplus = ours.r.sum(axis=0) - problem.reserve
    assert np.all((ours.reserve_price <= 1e-6 * scale) | (surplus <= 1e-5)), f"{label}: reserve price on a slack row"
    dual = highs_dispatch(problem, on, prices=(ours.marginal_price, ours.reserve_price))
    assert abs(dual.objective - ref.objective) <= COST_RTOL * scale, (
        f"{label}: Lagrangian at our prices {dual.objective!r} vs optimum {ref.objective!r}: not optimal duals"
    )


@pytest.mark.parametrize("first", [0, *(pytest.param(first, marks=pytest.mark.slow) for first in range(50, 500, 50))])
def test_random_cases_match_highs(first: int) -> None:
    """500 generated fleets (1-10 units, 1-24 periods): verdict, cost, rows and prices as HiGHS."""
    feasible = 0
    for seed in range(first, first + 50):
        problem, on = random_problem(seed)
        ref = highs_dispatch(problem, on)
        if not ref.feasible:
            with pytest.raises(ScheduleInfeasible, match=r"period \d+|unit"):
                dispatch(problem, on)
            continue
        feasible += 1
        _assert_optimal(problem, on, dispatch(problem, on), f"seed {seed}")
    assert feasible >= 25  # the generator is meant to make most cases feasible


@pytest.mark.parametrize("first", [0, pytest.param(100, marks=pytest.mark.slow)])
def test_a_searchs_quick_verdict_agrees_with_highs(first: int) -> None:
    """`prove_infeasible=False` (the search's mode) stops at the first sign of infeasibility:
    on 100 generated fleets (200 in the slow run) it still says infeasible exactly where HiGHS does, and
    where a dispatch exists it is the same proven optimum."""
    infeasible = 0
    for seed in range(first, first + 100):
        problem, on = random_problem(seed)
        ref = highs_dispatch(problem, on)
        if not ref.feasible:
            infeasible += 1
            with pytest.raises(ScheduleInfeasible):
                dispatch(problem, on, prove_infeasible=False)
            continue
        quick = dispatch(problem, on, prove_infeasible=False)
        assert abs(quick.production_cost - ref.objective) <= COST_RTOL * max(1.0, abs(ref.objective)), f"seed {seed}"
    assert infeasible >= 5


def _unit(name: str, pmin: float, pmax: float, slopes: tuple[float, ...] = (10.0,), **kw: object) -> ThermalUnit:
    mw = np.linspace(pmin, pmax, len(slopes) + 1)
    cost = [100.0]
    for j, m in enumerate(slopes):
        cost.append(cost[-1] + m * (mw[j + 1] - mw[j]))
    return ThermalUnit(name=name, pmin=pmin, pmax=pmax, curve_mw=tuple(mw), curve_cost=tuple(cost),
                       startup=(StartupCategory(lag=1, cost=0.0),), **kw)  # type: ignore[arg-type]  # **kw: the test's keyword overrides, typed Any


def test_single_period_merit_order_and_price() -> None:
    """No ramps, one period: the cheap unit runs full, the dear one sets the price."""
    problem = Problem(demand=np.array([150.0]), reserve=np.zeros(1),
                      thermal=(_unit("cheap", 0.0, 100.0, (10.0,)), _unit("dear", 0.0, 100.0, (30.0,))))
    on = np.ones((2, 1), dtype=bool)
    d = dispatch(problem, on)
    assert d.p[:, 0] == pytest.approx([100.0, 50.0], abs=1e-9)
    assert d.marginal_price[0] == pytest.approx(30.0, rel=1e-7)
    assert d.production_cost == pytest.approx(200.0 + 1000.0 + 1500.0, rel=1e-12)
    _assert_optimal(problem, on, d, "merit order")


def test_fixed_units_zero_reserve_no_renewables() -> None:
    """Pmin = Pmax units and a start-up capability equal to Pmin: fixed outputs, no LP freedom."""
    fixed = _unit("flat", 50.0, 50.0, ())
    starter = _unit("starter", 20.0, 80.0, (5.0, 15.0), startup_limit=20.0, ramp_up=30.0, ramp_down=30.0)
    problem = Problem(demand=np.array([70.0, 100.0, 120.0]), reserve=np.zeros(3), thermal=(fixed, starter))
    on = np.array([[1, 1, 1], [1, 1, 1]], dtype=bool)
    d = dispatch(problem, on)
    assert d.p[0] == pytest.approx([50.0, 50.0, 50.0])
    assert d.p[1] == pytest.approx([20.0, 50.0, 70.0])  # start at Pmin, then ramps of 30
    _assert_optimal(problem, on, d, "fixed units")


def test_renewables_curtailed_when_thermal_is_at_minimum() -> None:
    """Must-take thermal minimum plus cheap renewable: the renewable is curtailed, price <= 0."""
    wind = RenewableUnit(name="w", pmin=np.zeros(2), pmax=np.array([100.0, 100.0]))
    problem = Problem(demand=np.array([80.0, 120.0]), reserve=np.array([10.0, 10.0]),
                      thermal=(_unit("base", 50.0, 150.0, (20.0,)),), renewable=(wind,))
    on = np.ones((1, 2), dtype=bool)
    d = dispatch(problem, on)
    assert d.renewable[0] == pytest.approx([30.0, 70.0], abs=1e-9)
    assert d.marginal_price == pytest.approx([0.0, 0.0], abs=1e-7)
    _assert_optimal(problem, on, d, "curtailment")


def test_infeasible_demand_names_the_period() -> None:
    """Demand above what the committed units can reach in period 3 (1-based)."""
    problem = Problem(demand=np.array([100.0, 120.0, 260.0]), reserve=np.zeros(3),
                      thermal=(_unit("a", 10.0, 120.0), _unit("b", 10.0, 120.0)))
    on = np.ones((2, 3), dtype=bool)
    assert not highs_dispatch(problem, on).feasible
    with pytest.raises(ScheduleInfeasible, match=r"period 3: .*at most 240\.0 MW.*demand is 260\.0 MW"):
        dispatch(problem, on)


def test_infeasible_ramp_and_initial_shutdown() -> None:
    """A ramp that cannot follow demand, and a shutdown from too high an initial output."""
    slow = _unit("slow", 0.0, 200.0, ramp_up=20.0, ramp_down=20.0, on_t0=True, time_up_t0=5, p_t0=50.0)
    problem = Problem(demand=np.array([60.0, 150.0]), reserve=np.zeros(2), thermal=(slow,))
    on = np.ones((1, 2), dtype=bool)
    assert not highs_dispatch(problem, on).feasible
    with pytest.raises(ScheduleInfeasible, match=r"period 2"):
        dispatch(problem, on)
    high = _unit("high", 10.0, 200.0, ramp_down=30.0, on_t0=True, time_up_t0=5, p_t0=150.0)
    problem = Problem(demand=np.array([0.0, 0.0]), reserve=np.zeros(2), thermal=(high,))
    off = np.zeros((1, 2), dtype=bool)
    assert not highs_dispatch(problem, off).feasible
    with pytest.raises(ScheduleInfeasible, match=r"period 1: unit high"):
        dispatch(problem, off)


def _rule_commitment(problem: Problem) -> np.ndarray:
    """Must-run units, then the cheapest full-load units until 110 % of demand + reserve; a
    unit on before the horizon that cannot shut down in period 1 stays on in period 1."""
    G, T = len(problem.thermal), problem.periods
    avg = np.array([u.curve_cost[-1] / max(u.pmax, 1e-9) for u in problem.thermal])
    pmax = np.array([u.pmax for u in problem.thermal])
    must = np.array([u.must_run for u in problem.thermal], dtype=bool)
    on = np.zeros((G, T), dtype=bool)
    on[must] = True
    for t in range(T):
        cap = float(pmax[must].sum())
        for g in np.argsort(avg):
            if cap >= 1.1 * (problem.demand[t] + problem.reserve[t]):
                break
            if not on[g, t]:
                on[g, t] = True
                cap += pmax[g]
    for g, u in enumerate(problem.thermal):
        if u.on_t0 and not on[g, 0] and (u.p_t0 - u.pmin > u.ramp_down or u.p_t0 > u.shutdown_limit):
            on[g, 0] = True
    return on


@pytest.mark.slow
@pytest.mark.parametrize(("relpath", "periods"), [("rts_gmlc/2020-01-27.json", 48), ("ca/2014-09-01_reserves_3.json", 24)])
def test_pglib_instances(relpath: str, periods: int) -> None:
    """rts_gmlc (73 + 81 units, 48 periods) and ca (610 units, 24 periods) on a rule commitment."""
    problem = problem_from_pglib(json.loads((DATA / relpath).read_text()), periods=periods)
    on = _rule_commitment(problem)
    _assert_optimal(problem, on, dispatch(problem, on), relpath)
