"""The desk's own schedule format: the hourly challenge's JSON, extended to a day.

    {
      "period_hours": 1,                      # optional, default 1 (0.25 for quarter-hours)
      "fuels": {... as in /productionplan},   # optional default for every period
      "periods": [{"load": 910, "fuels": {...}, "reserve": 50}, ...],
      "powerplants": [
        {"name": "ccgt1", "type": "gasfired", "efficiency": 0.55, "pmin": 180, "pmax": 420,
         "startup_cost": 9000, "min_up_h": 4, "min_down_h": 3,
         "ramp_up_mw_per_h": 240, "ramp_down_mw_per_h": 240,
         "initial": {"on": true, "hours": 6, "p": 300}},
        {"name": "wind1", "type": "windturbine", "efficiency": 1, "pmin": 0, "pmax": 150}
      ]
    }

Each thermal plant costs `CostModel.cost_per_mwh` (the hourly route's rule: gas / efficiency +
CO2) in each period's fuels, so its curve is linear, Pmin to Pmax, and changes by period
(`ThermalUnit.cost_scale`). Wind parks become renewables whose output may be anything from 0
to `pmax * wind% / 100`: in a schedule, wind can be curtailed (the hourly route's
all-or-nothing rule does not apply; docs/schedules.md says so). Dynamics are optional: with
none, a plant can start and stop every period at no cost and ramp freely.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from ..calculator.costs import CostModel
from ..calculator.schema import FiniteNonNegative, Fuels, Megawatts, PlantType, PowerPlant, as_sent
from .errors import InputProblem, ScheduleInputError, field_path, input_problem
from .model import Problem, RenewableUnit, StartupCategory, ThermalUnit

Hours = Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False, strict=True)]
RampMWh = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]

#: The error type of a cross-field check that knows which field is wrong: its context's
#: "loc" is appended to the validator's own location (pydantic would stop at the model).
_LOCATED = "schedule_input"


def _located(loc: tuple[str | int, ...], message: str) -> PydanticCustomError:
    """A validator's error that points at the field to fix, not at the whole model."""
    return PydanticCustomError(_LOCATED, "{message}", {"message": message, "loc": loc})


class InitialState(BaseModel):
    """The plant's state before the first period (default: off long enough to do anything)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on: bool
    hours: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False, strict=True)] = Field(
        description="Hours the plant has been in this state (on or off) before the first period."
    )
    p: Megawatts | None = Field(default=None, description="Output before the first period (on: default pmin).")


class SchedulePlant(PowerPlant):
    """A plant of the hourly contract plus its dynamics, all optional."""

    startup_cost: FiniteNonNegative = Field(default=0.0, description="Euro per start.")
    min_up_h: Hours = Field(default=0.0, description="Hours a plant must stay on once started.")
    min_down_h: Hours = Field(default=0.0, description="Hours a plant must stay off once stopped.")
    ramp_up_mw_per_h: RampMWh | None = Field(default=None, description="Most MW/h of increase (none: free).")
    ramp_down_mw_per_h: RampMWh | None = Field(default=None, description="Most MW/h of decrease (none: free).")
    must_run: bool = False
    initial: InitialState | None = None

    @model_validator(mode="after")
    def _pmin_not_above_pmax(self) -> SchedulePlant:
        # Replaces PowerPlant's check of the same name so that the error points at pmin.
        if self.pmin > self.pmax:
            raise _located(
                ("pmin",),
                f"powerplant {self.name!r}: pmin ({as_sent(self.pmin)} MW) is greater than pmax ({as_sent(self.pmax)} MW)",
            )
        return self

    @model_validator(mode="after")
    def _initial_output_in_range(self) -> SchedulePlant:
        init = self.initial
        if init is not None and init.on and init.p is not None and self.type is not PlantType.windturbine:  # noqa: SIM102 - when the rule applies; the rule is the inner test
            if not self.pmin - 1e-9 <= init.p <= self.pmax + 1e-9:
                raise _located(
                    ("initial", "p"),
                    f"powerplant {self.name!r}: initial.p ({as_sent(init.p)} MW) is outside "
                    f"pmin..pmax ({as_sent(self.pmin)}..{as_sent(self.pmax)} MW)",
                )
        return self


class SchedulePeriod(BaseModel):
    """One period: the load to meet, its fuels (or the document's), the reserve to hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    load: Megawatts
    fuels: Fuels | None = None
    reserve: Megawatts = 0.0


class ScheduleRequest(BaseModel):
    """The whole desk document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period_hours: Annotated[float, Field(gt=0, le=24, allow_inf_nan=False, strict=True)] = 1.0
    fuels: Fuels | None = None
    periods: Annotated[list[SchedulePeriod], Field(min_length=1)]
    powerplants: Annotated[list[SchedulePlant], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleRequest:
        seen: set[str] = set()
        for index, plant in enumerate(self.powerplants):
            if plant.name in seen:
                raise _located(
                    ("powerplants", index, "name"),
                    f"powerplant name {plant.name!r} appears more than once; each plant needs its own name",
                )
            seen.add(plant.name)
        for index, period in enumerate(self.periods):
            if period.fuels is None and self.fuels is None:
                raise _located(("periods", index, "fuels"), "no fuels, and no document-level fuels to fall back on")
        return self

    def fuels_of(self, index: int) -> Fuels:
        fuels = self.periods[index].fuels or self.fuels
        assert fuels is not None  # checked by _consistent
        return fuels


def _periods(hours: float, period_hours: float) -> int:
    return max(1, math.ceil(hours / period_hours - 1e-9))


def _thermal(plant: SchedulePlant, request: ScheduleRequest, costs: CostModel) -> ThermalUnit:
    h = request.period_hours
    prices = [costs.cost_per_mwh(plant, request.fuels_of(t)) for t in range(len(request.periods))]
    init = plant.initial or InitialState(on=False, hours=10_000)
    periods_in_state = _periods(init.hours, h)
    curve_mw = (plant.pmin, plant.pmax) if plant.pmax > plant.pmin else (plant.pmin,)
    startup = (StartupCategory(lag=1, cost=plant.startup_cost),) if plant.startup_cost > 0 else ()
    return ThermalUnit(
        name=plant.name,
        pmin=plant.pmin,
        pmax=plant.pmax,
        curve_mw=curve_mw,
        curve_cost=tuple(mw * h for mw in curve_mw),  # MWh per period; the price is the scale
        startup=startup,
        min_up=_periods(plant.min_up_h, h) if plant.min_up_h > 0 else 1,
        min_down=_periods(plant.min_down_h, h) if plant.min_down_h > 0 else 1,
        ramp_up=plant.ramp_up_mw_per_h * h if plant.ramp_up_mw_per_h else math.inf,
        ramp_down=plant.ramp_down_mw_per_h * h if plant.ramp_down_mw_per_h else math.inf,
        must_run=plant.must_run,
        on_t0=init.on,
        time_up_t0=periods_in_state if init.on else 0,
        time_down_t0=0 if init.on else periods_in_state,
        p_t0=(init.p if init.p is not None else plant.pmin) if init.on else 0.0,
        cost_scale=tuple(prices),
    )


def problem_from_desk(request: ScheduleRequest, costs: CostModel | None = None, periods: int | None = None) -> Problem:
    """The desk document as a `Problem` (its first `periods` periods when asked)."""
    costs = costs or CostModel()
    count = len(request.periods) if periods is None else periods
    if not 1 <= count <= len(request.periods):
        raise ScheduleInputError.at("periods", f"{count} periods asked, the document has {len(request.periods)}")
    if count < len(request.periods):
        request = request.model_copy(update={"periods": request.periods[:count]})
    thermal = tuple(
        _thermal(plant, request, costs) for plant in request.powerplants if plant.type is not PlantType.windturbine
    )
    renewable = tuple(
        RenewableUnit(
            name=plant.name,
            pmin=np.zeros(count),
            pmax=np.array([plant.pmax * request.fuels_of(t).wind / 100.0 for t in range(count)]),
        )
        for plant in request.powerplants
        if plant.type is PlantType.windturbine
    )
    return Problem(
        demand=np.array([p.load for p in request.periods], dtype=float),
        reserve=np.array([p.reserve for p in request.periods], dtype=float),
        thermal=thermal,
        renewable=renewable,
        period_hours=request.period_hours,
    )


def _plant_name(doc: Any, index: int) -> str | None:
    """The name the user gave powerplants[index], when it can be read."""
    plants = doc.get("powerplants") if isinstance(doc, dict) else None
    if isinstance(plants, list) and 0 <= index < len(plants) and isinstance(plants[index], dict):
        name = plants[index].get("name")
        if isinstance(name, str):
            return name
    return None


def problems_of(exc: ValidationError, doc: Any) -> list[InputProblem]:
    """pydantic's errors located as the desk's user wrote them: unit = the plant's name inside
    powerplants[i], period = i + 1 inside periods[i]."""
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] == _LOCATED:
            loc += tuple(error["ctx"]["loc"])
        unit = _plant_name(doc, loc[1]) if len(loc) >= 2 and loc[0] == "powerplants" and isinstance(loc[1], int) else None
        period = loc[1] + 1 if len(loc) >= 2 and loc[0] == "periods" and isinstance(loc[1], int) else None
        message = "this field is required" if error["type"] == "missing" else str(error["msg"]).removeprefix("Value error, ")
        problems.append(input_problem(field_path(loc), message, unit, period))
    return problems


def _check_limits(doc: Any, periods: int | None, max_units: int | None, max_periods: int | None) -> None:
    """The caller's size limits, checked on the raw document before any costly validation."""
    if not isinstance(doc, dict):
        return
    plants, rows = doc.get("powerplants"), doc.get("periods")
    if max_units is not None and isinstance(plants, list) and len(plants) > max_units:
        raise ScheduleInputError.at("powerplants", f"{len(plants)} plants; this service takes at most {max_units}")
    asked = periods if periods is not None else (len(rows) if isinstance(rows, list) else None)
    if max_periods is not None and asked is not None and asked > max_periods:
        raise ScheduleInputError.at("periods", f"{asked} periods asked; this service takes at most {max_periods}")


def read_desk(
    doc: Any, periods: int | None = None, *, max_units: int | None = None, max_periods: int | None = None
) -> Problem:
    """Validate a desk document and convert it; ScheduleInputError lists what to fix and where."""
    _check_limits(doc, periods, max_units, max_periods)
    try:
        request = ScheduleRequest.model_validate(doc)
    except ValidationError as exc:
        raise ScheduleInputError(problems_of(exc, doc)) from exc
    return problem_from_desk(request, periods=periods)
