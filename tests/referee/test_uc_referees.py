"""The unit-commitment referees judged before they judge the schedule solver.

The referees (tests/support/uc_checker.py, tests/support/uc_milp.py, tests/support/uc_instances.py) import nothing
from `merit_order`. Here they are checked against each other and against numbers worked
out by hand:

- the MILP's optimal schedules (a pwdemars fleet, random fleets, hand-made fleets) pass the
  checker and cost, recomputed by the checker, exactly the MILP's objective; on random
  fleets the optimum is never above the witness the fleet was built around, and the fleets
  made infeasible on purpose are infeasible for HiGHS too;
- the checker reports each deliberate violation of a MILP schedule, naming unit, period
  and MODEL.tex row;
- `recompute_cost` and the start-up category rule (STIInit, STISelect) on hand cases, each
  also priced by the MILP.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from uc_checker import allowed_startup_categories, check_schedule, recompute_cost, startup_prices
from uc_instances import DATA_DIR, cases, load_instance, random_case
from uc_milp import build_model, schedule_cost, solve_lp_relaxation, solve_milp

_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


def _close(a: float, b: float, rtol: float = 1e-6) -> bool:
    return abs(a - b) <= rtol * max(1.0, abs(a), abs(b))


def _unit(
    pmin: float,
    pmax: float,
    *,
    ramp: float = 10_000.0,
    su: float = 10_000.0,
    sd: float = 10_000.0,
    ut: int = 1,
    dt: int = 1,
    on_t0: int = 0,
    t0: int = 1,
    p0: float = 0.0,
    startup: list[tuple[int, float]],
    curve: list[tuple[float, float]],
    must_run: int = 0,
) -> dict[str, Any]:
    """A pglib-uc thermal unit; `t0` is time_up_t0 when on at t0, else time_down_t0."""
    return {
        "must_run": must_run,
        "power_output_minimum": pmin,
        "power_output_maximum": pmax,
        "ramp_up_limit": ramp,
        "ramp_down_limit": ramp,
        "ramp_startup_limit": su,
        "ramp_shutdown_limit": sd,
        "time_up_minimum": ut,
        "time_down_minimum": dt,
        "power_output_t0": p0,
        "unit_on_t0": on_t0,
        "time_up_t0": t0 if on_t0 else 0,
        "time_down_t0": 0 if on_t0 else t0,
        "startup": [{"lag": lag, "cost": cost} for lag, cost in startup],
        "piecewise_production": [{"mw": mw, "cost": cost} for mw, cost in curve],
    }


def _assert_optimal_and_consistent(instance: dict[str, Any], tag: str) -> Any:
    """Solve with the MILP; its schedule must pass the checker and cost its objective."""
    result = solve_milp(instance, time_limit=60.0)
    assert result.status == "optimal", f"{tag}: {result.status}"
    assert result.schedule is not None and result.objective is not None and result.bound is not None
    problems = check_schedule(instance, result.schedule)
    assert problems == [], f"{tag}: {problems}"
    recomputed = recompute_cost(instance, result.schedule)
    assert _close(recomputed["total"], result.objective, 1e-6), f"{tag}: {recomputed} vs {result.objective}"
    assert result.bound <= result.objective + 1e-6 * abs(result.objective)
    return result


# --------------------------------------------------------------------------- instances


def test_load_instance_cuts_every_series() -> None:
    full = load_instance("pglib-uc/rts_gmlc/2020-01-27.json")
    cut = load_instance("pglib-uc/rts_gmlc/2020-01-27.json", periods=24)
    assert full["time_periods"] == 48 and cut["time_periods"] == 24
    assert len(full["thermal_generators"]) == 73 and len(full["renewable_generators"]) == 81
    assert cut["demand"] == full["demand"][:24] and cut["reserves"] == full["reserves"][:24]
    for name, unit in cut["renewable_generators"].items():
        for key in ("power_output_minimum", "power_output_maximum"):
            assert unit[key] == full["renewable_generators"][name][key][:24]
    assert cut["thermal_generators"] == full["thermal_generators"]
    pw = load_instance("pwdemars/5gen/prof1.json", periods=48)
    assert pw["time_periods"] == 48 and len(pw["demand"]) == 48 and len(pw["reserves"]) == 48
    with pytest.raises(ValueError):
        load_instance("pwdemars/5gen/prof1.json", periods=337)
    assert (DATA_DIR / "pglib-uc" / "MODEL.tex").is_file() and (DATA_DIR / "README.md").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("free_first_lag", [False, True], ids=["first lag = DT", "free first lag"])
def test_random_witnesses_pass_the_checker_and_the_milp(
    free_first_lag: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """The generator's witness obeys every row (and its data is consistent), whatever the draw;
    the MILP with the witness fixed (HiGHS choosing only v, w, delta, lambda) finds it feasible
    and prices it exactly as recompute_cost does: the start-up category rule and the
    production cost, checked against the model itself on every start of every witness."""
    tally: Counter[str] = Counter()

    @settings(max_examples=80, **_SETTINGS)
    @given(case=cases(free_first_lag=free_first_lag))
    def judge(case: Any) -> None:
        instance = case.instance
        assert 2 <= len(instance["thermal_generators"]) <= 8 and 6 <= instance["time_periods"] <= 24
        assert len(instance["renewable_generators"]) <= 2
        for unit in instance["thermal_generators"].values():
            lags = [s["lag"] for s in unit["startup"]]
            costs = [s["cost"] for s in unit["startup"]]
            assert free_first_lag or lags[0] == unit["time_down_minimum"]
            assert lags == sorted(set(lags))
            assert all(b > a for a, b in pairwise(costs))
            mw = [x["mw"] for x in unit["piecewise_production"]]
            assert mw[0] == unit["power_output_minimum"] and mw[-1] == unit["power_output_maximum"]
            if unit["unit_on_t0"]:
                assert unit["time_up_t0"] >= 1 and unit["time_down_t0"] == 0
                assert unit["power_output_minimum"] <= unit["power_output_t0"] <= unit["power_output_maximum"]
            else:
                assert unit["time_down_t0"] >= 1 and unit["time_up_t0"] == 0 and unit["power_output_t0"] == 0
        if case.feasible:
            assert check_schedule(instance, case.witness) == []
            fixed = schedule_cost(instance, case.witness)
            assert fixed is not None and _close(fixed, case.witness["cost"]["total"]), (fixed, case.witness["cost"])
            tally["starts"] += sum(1 for e in case.witness["thermal"].values() for c in e["startup_cost"] if c > 0)
        tally["feasible" if case.feasible else "infeasible"] += 1

    judge()
    with capsys.disabled():
        label = "free first lag" if free_first_lag else "first lag = DT"
        print(f"\n[uc referees] random witnesses ({label}): {dict(tally)}")
    assert tally["feasible"] >= 50 and tally["starts"] >= 150


# --------------------------------------------------------------------------- MILP vs checker


def test_milp_pwdemars_5gen_prof1_24_periods() -> None:
    instance = load_instance("pwdemars/5gen/prof1.json", periods=24)
    result = _assert_optimal_and_consistent(instance, "5gen/prof1 T=24")
    assert result.gap is not None and result.gap <= 1e-9
    assert solve_lp_relaxation(instance) <= result.objective + 1e-6
    # Measured with HiGHS 1.16 (a regression guard for the referee, not a spec).
    assert result.objective == pytest.approx(70557.08184364745, rel=1e-9)
    prices = result.schedule["marginal_price"]
    assert len(prices) == 24 and all(math.isfinite(x) for x in prices)


@pytest.mark.parametrize("seed", [3, 11, 16])
def test_milp_random_instances(seed: int) -> None:
    """Random fleets with reserve, renewables and several starts (seeds where HiGHS is quick)."""
    case = random_case(seed)
    assert case.feasible and case.witness is not None
    result = _assert_optimal_and_consistent(case.instance, f"seed {seed}")
    assert result.objective <= case.witness["cost"]["total"] * (1 + 1e-9)
    starts = sum(1 for entry in result.schedule["thermal"].values() for c in entry["startup_cost"] if c > 0)
    assert starts >= 2


@pytest.mark.parametrize("source", ["5gen/prof1", *(pytest.param(s, marks=pytest.mark.slow) for s in ("seed 3", "seed 11", "seed 16", "fixture"))])
def test_milp_presolve_on_and_off_agree(source: str) -> None:
    """The referee runs HiGHS without presolve (see uc_milp); with it, HiGHS must agree where
    both prove optimality: guards against a solver bug in either path."""
    if source == "5gen/prof1":
        instance = load_instance("pwdemars/5gen/prof1.json", periods=24)
    elif source == "fixture":
        instance = FIXTURE
    else:
        instance = random_case(int(source.split()[1])).instance
    off = solve_milp(instance, prices=False)
    on = solve_milp(instance, prices=False, presolve=True)
    assert off.status == on.status == "optimal"
    assert _close(off.objective, on.objective, 1e-9), (off.objective, on.objective)


def test_milp_on_small_random_fleets(capsys: pytest.CaptureFixture[str]) -> None:
    """HiGHS agrees with the generator: infeasible on purpose is infeasible, else optimal <= witness."""
    tally: Counter[str] = Counter()

    @settings(max_examples=30, **_SETTINGS)
    @given(case=cases(units=(2, 4), periods=(6, 10), infeasible_percent=20))
    def judge(case: Any) -> None:
        result = solve_milp(case.instance, time_limit=30.0)
        if not case.feasible:
            assert result.status == "infeasible", case.broken
            tally["infeasible"] += 1
            return
        assert result.status == "optimal"
        assert check_schedule(case.instance, result.schedule) == []
        assert _close(recompute_cost(case.instance, result.schedule)["total"], result.objective)
        assert result.objective <= case.witness["cost"]["total"] * (1 + 1e-9) + 1e-9
        tally["feasible"] += 1

    judge()
    with capsys.disabled():
        print(f"\n[uc referees] small random fleets against HiGHS: {dict(tally)}")
    assert tally["feasible"] >= 10 and tally["infeasible"] >= 1


def test_non_convex_curve_priced_as_the_milp_does() -> None:
    """No curve in the data is non-convex, but MODEL.tex prices one by its lower convex envelope.

    Curve (10 MW, $100), (30, $500), (50, $600); demand 30 MW: interpolation says $500, the
    lambda rows allow half of (10, 100) and half of (50, 600): $350. The MILP pays $350 and
    so does recompute_cost.
    """
    curve = [(10.0, 100.0), (30.0, 500.0), (50.0, 600.0)]
    unit = _unit(10.0, 50.0, on_t0=1, t0=5, p0=30.0, startup=[(1, 0.0)], curve=curve)
    instance = {
        "time_periods": 1,
        "demand": [30.0],
        "reserves": [0.0],
        "thermal_generators": {"U": unit},
        "renewable_generators": {},
    }
    result = _assert_optimal_and_consistent(instance, "non-convex")
    assert result.objective == pytest.approx(350.0, rel=1e-9)


@pytest.mark.slow
def test_milp_builds_the_caiso_case_quickly() -> None:
    """610 units x 48 periods: the matrix API keeps building to about a second."""
    import time

    instance = load_instance("pglib-uc/ca/2014-09-01_reserves_3.json")
    started = time.perf_counter()
    model = build_model(instance)
    assert time.perf_counter() - started < 10.0
    assert model.lp.num_col_ > 250_000 and model.lp.num_row_ > 300_000


# --------------------------------------------------------------------------- deliberate violations

_DEMAND = [150.0, 160.0, 200.0, 260.0, 300.0, 320.0, 300.0, 260.0, 200.0, 160.0, 150.0, 150.0]
#: A fleet whose optimum has in-horizon starts and shutdowns, binding ramps and capabilities,
#: a reserve, curtailed wind: something to break.
FIXTURE: dict[str, Any] = {
    "time_periods": 12,
    "demand": _DEMAND,
    "reserves": [round(0.1 * d, 1) for d in _DEMAND],
    "thermal_generators": {
        "BASE": _unit(
            60.0, 200.0, ramp=50.0, su=120.0, sd=120.0, ut=4, dt=4, on_t0=1, t0=6, p0=120.0,
            startup=[(4, 2000.0), (10, 4000.0)], curve=[(60.0, 1200.0), (130.0, 2040.0), (200.0, 3020.0)],
        ),
        "MID": _unit(
            30.0, 120.0, ramp=30.0, su=60.0, sd=60.0, ut=3, dt=3, on_t0=0, t0=5,
            startup=[(3, 300.0), (6, 600.0), (12, 900.0)], curve=[(30.0, 900.0), (80.0, 1700.0), (120.0, 2500.0)],
        ),
        "PEAK": _unit(
            10.0, 60.0, ramp=60.0, su=60.0, sd=60.0, ut=1, dt=1, on_t0=0, t0=2,
            startup=[(1, 50.0)], curve=[(10.0, 400.0), (60.0, 1900.0)],
        ),
    },
    "renewable_generators": {
        "WIND": {
            "power_output_minimum": [0.0] * 12,
            "power_output_maximum": [40.0, 50.0, 30.0, 20.0, 10.0, 0.0, 0.0, 10.0, 30.0, 50.0, 60.0, 60.0],
        }
    },
}


@pytest.fixture(scope="module")
def fixture_solution() -> dict[str, Any]:
    result = solve_milp(FIXTURE)
    assert result.status == "optimal" and result.schedule is not None
    assert check_schedule(FIXTURE, result.schedule) == []
    return result.schedule


class _View:
    """Helpers over (instance, solution) for writing mutations."""

    def __init__(self, instance: dict[str, Any], solution: dict[str, Any]) -> None:
        self.instance, self.solution = instance, solution
        self.T = instance["time_periods"]

    def unit(self, g: str) -> dict[str, Any]:
        return self.instance["thermal_generators"][g]

    def row(self, g: str) -> dict[str, list[Any]]:
        return self.solution["thermal"][g]

    def on(self, g: str, t: int) -> int:
        """u_g(t), 1-based; t = 0 is the state at t0."""
        return self.unit(g)["unit_on_t0"] if t == 0 else self.row(g)["on"][t - 1]

    def above(self, g: str, t: int) -> float:
        """p_g(t): output above the minimum (t = 0: P0 - Pmin when on at t0)."""
        unit = self.unit(g)
        if t == 0:
            return unit["unit_on_t0"] * (unit["power_output_t0"] - unit["power_output_minimum"])
        return self.row(g)["p"][t - 1] - unit["power_output_minimum"] * self.on(g, t)

    def set(self, g: str, t: int, *, on: int | None = None, p: float | None = None, r: float | None = None) -> None:
        row = self.row(g)
        if on is not None:
            row["on"][t - 1] = on
        if p is not None:
            row["p"][t - 1] = p
        if r is not None:
            row["reserve"][t - 1] = r

    def find(self, test: Callable[[str, int], bool], what: str) -> tuple[str, int]:
        for g in self.instance["thermal_generators"]:
            for t in range(1, self.T + 1):
                if test(g, t):
                    return g, t
        raise AssertionError(f"the fixture's optimum has no {what}: pick another fixture")

    def starts(self, g: str, t: int) -> bool:
        return self.on(g, t) == 1 and self.on(g, t - 1) == 0

    def stops(self, g: str, t: int) -> bool:
        return self.on(g, t) == 0 and self.on(g, t - 1) == 1


def _demand_off_by_one(v: _View) -> list[str]:
    g, t = v.find(lambda g, t: v.on(g, t) == 1, "unit on")
    v.set(g, t, p=v.row(g)["p"][t - 1] + 1.0)
    return [f"period {t}: supply", "(Demand)"]


def _ramp_up(v: _View) -> list[str]:
    def ok(g: str, t: int) -> bool:
        unit = v.unit(g)
        limited = unit["ramp_up_limit"] < unit["power_output_maximum"]
        return limited and t >= 2 and v.on(g, t - 1) == 1 and v.on(g, t) == 1

    g, t = v.find(ok, "ramp-limited unit on in two periods")
    # Only the reserve changes: p(t) + r(t) - p(t-1) = RU + 1.
    v.set(g, t, r=v.above(g, t - 1) + v.unit(g)["ramp_up_limit"] + 1.0 - v.above(g, t))
    return [f"unit {g} period {t}: ramp-up", "(RampUp"]


def _ramp_down(v: _View) -> list[str]:
    def ok(g: str, t: int) -> bool:
        rd = v.unit(g)["ramp_down_limit"]
        return t >= 2 and v.on(g, t - 1) == 1 and v.on(g, t) == 1 and v.above(g, t - 1) >= rd + 1.0

    g, t = v.find(ok, "unit able to ramp down by RD + 1")
    unit = v.unit(g)
    v.set(g, t, p=unit["power_output_minimum"] + v.above(g, t - 1) - unit["ramp_down_limit"] - 1.0)
    return [f"unit {g} period {t}: ramp-down", "(RampDown"]


def _min_up(v: _View) -> list[str]:
    def ok(g: str, t: int) -> bool:
        return v.unit(g)["time_up_minimum"] >= 2 and t < v.T and v.starts(g, t) and v.on(g, t + 1) == 1

    g, t = v.find(ok, "start of a unit with UT >= 2")
    v.set(g, t + 1, on=0, p=0.0, r=0.0)
    return [f"unit {g} period", "minimum up time", "(Startup)"]


def _min_down(v: _View) -> list[str]:
    def ok(g: str, t: int) -> bool:
        return v.unit(g)["time_down_minimum"] >= 2 and t < v.T and v.stops(g, t) and v.on(g, t + 1) == 0

    g, t = v.find(ok, "shutdown of a unit with DT >= 2")
    v.set(g, t + 1, on=1, p=v.unit(g)["power_output_minimum"], r=0.0)
    return [f"unit {g} period {t + 1}: minimum down time", "(Shutdown)"]


def _reserve_short(v: _View) -> list[str]:
    t = next(t for t in range(1, v.T + 1) if v.instance["reserves"][t - 1] > 0)
    g = max(v.solution["thermal"], key=lambda g: v.row(g)["reserve"][t - 1])
    v.set(g, t, r=v.row(g)["reserve"][t - 1] - 1.0)
    return [f"period {t}: reserve", "< requirement", "(Reserves)"]


def _startup_capability(v: _View) -> list[str]:
    def ok(g: str, t: int) -> bool:
        unit = v.unit(g)
        return v.starts(g, t) and unit["ramp_startup_limit"] + 1.0 <= unit["power_output_maximum"]

    g, t = v.find(ok, "start of a unit with SU < Pmax")
    v.set(g, t, p=v.unit(g)["ramp_startup_limit"] + 1.0, r=0.0)
    return [f"unit {g} period {t}: start-up capability", "(MaxOutput1)"]


def _shutdown_capability(v: _View) -> list[str]:
    def ok(g: str, t: int) -> bool:
        unit = v.unit(g)
        limited = unit["ramp_shutdown_limit"] + 1.0 <= unit["power_output_maximum"]
        return limited and t < v.T and v.on(g, t) == 1 and v.stops(g, t + 1)

    g, t = v.find(ok, "last period before a shutdown with SD < Pmax")
    v.set(g, t, p=v.unit(g)["ramp_shutdown_limit"] + 1.0, r=0.0)
    return [f"unit {g} period {t}: shut-down capability", "(MaxOutput2)"]


def _wrong_startup_cost(v: _View) -> list[str]:
    g, t = v.find(v.starts, "start")
    v.row(g)["startup_cost"][t - 1] += 1.0
    return [f"unit {g} period {t}: startup_cost", "cheapest category"]


def _startup_cost_without_start(v: _View) -> list[str]:
    g, t = v.find(lambda g, t: not v.starts(g, t), "period without a start")
    v.row(g)["startup_cost"][t - 1] = 5.0
    return [f"unit {g} period {t}: startup_cost 5.0 but the unit does not start"]


def _cost_total(v: _View) -> list[str]:
    v.solution["cost"]["total"] += 1.0
    return ["cost.total"]


def _cost_production(v: _View) -> list[str]:
    v.solution["cost"]["production"] *= 1.001
    return ["cost.production"]


def _objective(v: _View) -> list[str]:
    v.solution["objective"] += 1.0
    return ["objective", "!= total cost"]


def _bound_above_objective(v: _View) -> list[str]:
    v.solution["lower_bound"] = v.solution["objective"] + 10.0
    return ["lower_bound", "> objective"]


def _ramp_up_init(v: _View) -> list[str]:
    g, t = v.find(lambda g, t: t == 1 and v.on(g, 0) == 1 and v.on(g, 1) == 1, "unit on at t0 and in period 1")
    v.set(g, 1, r=v.above(g, 0) + v.unit(g)["ramp_up_limit"] + 1.0 - v.above(g, 1))
    return [f"unit {g} period 1: ramp-up from t0", "(RampUpInit"]


def _ramp_down_init(v: _View) -> list[str]:
    def ok(g: str, t: int) -> bool:
        return t == 1 and v.on(g, 0) == 1 and v.on(g, 1) == 1 and v.above(g, 0) >= v.unit(g)["ramp_down_limit"] + 1.0

    g, _ = v.find(ok, "unit on at t0 far enough above Pmin")
    unit = v.unit(g)
    v.set(g, 1, p=unit["power_output_minimum"] + v.above(g, 0) - unit["ramp_down_limit"] - 1.0)
    return [f"unit {g} period 1: ramp-down from t0", "(RampDownInit)"]


def _must_run(v: _View) -> list[str]:
    g, t = v.find(lambda g, t: v.on(g, t) == 0, "unit off")
    v.unit(g)["must_run"] = 1
    return [f"unit {g} period {t}: must-run unit is off", "(MustRun)"]


def _initial_up(v: _View) -> list[str]:
    def ok(g: str, t: int) -> bool:
        return t == 1 and v.on(g, 0) == 1 and v.unit(g)["time_up_minimum"] >= 2

    g, _ = v.find(ok, "unit on at t0 with UT >= 2")
    v.unit(g)["time_up_t0"] = 1
    v.set(g, 1, on=0, p=0.0, r=0.0)
    return [f"unit {g}: on at t0", "must stay on through period", "(initialUpRequirement)"]


def _initial_down(v: _View) -> list[str]:
    g, t = v.find(lambda g, t: v.on(g, 0) == 0 and v.starts(g, t), "start of a unit off at t0")
    v.unit(g)["time_down_t0"] = 1
    v.unit(g)["time_down_minimum"] = t + 1  # off through period t, yet it starts in t
    return [f"unit {g}: off at t0", f"must stay off through period {t}", "(initialDownRequirement)"]


def _wind_above_max(v: _View) -> list[str]:
    name = next(iter(v.instance["renewable_generators"]))
    v.solution["renewable"][name]["p"][0] = v.instance["renewable_generators"][name]["power_output_maximum"][0] + 1.0
    return [f"renewable {name} period 1", "(WindLimit)"]


def _output_while_off(v: _View) -> list[str]:
    g, t = v.find(lambda g, t: v.on(g, t) == 0, "unit off")
    v.set(g, t, p=1.0)
    return [f"unit {g} period {t}: off but output 1.0 MW"]


def _below_pmin(v: _View) -> list[str]:
    g, t = v.find(lambda g, t: v.on(g, t) == 1 and v.unit(g)["power_output_minimum"] >= 1, "unit on")
    v.set(g, t, p=v.unit(g)["power_output_minimum"] - 1.0)
    return [f"unit {g} period {t}: output", "< Pmin"]


def _above_pmax(v: _View) -> list[str]:
    g, t = v.find(lambda g, t: v.on(g, t) == 1, "unit on")
    v.set(g, t, p=v.unit(g)["power_output_maximum"] + 1.0, r=0.0)
    return [f"unit {g} period {t}: output", "> Pmax"]


def _negative_reserve(v: _View) -> list[str]:
    g, t = v.find(lambda g, t: v.on(g, t) == 1, "unit on")
    v.set(g, t, r=-1.0)
    return [f"unit {g} period {t}: reserve -1.0 MW < 0"]


MUTATIONS: dict[str, Callable[[_View], list[str]]] = {
    "demand off by 1 MW": _demand_off_by_one,
    "ramp-up (reserve included)": _ramp_up,
    "ramp-down": _ramp_down,
    "minimum up time": _min_up,
    "minimum down time": _min_down,
    "reserve 1 MW short": _reserve_short,
    "start-up capability": _startup_capability,
    "shut-down capability": _shutdown_capability,
    "wrong start-up cost": _wrong_startup_cost,
    "start-up cost without a start": _startup_cost_without_start,
    "cost total wrong": _cost_total,
    "production cost wrong": _cost_production,
    "objective wrong": _objective,
    "lower bound above objective": _bound_above_objective,
    "ramp-up from t0": _ramp_up_init,
    "ramp-down from t0": _ramp_down_init,
    "must-run": _must_run,
    "initial up requirement": _initial_up,
    "initial down requirement": _initial_down,
    "renewable above its maximum": _wind_above_max,
    "output while off": _output_while_off,
    "below Pmin": _below_pmin,
    "above Pmax": _above_pmax,
    "negative reserve": _negative_reserve,
}


#: Mutations that leave the schedule feasible (only a reported figure is wrong).
COST_ONLY = {
    "wrong start-up cost",
    "start-up cost without a start",
    "cost total wrong",
    "production cost wrong",
    "objective wrong",
    "lower bound above objective",
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_checker_reports_each_violation(name: str, fixture_solution: dict[str, Any]) -> None:
    """Each mutation is reported with unit, period and row; the MILP with the mutated schedule
    fixed agrees: infeasible, or (when only a reported figure was broken) feasible at the
    original cost."""
    view = _View(copy.deepcopy(FIXTURE), copy.deepcopy(fixture_solution))
    expected = MUTATIONS[name](view)
    problems = check_schedule(view.instance, view.solution)
    assert any(all(part in message for part in expected) for message in problems), (expected, problems)
    fixed = schedule_cost(view.instance, view.solution)
    if name in COST_ONLY:
        assert fixed is not None and _close(fixed, fixture_solution["objective"])
    else:
        assert fixed is None, f"the MILP accepts the mutated schedule at cost {fixed}"


def test_checker_reports_malformed_answers(fixture_solution: dict[str, Any]) -> None:
    infeasible = dict(copy.deepcopy(fixture_solution), status="infeasible")
    assert check_schedule(FIXTURE, infeasible) == ["status is 'infeasible': the answer has no schedule to check"]
    missing = copy.deepcopy(fixture_solution)
    del missing["thermal"]["MID"]
    assert "unit MID: missing from the answer" in check_schedule(FIXTURE, missing)
    short = copy.deepcopy(fixture_solution)
    short["thermal"]["PEAK"]["p"].pop()
    assert "unit PEAK p: expected a list of 12 numbers, got 11" in check_schedule(FIXTURE, short)
    half = copy.deepcopy(fixture_solution)
    half["thermal"]["PEAK"]["on"][0] = 0.5
    assert "unit PEAK: on is neither 0 nor 1 in period(s) [1]" in check_schedule(FIXTURE, half)


# --------------------------------------------------------------------------- costs by hand


HAND: dict[str, Any] = {
    "time_periods": 3,
    "demand": [20.0, 52.0, 50.0],
    "reserves": [0.0, 0.0, 0.0],
    "thermal_generators": {
        "A": _unit(
            10.0, 50.0, ramp=100.0, su=100.0, sd=100.0, on_t0=1, t0=5, p0=20.0,
            startup=[(1, 40.0)], curve=[(10.0, 100.0), (30.0, 300.0), (50.0, 600.0)],
        ),
        "B": _unit(
            5.0, 15.0, ramp=100.0, su=100.0, sd=100.0, on_t0=0, t0=1,
            startup=[(1, 20.0), (3, 50.0)], curve=[(5.0, 50.0), (15.0, 130.0)],
        ),
    },
    "renewable_generators": {},
}


def _answer(
    instance: dict[str, Any], thermal: dict[str, tuple[list[int], list[float]]], cost: dict[str, float]
) -> dict[str, Any]:
    """An answer with these commitments and outputs, no reserve, start-up costs from the checker."""
    T = instance["time_periods"]
    return {
        "status": "feasible",
        "objective": cost.get("total", 0.0),
        "lower_bound": 0.0,
        "gap": 1.0,
        "time_periods": T,
        "thermal": {
            g: {
                "on": on,
                "p": p,
                "reserve": [0.0] * T,
                "startup_cost": startup_prices(instance["thermal_generators"][g], on),
            }
            for g, (on, p) in thermal.items()
        },
        "renewable": {},
        "marginal_price": [0.0] * T,
        "cost": cost or {"production": 0.0, "startup": 0.0, "total": 0.0},
        "solve_seconds": 0.0,
    }


def test_recompute_cost_by_hand() -> None:
    """Two units, three periods, worked out by hand.

    A: curve (10 MW, $100), (30, $300), (50, $600): $10/MWh then $15/MWh; on all along at
       20, 40, 50 MW -> 100 + 10*10 = 200, 300 + 15*10 = 450, 600: $1250.
    B: curve (5 MW, $50), (15, $130): $8/MWh; off, on at 12 MW, off -> 50 + 8*7 = $106.
       Its start in period 2: off at t0 for 1 period, so off for 2 when it starts. Categories
       lag 1 ($20) and lag 3 ($50): STIInit forbids category 1 in max(1, 3-1+1)..min(3-1, 3)
       = 3..2 (empty), STISelect does not exist before period 3, so the hot $20.
    Total: production 1250 + 106 = 1356, start-up 20, total 1376.

    Variant: B off at t0 for 3 periods and on (12 MW, $106) in period 3 only, off for 5
    periods when it starts: STIInit's window for category 1 is max(1, 3-3+1)..2 = 1..2, so
    it does not forbid period 3, but STISelect exists from period 3 on and wants a shutdown
    1..2 periods before (w(2) or w(1)); there is none (B was off since before the horizon),
    so the cold $50. Production 1250 + 106 = 1356 again, start-up 50, total 1406.
    """
    on_a, p_a = [1, 1, 1], [20.0, 40.0, 50.0]
    cost = recompute_cost(HAND, _answer(HAND, {"A": (on_a, p_a), "B": ([0, 1, 0], [0.0, 12.0, 0.0])}, {}))
    assert cost == pytest.approx({"production": 1356.0, "startup": 20.0, "total": 1376.0}, rel=1e-12)
    answer = _answer(HAND, {"A": (on_a, p_a), "B": ([0, 1, 0], [0.0, 12.0, 0.0])}, cost)
    assert check_schedule(HAND, answer) == []

    variant = copy.deepcopy(HAND)
    variant["thermal_generators"]["B"]["time_down_t0"] = 3
    variant["demand"] = [20.0, 40.0, 62.0]
    thermal = {"A": (on_a, p_a), "B": ([0, 0, 1], [0.0, 0.0, 12.0])}
    cost = recompute_cost(variant, _answer(variant, thermal, {}))
    assert cost == pytest.approx({"production": 1356.0, "startup": 50.0, "total": 1406.0}, rel=1e-12)
    assert check_schedule(variant, _answer(variant, thermal, cost)) == []


# --------------------------------------------------------------------------- start-up categories

_LAGS = [(2, 100.0), (6, 200.0), (10, 400.0)]  # lag = TS^s, cost = CS^s; DT = 2 = TS^1


def _one_unit(on: list[int], *, on_t0: int, t0: int, startup: list[tuple[int, float]], dt: int = 2) -> dict[str, Any]:
    """A single unit whose commitment is forced by demand: Pmin (10 MW) when on, 0 when off."""
    p0 = 10.0 if on_t0 else 0.0
    curve = [(10.0, 100.0), (50.0, 500.0)]
    unit = _unit(10.0, 50.0, ut=1, dt=dt, on_t0=on_t0, t0=t0, p0=p0, startup=startup, curve=curve)
    return {
        "time_periods": len(on),
        "demand": [10.0 * x for x in on],
        "reserves": [0.0] * len(on),
        "thermal_generators": {"U": unit},
        "renewable_generators": {},
    }


#: (case, on, on_t0, t0, startup categories, {start period: expected price}, DT)
STARTUP_CASES = [
    # Off at t0 for 2 periods, start in 1: off 2 (hot). STIInit s=1: 5..5.
    ("hot from t0", [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, 2, _LAGS, {1: 100.0}, 2),
    # Off at t0 for 4, start in 3: off 6 (warm). STIInit s=1: 3..5 forbids it; s=2: 7..9 does not.
    ("warm from t0", [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0], 0, 4, _LAGS, {3: 200.0}, 2),
    # Off at t0 for 12, start in 1: off 12 (cold). STIInit s=1: 1..5 and s=2: 1..9.
    ("cold from t0", [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, 12, _LAGS, {1: 400.0}, 2),
    # On at t0, shutdown in 2, start in 5 (off 3): 5 < TS^2 = 6, no STISelect, no STIInit -> hot.
    ("hot in horizon, before TS^2", [1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], 1, 3, _LAGS, {5: 100.0}, 2),
    # On at t0, shutdown in 4, start in 7 (off 3): STISelect s=1 finds w(4) among w(2..5) -> hot.
    ("hot in horizon, STISelect", [1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1], 1, 3, _LAGS, {7: 100.0}, 2),
    # Shutdown in 2, start in 9 (off 7): s=1 needs w(4..7): none; 9 < TS^3 = 10 -> warm.
    ("warm in horizon", [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1], 1, 3, _LAGS, {9: 200.0}, 2),
    # Shutdown in 2, start in 12 (off 10): s=1 needs w(7..10), s=2 w(3..6): none -> cold.
    ("cold in horizon", [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 1, 3, _LAGS, {12: 400.0}, 2),
    # MODEL.tex's quirk: off at t0 for 3, start in 1 (off 3: hot, STIInit s=1 is 4..5), shutdown
    # in 2, start in 4 after 2 periods off: physically hot, but STIInit forbids s=1 in 4..5
    # whatever happened in the horizon -> the MILP pays the warm $200.
    ("STIInit blanket: hot start priced warm", [1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1], 0, 3, _LAGS,
     {1: 100.0, 4: 200.0}, 2),
    # TS^1 = 3 > DT = 1: starts after 1 period off. The start in 4 is before TS^2 = 6 (hot);
    # in 6, STISelect s=1 looks for a shutdown 3..5 periods before, and w(3) counts even
    # though the unit restarted since -> the MILP pays $100, not the cold $200.
    ("any shutdown in the STISelect window", [1, 1, 0, 1, 0, 1, 1, 1], 1, 3, [(3, 100.0), (6, 200.0)],
     {4: 100.0, 6: 100.0}, 1),
]


@pytest.mark.parametrize(
    ("case", "on", "on_t0", "t0", "startup", "expected", "dt"), STARTUP_CASES, ids=[c[0] for c in STARTUP_CASES]
)
def test_startup_category_rule(
    case: str, on: list[int], on_t0: int, t0: int, startup: list[tuple[int, float]], expected: dict[int, float], dt: int
) -> None:
    """The checker's price of each start, and the MILP pays exactly that (commitment forced by demand)."""
    instance = _one_unit(on, on_t0=on_t0, t0=t0, startup=startup, dt=dt)
    unit = instance["thermal_generators"]["U"]
    prices = startup_prices(unit, on)
    assert {t + 1: c for t, c in enumerate(prices) if c} == expected
    result = solve_milp(instance)
    assert result.status == "optimal" and result.schedule is not None
    assert result.schedule["thermal"]["U"]["on"] == on
    assert result.schedule["thermal"]["U"]["startup_cost"] == pytest.approx(prices, abs=1e-9)
    assert result.objective == pytest.approx(100.0 * sum(on) + sum(expected.values()), rel=1e-9)
    assert check_schedule(instance, result.schedule) == []


def test_allowed_categories_listed() -> None:
    """The categories behind two of the prices above (1-based, 1 = hottest)."""
    quirk = _one_unit([1, 0, 0, 1], on_t0=0, t0=3, startup=_LAGS)["thermal_generators"]["U"]
    assert allowed_startup_categories(quirk, 1, [1, 0, 0, 1]) == [1, 2, 3]
    assert allowed_startup_categories(quirk, 4, [1, 0, 0, 1]) == [2, 3]
    on = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    cold = _one_unit(on, on_t0=1, t0=3, startup=_LAGS)["thermal_generators"]["U"]
    assert allowed_startup_categories(cold, 12, on) == [3]
