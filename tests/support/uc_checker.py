"""Independent feasibility and cost checker for unit-commitment schedules (pglib-uc MODEL.tex).

It judges the schedule solver in `merit_order.schedule` and therefore imports nothing from it:
everything is recomputed from the raw pglib-uc instance dict and the solver's answer dict,
row by row from tests/data/uc/pglib-uc/MODEL.tex (the labels in the messages are that
file's equation labels).

The answer format (the solver's output)::

    {"status": "optimal" | "feasible" | "infeasible", "objective", "lower_bound", "gap",
     "time_periods", "thermal": {name: {"on": [0|1], "p": [MW], "reserve": [MW],
     "startup_cost": [$]}}, "renewable": {name: {"p": [MW]}}, "marginal_price": [...],
     "cost": {"production", "startup", "total"}, "solve_seconds"}

where `p` is a unit's *total* output (Pmin + MODEL.tex's p_g(t) when on, 0 when off) and
`reserve` is MODEL.tex's r_g(t). The checker derives MODEL.tex's variables from it:
u_g(t) = on, p_g(t) = p - Pmin * on (power above minimum, 0 when off), v_g(t) / w_g(t) the
starts / shutdowns of `on` against `unit_on_t0` (so LogicalInitial, Logical and STILink
hold by construction), r_g(t) = reserve. Periods in messages are 1-based, as in MODEL.tex.

Tolerances: every MW row allows `tol` MW (absolute); the system rows (Demand, Reserves)
allow `tol` per term of their sum (each unit's figure may carry its own rounding). Costs
are compared to 1e-6 relative (of max(1, |value|)): the reported costs against the
recomputed ones, `objective` against the recomputed total, `lower_bound <= objective`.

Start-up prices follow the MILP exactly, not the physics: a start in period t may use
category s (1 = hottest) when
- s is the coldest category (always allowed), or
- STIInit does not forbid it: t is outside max(1, TS^{s+1} - DT0 + 1) .. min(TS^{s+1} - 1, T)
  (DT0 = time_down_t0; i.e. for t < TS^{s+1}, time_down_t0 + t - 1 < TS^{s+1}), and
- if t >= TS^{s+1}, STISelect finds a shutdown w(t - i) = 1 for some i in
  TS^s .. TS^{s+1} - 1 (any shutdown in that window, not only the latest one); for
  t < TS^{s+1} STISelect does not exist and only STIInit restricts s.
The MILP pays the cheapest allowed category, so that is the price of a start. This is not
always the physical category: for a unit off since before the horizon, STIInit forbids the
hot categories for a whole window of periods, even after an in-horizon shutdown that makes
a later start physically hot (see tests/referee/test_uc_referees.py for worked cases).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Relative tolerance on every cost comparison (of max(1, |value|)).
COST_RTOL = 1e-6
STATUSES = ("optimal", "feasible", "infeasible")


@dataclass(frozen=True)
class _Unit:
    """A thermal unit as the checker reads the pglib-uc JSON (MODEL.tex's symbols)."""

    name: str
    pmin: float  # \underline{P}_g
    pmax: float  # \overline{P}_g
    ru: float  # RU_g
    rd: float  # RD_g
    su: float  # SU_g
    sd: float  # SD_g
    ut: int  # UT_g
    dt: int  # DT_g
    ut0: int  # UT^0_g
    dt0: int  # DT^0_g
    u0: int  # U^0_g
    p0: float  # P^0_g
    must_run: int  # U_g
    lags: tuple[int, ...]  # TS^s_g, hottest first
    start_costs: tuple[float, ...]  # CS^s_g
    mw: tuple[float, ...]  # P^l_g
    cost: tuple[float, ...]  # CP^l_g

    @classmethod
    def read(cls, name: str, raw: Mapping[str, Any]) -> _Unit:
        return cls(
            name=name,
            pmin=float(raw["power_output_minimum"]),
            pmax=float(raw["power_output_maximum"]),
            ru=float(raw["ramp_up_limit"]),
            rd=float(raw["ramp_down_limit"]),
            su=float(raw["ramp_startup_limit"]),
            sd=float(raw["ramp_shutdown_limit"]),
            ut=int(raw["time_up_minimum"]),
            dt=int(raw["time_down_minimum"]),
            ut0=int(raw["time_up_t0"]),
            dt0=int(raw["time_down_t0"]),
            u0=int(raw["unit_on_t0"]),
            p0=float(raw["power_output_t0"]),
            must_run=int(raw.get("must_run", 0)),
            lags=tuple(int(s["lag"]) for s in raw["startup"]),
            start_costs=tuple(float(s["cost"]) for s in raw["startup"]),
            mw=tuple(float(x["mw"]) for x in raw["piecewise_production"]),
            cost=tuple(float(x["cost"]) for x in raw["piecewise_production"]),
        )

    @property
    def span(self) -> float:
        return self.pmax - self.pmin


def _fmt(x: float) -> str:
    """A MW or $ figure for a message: rounded to 6 decimals, shortest form (12.4, 10.0)."""
    return repr(round(float(x), 6))


def _costs_match(a: float, b: float) -> bool:
    return abs(a - b) <= COST_RTOL * max(1.0, abs(a), abs(b))


# --------------------------------------------------------------------------- start-up prices


def _starts_and_shutdowns(u0: int, on: Sequence[int]) -> tuple[list[int], list[int]]:
    """v(t), w(t) for t = 1..T (as 0-based lists) from the commitments and U^0."""
    previous = [int(u0)] + [int(x) for x in on[:-1]]
    v = [int(x == 1 and p == 0) for x, p in zip(on, previous, strict=True)]
    w = [int(x == 0 and p == 1) for x, p in zip(on, previous, strict=True)]
    return v, w


def allowed_startup_categories(unit: Mapping[str, Any], t: int, on: Sequence[int]) -> list[int]:
    """The categories (1-based, 1 = hottest) MODEL.tex lets a start in period t (1-based) use.

    `on` is the unit's whole commitment series (length T); the start itself is not checked
    (call it for a period where the unit starts). See the module docstring for the rule.
    """
    u = _Unit.read(str(unit.get("name", "?")), unit)
    T = len(on)
    if not 1 <= t <= T:
        raise ValueError(f"period {t} outside 1..{T}")
    _, w = _starts_and_shutdowns(u.u0, on)
    S = len(u.lags)
    allowed: list[int] = []
    for s in range(1, S + 1):
        if s == S:
            allowed.append(s)
            break
        nxt = u.lags[s]  # TS^{s+1}
        # STIInit: no category-s start in max(1, TS^{s+1} - DT0 + 1) .. min(TS^{s+1} - 1, T).
        if max(1, nxt - u.dt0 + 1) <= t <= min(nxt - 1, T):
            continue
        # STISelect (only for t >= TS^{s+1}): a shutdown TS^s .. TS^{s+1} - 1 periods before t.
        if t >= nxt and not any(1 <= t - i <= T and w[t - i - 1] for i in range(u.lags[s - 1], nxt)):
            continue
        allowed.append(s)
    return allowed


def startup_price(unit: Mapping[str, Any], t: int, on: Sequence[int]) -> float:
    """What MODEL.tex charges for a start in period t (1-based): the cheapest allowed category.

    Raises ValueError when the unit has no start-up category (STILink then forbids starts).
    """
    allowed = allowed_startup_categories(unit, t, on)
    if not allowed:
        raise ValueError(f"unit {unit.get('name', '?')!r} has no start-up category: it may not start")
    costs = [float(unit["startup"][s - 1]["cost"]) for s in allowed]
    return min(costs)


def startup_prices(unit: Mapping[str, Any], on: Sequence[int]) -> list[float]:
    """The start-up cost of each period of `on` (0.0 where the unit does not start)."""
    v, _ = _starts_and_shutdowns(int(unit["unit_on_t0"]), on)
    return [startup_price(unit, t, on) if v[t - 1] else 0.0 for t in range(1, len(on) + 1)]


# --------------------------------------------------------------------------- costs


def production_cost(unit: Mapping[str, Any], p_total: float) -> float:
    """MODEL.tex's c_g(t) + CP^1_g for a unit on at total output p_total.

    The cheapest lambda of PiecewiseParts/PiecewisePartsCost/PiecewiseLimits: for a convex
    curve (every curve in the data) that is the curve interpolated between the two
    breakpoints around p; for a non-convex one the rows allow any convex combination of
    breakpoints, so the price is the curve's lower convex envelope. Outside [Pmin, Pmax]
    the end value (the bounds are reported by check_schedule).
    """
    points = sorted((float(x["mw"]), float(x["cost"])) for x in unit["piecewise_production"])
    hull: list[tuple[float, float]] = []
    for x, y in points:
        if hull and hull[-1][0] == x:
            continue  # same MW, dearer (sorted): never used
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (y2 - y1) * (x - x1) >= (y - y1) * (x2 - x1):  # hull[-1] on or above the chord
                hull.pop()
            else:
                break
        hull.append((x, y))
    return float(np.interp(float(p_total), [x for x, _ in hull], [y for _, y in hull]))


def recompute_cost(instance: Mapping[str, Any], solution: Mapping[str, Any]) -> dict[str, float]:
    """{"production", "startup", "total"} of the answer's commitments and outputs, per MODEL.tex.

    Production: the cost curve interpolated at each on-period's total output (its lower
    convex envelope if it is not convex, as MODEL.tex's lambda rows price it). Start-up: each
    start at the cheapest category MODEL.tex allows (STIInit, STISelect, STILink). Starts of a
    unit with no category count 0 here (check_schedule reports them).
    """
    production: list[float] = []
    startup: list[float] = []
    for name, raw in instance["thermal_generators"].items():
        entry = solution["thermal"][name]
        on = [round(float(x)) for x in entry["on"]]
        for x, p in zip(on, entry["p"], strict=True):
            if x:
                production.append(production_cost(raw, p))
        if raw["startup"]:
            startup.extend(startup_prices(raw, on))
    prod, start = math.fsum(production), math.fsum(startup)
    return {"production": prod, "startup": start, "total": math.fsum([prod, start])}


# --------------------------------------------------------------------------- the checker


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and not math.isnan(float(x))


def _series(where: str, values: Any, T: int, problems: list[str]) -> list[float] | None:
    if not isinstance(values, list) or len(values) != T:
        size = len(values) if isinstance(values, list) else type(values).__name__
        problems.append(f"{where}: expected a list of {T} numbers, got {size}")
        return None
    bad = [i + 1 for i, x in enumerate(values) if not (_is_number(x) and math.isfinite(float(x)))]
    if bad:
        problems.append(f"{where}: not a finite number in period(s) {bad[:10]}")
        return None
    return [float(x) for x in values]


def _parse(instance: Mapping[str, Any], solution: Mapping[str, Any], problems: list[str]) -> dict[str, Any] | None:
    """The answer's arrays, or None when the schedule's shape is wrong (reasons in `problems`).

    Wrong figures outside the schedule (objective, gap, cost, marginal_price, ...) are reported
    too but do not stop the checks of the schedule itself.
    """
    T = int(instance["time_periods"])
    if solution.get("time_periods") != T:
        problems.append(f"time_periods is {solution.get('time_periods')!r}, the instance has {T}")
    for key in ("objective", "lower_bound"):
        if not _is_number(solution.get(key)) or not math.isfinite(float(solution[key])):
            problems.append(f"{key} is {solution.get(key)!r}, not a finite number")
    gap = solution.get("gap")
    if not _is_number(gap) or float(gap) < 0:
        problems.append(f"gap is {gap!r}, not a number >= 0")
    seconds = solution.get("solve_seconds")
    if not _is_number(seconds) or float(seconds) < 0:
        problems.append(f"solve_seconds is {seconds!r}, not a number >= 0")
    cost = solution.get("cost")
    if not isinstance(cost, Mapping) or any(not _is_number(cost.get(k)) for k in ("production", "startup", "total")):
        problems.append(f"cost is {cost!r}, not {{'production', 'startup', 'total'}} numbers")
    _series("marginal_price", solution.get("marginal_price"), T, problems)

    broken: list[str] = []  # what makes the schedule itself uncheckable
    units = instance["thermal_generators"]
    thermal = solution.get("thermal")
    arrays: dict[str, dict[str, list[float]]] = {}
    if not isinstance(thermal, Mapping):
        broken.append("thermal: missing or not an object")
    else:
        broken.extend(f"unit {name}: missing from the answer" for name in units if name not in thermal)
        broken.extend(f"thermal: unknown unit {name!r}" for name in thermal if name not in units)
        for name in units:
            entry = thermal.get(name)
            if not isinstance(entry, Mapping):
                continue
            got = {}
            for key in ("on", "p", "reserve", "startup_cost"):
                values = _series(f"unit {name} {key}", entry.get(key), T, broken)
                if values is not None:
                    got[key] = values
            if "on" in got:
                bad = [t + 1 for t, x in enumerate(got["on"]) if x not in (0.0, 1.0)]
                if bad:
                    broken.append(f"unit {name}: on is neither 0 nor 1 in period(s) {bad[:10]}")
            arrays[name] = got

    renewables = instance.get("renewable_generators", {})
    answer_ren = solution.get("renewable")
    ren_arrays: dict[str, list[float]] = {}
    if not isinstance(answer_ren, Mapping):
        broken.append("renewable: missing or not an object")
    else:
        for name in renewables:
            entry = answer_ren.get(name)
            if not isinstance(entry, Mapping):
                broken.append(f"renewable {name}: missing from the answer")
                continue
            values = _series(f"renewable {name} p", entry.get("p"), T, broken)
            if values is not None:
                ren_arrays[name] = values
        broken.extend(f"renewable: unknown unit {name!r}" for name in answer_ren if name not in renewables)
    problems.extend(broken)
    if broken or solution.get("time_periods") != T:
        return None
    return {"thermal": arrays, "renewable": ren_arrays}


def check_schedule(instance: Mapping[str, Any], solution: Mapping[str, Any], tol: float = 1e-5) -> list[str]:
    """Every row of MODEL.tex the answer violates, plus every wrong cost; [] when it is right.

    Feasibility: Demand, Reserves, initialUp/DownRequirement, STIInit/STISelect/STILink (via
    the start-up prices), RampUpInit, RampDownInit, MaxOutput2Init, MustRun, Startup (min up),
    Shutdown (min down), MaxOutput1 (incl. start-up capability), MaxOutput2 (shut-down
    capability), RampUp (with reserve), RampDown (both across starts and shutdowns: p_g is
    0 when off), the piecewise rows (Pmin <= p <= Pmax when on, 0 when off), WindLimit,
    reserve >= 0. Costs: each startup_cost[t] against the MILP's price of that start (0 when
    no start), cost.production/startup/total against `recompute_cost`, objective against
    the recomputed total, lower_bound <= objective. The answer's format is checked first;
    an answer with status "infeasible" is reported as having no schedule.
    """
    problems: list[str] = []
    status = solution.get("status")
    if status not in STATUSES:
        problems.append(f"status is {status!r}, not one of {STATUSES}")
    if status == "infeasible":
        return problems + ["status is 'infeasible': the answer has no schedule to check"]
    parsed = _parse(instance, solution, problems)
    if parsed is None:
        return problems

    T = int(instance["time_periods"])
    demand = [float(x) for x in instance["demand"]]
    reserves = [float(x) for x in instance.get("reserves", [0.0] * T)]
    units = {name: _Unit.read(name, raw) for name, raw in instance["thermal_generators"].items()}
    n_terms = len(units) + len(instance.get("renewable_generators", {}))

    total_p = np.zeros(T)
    total_r = np.zeros(T)
    for name, unit in units.items():
        series = parsed["thermal"][name]
        u = np.array(series["on"], dtype=int)
        P = np.array(series["p"])
        r = np.array(series["reserve"])
        total_p += P
        total_r += r
        problems.extend(_check_unit(unit, u, P, r, T, tol))
        raw_unit = instance["thermal_generators"][name]
        prices = startup_prices(raw_unit, list(u)) if unit.lags else [0.0] * T  # no category: a start is an error (STILink)
        for t in range(1, T + 1):
            got, want = series["startup_cost"][t - 1], prices[t - 1]
            if _costs_match(got, want):
                continue
            if want == 0.0 and not (u[t - 1] == 1 and (u[t - 2] if t > 1 else unit.u0) == 0):
                problems.append(f"unit {name} period {t}: startup_cost {_fmt(got)} but the unit does not start")
            elif unit.lags:
                allowed = allowed_startup_categories(raw_unit, t, list(u))
                problems.append(
                    f"unit {name} period {t}: startup_cost {_fmt(got)} != {_fmt(want)}, the cheapest "
                    f"category MODEL.tex allows for this start (categories {allowed}; STIInit/STISelect)"
                )

    for name, raw in instance.get("renewable_generators", {}).items():
        p = parsed["renewable"][name]
        lo, hi = raw["power_output_minimum"], raw["power_output_maximum"]
        for t in range(T):
            total_p[t] += p[t]
            if p[t] < lo[t] - tol or p[t] > hi[t] + tol:
                problems.append(
                    f"renewable {name} period {t + 1}: output {_fmt(p[t])} MW outside "
                    f"[{_fmt(lo[t])}, {_fmt(hi[t])}] (WindLimit)"
                )

    system_tol = tol * max(1, n_terms)
    for t in range(T):
        if abs(total_p[t] - demand[t]) > system_tol:
            problems.append(f"period {t + 1}: supply {_fmt(total_p[t])} MW != demand {_fmt(demand[t])} (Demand)")
        if total_r[t] < reserves[t] - system_tol:
            problems.append(
                f"period {t + 1}: reserve {_fmt(total_r[t])} MW < requirement {_fmt(reserves[t])} (Reserves)"
            )

    problems.extend(_check_costs(instance, solution))
    return problems


def _check_unit(unit: _Unit, u: np.ndarray, P: np.ndarray, r: np.ndarray, T: int, tol: float) -> list[str]:
    """The rows of MODEL.tex that concern one thermal unit."""
    out: list[str] = []
    g = unit.name
    prev = np.concatenate([[unit.u0], u[:-1]])
    v = ((u == 1) & (prev == 0)).astype(int)
    w = ((u == 0) & (prev == 1)).astype(int)
    p = P - unit.pmin * u  # MODEL.tex's p_g(t): power above minimum, 0 when off
    span = unit.span
    su_cut = max(unit.pmax - unit.su, 0.0)
    sd_cut = max(unit.pmax - unit.sd, 0.0)
    p0_above = unit.u0 * (unit.p0 - unit.pmin)

    # Initial conditions.
    if unit.u0 == 1:
        last = min(unit.ut - unit.ut0, T)
        off = [t for t in range(1, last + 1) if u[t - 1] == 0]
        if off:
            out.append(
                f"unit {g}: on at t0 for {unit.ut0} of its {unit.ut} minimum up periods, must stay on through "
                f"period {last}, but is off in period(s) {off} (initialUpRequirement)"
            )
    else:
        last = min(unit.dt - unit.dt0, T)
        on = [t for t in range(1, last + 1) if u[t - 1] == 1]
        if on:
            out.append(
                f"unit {g}: off at t0 for {unit.dt0} of its {unit.dt} minimum down periods, must stay off through "
                f"period {last}, but is on in period(s) {on} (initialDownRequirement)"
            )
    if p0_above > span * unit.u0 - sd_cut * w[0] + tol:
        if w[0]:
            out.append(
                f"unit {g} period 1: shuts down from P0 = {_fmt(unit.p0)} MW > shut-down limit "
                f"{_fmt(min(unit.pmax, unit.sd))} (MaxOutput2Init)"
            )
        else:
            out.append(f"unit {g}: P0 = {_fmt(unit.p0)} MW > Pmax {_fmt(unit.pmax)} (MaxOutput2Init)")
    if p[0] + r[0] - p0_above > unit.ru + tol:
        out.append(
            f"unit {g} period 1: ramp-up from t0 {_fmt(p[0] + r[0] - p0_above)} MW > {_fmt(unit.ru)} "
            f"(RampUpInit: output + reserve - P0)"
        )
    if p0_above - p[0] > unit.rd + tol:
        out.append(f"unit {g} period 1: ramp-down from t0 {_fmt(p0_above - p[0])} MW > {_fmt(unit.rd)} (RampDownInit)")

    # Minimum up / down times in the horizon (Startup, Shutdown rows).
    m_up = min(unit.ut, T)
    for t in range(m_up, T + 1):
        window = range(t - m_up + 1, t + 1)
        starts = [i for i in window if v[i - 1]]
        if len(starts) > u[t - 1]:
            why = "off" if u[t - 1] == 0 else "started again"
            out.append(
                f"unit {g} period {t}: minimum up time {unit.ut}: started in period(s) {starts} of "
                f"{window.start}..{t} and {why} in period {t} (Startup)"
            )
    m_down = min(unit.dt, T)
    for t in range(m_down, T + 1):
        window = range(t - m_down + 1, t + 1)
        stops = [i for i in window if w[i - 1]]
        if len(stops) > 1 - u[t - 1]:
            why = "on" if u[t - 1] == 1 else "shut down again"
            out.append(
                f"unit {g} period {t}: minimum down time {unit.dt}: shut down in period(s) {stops} of "
                f"{window.start}..{t} and {why} in period {t} (Shutdown)"
            )

    if not unit.lags:
        for t in range(1, T + 1):
            if v[t - 1]:
                out.append(f"unit {g} period {t}: starts but has no start-up category (STILink)")

    for t in range(1, T + 1):
        i = t - 1
        if unit.must_run and u[i] == 0:
            out.append(f"unit {g} period {t}: must-run unit is off (MustRun)")
        # Piecewise rows: 0 <= p_g(t) <= (Pmax - Pmin) u_g(t).
        if u[i] == 0:
            if abs(P[i]) > tol:
                out.append(f"unit {g} period {t}: off but output {_fmt(P[i])} MW (PiecewiseLimits: p = 0 when off)")
        else:
            if P[i] < unit.pmin - tol:
                out.append(f"unit {g} period {t}: output {_fmt(P[i])} MW < Pmin {_fmt(unit.pmin)} (PiecewiseParts)")
            if P[i] > unit.pmax + tol:
                out.append(f"unit {g} period {t}: output {_fmt(P[i])} MW > Pmax {_fmt(unit.pmax)} (PiecewiseParts)")
        if r[i] < -tol:
            out.append(f"unit {g} period {t}: reserve {_fmt(r[i])} MW < 0")
        # MaxOutput1: p + r <= (Pmax - Pmin) u - max(Pmax - SU, 0) v.
        if p[i] + r[i] > span * u[i] - su_cut * v[i] + tol:
            if u[i] == 0:
                out.append(f"unit {g} period {t}: off but output + reserve {_fmt(P[i] + r[i])} MW > 0 (MaxOutput1)")
            elif v[i]:
                out.append(
                    f"unit {g} period {t}: start-up capability: output + reserve {_fmt(P[i] + r[i])} MW > "
                    f"{_fmt(min(unit.pmax, unit.su))} (MaxOutput1)"
                )
            else:
                out.append(
                    f"unit {g} period {t}: output + reserve {_fmt(P[i] + r[i])} MW > Pmax "
                    f"{_fmt(unit.pmax)} (MaxOutput1)"
                )
        # MaxOutput2 (t < T): p + r <= (Pmax - Pmin) u - max(Pmax - SD, 0) w(t+1).
        if t < T and p[i] + r[i] > span * u[i] - sd_cut * w[i + 1] + tol:
            if w[i + 1]:
                out.append(
                    f"unit {g} period {t}: shut-down capability: output + reserve {_fmt(P[i] + r[i])} MW > "
                    f"{_fmt(min(unit.pmax, unit.sd))} before the shutdown in period {t + 1} (MaxOutput2)"
                )
            else:
                out.append(
                    f"unit {g} period {t}: output + reserve {_fmt(P[i] + r[i])} MW > "
                    f"{_fmt(unit.pmax * u[i])} (MaxOutput2)"
                )
        if t >= 2:
            up = p[i] + r[i] - p[i - 1]
            if up > unit.ru + tol:
                out.append(
                    f"unit {g} period {t}: ramp-up {_fmt(up)} MW > {_fmt(unit.ru)} "
                    f"(RampUp: output above Pmin + reserve - previous output above Pmin)"
                )
            down = p[i - 1] - p[i]
            if down > unit.rd + tol:
                out.append(
                    f"unit {g} period {t}: ramp-down {_fmt(down)} MW > {_fmt(unit.rd)} (RampDown: output above Pmin)"
                )
    return out


def _check_costs(instance: Mapping[str, Any], solution: Mapping[str, Any]) -> list[str]:
    """Reported costs, objective and bound against the recomputation (what is well-formed of them)."""
    out: list[str] = []
    recomputed = recompute_cost(instance, solution)
    reported = solution.get("cost")
    if isinstance(reported, Mapping):
        for key in ("production", "startup", "total"):
            if _is_number(reported.get(key)) and not _costs_match(float(reported[key]), recomputed[key]):
                out.append(f"cost.{key} {_fmt(reported[key])} != {_fmt(recomputed[key])} recomputed")
    objective, bound = solution.get("objective"), solution.get("lower_bound")
    if _is_number(objective) and math.isfinite(float(objective)):
        if not _costs_match(float(objective), recomputed["total"]):
            out.append(f"objective {_fmt(objective)} != total cost {_fmt(recomputed['total'])} recomputed")
        if _is_number(bound) and float(bound) > float(objective) and not _costs_match(float(bound), float(objective)):
            out.append(f"lower_bound {_fmt(bound)} > objective {_fmt(objective)}")
    return out
