"""What a route needs, as typed dependencies: `def route(services: ServicesDep, ...)`.

Each is an `Annotated[..., Depends(...)]` alias, so that a route's signature says what it
uses and a type checker knows it, instead of reading `request.app.state` as `Any`. They read
what the app factory put in `app.state` (settings, limits) and its lifespan built (services),
for HTTP routes and websockets alike (an `HTTPConnection` is either).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from merit_order.jobs.base import JobQueue
from merit_order.schedule_jobs.queue import ScheduleQueue
from merit_order.services import Broadcaster, Services
from merit_order.settings import Settings
from merit_order.validation import Limits


def get_settings(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


def get_limits(connection: HTTPConnection) -> Limits:
    limits: Limits = connection.app.state.limits
    return limits


def get_services(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.services
    return services


def get_broadcaster(services: Annotated[Services, Depends(get_services)]) -> Broadcaster:
    return services.broadcaster


def get_job_queue(services: Annotated[Services, Depends(get_services)]) -> JobQueue:
    """The job queue, or a 503 when this deployment has none."""
    if services.jobs is None:
        raise HTTPException(status_code=503, detail="jobs are not available in this deployment")
    return services.jobs


def get_schedule_queue(services: Annotated[Services, Depends(get_services)]) -> ScheduleQueue:
    """The schedule queue, or a 503 when this deployment has none."""
    if services.schedules is None:
        raise HTTPException(status_code=503, detail="schedules are not available in this deployment")
    return services.schedules


SettingsDep = Annotated[Settings, Depends(get_settings)]
LimitsDep = Annotated[Limits, Depends(get_limits)]
ServicesDep = Annotated[Services, Depends(get_services)]
BroadcasterDep = Annotated[Broadcaster, Depends(get_broadcaster)]
JobQueueDep = Annotated[JobQueue, Depends(get_job_queue)]
ScheduleQueueDep = Annotated[ScheduleQueue, Depends(get_schedule_queue)]
