"""`POST /productionplan` (the challenge's contract) and `GET /_healthcheck`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import Scope

from merit_order.api.deps import ServicesDep
from merit_order.api.middleware import set_plant_count
from merit_order.api.openapi import plan_request_body
from merit_order.api.responses import FastJSONResponse
from merit_order.api.schemas import ErrorBody, Health, PlanDetail, PlanItem, PlanRejected
from merit_order.planning import plan_request
from merit_order.services import DOWN_STATUSES, Services
from merit_order.settings import Settings
from merit_order.validation import Limits, PayloadError, decode_json, parse_request, summarise, translate_errors
from merit_order.version import package_version

router = APIRouter()


class PlanQuery(BaseModel):
    """The query parameters of `POST /productionplan`: declared for /docs and validated by hand."""

    model_config = ConfigDict(extra="ignore")  # as FastAPI does: unknown parameters are not an error

    detail: bool = Field(False, description="Answer with costs, marginal cost and CO2 per plant.")
    wind_curtailment: bool | None = Field(
        None,
        description="Allow wind parks to run anywhere between 0 and their available power instead of "
        "all-or-nothing. Default: the WIND_CURTAILMENT setting (false).",
    )


_NO_QUERY = PlanQuery()


def plan_query(query_string: bytes) -> PlanQuery:
    """The validated query parameters (FastAPI's words for a bad value, as a 422 PayloadError)."""
    if not query_string:
        return _NO_QUERY
    params = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))  # the last value wins
    try:
        return PlanQuery.model_validate(params)
    except ValidationError as exc:
        errors = translate_errors(exc.errors(include_url=False), None)
        raise PayloadError(summarise(errors), errors) from None


async def answer_plan(scope: Scope, body: bytes) -> Response:
    """The minimum-cost plan meeting the load, ties given to the plants first in merit order.

    Served by api/direct.py (see there why); raises the planning errors of api/errors.py.
    The body is parsed here rather than by FastAPI so that the limits are checked before any
    validation work and every error can name the plant by the name in the raw body.
    """
    state = scope["app"].state  # no dependency injection on this path (see api/direct.py): typed by hand
    settings: Settings = state.settings
    limits: Limits = state.limits
    services: Services = state.services
    query = plan_query(scope.get("query_string", b""))

    payload = decode_json(body)
    plants = payload.get("powerplants") if isinstance(payload, dict) else None
    if isinstance(plants, list):
        set_plant_count(scope, len(plants))
    plan_req = parse_request(payload, limits)

    curtail = settings.wind_curtailment if query.wind_curtailment is None else query.wind_curtailment
    answer = await plan_request(services, settings, plan_req, wind_curtailment=curtail)
    content: Any = answer.document() if query.detail else answer.challenge_list()
    return FastJSONResponse(content, headers={"X-Cache": "hit" if answer.cache_hit else "miss"})


class _PlanRoute(APIRoute):
    """The declared route: requests that reach it through FastAPI's router get the same endpoint."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        async def handler(request: Request) -> Response:
            return await answer_plan(request.scope, await request.body())

        return handler


async def _declaration(query: Annotated[PlanQuery, Query()]) -> None:
    """Declares the route's parameters for OpenAPI; requests are answered by `answer_plan`."""


def add_plan_route(router: APIRouter) -> APIRoute:
    """Declare `POST /productionplan` on `router` (for OpenAPI, /docs and 405s); the route object."""
    router.add_api_route(
        "/productionplan",
        _declaration,
        methods=["POST"],
        route_class_override=_PlanRoute,
        name="production_plan",
        tags=["plan"],
        summary="The cheapest production plan for one hour",
        description="The minimum-cost plan meeting the load, ties given to the plants first in merit order. "
        "The limits (MAX_PLANTS, MAX_LOAD_MW, MAX_BODY_BYTES...) are checked before any work; every "
        "error names the field and the plant.",
        response_model=list[PlanItem] | PlanDetail,
        openapi_extra={"requestBody": plan_request_body()},
        responses={
            200: {
                "description": "The plan: every plant in merit order, its p in MW (multiples of 0.1, "
                "summing to the load). With `detail=true`, the plan with its costs and CO2.",
                "headers": {"X-Cache": {"description": "hit or miss", "schema": {"type": "string"}}},
            },
            400: {"model": ErrorBody, "description": "The body is not JSON (or is empty, or not UTF-8)."},
            413: {"model": ErrorBody, "description": "The body is larger than MAX_BODY_BYTES."},
            415: {"model": ErrorBody, "description": "The Content-Type is not application/json (or +json) in UTF-8."},
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
    route = router.routes[-1]
    assert isinstance(route, APIRoute) and route.path == "/productionplan"
    return route


@router.get("/_healthcheck", tags=["ops"], summary="Liveness and the state of each backend", response_model=Health)
async def healthcheck(services: ServicesDep) -> Health:
    """Always 200 while the process serves; `degraded` when a backend reports itself down."""
    backends = await services.health()
    down = any(str(report.get("status", "")).lower() in DOWN_STATUSES for report in backends.values())
    return Health(status="degraded" if down else "ok", version=package_version(), backends=backends)
