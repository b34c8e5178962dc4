"""Exception -> HTTP answer, in one place, so that every error of the service has one shape.

`{"detail": "<one sentence>", "errors": [{"field", "plant", "message"}], "request_id": ...}`;
infeasible loads add `nearest_loads`. No handler ever puts a traceback or an exception's
repr in a body: unexpected errors are left to the middleware, which logs the traceback and
answers a generic 500 with the request id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from merit_order.api.metrics import flat_routes
from merit_order.api.middleware import request_id_of
from merit_order.calculator import InfeasibleLoad, ProblemTooLarge
from merit_order.planning import SolveBudgetExceeded
from merit_order.solve_budget import SolveRefused
from merit_order.validation import FieldError, PayloadError, summarise, translate_errors


def error_response(request: Request, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = {**body, "request_id": request_id_of(request.scope)}
    return JSONResponse(body, status_code=status, headers=headers)


# An error the service expects, as (status, body without request_id, extra headers).
ErrorAnswer = tuple[int, dict[str, Any], dict[str, str] | None]


def _payload_error(exc: PayloadError) -> ErrorAnswer:
    return exc.status, exc.as_dict(), None


def _infeasible_load(exc: InfeasibleLoad) -> ErrorAnswer:
    body = {
        "detail": str(exc),
        "errors": [FieldError("load", str(exc)).as_dict()],
        "nearest_loads": {"below": exc.below_mw, "above": exc.above_mw},
    }
    return 422, body, None


def _problem_too_large(exc: ProblemTooLarge) -> ErrorAnswer:
    """A table larger than this server's whole cell budget (MAX_SOLVE_CELLS_IN_FLIGHT set below the
    proven bound, docs/solve-budget.md): no retry can help, so a 422 naming the cells."""
    return 422, {"detail": str(exc), "errors": [FieldError("powerplants", str(exc)).as_dict()]}, None


def _solve_budget_exceeded(exc: SolveBudgetExceeded) -> ErrorAnswer:
    """SOLVE_TIMEOUT_SECONDS passed: a 503 (overload is the usual cause), with a hint when to retry."""
    return 503, {"detail": str(exc), "errors": []}, {"Retry-After": "1"}


def _solve_refused(exc: SolveRefused) -> ErrorAnswer:
    """The heavy-solve budget is full: a 503 at once, Retry-After when the first solve in flight should end."""
    return 503, {"detail": str(exc), "errors": []}, {"Retry-After": str(exc.retry_after_s)}


#: The errors of planning, whichever way the request reached the planner (FastAPI's handlers
#: or the direct route of api/direct.py): one table, so both answer with the same words.
PLANNING_ERRORS: dict[type[Exception], Callable[[Any], ErrorAnswer]] = {
    PayloadError: _payload_error,
    InfeasibleLoad: _infeasible_load,
    ProblemTooLarge: _problem_too_large,
    SolveBudgetExceeded: _solve_budget_exceeded,
    SolveRefused: _solve_refused,
}


def planning_error_answer(exc: Exception) -> ErrorAnswer | None:
    """(status, body, headers) for an expected planning error; None for anything else (a bug: a 500)."""
    for kind in type(exc).__mro__:
        answer = PLANNING_ERRORS.get(kind)
        if answer is not None:
            return answer(exc)
    return None


async def planning_error(request: Request, exc: Exception) -> JSONResponse:
    answer = planning_error_answer(exc)
    assert answer is not None, f"not a planning error: {type(exc).__name__}"
    status, body, headers = answer
    return error_response(request, status, body, headers)


async def request_validation(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own validation (query parameters): the same shape as a payload error."""
    assert isinstance(exc, RequestValidationError)
    raw = [{**e, "loc": tuple(e.get("loc", ()))[1:] or tuple(e.get("loc", ()))} for e in exc.errors()]
    errors = translate_errors(raw, None)
    return error_response(request, 422, {"detail": summarise(errors), "errors": [e.as_dict() for e in errors]})


def allowed_methods(request: Request) -> str:
    """Every method some route of this path answers, for a 405's `Allow`.

    Starlette lists only the first matching route's methods, but one path can have several
    routes (`GET` and `POST /schedules`), and RFC 9110 wants them all."""
    methods: set[str] = set()
    for route in flat_routes(request.app.routes):
        route_methods = getattr(route, "methods", None)
        if isinstance(route, BaseRoute) and route_methods:
            match, _ = route.matches(request.scope)
            if match in (Match.FULL, Match.PARTIAL):
                methods |= set(route_methods)
    return ", ".join(sorted(methods))


async def http_exception(request: Request, exc: Exception) -> JSONResponse:
    """404, 405...: the same shape as every other error."""
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return error_response(request, exc.status_code, {"detail": detail, "errors": []}, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    for kind in PLANNING_ERRORS:
        app.add_exception_handler(kind, planning_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_exception)
