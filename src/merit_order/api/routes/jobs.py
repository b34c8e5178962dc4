"""`POST /productionplan/jobs` and `GET /productionplan/jobs/{id}`: plans off the request path.

A job is one payload or a batch (a list of payloads, or one fleet with a series of loads
and prices). The POST validates every period, hands the work to the job queue and
answers 202 at once with the job's id and its `Location`; the GET answers the status and,
once every period is solved, one page of the plans in period order (JOB_RESULTS_DEFAULT_LIMIT
periods unless `limit` says otherwise, at most JOB_RESULTS_MAX_LIMIT, and at most
JOB_RESULTS_MAX_PAGE_BYTES of JSON). Whether chunks run in this process or on Celery
workers elsewhere, both routes behave the same.

The answer is serialized in a thread: a page is bounded, but even a bounded page of a
large fleet takes milliseconds to encode, which the event loop must not wait for.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import anyio.to_thread
import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter

from merit_order.api.deps import JobQueueDep, LimitsDep, SettingsDep
from merit_order.api.errors import error_response
from merit_order.api.schemas import ErrorBody
from merit_order.jobs import JobBackendUnavailable, JobSubmission
from merit_order.jobs.results import JobGone, ResultsNotKept
from merit_order.jobs.submission import parse_submission
from merit_order.validation import FieldError, decode_json

router = APIRouter(tags=["jobs"])

_EXAMPLE_SERIES = {
    "powerplants": [
        {"name": "gasfiredbig1", "type": "gasfired", "efficiency": 0.53, "pmin": 100, "pmax": 460},
        {"name": "tj1", "type": "turbojet", "efficiency": 0.3, "pmin": 0, "pmax": 16},
        {"name": "windpark1", "type": "windturbine", "efficiency": 1, "pmin": 0, "pmax": 150},
    ],
    "periods": [
        {
            "label": "2025-01-01T00:00Z",
            "load": 300,
            "fuels": {"gas(euro/MWh)": 13.4, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 60},
        },
        {
            "label": "2025-01-01T01:00Z",
            "load": 280.5,
            "fuels": {"gas(euro/MWh)": 13.1, "kerosine(euro/MWh)": 50.8, "co2(euro/ton)": 20, "wind(%)": 35},
        },
    ],
}



def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """The submission's JSON schema with its `$defs` inlined (none is recursive), so that it
    can sit in the route's openapi_extra without registering components by hand."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


_SUBMISSION_SCHEMA = _inlined(TypeAdapter(JobSubmission).json_schema(by_alias=True))


def _unavailable(request: Request, error: JobBackendUnavailable) -> JSONResponse:
    return error_response(request, 503, {"detail": str(error), "errors": []}, headers={"Retry-After": "5"})


@router.post(
    "/productionplan/jobs",
    status_code=202,
    summary="Queue one payload or a batch of periods",
    response_description="Accepted: poll the Location for the status and, when done, the plans.",
    responses={
        202: {
            "content": {
                "application/json": {
                    "example": {"job_id": "3f0c...", "status": "queued", "periods": 2, "location": "/productionplan/jobs/3f0c..."}
                }
            }
        },
        400: {"model": ErrorBody, "description": "The body is not JSON."},
        413: {"model": ErrorBody, "description": "The body is over MAX_JOB_BODY_BYTES."},
        415: {"model": ErrorBody, "description": "The Content-Type is not application/json (or +json) in UTF-8."},
        422: {"model": ErrorBody, "description": "A period is invalid: the error names it, e.g. periods[41].load."},
        503: {"model": ErrorBody, "description": "The job queue (Redis) is unavailable; retry later."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": _SUBMISSION_SCHEMA,
                    "examples": {
                        "series": {"summary": "One fleet, a series of periods", "value": _EXAMPLE_SERIES},
                        "list": {
                            "summary": "A list of full payloads (a bare array)",
                            "value": [
                                {
                                    "load": 300,
                                    "fuels": _EXAMPLE_SERIES["periods"][0]["fuels"],
                                    "powerplants": _EXAMPLE_SERIES["powerplants"],
                                }
                            ],
                        },
                        "requests": {
                            "summary": "A list of full payloads, labelled",
                            "value": {
                                "requests": [
                                    {
                                        "label": "desk A",
                                        "load": 300,
                                        "fuels": _EXAMPLE_SERIES["periods"][0]["fuels"],
                                        "powerplants": _EXAMPLE_SERIES["powerplants"],
                                    }
                                ]
                            },
                        },
                    },
                }
            },
        }
    },
)
async def submit_job(
    request: Request,
    settings: SettingsDep,
    limits: LimitsDep,
    queue: JobQueueDep,
    wind_curtailment: Annotated[
        bool | None,
        Query(description="Let wind parks run below their available power (default: the service's setting)."),
    ] = None,
    detail: Annotated[
        bool,
        Query(
            description="Keep each plan's detail document (costs per plant) with the results. Off by default: "
            "the detail is several times the plan, and a job keeps its results a day."
        ),
    ] = False,
) -> JSONResponse:
    """Validate every period now (a 422 names the period and field), solve them later.

    Shapes: a single challenge payload; a list of payloads, `[payload, ...]` or
    `{"requests": [payload, ...]}`; or one fleet with a series, `{"powerplants": [...],
    "periods": [{"label", "load", "fuels"}, ...]}`. A period whose load no plan can meet is
    not an error here: its result says why (with `nearest_loads`, as POST /productionplan).
    """
    payload = decode_json(await request.body())
    # Validating a year of periods takes a fraction of a second: off the event loop.
    batch = await anyio.to_thread.run_sync(
        lambda: parse_submission(payload, limits, max_periods=settings.max_batch_periods)
    )
    cost_model = settings.cost_model()
    options = {
        "wind_curtailment": settings.wind_curtailment if wind_curtailment is None else wind_curtailment,
        "gas_co2_t_per_mwh": cost_model.gas_co2_t_per_mwh,
        "kerosine_co2_t_per_mwh": cost_model.kerosine_co2_t_per_mwh,
        "detail": detail,
    }
    try:
        job_id = await queue.submit(batch, options)
    except JobBackendUnavailable as error:
        return _unavailable(request, error)
    location = str(request.app.url_path_for("get_job", job_id=job_id))
    return JSONResponse(
        {"job_id": job_id, "status": "queued", "periods": batch.periods, "location": location},
        status_code=202,
        headers={"Location": location},
    )


@router.get(
    "/productionplan/jobs/{job_id}",
    name="get_job",
    summary="A job's status and, when done, a page of its plans in period order",
    responses={
        200: {
            "description": "status: queued | running | done | failed. Once done or failed, `results` holds one "
            "page of periods, in order: status ok (plan: the challenge's list; detail, if the job was submitted "
            "with detail=true: costs per plant), infeasible (reason; nearest_loads: {below, above} in MW, as "
            "POST /productionplan answers) or error (reason). "
            "`results_page` says the page's offset, limit, count, the total and `next` (the next page's URL, "
            "null on the last page); a `Link: <...>; rel=\"next\"` header says the same."
        },
        404: {
            "model": ErrorBody,
            "description": "No such job, or no longer kept: expired after JOB_RESULT_TTL_SECONDS, or evicted from "
            "the in-process store (JOB_STORE_MAX_BYTES); the detail says which when it is known.",
        },
        422: {
            "model": ErrorBody,
            "description": "A query parameter is invalid (offset < 0, limit < 0 or over JOB_RESULTS_MAX_LIMIT), or "
            "detail=true for a job submitted without it.",
        },
        503: {"model": ErrorBody, "description": "The job store (Redis) is unavailable; retry later."},
    },
)
async def get_job(
    request: Request,
    settings: SettingsDep,
    queue: JobQueueDep,
    job_id: str,
    offset: Annotated[int, Query(ge=0, description="First period of the results page.")] = 0,
    limit: Annotated[
        int | None,
        Query(
            ge=0,
            description="Periods in the results page (default JOB_RESULTS_DEFAULT_LIMIT, at most "
            "JOB_RESULTS_MAX_LIMIT; 0: the status only, no results read).",
        ),
    ] = None,
    detail: Annotated[
        bool | None,
        Query(description="Include each plan's detail document (default: as the job was submitted; false drops it)."),
    ] = None,
) -> Response:
    if limit is None:
        limit = settings.job_results_default_limit
    elif limit > settings.job_results_max_limit:
        message = f"limit is at most {settings.job_results_max_limit} (JOB_RESULTS_MAX_LIMIT): page with offset"
        return error_response(request, 422, {"detail": message, "errors": [FieldError("limit", message).as_dict()]})
    try:
        status = await queue.status(job_id, offset=offset, limit=limit, detail=detail)
    except JobBackendUnavailable as error:
        return _unavailable(request, error)
    except JobGone as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    except ResultsNotKept as error:
        return error_response(request, 422, {"detail": str(error), "errors": [FieldError("detail", str(error)).as_dict()]})
    if status is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id!r} (unknown, or its results expired)")
    headers = {} if status["status"] in ("done", "failed") else {"Retry-After": "1"}
    page = status.get("results_page")
    if page is not None:
        next_offset = page.pop("next_offset")
        page["next"] = None
        if next_offset is not None:
            query = {"offset": next_offset, "limit": limit, **({} if detail is None else {"detail": str(detail).lower()})}
            page["next"] = f"{request.url.path}?{urlencode(query)}"
            headers["Link"] = f'<{page["next"]}>; rel="next"'
    body = await anyio.to_thread.run_sync(orjson.dumps, status)
    return Response(body, media_type="application/json", headers=headers)
