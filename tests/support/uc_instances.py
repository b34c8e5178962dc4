"""Unit-commitment instances for the schedule referees: the stored pglib-uc files and random fleets.

Everything here is plain pglib-uc JSON (a dict with `time_periods`, `demand`, `reserves`,
`thermal_generators`, `renewable_generators`, as in tests/data/uc/pglib-uc/MODEL.tex), so the
solver under test, the checker (tests/support/uc_checker.py) and the MILP (tests/support/uc_milp.py) all read
the same input. Nothing here imports `merit_order`: the referees must not share code with the
solver they judge.

- `load_instance("pwdemars/5gen/prof1.json", periods=24)` reads a stored file and cuts every
  per-period series to the first `periods` periods (the pwdemars files are half-hourly but are
  used as hourly periods, unchanged, like the pglib files).
- `random_instance(seed_or_draw)` generates a small fleet (2-8 thermal units, 6-24 periods,
  0-2 renewables). `random_case(...)` gives the same instance together with the *witness*
  it was built around: demand and reserve are derived from a random schedule that obeys every
  row of MODEL.tex, so the instance is feasible by construction (and the witness, in the
  solver's answer format, is an upper bound on the optimum). A few instances in a hundred
  (`infeasible_percent`) are then made infeasible on purpose, provably: one period asks for
  more than the whole fleet's capacity, or for more reserve than all units' ranges together.
- `instances()` / `cases()` are hypothesis strategies on the same generator (one draw per
  random decision, so hypothesis can shrink a failing fleet).

All generated MW figures are whole tenths of a MW and all costs whole cents, built in
integers and divided once, so sums are exact up to float noise.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

from hypothesis import strategies as st

#: Where the stored instances live (copies of pglib-uc and pwdemars files, see its README.md).
DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "uc"

#: Every per-period series of a pglib-uc instance, as (where, key): cut by `load_instance`.
_SYSTEM_SERIES = ("demand", "reserves")
_RENEWABLE_SERIES = ("power_output_minimum", "power_output_maximum")


def load_instance(relpath: str, periods: int | None = None) -> dict[str, Any]:
    """A stored instance (path relative to tests/data/uc/), cut to its first `periods` periods.

    Cuts `demand`, `reserves` and each renewable unit's `power_output_minimum/maximum` and
    sets `time_periods`; nothing else is changed (no rescaling of half-hourly data). Returns
    a fresh dict the caller may mutate.
    """
    path = DATA_DIR / relpath
    with path.open(encoding="utf-8") as handle:
        instance: dict[str, Any] = json.load(handle)
    return cut_instance(instance, periods)


def cut_instance(instance: dict[str, Any], periods: int | None) -> dict[str, Any]:
    """A deep copy of `instance` keeping only its first `periods` periods (all of them if None)."""
    out = copy.deepcopy(instance)
    total = int(out["time_periods"])
    if periods is None:
        return out
    if not 1 <= periods <= total:
        raise ValueError(f"periods={periods}: the instance has {total} periods")
    for key in _SYSTEM_SERIES:
        if key in out:
            out[key] = list(out[key][:periods])
    for unit in out.get("renewable_generators", {}).values():
        for key in _RENEWABLE_SERIES:
            unit[key] = list(unit[key][:periods])
    out["time_periods"] = periods
    return out


# --------------------------------------------------------------------------- random fleets


class _Source(Protocol):
    def integer(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi], both included."""
        ...


class _SeededSource:
    def __init__(self, seed: int | random.Random) -> None:
        self._rng = seed if isinstance(seed, random.Random) else random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self._rng.randint(lo, hi)


class _DrawSource:
    def __init__(self, draw: Callable[[st.SearchStrategy[int]], int]) -> None:
        self._draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self._draw(st.integers(lo, hi))


def _source(seed_or_draw: int | random.Random | Callable[..., Any]) -> _Source:
    if isinstance(seed_or_draw, (int, random.Random)):
        return _SeededSource(seed_or_draw)
    if callable(seed_or_draw):
        return _DrawSource(seed_or_draw)
    raise TypeError(f"need a seed, a random.Random or a hypothesis draw, got {seed_or_draw!r}")


def _chance(src: _Source, percent: int) -> bool:
    return src.integer(0, 99) < percent


@dataclass(frozen=True)
class RandomCase:
    """A generated instance, the feasible schedule it was built around, and whether it is feasible.

    `witness` is None when the instance was made infeasible on purpose (`feasible` False);
    `broken` then says how ("demand above capacity in period 4", ...).
    """

    instance: dict[str, Any]
    witness: dict[str, Any] | None
    feasible: bool
    broken: str = ""


def random_instance(seed_or_draw: int | random.Random | Callable[..., Any], **options: Any) -> dict[str, Any]:
    """A random pglib-uc instance (see `random_case` for the options and what is generated)."""
    return random_case(seed_or_draw, **options).instance


def random_case(
    seed_or_draw: int | random.Random | Callable[..., Any],
    *,
    units: tuple[int, int] = (2, 8),
    periods: tuple[int, int] = (6, 24),
    renewables: tuple[int, int] = (0, 2),
    infeasible_percent: int = 5,
    free_first_lag: bool = False,
) -> RandomCase:
    """A random fleet and the feasible schedule its demand and reserve were derived from.

    Thermal units (names G1, G2, ...): Pmax 5-300 MW, Pmin 0..70 % of it (strictly below);
    a convex cost curve of 2-4 points (first at Pmin, last at Pmax; equal slopes allowed);
    1-3 start-up categories with lags increasing from the minimum down time and strictly
    increasing costs; minimum up/down 1-6 periods; ramp-up/down limits binding (below
    Pmax - Pmin) about half the time, start-up/shut-down limits binding (in [Pmin, Pmax])
    about a third of the time, otherwise loose (some just above Pmax, some 10000 MW as in
    the pwdemars files); must-run about one unit in ten (on at t0). Initial conditions are
    consistent: on at t0 with time_up_t0 >= 1, time_down_t0 = 0, Pmin <= P0 <= Pmax; or off
    with time_down_t0 >= 1, time_up_t0 = 0, P0 = 0; and P0 is one from which the witness's
    first period is reachable (ramps, shut-down limit).

    Renewables (W1, ...): a random-walk maximum, and a minimum that is 0, equal to the
    maximum, or a fraction of it.

    The witness is drawn first: commitments by a random walk obeying the initial up/down
    requirements, the minimum up/down times and must-run; outputs forward within the ramp,
    start-up and shut-down limits (with backward caps so that every planned shutdown is
    reachable); each unit's reserve a common fraction of its headroom. Demand is the
    witness's total output, the reserve requirement its total reserve (zero in about a
    quarter of the instances).

    `free_first_lag` draws the hottest category's lag in 1..DT+3 instead of DT (MODEL.tex
    allows it; pglib's data does not do it): starts may then come sooner than the hottest
    lag, where STISelect's "any shutdown in the window" matters.
    """
    src = _source(seed_or_draw)
    T = src.integer(*periods)
    n = src.integer(*units)
    m = src.integer(*renewables)

    thermal: dict[str, dict[str, Any]] = {}
    on_rows: list[list[int]] = []
    p_rows: list[list[int]] = []  # tenths of MW, total output
    headroom_rows: list[list[int]] = []  # tenths of MW of reserve each period could hold
    pmax_sum = 0
    span_sum = 0
    for k in range(1, n + 1):
        name = f"G{k}"
        unit, on, p_tenths, headroom = _thermal_unit(src, name, T, free_first_lag)
        thermal[name] = unit
        on_rows.append(on)
        p_rows.append(p_tenths)
        headroom_rows.append(headroom)
        pmax_sum += round(unit["power_output_maximum"] * 10)
        span_sum += round((unit["power_output_maximum"] - unit["power_output_minimum"]) * 10)

    renewable: dict[str, dict[str, Any]] = {}
    ren_rows: list[list[int]] = []
    ren_max_sum = [0] * T
    for k in range(1, m + 1):
        name = f"W{k}"
        lo, hi, used = _renewable_unit(src, T)
        renewable[name] = {
            "name": name,
            "power_output_minimum": [v / 10 for v in lo],
            "power_output_maximum": [v / 10 for v in hi],
        }
        ren_rows.append(used)
        ren_max_sum = [a + b for a, b in zip(ren_max_sum, hi, strict=True)]

    # Reserve: each unit holds the same fraction of its headroom in the witness.
    fraction = 0 if _chance(src, 25) else src.integer(1, 100)
    reserve_rows = [[h * fraction // 100 for h in row] for row in headroom_rows]
    demand = [
        sum(row[t] for row in p_rows) + sum(row[t] for row in ren_rows) for t in range(T)
    ]
    reserves = [sum(row[t] for row in reserve_rows) for t in range(T)]

    broken = ""
    if _chance(src, infeasible_percent):
        t = src.integer(0, T - 1)
        if _chance(src, 50):
            demand[t] = pmax_sum + ren_max_sum[t] + src.integer(1, 500)
            broken = f"demand above the fleet's capacity in period {t + 1}"
        else:
            reserves[t] = span_sum + src.integer(1, 500)
            broken = f"reserve above every unit's Pmax - Pmin together in period {t + 1}"

    instance = {
        "time_periods": T,
        "demand": [v / 10 for v in demand],
        "reserves": [v / 10 for v in reserves],
        "thermal_generators": thermal,
        "renewable_generators": renewable,
    }
    if broken:
        return RandomCase(instance, None, False, broken)
    witness = _witness(instance, on_rows, p_rows, reserve_rows, ren_rows)
    return RandomCase(instance, witness, True)


def _thermal_unit(
    src: _Source, name: str, T: int, free_first_lag: bool = False
) -> tuple[dict[str, Any], list[int], list[int], list[int]]:
    """One unit's data and its witness: (unit, on[T], total output tenths[T], reserve headroom tenths[T])."""
    pmax = src.integer(5, 300)
    pmin = 0 if _chance(src, 10) else src.integer(max(1, pmax // 10), max(1, pmax * 7 // 10))
    pmin = min(pmin, pmax - 1)
    span = pmax - pmin

    # Cost curve: 2-4 points at whole MW, convex (slopes non-decreasing), in cents.
    points = min(src.integer(2, 4), span + 1)
    mw = [pmin]
    for i in range(points - 2):
        left = points - 2 - i  # interior points still to place, this one included
        mw.append(src.integer(mw[-1] + 1, pmax - left))
    mw.append(pmax)
    no_load = src.integer(0, 100_000)  # cents
    slope = src.integer(0, 6_000)  # cents per MW
    cost = [no_load]
    for a, b in pairwise(mw):
        cost.append(cost[-1] + slope * (b - a))
        slope += src.integer(0, 3_000) if _chance(src, 70) else 0

    up_min = src.integer(1, 6)
    down_min = src.integer(1, 6)
    categories = src.integer(1, 3)
    lags = [src.integer(1, down_min + 3) if free_first_lag else down_min]
    start_costs = [src.integer(0, 80_000)]  # cents
    for _ in range(categories - 1):
        lags.append(lags[-1] + src.integer(1, 8))
        start_costs.append(start_costs[-1] + src.integer(100, 80_000))

    def ramp() -> int:
        if _chance(src, 50):
            return src.integer(max(1, span // 8), span)
        return 10_000 if _chance(src, 30) else pmax + src.integer(0, 50)

    def capability() -> int:
        if _chance(src, 35):
            return src.integer(pmin, pmax)
        return 10_000 if _chance(src, 30) else pmax + src.integer(0, 50)

    ramp_up, ramp_down = ramp(), ramp()
    startup_limit, shutdown_limit = capability(), capability()
    must_run = _chance(src, 10)
    on_t0 = must_run or _chance(src, 50)
    up_t0 = src.integer(1, 10) if on_t0 else 0
    down_t0 = 0 if on_t0 else src.integer(1, 12)

    # Witness commitments: a random walk inside the minimum up/down times.
    switch_percent = src.integer(5, 40)
    on: list[int] = []
    state, run = int(on_t0), (up_t0 if on_t0 else down_t0)
    for _ in range(T):
        if must_run or (state == 1 and run < up_min):
            nxt = 1
        elif state == 0 and run < down_min:
            nxt = 0
        else:
            nxt = 1 - state if _chance(src, switch_percent) else state
        run = run + 1 if nxt == state else 1
        state = nxt
        on.append(nxt)

    # Outputs, in tenths above Pmin. `limit[t]`: MaxOutput1/2's bound on p + r;
    # `cap[t]`: what p may be so that every later shutdown stays reachable at RD per period.
    S, RU, RD = span * 10, ramp_up * 10, ramp_down * 10
    SU_above = max(0, min(S, startup_limit * 10 - pmin * 10))
    SD_above = max(0, min(S, shutdown_limit * 10 - pmin * 10))
    prev_on = [int(on_t0)] + on[:-1]
    limit = [0] * T
    for t in range(T):
        if on[t]:
            limit[t] = S
            if not prev_on[t]:
                limit[t] = min(limit[t], SU_above)
            if t + 1 < T and not on[t + 1]:
                limit[t] = min(limit[t], SD_above)
    cap = [0] * T
    for t in reversed(range(T)):
        if on[t]:
            cap[t] = limit[t]
            if not prev_on[t]:
                cap[t] = min(cap[t], RU)  # ramp from 0 (off) at most RU
            if t + 1 < T:
                cap[t] = min(cap[t], cap[t + 1] + RD) if on[t + 1] else min(cap[t], RD)

    # Initial output: a P0 from which period 1 is reachable (RampDownInit, MaxOutput2Init).
    if on_t0:
        if on[0]:
            top = min(S, cap[0] + RD)
        else:
            top = min(S, RD, SD_above)
        p0_above = src.integer(0, top)
        p0_tenths = pmin * 10 + p0_above
    else:
        p0_above, p0_tenths = 0, 0

    p_above: list[int] = []
    headroom: list[int] = []
    previous = p0_above if on_t0 else 0
    for t in range(T):
        if not on[t]:
            p_above.append(0)
            headroom.append(0)
            previous = 0
            continue
        lo = max(0, previous - RD)
        hi = min(cap[t], previous + RU)
        value = src.integer(lo, hi) if not _chance(src, 20) else (hi if _chance(src, 50) else lo)
        p_above.append(value)
        headroom.append(max(0, min(limit[t] - value, previous + RU - value)))
        previous = value
    p_total = [pmin * 10 + v if u else 0 for u, v in zip(on, p_above, strict=True)]

    unit = {
        "name": name,
        "must_run": int(must_run),
        "power_output_minimum": float(pmin),
        "power_output_maximum": float(pmax),
        "ramp_up_limit": float(ramp_up),
        "ramp_down_limit": float(ramp_down),
        "ramp_startup_limit": float(startup_limit),
        "ramp_shutdown_limit": float(shutdown_limit),
        "time_up_minimum": up_min,
        "time_down_minimum": down_min,
        "power_output_t0": p0_tenths / 10,
        "unit_on_t0": int(on_t0),
        "time_up_t0": up_t0,
        "time_down_t0": down_t0,
        "startup": [{"lag": lag, "cost": c / 100} for lag, c in zip(lags, start_costs, strict=True)],
        "piecewise_production": [{"mw": float(x), "cost": c / 100} for x, c in zip(mw, cost, strict=True)],
    }
    return unit, on, p_total, headroom


def _renewable_unit(src: _Source, T: int) -> tuple[list[int], list[int], list[int]]:
    """(minimum, maximum, witness output) in tenths of MW, per period."""
    capacity = src.integer(5, 100) * 10
    level = src.integer(0, capacity)
    hi: list[int] = []
    for _ in range(T):
        level = min(capacity, max(0, level + src.integer(-capacity // 4, capacity // 4)))
        hi.append(level)
    kind = src.integer(0, 2)
    if kind == 0:
        lo = [0] * T
    elif kind == 1:
        lo = list(hi)
    else:
        share = src.integer(0, 100)
        lo = [v * share // 100 for v in hi]
    used = [src.integer(a, b) for a, b in zip(lo, hi, strict=True)]
    return lo, hi, used


def _witness(
    instance: dict[str, Any],
    on_rows: Sequence[Sequence[int]],
    p_rows: Sequence[Sequence[int]],
    reserve_rows: Sequence[Sequence[int]],
    ren_rows: Sequence[Sequence[int]],
) -> dict[str, Any]:
    """The witness schedule in the solver's answer format, its costs recomputed by the checker."""
    from uc_checker import recompute_cost, startup_prices  # the checker prices it, as it would any answer

    T = instance["time_periods"]
    thermal = {}
    for (name, unit), on, p, r in zip(instance["thermal_generators"].items(), on_rows, p_rows, reserve_rows):
        thermal[name] = {
            "on": list(on),
            "p": [v / 10 for v in p],
            "reserve": [v / 10 for v in r],
            "startup_cost": startup_prices(unit, on),
        }
    renewable = {name: {"p": [v / 10 for v in row]} for name, row in zip(instance["renewable_generators"], ren_rows)}
    solution: dict[str, Any] = {
        "status": "feasible",
        "objective": 0.0,
        "lower_bound": 0.0,  # every cost in a generated instance is >= 0
        "gap": 1.0,
        "time_periods": T,
        "thermal": thermal,
        "renewable": renewable,
        "marginal_price": [0.0] * T,
        "cost": {"production": 0.0, "startup": 0.0, "total": 0.0},
        "solve_seconds": 0.0,
    }
    cost = recompute_cost(instance, solution)
    solution["cost"] = cost
    solution["objective"] = cost["total"]
    return solution


# --------------------------------------------------------------------------- hypothesis


@st.composite
def cases(draw: st.DrawFn, **options: Any) -> RandomCase:
    """Hypothesis strategy of `RandomCase`s (options as `random_case`)."""
    return random_case(draw, **options)


@st.composite
def instances(draw: st.DrawFn, **options: Any) -> dict[str, Any]:
    """Hypothesis strategy of random pglib-uc instance dicts (options as `random_case`)."""
    return random_case(draw, **options).instance


# --- the desk format ----------------------------------------------------------------------

FUELS = {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 60}


def desk_document(fuels_by_period: list[dict[str, float]] | None = None) -> dict[str, Any]:
    loads = [380, 420, 520, 610, 700, 650, 540, 430]
    periods = [{"load": load, "reserve": 40} for load in loads]
    if fuels_by_period is not None:
        for period, fuels in zip(periods, fuels_by_period, strict=True):
            period["fuels"] = fuels
    return {
        "fuels": FUELS,
        "periods": periods,
        "powerplants": [
            {"name": "ccgt1", "type": "gasfired", "efficiency": 0.55, "pmin": 150, "pmax": 400, "startup_cost": 8000,
             "min_up_h": 3, "min_down_h": 2, "ramp_up_mw_per_h": 150, "ramp_down_mw_per_h": 150,
             "initial": {"on": True, "hours": 5, "p": 300}},
            {"name": "ccgt2", "type": "gasfired", "efficiency": 0.5, "pmin": 100, "pmax": 300, "startup_cost": 5000,
             "min_up_h": 2, "min_down_h": 2},
            {"name": "tj1", "type": "turbojet", "efficiency": 0.3, "pmin": 0, "pmax": 80},
            {"name": "wind1", "type": "windturbine", "efficiency": 1, "pmin": 0, "pmax": 150},
        ],
    }
