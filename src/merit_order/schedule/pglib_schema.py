"""What a pglib-uc instance must hold for the solver to read it: types first, then sense.

The schedule route answers bad input with a 422 naming the field, the unit and the period,
so every check here reports a place (`InputProblem`), never only a sentence. Two passes:

1. pydantic (`PglibInstance`): each field's presence, JSON type and range. Numbers are
   strict (no "12" or true for a MW figure, no NaN or infinity): a unit sent with
   "power_output_maximum": "NaN" is a bug to report, not a figure to guess.
2. `consistency_problems`: what MODEL.tex assumes across fields (Pmin <= Pmax, a cost curve
   from Pmin to Pmax that is convex, hottest-to-coldest start-up lags, initial conditions
   that agree with the initial status, one value per period, renewables' min <= max).

Fields read (all others, such as a unit's own "name", are allowed and ignored): time_periods,
demand, reserves (optional: no reserve), thermal_generators, renewable_generators (optional).
For each thermal unit: power_output_minimum/maximum and piecewise_production (required);
startup (default: free starts), must_run and unit_on_t0 (default 0), time_up/down_minimum
(default 1 h), time_up/down_t0 (default 0), power_output_t0 (default 0), ramp_up/down_limit
and ramp_startup/shutdown_limit (default: none). For each renewable unit:
power_output_minimum/maximum, one value per period.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import pairwise
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from ..calculator.schema import MAX_MW, as_sent
from .errors import InputProblem, field_path, input_problem

#: Hours cap (114 years): far above any real duration, low enough that hours / period length
#: stays a finite float whatever a client sends.
MAX_HOURS = 1e6

#: Slack on "the curve is convex" and "the curve starts at Pmin": published data carries
#: rounding (costs with 9 decimals), and the solver's own arithmetic tolerates this much.
CURVE_TOLERANCE = 1e-6

Megawatts = Annotated[float, Field(ge=0, le=MAX_MW, allow_inf_nan=False, strict=True)]
Money = Annotated[float, Field(allow_inf_nan=False, strict=True)]
NonNegativeMoney = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
Hours = Annotated[float, Field(ge=0, le=MAX_HOURS, allow_inf_nan=False, strict=True)]
PositiveHours = Annotated[float, Field(gt=0, le=MAX_HOURS, allow_inf_nan=False, strict=True)]
MWPerHour = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
NonNegativeMW = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
UnitName = Annotated[str, Field(min_length=1, max_length=200)]


def _flag(value: Any) -> bool:
    """pglib writes flags as 0/1; JSON true/false mean the same. Anything else is refused."""
    if isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    raise PydanticCustomError("flag", "expected 0 or 1 (or false/true), got {got}", {"got": repr(value)})


Flag = Annotated[Any, AfterValidator(_flag)]


class _Lenient(BaseModel):
    """pglib files carry fields we do not read (a unit's "name", a file's notes): allowed, ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class CurvePoint(_Lenient):
    """A breakpoint of the production cost curve: total output (MW), cost per hour at it."""

    mw: Megawatts
    cost: Money


class StartupCategory(_Lenient):
    """A start after at least `lag` hours off costs `cost`."""

    lag: PositiveHours
    cost: NonNegativeMoney


class ThermalGenerator(_Lenient):
    """One pglib-uc thermal generator, in pglib's hours and MW (MODEL.tex's nomenclature)."""

    power_output_minimum: Megawatts
    power_output_maximum: Megawatts
    piecewise_production: Annotated[list[CurvePoint], Field(min_length=1)]
    startup: list[StartupCategory] | None = None
    must_run: Flag = 0
    unit_on_t0: Flag = 0
    time_up_minimum: Hours = 1.0
    time_down_minimum: Hours = 1.0
    time_up_t0: Hours = 0.0
    time_down_t0: Hours = 0.0
    power_output_t0: Megawatts = 0.0
    # Absent means no limit; null is refused like any other non-number.
    ramp_up_limit: MWPerHour = math.inf
    ramp_down_limit: MWPerHour = math.inf
    ramp_startup_limit: NonNegativeMW = math.inf
    ramp_shutdown_limit: NonNegativeMW = math.inf


class RenewableGenerator(_Lenient):
    """Output anywhere in [minimum, maximum] each period, at no cost."""

    power_output_minimum: list[Megawatts]
    power_output_maximum: list[Megawatts]


class PglibInstance(_Lenient):
    """A whole pglib-uc instance."""

    time_periods: Annotated[int, Field(gt=0, strict=True)]
    demand: list[Megawatts]
    reserves: list[Megawatts] | None = None
    thermal_generators: Annotated[dict[UnitName, ThermalGenerator], Field(min_length=1)]
    renewable_generators: dict[UnitName, RenewableGenerator] | None = None


# --------------------------------------------------------------------------- pass 1: pydantic

_SERIES = {"demand", "reserves"}
_UNIT_GROUPS = {"thermal_generators", "renewable_generators"}
_RENEWABLE_SERIES = {"power_output_minimum", "power_output_maximum"}


def problem_of_pydantic_error(error: Mapping[str, Any]) -> InputProblem:
    """One pydantic error located as pglib's user wrote it (unit = the key, period = index + 1)."""
    loc = tuple(error["loc"])
    unit: str | None = None
    period: int | None = None
    if len(loc) >= 2 and loc[0] in _SERIES and isinstance(loc[1], int):
        period = loc[1] + 1
    if len(loc) >= 2 and loc[0] in _UNIT_GROUPS and isinstance(loc[1], str):
        unit = loc[1]
        if (
            loc[0] == "renewable_generators"
            and len(loc) >= 4
            and loc[2] in _RENEWABLE_SERIES
            and isinstance(loc[3], int)
        ):
            period = loc[3] + 1
    if error["type"] == "missing":
        message = "this field is required"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    return input_problem(field_path(loc), message, unit, period)


def parse(doc: Any) -> tuple[PglibInstance | None, list[InputProblem]]:
    """The typed instance, or None and every type/range problem in document order."""
    try:
        return PglibInstance.model_validate(doc), []
    except ValidationError as exc:
        return None, [problem_of_pydantic_error(error) for error in exc.errors()]


# --------------------------------------------------------------------------- pass 2: sense


def _series_problems(name: str, values: list[float], periods: int, unit: str | None = None) -> list[InputProblem]:
    if len(values) >= periods:
        return []
    return [
        input_problem(
            name,
            f"one value per period needed: time_periods is {periods}, got {len(values)} values "
            f"(period {len(values) + 1} has none)",
            unit,
            len(values) + 1,
        )
    ]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= CURVE_TOLERANCE * max(1.0, abs(a), abs(b))


def _curve_problems(where: str, name: str, g: ThermalGenerator) -> list[InputProblem]:
    """MODEL.tex: P^1 = Pmin, P^L = Pmax, points increasing; the solver also needs convexity."""
    points = g.piecewise_production
    pmin, pmax = g.power_output_minimum, g.power_output_maximum
    at = f"{where}.piecewise_production"
    if not _close(points[0].mw, pmin):
        return [input_problem(f"{at}[0].mw", f"the first point must be at power_output_minimum ({as_sent(pmin)} MW), "
                              f"not {as_sent(points[0].mw)} MW", name)]
    for i in range(1, len(points)):
        if points[i].mw <= points[i - 1].mw:
            return [input_problem(f"{at}[{i}].mw", f"mw must increase from point to point: {as_sent(points[i].mw)} MW "
                                  f"follows {as_sent(points[i - 1].mw)} MW", name)]
    if not _close(points[-1].mw, pmax):
        last = len(points) - 1
        return [input_problem(f"{at}[{last}].mw", f"the last point must be at power_output_maximum ({as_sent(pmax)} MW), "
                              f"not {as_sent(points[-1].mw)} MW", name)]
    for i in range(1, len(points)):
        if points[i].cost < points[i - 1].cost - CURVE_TOLERANCE * max(1.0, abs(points[i - 1].cost)):
            return [input_problem(f"{at}[{i}].cost", f"cost must not decrease as output rises: {as_sent(points[i].cost)} "
                                  f"after {as_sent(points[i - 1].cost)}", name)]
    slopes = [(b.cost - a.cost) / (b.mw - a.mw) for a, b in pairwise(points)]
    for i in range(1, len(slopes)):
        if slopes[i] < slopes[i - 1] - CURVE_TOLERANCE * max(1.0, abs(slopes[i - 1])):
            # slopes[i - 1] ends at point i and slopes[i] starts there: point i is the kink.
            return [input_problem(f"{at}[{i}].cost", f"the curve must be convex: the marginal cost falls from "
                                  f"{slopes[i - 1]:.6g} to {slopes[i]:.6g} per MW at this point", name)]
    return []


def _thermal_problems(name: str, g: ThermalGenerator) -> list[InputProblem]:
    """One unit's cross-field checks, most basic first (a wrong Pmax explains a wrong curve)."""
    where = f"thermal_generators.{name}"
    pmin, pmax = g.power_output_minimum, g.power_output_maximum
    if pmin > pmax:
        return [input_problem(f"{where}.power_output_minimum", f"{as_sent(pmin)} MW is above power_output_maximum "
                              f"({as_sent(pmax)} MW)", name)]
    problems = _curve_problems(where, name, g)
    lags = [cat.lag for cat in g.startup or []]
    for i in range(1, len(lags)):
        if lags[i] <= lags[i - 1]:
            problems.append(input_problem(f"{where}.startup[{i}].lag", f"lags must increase from the hottest category to "
                                          f"the coldest: {as_sent(lags[i])} h follows {as_sent(lags[i - 1])} h", name))
            break
    if g.power_output_t0 > pmax:
        problems.append(input_problem(f"{where}.power_output_t0", f"{as_sent(g.power_output_t0)} MW is above "
                                      f"power_output_maximum ({as_sent(pmax)} MW)", name))
    if g.unit_on_t0:
        if g.time_up_t0 <= 0:
            problems.append(input_problem(f"{where}.time_up_t0", "unit_on_t0 is 1, so the unit has been on for some "
                                          "time before the first period: send time_up_t0 > 0", name))
        if g.time_down_t0 != 0:
            problems.append(input_problem(f"{where}.time_down_t0", "unit_on_t0 is 1, so the unit has not been off "
                                          f"before the first period: send time_down_t0 = 0, not {as_sent(g.time_down_t0)}", name))
    else:
        if g.time_down_t0 <= 0:
            problems.append(input_problem(f"{where}.time_down_t0", "unit_on_t0 is 0, so the unit has been off for some "
                                          "time before the first period: send time_down_t0 > 0", name))
        if g.time_up_t0 != 0:
            problems.append(input_problem(f"{where}.time_up_t0", "unit_on_t0 is 0, so the unit has not been on "
                                          f"before the first period: send time_up_t0 = 0, not {as_sent(g.time_up_t0)}", name))
    return problems


def _renewable_problems(name: str, w: RenewableGenerator, periods: int) -> list[InputProblem]:
    where = f"renewable_generators.{name}"
    problems = _series_problems(f"{where}.power_output_minimum", w.power_output_minimum, periods, name)
    problems += _series_problems(f"{where}.power_output_maximum", w.power_output_maximum, periods, name)
    for t, (lo, hi) in enumerate(zip(w.power_output_minimum, w.power_output_maximum)):
        if lo > hi:
            problems.append(input_problem(f"{where}.power_output_minimum[{t}]", f"{as_sent(lo)} MW is above "
                                          f"power_output_maximum[{t}] ({as_sent(hi)} MW)", name, t + 1))
            break
    return problems


def consistency_problems(instance: PglibInstance) -> list[InputProblem]:
    """Every cross-field problem, in document order (system series, thermal units, renewables)."""
    periods = instance.time_periods
    problems = _series_problems("demand", instance.demand, periods)
    if instance.reserves is not None:
        problems += _series_problems("reserves", instance.reserves, periods)
    for name, g in instance.thermal_generators.items():
        problems += _thermal_problems(name, g)
    for name, w in (instance.renewable_generators or {}).items():
        problems += _renewable_problems(name, w, periods)
    return problems


def validate(doc: Any) -> tuple[PglibInstance | None, list[InputProblem]]:
    """The instance if it is valid, and every problem found (types first: sense needs types)."""
    instance, problems = parse(doc)
    if instance is None:
        return None, problems
    problems = consistency_problems(instance)
    return (None if problems else instance), problems

