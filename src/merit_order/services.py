"""The service's backends, behind small protocols, built once per app from Settings.

The routes only ever talk to these protocols, so the same code runs on one laptop (the
no-op and in-process defaults) and scaled out on Redis and Celery (chosen from
`REDIS_URL` by the cache, jobs and broadcast modules, which replace the defaults here).
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import structlog

from merit_order.settings import Settings


@runtime_checkable
class PlanCache(Protocol):
    """Plan documents by request key."""

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def set(self, key: str, value: dict[str, Any]) -> None: ...

    async def health(self) -> dict[str, Any]: ...


@runtime_checkable
class Broadcaster(Protocol):
    """Every plan computed, pushed to whoever listens (the /ws clients)."""

    def has_audience(self) -> bool:
        """False when a message would reach nobody, so that the route need not build it."""
        ...

    async def publish(self, message: dict[str, Any]) -> None: ...

    async def health(self) -> dict[str, Any]: ...


class NullBroadcaster:
    """Tells nobody (the default until a broadcaster is configured)."""

    def has_audience(self) -> bool:
        return False

    async def publish(self, message: dict[str, Any]) -> None:
        return None

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "backend": "none"}


#: Longest a backend may take to close at shutdown before it is abandoned.
_CLOSE_TIMEOUT_S = 5.0

#: health() statuses that make /_healthcheck say "degraded".
DOWN_STATUSES = frozenset({"down", "error", "unavailable", "failed", "degraded"})


def _no_cache() -> PlanCache:
    from merit_order.cache import NullCache  # the cache module imports the calculator: load it lazily

    return NullCache()


@dataclass(slots=True)
class Services:
    """What the routes use besides the calculator; held in `app.state.services`."""

    cache: PlanCache = field(default_factory=_no_cache)
    broadcaster: Broadcaster = field(default_factory=NullBroadcaster)
    jobs: Any | None = None  # JobQueue (Helper C); None: the jobs routes are not available

    def backends(self) -> dict[str, Any]:
        named: dict[str, Any] = {"cache": self.cache, "broadcast": self.broadcaster}
        if self.jobs is not None:
            named["jobs"] = self.jobs
        return named

    async def health(self) -> dict[str, dict[str, Any]]:
        """Each backend's own report; a backend whose check raises is reported down, not a 500."""
        report: dict[str, dict[str, Any]] = {}
        for name, backend in self.backends().items():
            try:
                report[name] = dict(await backend.health())
            except Exception as exc:  # noqa: BLE001 - a health check must answer, whatever broke
                report[name] = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
        return report

    async def start(self) -> None:
        """Start the backends that have background work (listeners, pools)."""
        for backend in self.backends().values():
            await _call_optional(backend, "start")

    async def aclose(self) -> None:
        """Close every backend, in reverse order of start; one failing does not stop the others."""
        for backend in reversed(list(self.backends().values())):
            try:
                # A client library stuck on a half-dead connection must not hold the shutdown
                # (seen once: a Redis pub/sub close that never returned after Redis restarted).
                await asyncio.wait_for(_call_optional(backend, "aclose"), timeout=_CLOSE_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - shutting down (or a close that timed out): log and go on
                structlog.get_logger(__name__).exception("backend_close_failed", backend=type(backend).__name__)


async def _call_optional(obj: Any, method: str) -> None:
    fn = getattr(obj, method, None)
    if fn is None:
        return
    result = fn()
    if inspect.isawaitable(result):
        await result


def build_services(settings: Settings) -> Services:
    """The backends this deployment's settings ask for (cache, jobs, broadcast add theirs here)."""
    from merit_order.broadcast import build_broadcaster, job_plan_messages
    from merit_order.cache import build_cache
    from merit_order.jobs import build_job_queue

    services = Services()
    # Cache: Redis when REDIS_URL is set (shared by every replica), else an in-memory LRU.
    services.cache = build_cache(
        enabled=settings.cache_enabled,
        redis_url=settings.redis_url,
        ttl_seconds=settings.cache_ttl_seconds,
        max_entries=settings.cache_max_entries,
        socket_timeout=settings.cache_redis_timeout_seconds,
        max_backoff=settings.cache_retry_max_seconds,
    )
    # Jobs: Celery workers over Redis when REDIS_URL is set, else an in-process pool.
    services.jobs = build_job_queue(settings)
    # Live feed (/ws): Redis pub/sub across replicas when REDIS_URL is set, else in-process.
    services.broadcaster = build_broadcaster(settings)
    if hasattr(services.jobs, "on_chunk_done"):  # in-process jobs publish from here; Celery workers publish themselves
        broadcaster = services.broadcaster

        async def publish_chunk(job_id: str, chunk: dict[str, Any], results: list[dict[str, Any]]) -> None:
            for message in job_plan_messages(job_id, chunk, results):
                await broadcaster.publish(message)

        services.jobs.on_chunk_done = publish_chunk
        # Only while someone watches: a chunk of a large fleet's plans costs seconds to encode for the feed.
        services.jobs.feed_wanted = broadcaster.has_audience
    return services
