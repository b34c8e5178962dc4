"""What a trader submits as a job: the shapes, as pydantic models (the OpenAPI schema, and the
per-period models a worker re-validates a chunk with).

Four shapes, told apart by their keys (no "kind" field to forget):

* a single challenge payload -- `{"load": ..., "fuels": ..., "powerplants": [...]}`;
* a list of full payloads -- `{"requests": [payload, ...]}` (each may carry a `label`), or the
  bare array `[payload, ...]`, which is what people try first;
* one fleet and a series -- `{"powerplants": [...], "periods": [{"label": "2025-01-01T00:00Z",
  "load": ..., "fuels": {...}}, ...]}`: the shape of a day-ahead run or a year of
  back-testing, where the fleet is fixed and only load and prices move, so it is sent once.

The route validates with submission.py (the same rules plus the service's limits, and errors
that name the period), not with these models directly.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from ..calculator import Fuels, PowerPlant, ProductionPlanRequest
from ..calculator.schema import FiniteNonNegative, check_load_on_grid

Label = Annotated[str, Field(max_length=100, description="Free text for the period, e.g. its ISO timestamp.")]


class LabelledRequest(ProductionPlanRequest):
    """A full challenge payload, with an optional label echoed in the result."""

    label: Label | None = None


class Period(BaseModel):
    """One period of a series: the load and prices of that hour (or quarter-hour)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    label: Label | None = None
    load: FiniteNonNegative = Field(description="MW to produce during the period; a multiple of 0.1 MW.")
    fuels: Fuels

    @field_validator("load")
    @classmethod
    def _load_on_grid(cls, load: float) -> float:
        return check_load_on_grid(load)


class RequestsBatch(BaseModel):
    """Independent payloads solved in order (different fleets allowed)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    requests: Annotated[list[LabelledRequest], Field(min_length=1)]


class SeriesBatch(BaseModel):
    """One fleet and a load/price series: the trader's shape for day-ahead runs and back-tests."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    powerplants: list[PowerPlant]  # an empty fleet is valid (load 0 -> [], as for /productionplan)
    periods: Annotated[list[Period], Field(min_length=1)]

    @model_validator(mode="after")
    def _fleet_is_valid(self) -> SeriesBatch:
        # The fleet-level rules (unique names, ...) live on the request model: apply them once,
        # with the first period, rather than re-implementing them here.
        first = self.periods[0]
        try:
            ProductionPlanRequest.model_validate(
                {"load": first.load, "fuels": first.fuels, "powerplants": self.powerplants}
            )
        except ValidationError as error:
            raise ValueError("; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())) from None
        return self


def _batch_kind(value: Any) -> str | None:
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        if "requests" in value:
            return "requests"
        if "periods" in value:
            return "series"
        return "single"
    if isinstance(value, BaseModel):
        return {RequestsBatch: "requests", SeriesBatch: "series"}.get(type(value), "single")
    return None


#: The body of POST /productionplan/jobs, for the OpenAPI schema. The route validates with
#: `submission.parse_submission` (same models, plus the service's limits, and errors that name the period).
JobSubmission = Annotated[
    Annotated[RequestsBatch, Tag("requests")]
    | Annotated[Annotated[list[LabelledRequest], Field(min_length=1)], Tag("list")]
    | Annotated[SeriesBatch, Tag("series")]
    | Annotated[LabelledRequest, Tag("single")],
    Discriminator(
        _batch_kind,
        custom_error_type="invalid_job",
        custom_error_message="a job is a payload object, [payload, ...], {'requests': [...]} or {'powerplants': [...], 'periods': [...]}",
    ),
]
