"""What is known of one schedule, and the status document `GET /schedules/{id}` answers.

One shape whichever executor holds it (memory or Redis), so the page, the routes and the
tests read the same document:

    {"id", "status", "format", "options": {"gap", "time_limit_s", "periods"},
     "size": {"thermal_units", "renewable_units", "periods"},
     "created_at", "started_at", "finished_at",
     "progress": {"objective", "lower_bound", "gap", "elapsed_s", "history": [...]},
     "attempts", "worker", "cancel_requested",
     "demand", "reserve", "schedule", "error", "location"}

`schedule` is the solver's documented output once `done`; after a cancel, the best schedule
found so far (its own status `feasible`), or null when none was found yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from merit_order.broadcast.messages import ScheduleMessage, schedule_message
from merit_order.clock import utc_now_iso as utc_now

#: Every status, in the order a schedule goes through them.
STATES = ("queued", "running", "done", "failed", "cancelled")
#: Statuses a schedule never leaves.
FINAL = frozenset({"done", "failed", "cancelled"})
#: Most convergence points kept per schedule (older ones are thinned out, first and last kept).
HISTORY_MAX = 240


def location(schedule_id: str) -> str:
    return f"/schedules/{schedule_id}"


def thin(history: list[dict[str, Any]], limit: int = HISTORY_MAX) -> list[dict[str, Any]]:
    """At most `limit` points: every other one dropped (the first and the latest always kept),
    so a long solve's curve keeps its shape in bounded memory."""
    while len(history) > limit:
        history = history[:1] + history[1:-1][1::2] + history[-1:]
    return history


def empty_progress() -> dict[str, Any]:
    return {"objective": None, "lower_bound": None, "gap": None, "elapsed_s": 0.0}


@dataclass(slots=True)
class ScheduleRecord:
    """One schedule from acceptance to its end (see the module docstring for the document)."""

    id: str
    format: str
    options: dict[str, Any]
    size: dict[str, int]
    demand: list[float]
    reserve: list[float]
    created_at: str = field(default_factory=utc_now)
    status: str = "queued"
    started_at: str | None = None
    finished_at: str | None = None
    progress: dict[str, Any] = field(default_factory=empty_progress)
    history: list[dict[str, Any]] = field(default_factory=list)
    schedule: dict[str, Any] | None = None
    error: str | None = None
    worker: str | None = None
    attempts: int = 0
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    def add_progress(self, snapshot: dict[str, Any]) -> None:
        """A solve's snapshot (runner.Snapshot as a dict): the latest figures and a history point."""
        self.progress = dict(snapshot)
        self.history = thin([*self.history, dict(snapshot)])

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "format": self.format,
            "options": self.options,
            "size": self.size,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "progress": {**self.progress, "history": self.history},
            "attempts": self.attempts,
            "worker": self.worker,
            "cancel_requested": self.cancel_requested,
            "demand": self.demand,
            "reserve": self.reserve,
            "schedule": self.schedule,
            "error": self.error,
            "location": location(self.id),
        }

    def summary(self) -> dict[str, Any]:
        """A line of `GET /schedules`."""
        return {
            "id": self.id,
            "status": self.status,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "objective": self.progress.get("objective"),
            "lower_bound": self.progress.get("lower_bound"),
            "gap": self.progress.get("gap"),
            "location": location(self.id),
        }

    def message(self) -> ScheduleMessage:
        """The /ws message for this schedule's latest state (type "schedule")."""
        return schedule_message(self.id, self.status, self.progress, self.error)
