"""Response models: what /docs shows a client to expect, and what the routes promise to send."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class PlanItem(BaseModel):
    """One line of the challenge's answer."""

    name: str = Field(description="The plant's name, as in the request.")
    p: float = Field(description="MW to produce, a multiple of 0.1.")


class PlanEntryDetail(PlanItem):
    """One plant of the detailed answer."""

    type: Literal["gasfired", "turbojet", "windturbine"]
    cost_per_mwh: float = Field(description="Euro per MWh this plant produces (fuel / efficiency + CO2).")
    cost: float = Field(description="Euro for the hour: p * cost_per_mwh.")
    co2_tonnes: float = Field(description="Tonnes of CO2 emitted for the hour.")
    pmin: float = Field(description="Least MW it produces when on (Pmin on the 0.1 grid; 0 for wind).")
    available: float = Field(description="Most MW it could produce this hour (Pmax, or the wind's share).")


class PlanDetail(BaseModel):
    """`?detail=true`: the plan in merit order with the figures behind it."""

    load: float = Field(description="MW asked for; the sum of every p.")
    total_cost: float = Field(description="Euro for the hour.")
    marginal_cost: float | None = Field(description="Euro per MWh of the dearest plant running (null if none).")
    co2_tonnes: float = Field(description="Tonnes of CO2 for the hour.")
    plan: list[PlanEntryDetail] = Field(description="Every plant, in merit order; p = 0 when off.")


class FieldProblem(BaseModel):
    field: str = Field(description="Where: a path such as powerplants[2].pmin, or 'body'.")
    plant: str | None = Field(description="The plant's name when the problem is about one plant.")
    message: str


class ErrorBody(BaseModel):
    """Every 4xx/5xx of this service."""

    detail: str = Field(description="One human sentence saying what is wrong.")
    errors: list[FieldProblem] = Field(default_factory=list)
    request_id: str | None = None


class ScheduleFieldProblem(FieldProblem):
    """A problem in a schedule instance: `plant` (as on every route) and `unit` name the unit,
    `period` the 1-based period, when the problem is about one."""

    unit: str | None = Field(default=None, description="The unit's name (the plant, in the desk format).")
    period: int | None = Field(default=None, description="The period, counted from 1.")


class ScheduleErrorBody(ErrorBody):
    """An error of the schedule routes: the same shape, each problem located by unit and period too."""

    errors: list[ScheduleFieldProblem] = Field(default_factory=list)  # type: ignore[assignment]  # a narrower list of the same items


class NearestLoads(BaseModel):
    below: float | None = Field(description="Largest load under the one asked that the fleet can meet.")
    above: float | None = Field(description="Smallest load over the one asked that the fleet can meet.")


class InfeasibleBody(ErrorBody):
    """A 422 for a load no plan can meet."""

    nearest_loads: NearestLoads


class PlanRejected(ErrorBody):
    """A 422 of POST /productionplan: an invalid payload, or a load no plan can meet."""

    nearest_loads: NearestLoads | None = Field(
        None, description="Only when the load cannot be met: the nearest loads that can."
    )


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded: a backend reports down (still a 200).")
    version: str
    backends: dict[str, dict[str, Any]]
