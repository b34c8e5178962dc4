"""`POST /productionplan` (the challenge's contract) and `GET /_healthcheck`."""

from __future__ import annotations

from importlib import metadata
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from merit_order.api.middleware import set_plant_count
from merit_order.api.openapi import plan_request_body
from merit_order.api.responses import FastJSONResponse
from merit_order.api.schemas import ErrorBody, Health, PlanDetail, PlanItem, PlanRejected
from merit_order.planning import challenge_list, plan_request
from merit_order.services import DOWN_STATUSES, Services
from merit_order.settings import Settings
from merit_order.validation import decode_json, parse_request

router = APIRouter()


def package_version() -> str:
    try:
        return metadata.version("merit-order")
    except metadata.PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"


@router.post(
    "/productionplan",
    tags=["plan"],
    summary="The cheapest production plan for one hour",
    response_model=list[PlanItem] | PlanDetail,
    openapi_extra={"requestBody": plan_request_body()},
    responses={
        200: {
            "description": "The plan: every plant in merit order, its p in MW (multiples of 0.1, "
            "summing to the load). With `detail=true`, the plan with its costs and CO2.",
            "headers": {"X-Cache": {"description": "hit or miss", "schema": {"type": "string"}}},
        },
        400: {"model": ErrorBody, "description": "The body is not JSON (or is empty)."},
        413: {"model": ErrorBody, "description": "The body is larger than MAX_BODY_BYTES."},
        422: {
            "model": PlanRejected,
            "description": "Invalid payload (each problem names the field and the plant), a request "
            "over a limit, or a load no plan can meet (with the nearest loads that can be met).",
        },
        503: {
            "model": ErrorBody,
            "description": "The solve took longer than SOLVE_TIMEOUT_SECONDS (overload): retry after Retry-After.",
        },
    },
)
async def production_plan(
    request: Request,
    detail: Annotated[bool, Query(description="Answer with costs, marginal cost and CO2 per plant.")] = False,
    wind_curtailment: Annotated[
        bool | None,
        Query(
            description="Allow wind parks to run anywhere between 0 and their available power instead of "
            "all-or-nothing. Default: the WIND_CURTAILMENT setting (false)."
        ),
    ] = None,
) -> FastJSONResponse:
    """The minimum-cost plan meeting the load, ties given to the plants first in merit order.

    The body is read here rather than by FastAPI so that the limits are checked before any
    validation work and every error can name the plant by the name in the raw body.
    """
    settings: Settings = request.app.state.settings
    services: Services = request.app.state.services

    payload = decode_json(await request.body())
    plants = payload.get("powerplants") if isinstance(payload, dict) else None
    if isinstance(plants, list):
        set_plant_count(request.scope, len(plants))
    plan_req = parse_request(payload, request.app.state.limits)

    curtail = settings.wind_curtailment if wind_curtailment is None else wind_curtailment
    document, cache_hit = await plan_request(services, settings, plan_req, wind_curtailment=curtail)
    body: Any = document if detail else challenge_list(document)
    return FastJSONResponse(body, headers={"X-Cache": "hit" if cache_hit else "miss"})


@router.get("/_healthcheck", tags=["ops"], summary="Liveness and the state of each backend", response_model=Health)
async def healthcheck(request: Request) -> Health:
    """Always 200 while the process serves; `degraded` when a backend reports itself down."""
    services: Services = request.app.state.services
    backends = await services.health()
    down = any(str(report.get("status", "")).lower() in DOWN_STATUSES for report in backends.values())
    return Health(status="degraded" if down else "ok", version=package_version(), backends=backends)
