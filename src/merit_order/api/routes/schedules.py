"""`/schedules`: day-ahead schedules (unit commitment) as jobs, with live progress.

`POST /schedules` validates the instance here, on the request path (a 422 names the field,
the unit and the period; limits from the settings), then hands it to the schedule queue and
answers 202 + Location at once; `GET /schedules/{id}` reports the status, the progress (best
objective, proven lower bound, gap) and, once done, the schedule in the solver's documented
format; `DELETE` cancels, keeping the best schedule found so far. Whether the solve runs in
a process of this server or on a Celery worker, the routes behave the same (docs/schedules.md).
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from merit_order.api.deps import ScheduleQueueDep, SettingsDep
from merit_order.api.errors import error_response
from merit_order.api.schemas import ErrorBody, ScheduleErrorBody
from merit_order.schedule import ScheduleInfeasible, ScheduleInputError, input_format, read_problem
from merit_order.schedule.solve import check_capacity
from merit_order.schedule_jobs.queue import NotCancellable, ScheduleBackendUnavailable
from merit_order.schedule_jobs.runner import ScheduleOptions
from merit_order.settings import Settings
from merit_order.validation import PayloadError, decode_json

router = APIRouter(tags=["schedules"])

ScheduleId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The id POST /schedules answered.")]


def _example(name: str) -> Any:
    return orjson.loads(resources.files("merit_order").joinpath("examples", name).read_bytes())


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


async def _json_in_thread(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A finished schedule is tens of KB to a few MB of JSON: encode it off the event loop."""
    encoded = await anyio.to_thread.run_sync(orjson.dumps, body)
    return Response(encoded, status_code=status, media_type="application/json", headers=headers)


def _invalid(request: Request, exc: ScheduleInputError | ScheduleInfeasible) -> JSONResponse:
    """A 422 naming the field, the unit and the period (as the reader found them)."""
    if isinstance(exc, ScheduleInputError):
        places = exc.errors[:MAX_ERRORS]
    else:  # infeasible whatever the commitment: the period's demand (and reserve) cannot be met
        places = [{"field": "demand", "unit": None, "period": exc.period, "message": str(exc)}]
    errors = [
        {"field": p["field"] or "body", "plant": p["unit"], "unit": p["unit"], "period": p["period"], "message": p["message"]}
        for p in places
    ]
    return error_response(request, 422, {"detail": str(exc), "errors": errors})


def _unavailable(request: Request, error: ScheduleBackendUnavailable) -> JSONResponse:
    return error_response(request, 503, {"detail": str(error), "errors": []}, headers={"Retry-After": "5"})


def _read(document: Any, periods: int | None, settings: Settings) -> tuple[str, dict[str, Any]]:
    """Read and check the instance (in a thread: a large instance takes milliseconds): its
    format and what the status shows before it is solved. Over a limit, invalid or plainly
    infeasible (a period the whole fleet cannot meet): ScheduleInputError / ScheduleInfeasible."""
    fmt = input_format(document)
    problem = read_problem(
        document, periods=periods, max_units=settings.schedule_max_units, max_periods=settings.schedule_max_periods
    )
    check_capacity(problem)
    size = {"thermal_units": len(problem.thermal), "renewable_units": len(problem.renewable), "periods": problem.periods}
    return fmt, {"size": size, "demand": [float(v) for v in problem.demand], "reserve": [float(v) for v in problem.reserve]}


#: Most errors listed in one 422 (a large broken document can have thousands; the first few say what to fix).
MAX_ERRORS = 20


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not JSON."},
    413: {"model": ErrorBody, "description": "The body is over MAX_SCHEDULE_BODY_BYTES."},
    415: {"model": ErrorBody, "description": "The Content-Type is not application/json."},
    422: {
        "model": ScheduleErrorBody,
        "description": "The instance is invalid, over a limit or infeasible; each error names the field, the unit "
        "and the period (`{\"field\", \"unit\", \"period\", \"message\"}`).",
    },
    503: {"model": ErrorBody, "description": "The schedule queue (Redis) is unavailable; retry later."},
}


@router.post(
    "/schedules",
    status_code=202,
    summary="Solve a day-ahead schedule (unit commitment) off the request path",
    response_description="Accepted: poll the Location for the progress and, when done, the schedule.",
    responses={
        202: {
            "content": {
                "application/json": {
                    "example": {"id": "5b0e9c...", "status": "queued", "format": "desk", "location": "/schedules/5b0e9c..."}
                }
            }
        },
        **_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A pglib-uc instance (told apart by `thermal_generators`) or the desk format "
            "(`periods` and `powerplants`); see docs/schedules.md.",
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "examples": {
                        "desk": {"summary": "The desk format: the hourly fleet with dynamics, a list of periods",
                                 "value": _example("schedule_desk.json")},
                        "pglib-uc": {"summary": "A pglib-uc instance (as in the pglib-uc files)",
                                     "value": _example("schedule_pglib.json")},
                    },
                }
            },
        }
    },
)
async def submit_schedule(
    request: Request,
    settings: SettingsDep,
    queue: ScheduleQueueDep,
    gap: Annotated[float | None, Query(ge=0, lt=1, description="Stop at this certified relative gap (default SCHEDULE_DEFAULT_GAP).")] = None,
    time_limit_s: Annotated[
        float | None, Query(gt=0, description="Stop after this many seconds (default SCHEDULE_DEFAULT_TIME_LIMIT_SECONDS, at most SCHEDULE_MAX_TIME_LIMIT_SECONDS).")
    ] = None,
    periods: Annotated[int | None, Query(ge=1, description="Solve only the first N periods of the instance.")] = None,
) -> Response:
    if time_limit_s is not None and time_limit_s > settings.schedule_max_time_limit_seconds:
        detail = f"time_limit_s: at most {settings.schedule_max_time_limit_seconds} s (SCHEDULE_MAX_TIME_LIMIT_SECONDS)"
        problem = {"field": "time_limit_s", "plant": None, "unit": None, "period": None, "message": detail}
        return error_response(request, 422, {"detail": detail, "errors": [problem]})
    body = await request.body()
    if not body.strip():
        raise PayloadError("the request body is empty; send a pglib-uc instance or a desk schedule (JSON)", status=400)
    document = decode_json(body)
    del body
    try:
        read = await anyio.to_thread.run_sync(_read, document, periods, settings)
    except (ScheduleInputError, ScheduleInfeasible) as exc:
        return _invalid(request, exc)
    fmt, shape = read
    options = ScheduleOptions(
        gap=settings.schedule_default_gap if gap is None else gap,
        time_limit_s=float(settings.schedule_default_time_limit_seconds if time_limit_s is None else time_limit_s),
        periods=periods,
    )
    try:
        schedule_id = await queue.submit(document, fmt, options, shape)
    except ScheduleBackendUnavailable as exc:
        return _unavailable(request, exc)
    location = f"/schedules/{schedule_id}"
    body_out = {"id": schedule_id, "status": "queued", "format": fmt, "options": options.as_dict(), "size": shape["size"], "location": location}
    return _json(body_out, 202, headers={"Location": location})


@router.get(
    "/schedules",
    summary="The newest schedules, newest first",
    responses={422: _ERRORS[422], 503: _ERRORS[503], 200: {"content": {"application/json": {"example": {"schedules": [
        {"id": "5b0e9c...", "status": "done", "created_at": "2026-11-30T08:00:00.000Z", "finished_at": "2026-11-30T08:00:41.512Z",
         "objective": 514846.9, "lower_bound": 510976.8, "gap": 0.0075, "location": "/schedules/5b0e9c..."}]}}}}},
)
async def list_schedules(
    request: Request,
    queue: ScheduleQueueDep,
    limit: Annotated[int, Query(ge=1, le=200, description="How many.")] = 20,
) -> Response:
    try:
        return _json({"schedules": await queue.recent(limit)})
    except ScheduleBackendUnavailable as exc:
        return _unavailable(request, exc)


@router.get(
    "/schedules/{schedule_id}",
    summary="A schedule's status, progress and (once done) the schedule",
    responses={
        404: {"model": ErrorBody, "description": "No such schedule (unknown or expired)."},
        422: {"model": ErrorBody, "description": "The id is not one POST /schedules answers (32 hex digits)."},
        503: _ERRORS[503],
    },
)
async def get_schedule(request: Request, queue: ScheduleQueueDep, schedule_id: ScheduleId) -> Response:
    try:
        document = await queue.status(schedule_id)
    except ScheduleBackendUnavailable as exc:
        return _unavailable(request, exc)
    if document is None:
        raise HTTPException(status_code=404, detail=f"no schedule {schedule_id} (unknown, or expired)")
    return await _json_in_thread(document)


@router.delete(
    "/schedules/{schedule_id}",
    summary="Cancel a schedule; the best schedule found so far stays readable",
    responses={
        404: {"model": ErrorBody, "description": "No such schedule (unknown or expired)."},
        409: {"model": ErrorBody, "description": "The schedule already ended (done or failed)."},
        422: {"model": ErrorBody, "description": "The id is not one POST /schedules answers (32 hex digits)."},
        503: _ERRORS[503],
    },
)
async def cancel_schedule(request: Request, queue: ScheduleQueueDep, schedule_id: ScheduleId) -> Response:
    try:
        document = await queue.cancel(schedule_id)
    except NotCancellable as exc:
        return error_response(request, 409, {"detail": str(exc), "errors": []})
    except ScheduleBackendUnavailable as exc:
        return _unavailable(request, exc)
    if document is None:
        raise HTTPException(status_code=404, detail=f"no schedule {schedule_id} (unknown, or expired)")
    return await _json_in_thread(document)
