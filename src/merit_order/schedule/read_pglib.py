"""Read a pglib-uc instance (the JSON of power-grid-lib/pglib-uc) into a `Problem`.

Validation is `pglib_schema`'s job (what a valid file holds, and where it is wrong); this
module only converts a valid instance. pglib-uc files are hourly; `period_hours` lets the
same file stand for another period length (ramp limits per period scale with it, minimum
up/down times and start-up lags are converted to whole periods, rounded up, and costs per
hour become costs per period). Only the first `periods` periods are kept when asked, which
is how the 336-period fleets are cut to a day.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import pglib_schema as schema
from .errors import ScheduleInputError
from .model import Problem, RenewableUnit, StartupCategory, ThermalUnit


def _periods_of(hours: float, period_hours: float) -> int:
    """Whole periods covering `hours` (never shorter than asked)."""
    return math.ceil(hours / period_hours - 1e-9)


def thermal_from_generator(name: str, g: schema.ThermalGenerator, period_hours: float = 1.0) -> ThermalUnit:
    """One validated pglib-uc thermal generator, converted to periods."""
    curve = g.piecewise_production
    return ThermalUnit(
        name=name,
        pmin=g.power_output_minimum,
        pmax=g.power_output_maximum,
        curve_mw=tuple(point.mw for point in curve),
        curve_cost=tuple(point.cost * period_hours for point in curve),
        startup=tuple(
            StartupCategory(lag=_periods_of(cat.lag, period_hours), cost=cat.cost) for cat in g.startup or []
        ),
        min_up=max(1, _periods_of(g.time_up_minimum, period_hours)),
        min_down=max(1, _periods_of(g.time_down_minimum, period_hours)),
        ramp_up=g.ramp_up_limit * period_hours,
        ramp_down=g.ramp_down_limit * period_hours,
        startup_limit=g.ramp_startup_limit,
        shutdown_limit=g.ramp_shutdown_limit,
        must_run=g.must_run,
        on_t0=g.unit_on_t0,
        time_up_t0=_periods_of(g.time_up_t0, period_hours),
        time_down_t0=_periods_of(g.time_down_t0, period_hours),
        p_t0=g.power_output_t0,
    )


def _check_limits(doc: Any, count: int | None, max_units: int | None, max_periods: int | None) -> None:
    """The caller's size limits, checked on the raw document before any costly validation."""
    if not isinstance(doc, Mapping):
        return
    thermal = doc.get("thermal_generators")
    renewable = doc.get("renewable_generators")
    n_thermal = len(thermal) if isinstance(thermal, Mapping) else 0
    n_renewable = len(renewable) if isinstance(renewable, Mapping) else 0
    if max_units is not None and n_thermal + n_renewable > max_units:
        field = "thermal_generators" if n_thermal > max_units else "renewable_generators"
        raise ScheduleInputError.at(
            field,
            f"{n_thermal + n_renewable} units ({n_thermal} thermal + {n_renewable} renewable); "
            f"this service takes at most {max_units}",
        )
    total = doc.get("time_periods")
    asked = count if count is not None else (total if type(total) is int else None)
    if max_periods is not None and asked is not None and asked > max_periods:
        raise ScheduleInputError.at(
            "time_periods", f"{asked} periods asked; this service takes at most {max_periods}"
        )


def problem_from_pglib(
    doc: Any,
    periods: int | None = None,
    period_hours: float = 1.0,
    *,
    max_units: int | None = None,
    max_periods: int | None = None,
) -> Problem:
    """The whole instance; `periods` keeps only the first N periods.

    ScheduleInputError lists every problem found (`errors`), each with its field, unit and
    period; `max_units` / `max_periods` are the caller's limits (None: no limit).
    """
    _check_limits(doc, periods, max_units, max_periods)
    instance, problems = schema.validate(doc)
    if instance is None:
        raise ScheduleInputError(problems)
    total = instance.time_periods
    count = total if periods is None else periods
    if not 1 <= count <= total:
        raise ScheduleInputError.at("time_periods", f"{count} periods asked, the instance has {total}")
    reserves = instance.reserves
    return Problem(
        demand=np.array(instance.demand[:count], dtype=float),
        reserve=np.array(reserves[:count], dtype=float) if reserves is not None else np.zeros(count),
        thermal=tuple(
            thermal_from_generator(name, g, period_hours) for name, g in instance.thermal_generators.items()
        ),
        renewable=tuple(
            RenewableUnit(
                name=name,
                pmin=np.array(w.power_output_minimum[:count], dtype=float),
                pmax=np.array(w.power_output_maximum[:count], dtype=float),
            )
            for name, w in (instance.renewable_generators or {}).items()
        ),
        period_hours=period_hours,
    )
