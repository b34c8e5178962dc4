"""What the routes use besides the calculator: the backends, behind small protocols.

The routes only ever talk to these protocols, so the same code runs on one laptop (an
in-memory cache and feed, an in-process job pool) and scaled out (Redis and Celery). This
module only declares them and holds them (`Services`, in `app.state.services`); which
backends a deployment gets is decided in one place, `merit_order.bootstrap`, so that nothing
here imports an implementation (the import cycle of issue 12 came from doing both here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import structlog

from merit_order.broadcast.hub import NoLiveFeed, Subscription
from merit_order.broadcast.messages import FeedMessage
from merit_order.cache import NullCache, PlanCache
from merit_order.jobs.base import JobQueue
from merit_order.schedule_jobs.queue import ScheduleQueue

__all__ = ["DOWN_STATUSES", "Broadcaster", "JobQueue", "NullBroadcaster", "PlanCache", "ScheduleQueue", "Services"]


@runtime_checkable
class Broadcaster(Protocol):
    """Every plan computed, pushed to whoever listens (the /ws clients)."""

    backend: str
    heartbeat_s: float

    def has_audience(self) -> bool:
        """False when a message would reach nobody now, so that the route need not build it."""
        ...

    def remember(self, build: Callable[[], FeedMessage]) -> None:
        """Keep a message nobody hears now for the clients that connect soon (built only if they do)."""
        ...

    async def publish(self, message: FeedMessage) -> None: ...

    def subscribe(self) -> Subscription:
        """A mailbox for one /ws client (starting with the recent messages). Raises TooManyClients
        when the hub is full, NoLiveFeed when this broadcaster has no feed at all."""
        ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    async def health(self) -> dict[str, Any]: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class NullBroadcaster:
    """Tells nobody (a `Services` built by hand, e.g. in a test, until a broadcaster is given)."""

    backend = "none"
    heartbeat_s = 15.0

    def has_audience(self) -> bool:
        return False

    def remember(self, build: Callable[[], FeedMessage]) -> None:
        return None

    async def publish(self, message: FeedMessage) -> None:
        return None

    def subscribe(self) -> Subscription:
        raise NoLiveFeed("this service has no live feed configured")

    def unsubscribe(self, subscription: Subscription) -> None:
        return None

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "backend": self.backend}

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


#: Longest a backend may take to close at shutdown before it is abandoned.
_CLOSE_TIMEOUT_S = 5.0

#: health() statuses that make /_healthcheck say "degraded".
DOWN_STATUSES = frozenset({"down", "error", "unavailable", "failed", "degraded"})


@dataclass(slots=True)
class Services:
    """The backends of one app; held in `app.state.services`, read by the routes (api/deps.py)."""

    cache: PlanCache = field(default_factory=NullCache)
    broadcaster: Broadcaster = field(default_factory=NullBroadcaster)
    jobs: JobQueue | None = None  # None: the jobs routes answer 503
    schedules: ScheduleQueue | None = None  # None: the schedule routes answer 503

    def backends(self) -> dict[str, PlanCache | Broadcaster | JobQueue | ScheduleQueue]:
        named: dict[str, PlanCache | Broadcaster | JobQueue | ScheduleQueue] = {"cache": self.cache, "broadcast": self.broadcaster}
        if self.jobs is not None:
            named["jobs"] = self.jobs
        if self.schedules is not None:
            named["schedules"] = self.schedules
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
        """Start the backends that have background work (the broadcaster's Redis listener)."""
        await self.broadcaster.start()
        if self.schedules is not None:
            await self.schedules.start()

    async def aclose(self) -> None:
        """Close every backend, in reverse order; one failing does not stop the others."""
        for backend in reversed(list(self.backends().values())):
            try:
                # A client library stuck on a half-dead connection must not hold the shutdown
                # (seen once: a Redis pub/sub close that never returned after Redis restarted).
                await asyncio.wait_for(backend.aclose(), timeout=_CLOSE_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - shutting down (or a close that timed out): log and go on
                structlog.get_logger(__name__).exception("backend_close_failed", backend=type(backend).__name__)
