"""The contract the schedule routes use, whichever executor is behind it."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .runner import ScheduleOptions
from .stats import Snapshot


class ScheduleBackendUnavailable(RuntimeError):
    """The executor cannot take or report schedules right now (broker down): a 503."""


class NotCancellable(ValueError):
    """The schedule already ended (done or failed): nothing to cancel (a 409)."""


@runtime_checkable
class ScheduleQueue(Protocol):
    async def submit(self, document: Any, fmt: str, options: ScheduleOptions, shape: dict[str, Any]) -> str:
        """Accept a validated instance; returns its id at once (the solve runs elsewhere).

        `shape`: what the route learnt while validating ("size", "demand", "reserve"),
        kept with the schedule so that its status can be drawn before it is solved."""
        ...

    async def status(self, schedule_id: str) -> dict[str, Any] | None:
        """The status document (record.py), or None for an unknown (or expired) id."""
        ...

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest schedules' summaries, newest first."""
        ...

    async def cancel(self, schedule_id: str) -> dict[str, Any] | None:
        """Stop the schedule (queued: at once; running: at the solver's next check) and
        return its status document; None for an unknown id; NotCancellable once it ended."""
        ...

    async def stats_snapshot(self) -> Snapshot:
        """The schedule metrics so far (this process's, or every worker's from Redis)."""
        ...

    async def start(self) -> None:
        """Background work that should begin with the app (called from its lifespan)."""
        ...

    async def health(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...
