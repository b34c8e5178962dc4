"""Read a pglib-uc instance (the JSON of power-grid-lib/pglib-uc) into a `Problem`.

pglib-uc files are hourly; `period_hours` lets the same file stand for another period length
(ramp limits per period scale with it, minimum up/down times and start-up lags are converted
to whole periods, rounded up, and costs per hour become costs per period). Only the first
`periods` periods are kept when asked, which is how the 336-period fleets are cut to a day.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ScheduleInputError
from .model import Problem, RenewableUnit, StartupCategory, ThermalUnit


def _periods_of(hours: float, period_hours: float) -> int:
    """Whole periods covering `hours` (never shorter than asked)."""
    return int(math.ceil(hours / period_hours - 1e-9))


def _series(values: Any, count: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.shape[0] < count:
        raise ScheduleInputError(f"{what}: expected at least {count} values, got {array.shape[0] if array.ndim == 1 else 'a non-list'}")
    return array[:count].copy()


def thermal_from_pglib(name: str, g: Mapping[str, Any], period_hours: float = 1.0) -> ThermalUnit:
    """One pglib-uc thermal generator, converted to periods."""
    try:
        curve = sorted(g["piecewise_production"], key=lambda point: float(point["mw"]))
        startup = sorted(g.get("startup") or [], key=lambda cat: float(cat["lag"]))
        hours_up_t0 = float(g.get("time_up_t0", 0))
        hours_down_t0 = float(g.get("time_down_t0", 0))
        return ThermalUnit(
            name=name,
            pmin=float(g["power_output_minimum"]),
            pmax=float(g["power_output_maximum"]),
            curve_mw=tuple(float(point["mw"]) for point in curve),
            curve_cost=tuple(float(point["cost"]) * period_hours for point in curve),
            startup=tuple(
                StartupCategory(lag=_periods_of(float(cat["lag"]), period_hours), cost=float(cat["cost"]))
                for cat in startup
            ),
            min_up=max(1, _periods_of(float(g.get("time_up_minimum", 1)), period_hours)),
            min_down=max(1, _periods_of(float(g.get("time_down_minimum", 1)), period_hours)),
            ramp_up=float(g.get("ramp_up_limit", math.inf)) * period_hours,
            ramp_down=float(g.get("ramp_down_limit", math.inf)) * period_hours,
            startup_limit=float(g.get("ramp_startup_limit", math.inf)),
            shutdown_limit=float(g.get("ramp_shutdown_limit", math.inf)),
            must_run=bool(g.get("must_run", 0)),
            on_t0=bool(g.get("unit_on_t0", 0)),
            time_up_t0=_periods_of(hours_up_t0, period_hours),
            time_down_t0=_periods_of(hours_down_t0, period_hours),
            p_t0=float(g.get("power_output_t0", 0.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ScheduleInputError(f"thermal generator {name!r}: {exc}") from exc


def problem_from_pglib(doc: Mapping[str, Any], periods: int | None = None, period_hours: float = 1.0) -> Problem:
    """The whole instance; `periods` keeps only the first N periods."""
    try:
        total = int(doc["time_periods"])
        count = total if periods is None else int(periods)
        if not 1 <= count <= total:
            raise ScheduleInputError(f"periods: {count} asked, the instance has {total}")
        demand = _series(doc["demand"], count, "demand")
        reserve = _series(doc["reserves"], count, "reserves") if doc.get("reserves") is not None else np.zeros(count)
        thermal = tuple(
            thermal_from_pglib(name, g, period_hours) for name, g in doc["thermal_generators"].items()
        )
        renewable = tuple(
            RenewableUnit(
                name=name,
                pmin=_series(w["power_output_minimum"], count, f"renewable {name!r} power_output_minimum"),
                pmax=_series(w["power_output_maximum"], count, f"renewable {name!r} power_output_maximum"),
            )
            for name, w in (doc.get("renewable_generators") or {}).items()
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ScheduleInputError(f"not a pglib-uc instance: {exc}") from exc
    return Problem(demand=demand, reserve=reserve, thermal=thermal, renewable=renewable, period_hours=period_hours)
