"""The application factory: `create_app(settings)`.

A factory rather than a module-level app so that tests build one per set of settings and
each uvicorn worker process builds its own (`uvicorn --factory merit_order.api.app:create_app`).
The backends are built in the lifespan, not at import, so that nothing connects anywhere
until the server actually starts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from merit_order.api.direct import DirectRoute
from merit_order.api.docs import install_docs
from merit_order.api.errors import install_error_handlers
from merit_order.api.metrics import install_metrics
from merit_order.api.middleware import RequestContextMiddleware
from merit_order.api.openapi import install_openapi
from merit_order.api.routes import jobs, live, plan, schedule_page, schedules
from merit_order.api.security import install_access_control, open_paths
from merit_order.bootstrap import build_services
from merit_order.logs import configure_logging
from merit_order.settings import Settings, get_settings
from merit_order.validation import Limits
from merit_order.version import package_version

log = structlog.get_logger(__name__)

DESCRIPTION = """\
Exact minimum-cost production plans for a power portfolio: the load of one hour, the fuel
prices and the fleet in; how much each plant produces (multiples of 0.1 MW) out.

Errors are JSON: `{"detail": "...", "errors": [{"field", "plant", "message"}], "request_id"}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A ready-to-serve app for these settings (the environment's when None)."""
    settings = settings or get_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings)
        app.state.services = services
        await services.start()
        log.info("service_started", version=package_version(), redis=bool(settings.redis_url))
        try:
            yield
        finally:
            await services.aclose()
            log.info("service_stopped")

    app = FastAPI(
        title="merit-order",
        version=package_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from api/docs.py: served from the package, no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.limits = Limits.from_settings(settings)  # built once: the routes check every request against it

    plan_route = plan.add_plan_route(app.router)  # declared first: the router tries routes in order
    # Innermost: answers POST /productionplan itself, inside every middleware below (see api/direct.py).
    app.add_middleware(DirectRoute, method="POST", path=plan_route.path, endpoint=plan.answer_plan, route=plan_route)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_limits={  # a year of periods, or a large fleet's day, is more than 1 MB
            "/productionplan/jobs": settings.max_job_body_bytes,
            "/schedules": settings.max_schedule_body_bytes,
        },
        json_paths=(plan_route.path, "/productionplan/jobs", "/schedules"),  # their bodies must be JSON: 415 otherwise
        max_header_count=settings.max_header_count,
        max_header_bytes=settings.max_header_bytes,
    )
    install_error_handlers(app)
    install_openapi(app, api_key_paths=open_paths(settings) if settings.api_key is not None else None)
    install_docs(app)

    app.include_router(plan.router)  # /_healthcheck
    app.include_router(schedule_page.router)  # /monitor/schedules (before live: its /monitor/{asset} would 404 it)
    app.include_router(live.router)  # /ws and /monitor
    app.include_router(jobs.router)  # /productionplan/jobs (batches, Celery or in-process)
    app.include_router(schedules.router)  # /schedules (day-ahead unit commitment, Celery or in-process)
    install_access_control(app, settings)  # API_KEY and CORS_ORIGINS, outside the middleware above
    install_metrics(app, settings)  # GET /metrics; request metrics outermost (they see 401s and 413s)
    return app
