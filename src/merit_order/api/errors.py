"""Exception -> HTTP answer, in one place, so that every error of the service has one shape.

`{"detail": "<one sentence>", "errors": [{"field", "plant", "message"}], "request_id": ...}`;
infeasible loads add `nearest_loads`. No handler ever puts a traceback or an exception's
repr in a body: unexpected errors are left to the middleware, which logs the traceback and
answers a generic 500 with the request id.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from merit_order.api.middleware import request_id_of
from merit_order.calculator import InfeasibleLoad, ProblemTooLarge
from merit_order.planning import SolveBudgetExceeded
from merit_order.validation import FieldError, PayloadError, summarise, translate_errors


def error_response(request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    body = {**body, "request_id": request_id_of(request.scope)}
    return JSONResponse(body, status_code=status, headers=headers)


async def payload_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PayloadError)
    return error_response(request, exc.status, exc.as_dict())


async def infeasible_load(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InfeasibleLoad)
    body = {
        "detail": str(exc),
        "errors": [FieldError("load", str(exc)).as_dict()],
        "nearest_loads": {"below": exc.below_mw, "above": exc.above_mw},
    }
    return error_response(request, 422, body)


async def problem_too_large(request: Request, exc: Exception) -> JSONResponse:
    """The calculator's work limit: a property of the request, so a 422 that says what to change."""
    assert isinstance(exc, ProblemTooLarge)
    return error_response(request, 422, {"detail": str(exc), "errors": [FieldError("powerplants", str(exc)).as_dict()]})


async def request_validation(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own validation (query parameters): the same shape as a payload error."""
    assert isinstance(exc, RequestValidationError)
    raw = [{**e, "loc": tuple(e.get("loc", ()))[1:] or tuple(e.get("loc", ()))} for e in exc.errors()]
    errors = translate_errors(raw, None)
    return error_response(request, 422, {"detail": summarise(errors), "errors": [e.as_dict() for e in errors]})


async def http_exception(request: Request, exc: Exception) -> JSONResponse:
    """404, 405...: the same shape as every other error."""
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    return error_response(request, exc.status_code, {"detail": detail, "errors": []}, headers=exc.headers)


async def solve_budget_exceeded(request: Request, exc: Exception) -> JSONResponse:
    """SOLVE_TIMEOUT_SECONDS passed: a 503 (overload is the usual cause), with a hint when to retry."""
    assert isinstance(exc, SolveBudgetExceeded)
    return error_response(request, 503, {"detail": str(exc), "errors": []}, headers={"Retry-After": "1"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PayloadError, payload_error)
    app.add_exception_handler(InfeasibleLoad, infeasible_load)
    app.add_exception_handler(ProblemTooLarge, problem_too_large)
    app.add_exception_handler(SolveBudgetExceeded, solve_budget_exceeded)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_exception)
