"""The composition root: which backends this deployment's settings ask for, built in one place.

Imported only by the app factory (api/app.py) and the CLI (the worker command), and by
nothing they build: the routes, the planning code and the workers see the backends through
the protocols of services.py and jobs/base.py. Keeping the choice here is what keeps the
package free of import cycles (a test walks the imports: tests/unit/test_import_structure.py).

Every choice follows one setting, `REDIS_URL`: set, the cache, the live feed and the jobs
are shared by every replica through Redis (jobs run on `merit-order worker` processes); unset,
all three live in this process.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from merit_order.broadcast import InProcessBroadcaster, RedisBroadcaster, job_plan_messages
from merit_order.broadcast.messages import ScheduleMessage
from merit_order.broadcast.worker import publish_blocking
from merit_order.cache import build_cache
from merit_order.jobs.base import JobQueue
from merit_order.jobs.celery_app import app_from_settings
from merit_order.jobs.chunks import ChunkMessage, PeriodResult
from merit_order.jobs.distributed import CeleryJobQueue
from merit_order.jobs.local import LocalJobQueue
from merit_order.jobs.watchdog import Recovery
from merit_order.schedule_jobs.distributed import CelerySchedules
from merit_order.schedule_jobs.local import LocalScheduleQueue
from merit_order.schedule_jobs.queue import ScheduleQueue
from merit_order.schedule_jobs.task import ScheduleWorkerConfig, redis_client
from merit_order.schedule_jobs.task import register as register_schedule_task
from merit_order.services import Broadcaster, PlanCache, Services
from merit_order.settings import Settings


def build_services(settings: Settings) -> Services:
    """The backends of one app (built in its lifespan: nothing connects anywhere before)."""
    broadcaster = build_broadcaster(settings)
    return Services(
        cache=build_plan_cache(settings),
        broadcaster=broadcaster,
        jobs=build_job_queue(settings, broadcaster),
        schedules=build_schedule_queue(settings, broadcaster),
    )


def build_plan_cache(settings: Settings) -> PlanCache:
    """Redis when REDIS_URL is set (shared by every replica), else an in-memory LRU (or none)."""
    return build_cache(
        enabled=settings.cache_enabled,
        redis_url=settings.redis_url,
        ttl_seconds=settings.cache_ttl_seconds,
        max_entries=settings.cache_max_entries,
        socket_timeout=settings.cache_redis_timeout_seconds,
        max_backoff=settings.cache_retry_max_seconds,
    )


def build_broadcaster(settings: Settings) -> Broadcaster:
    """The live feed (/ws): Redis pub/sub across replicas when REDIS_URL is set, else in-process."""
    common: dict[str, Any] = {
        "queue_size": settings.broadcast_queue_size,
        "max_clients": settings.broadcast_max_clients,
        "heartbeat_s": settings.broadcast_heartbeat_seconds,
        "history_size": settings.broadcast_history_size,
    }
    if settings.redis_url:
        return RedisBroadcaster(str(settings.redis_url), channel=settings.broadcast_channel, **common)
    return InProcessBroadcaster(**common)


def build_job_queue(settings: Settings, broadcaster: Broadcaster) -> JobQueue:
    """Celery workers over Redis when REDIS_URL is set, else an in-process pool.

    The in-process pool tells the live feed of each chunk's plans itself; Celery workers
    publish theirs from where they run (jobs/celery_app.py).
    """
    if settings.redis_url:
        return CeleryJobQueue(
            settings.redis_url,
            chunk_size=settings.job_chunk_size,
            result_ttl_seconds=settings.job_result_ttl_seconds,
            visibility_timeout=settings.job_visibility_timeout_seconds,
            recovery=Recovery.from_settings(settings),
            page_max_bytes=settings.job_results_max_page_bytes,
        )

    async def publish_chunk(job_id: str, chunk: ChunkMessage, results: list[PeriodResult]) -> None:
        for message in job_plan_messages(job_id, chunk, results):
            await broadcaster.publish(message)

    return LocalJobQueue(
        chunk_size=settings.job_chunk_size,
        result_ttl_seconds=settings.job_result_ttl_seconds,
        workers=settings.job_local_workers,
        max_store_bytes=settings.job_store_max_bytes,
        page_max_bytes=settings.job_results_max_page_bytes,
        on_chunk_done=publish_chunk,
        # Only while someone watches: a chunk of a large fleet's plans costs seconds to encode for the feed.
        feed_wanted=broadcaster.has_audience,
    )


def build_schedule_queue(settings: Settings, broadcaster: Broadcaster) -> ScheduleQueue:
    """Celery workers over Redis when REDIS_URL is set (they tell the feed themselves), else a
    process per solve on this machine, telling this replica's feed."""
    if settings.redis_url:
        return CelerySchedules(
            settings.redis_url,
            ttl_seconds=settings.job_result_ttl_seconds,
            max_time_limit_s=settings.schedule_max_time_limit_seconds,
        )
    return LocalScheduleQueue(
        workers=settings.schedule_local_workers,
        keep=settings.schedule_keep,
        ttl_seconds=settings.job_result_ttl_seconds,
        publish=broadcaster.publish,
    )


def build_worker_app(settings: Settings) -> Celery:
    """The Celery app a `merit-order worker` runs (REDIS_URL must be set): job chunks and schedules."""
    app = app_from_settings(settings)
    assert settings.redis_url is not None  # app_from_settings refuses to go on without it
    redis_url = settings.redis_url
    channel = settings.broadcast_channel

    def publish(message: ScheduleMessage) -> None:
        publish_blocking(redis_client(redis_url), [message], channel=channel)

    register_schedule_task(
        app,
        ScheduleWorkerConfig(
            redis_url=redis_url,
            ttl_seconds=settings.job_result_ttl_seconds,
            lease_seconds=settings.schedule_lease_seconds,
            max_attempts=settings.schedule_max_attempts,
            max_time_limit_s=settings.schedule_max_time_limit_seconds,
        ),
        publish=publish,
    )
    return app
