"""The HTTP side of the metrics: the request middleware and `GET /metrics`.

Apart from metrics.py (the series themselves) so that the Celery workers, which count into
those series, never import Starlette.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from merit_order.api.deps import ServicesDep
from merit_order.metrics import http_request, render, render_cluster_jobs
from merit_order.schedule_jobs.stats import render as render_schedule_stats
from merit_order.settings import Settings

_CLUSTER_READ_TIMEOUT_S = 2.0  # a scrape must not hang on a half-dead Redis
UNMATCHED = "<unmatched>"


def flat_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every leaf route (with a `.path`) of an app, through included routers.

    Recent FastAPI keeps `include_router` as one wrapper entry in `app.routes` (whose
    `original_router.routes` are the real ones), so a plain walk of `app.routes` misses them.
    """
    for route in routes:
        if isinstance(getattr(route, "path", None), str):
            yield route
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        if inner is None:
            inner = getattr(route, "routes", None) if not hasattr(route, "path") else None
        if inner:
            yield from flat_routes(inner)


def route_template(scope: Scope) -> str:
    """The matched route's path template (bounded cardinality), or "<unmatched>"."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    # The router was not reached (a body refused by an outer middleware, a 401): match by hand.
    app = scope.get("app")
    partial: str | None = None
    for candidate in flat_routes(getattr(app, "routes", ())):
        try:
            match, _ = candidate.matches(scope)
        except Exception:  # noqa: BLE001 - an odd scope: not worth failing a request over
            continue
        if match is Match.FULL:
            return str(candidate.path)
        if match is Match.PARTIAL and partial is None:  # the path matches, not the method (405)
            partial = str(candidate.path)
    return partial or UNMATCHED


class MetricsMiddleware:
    """Counts and times every HTTP request by route template and status (plain ASGI: no buffering).

    It sits outside every other middleware, so that it also sees the requests they answer
    themselves (413 body too large, 401 unauthorized, a last-resort 500).
    """

    def __init__(self, app: ASGIApp, *, skip_paths: frozenset[str] = frozenset({"/metrics"})) -> None:
        self.app = app
        self.skip_paths = skip_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.skip_paths:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}  # what the client sees if the app raises before answering

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            http_request(str(scope.get("method", "?")), route_template(scope), status["code"], time.perf_counter() - started)


def install_metrics(app: FastAPI, settings: Settings) -> None:
    """Add the request middleware and `GET /metrics` (when METRICS_ENABLED) to a FastAPI app.

    Call it after every other `add_middleware`: Starlette puts the last one added outermost.
    """
    if not settings.metrics_enabled:
        return

    async def metrics_endpoint(services: ServicesDep) -> Response:
        body, content_type = render()
        if services.jobs is not None:
            try:
                counts = await asyncio.wait_for(services.jobs.cluster_job_states(), timeout=_CLUSTER_READ_TIMEOUT_S)
            except Exception as error:  # noqa: BLE001 - Redis down: the family is missing from this scrape
                structlog.get_logger(__name__).warning("metrics.cluster_jobs_unavailable", error=f"{type(error).__name__}: {error}")
            else:
                if counts is not None:  # Celery mode: the workers' counts, from Redis
                    body += render_cluster_jobs(counts)
        if services.schedules is not None:
            try:
                snapshot = await asyncio.wait_for(services.schedules.stats_snapshot(), timeout=_CLUSTER_READ_TIMEOUT_S)
            except Exception as error:  # noqa: BLE001 - Redis down: the family is missing from this scrape
                structlog.get_logger(__name__).warning("metrics.schedules_unavailable", error=f"{type(error).__name__}: {error}")
            else:
                body += render_schedule_stats(snapshot)
        return Response(body, media_type=content_type)

    app.add_api_route(
        "/metrics",
        metrics_endpoint,
        methods=["GET"],
        include_in_schema=False,  # Prometheus text, not JSON: not part of the API's contract
        name="metrics",
    )
    app.add_middleware(MetricsMiddleware)
