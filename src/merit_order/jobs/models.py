"""What a trader submits as a job, validated whole at submit time.

Three shapes, told apart by their keys (no "kind" field to forget):

* a single challenge payload -- `{"load": ..., "fuels": ..., "powerplants": [...]}`;
* a list of full payloads -- `{"requests": [payload, ...]}` (each may carry a `label`);
* one fleet and a series -- `{"powerplants": [...], "periods": [{"label": "2025-01-01T00:00Z",
  "load": ..., "fuels": {...}}, ...]}`: the shape of a day-ahead run or a year of
  back-testing, where the fleet is fixed and only load and prices move, so it is sent once.

Every period is validated before the job is accepted, so that a bad hour 5,000 is a 422
naming `periods.4999.load` now, not a failed job an hour later. Infeasibility is not a
validation error: it depends on the solve and is reported per period in the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from ..calculator import Fuels, PowerPlant, ProductionPlanRequest
from ..calculator.schema import FiniteNonNegative, check_load_on_grid
from ..validation import FieldError, Limits, PayloadError, parse_request, summarise

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

    powerplants: Annotated[list[PowerPlant], Field(min_length=1)]
    periods: Annotated[list[Period], Field(min_length=1)]

    @model_validator(mode="after")
    def _fleet_is_valid(self) -> "SeriesBatch":
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
#: `parse_submission` (same models, plus the service's limits, and errors that name the period).
JobSubmission = Annotated[
    Union[
        Annotated[RequestsBatch, Tag("requests")],
        Annotated[SeriesBatch, Tag("series")],
        Annotated[LabelledRequest, Tag("single")],
    ],
    Discriminator(
        _batch_kind,
        custom_error_type="invalid_job",
        custom_error_message="a job is a payload object, {'requests': [...]} or {'powerplants': [...], 'periods': [...]}",
    ),
]

#: Fuel prices of zero: validating the fleet alone needs some fuels, and zero prices make no
#: cost limit fire (costs are checked per period, with that period's prices).
_ZERO_FUELS = {"gas(euro/MWh)": 0, "kerosine(euro/MWh)": 0, "co2(euro/ton)": 0, "wind(%)": 0}
_MAX_ERRORS = 20
_PLANT_FIELD = re.compile(r"^powerplants\[(\d+)\]")


def parse_submission(payload: Any, limits: Limits, *, max_periods: int) -> "Batch":
    """The validated job, or a PayloadError naming the period (and plant) and field at fault.

    Applies the service's limits (validation.parse_request) to every period, as the sync
    route does, so that a job accepts exactly what POST /productionplan accepts.
    """
    if not isinstance(payload, dict):
        raise PayloadError(
            "a job is a JSON object: one payload, {\"requests\": [payload, ...]} or "
            "{\"powerplants\": [...], \"periods\": [{\"load\", \"fuels\"}, ...]}",
            [FieldError("body", "expected an object")],
        )
    if "requests" in payload:
        return _parse_requests(payload["requests"], limits, max_periods)
    if "periods" in payload:
        return _parse_series(payload.get("powerplants"), payload["periods"], limits, max_periods)
    request = parse_request(payload, limits)
    errors: list[FieldError] = []
    label = _label(payload, "", errors)
    _raise_if(errors)
    return Batch("single", None, [{**_dump(request), "label": label}])


def _check_list(value: Any, name: str, max_periods: int) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise PayloadError(
            f"{name} must be a non-empty list", [FieldError(name, "expected a non-empty list")]
        )
    if len(value) > max_periods:
        message = (
            f"{len(value)} periods; a job holds at most {max_periods} (MAX_BATCH_PERIODS): split it into several jobs"
        )
        raise PayloadError(f"job over a limit: {message}", [FieldError(name, message)])
    return value


def _label(item: dict[str, Any], where: str, errors: list[FieldError]) -> str | None:
    label = item.get("label")
    if label is None:
        return None
    if not isinstance(label, str) or len(label) > 100:
        errors.append(FieldError(f"{where}label", "a label is a string of at most 100 characters"))
        return None
    return label


def _raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise PayloadError(summarise(errors), errors[:_MAX_ERRORS])


def _parse_requests(value: Any, limits: Limits, max_periods: int) -> "Batch":
    items = _check_list(value, "requests", max_periods)
    errors: list[FieldError] = []
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"requests[{i}]"
        try:
            request = parse_request(item, limits)
        except PayloadError as error:
            errors.extend(FieldError(f"{where}.{e.field}", e.message, e.plant) for e in error.errors)
            if len(errors) >= _MAX_ERRORS:
                break
            continue
        out.append({**_dump(request), "label": _label(item, f"{where}.", errors)})
    _raise_if(errors)
    return Batch("requests", None, out)


def _parse_series(fleet: Any, value: Any, limits: Limits, max_periods: int) -> "Batch":
    periods = _check_list(value, "periods", max_periods)
    if fleet is None:
        raise PayloadError(
            "a series needs the fleet: powerplants is missing", [FieldError("powerplants", "required field is missing")]
        )
    # The fleet once (types, pmin/pmax, names, plant limits), then each period with the
    # validated plants, which pydantic takes as they are: ~50 us a period, not ~170.
    fleet_request = parse_request({"load": 0, "fuels": _ZERO_FUELS, "powerplants": fleet}, limits)
    plants = fleet_request.powerplants
    errors: list[FieldError] = []
    out: list[dict[str, Any]] = []
    for i, item in enumerate(periods):
        where = f"periods[{i}]"
        if not isinstance(item, dict):
            errors.append(FieldError(where, "expected an object with load and fuels"))
            continue
        try:
            request = parse_request({"load": item.get("load"), "fuels": item.get("fuels"), "powerplants": plants}, limits)
        except PayloadError as error:
            for e in error.errors:
                plant = e.plant
                match = _PLANT_FIELD.match(e.field)
                if match and plant is None:
                    plant = plants[int(match.group(1))].name
                errors.append(FieldError(f"{where}.{e.field}", e.message, plant))
            if len(errors) >= _MAX_ERRORS:
                break
            continue
        out.append(
            {
                "label": _label(item, f"{where}.", errors),
                "load": request.load,
                "fuels": request.fuels.model_dump(mode="json", by_alias=True),
            }
        )
    _raise_if(errors)
    return Batch("series", [_dump(p) for p in plants], out)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A slice of a job as a worker receives it: plain JSON, so any process can run it.

    `fleet` is set for a series (sent once per chunk, not once per period); `items` are
    then `{"label", "load", "fuels"}`. Otherwise `items` are full payloads.
    """

    index: int
    start: int
    fleet: list[dict[str, Any]] | None
    items: list[dict[str, Any]]

    def to_message(self) -> dict[str, Any]:
        return {"index": self.index, "start": self.start, "fleet": self.fleet, "items": self.items}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> "Chunk":
        return cls(index=message["index"], start=message["start"], fleet=message["fleet"], items=message["items"])


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)


@dataclass(frozen=True, slots=True)
class Batch:
    """A validated submission, normalised to a list of periods that can be cut into chunks."""

    kind: Literal["single", "requests", "series"]
    fleet: list[dict[str, Any]] | None
    items: list[dict[str, Any]]

    @property
    def periods(self) -> int:
        return len(self.items)

    def chunks(self, size: int) -> list[Chunk]:
        if size <= 0:
            raise ValueError("chunk size must be positive")
        return [
            Chunk(index=k, start=start, fleet=self.fleet, items=self.items[start : start + size])
            for k, start in enumerate(range(0, len(self.items), size))
        ]


def chunk_requests(chunk: Chunk) -> list[tuple[str | None, ProductionPlanRequest]]:
    """The chunk's periods as validated requests (workers re-validate: a message is just data).

    For a series the fleet is validated once and its plant models reused for every period,
    which pydantic accepts without re-validating them.
    """
    if chunk.fleet is None:
        out = []
        for item in chunk.items:
            request = LabelledRequest.model_validate(item)
            out.append((request.label, request))
        return out
    plants = [PowerPlant.model_validate(p) for p in chunk.fleet]
    out = []
    for item in chunk.items:
        period = Period.model_validate(item)
        out.append(
            (
                period.label,
                ProductionPlanRequest.model_validate({"load": period.load, "fuels": period.fuels, "powerplants": plants}),
            )
        )
    return out
