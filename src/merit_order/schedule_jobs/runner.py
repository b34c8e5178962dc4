"""One schedule request from its JSON to an outcome: what a solving process runs.

Pure apart from the clock: the input document and options in; snapshots out through
callbacks while the solver improves (throttled: the dual phase improves its bound many
times a second, and every snapshot may become a Redis write and a /ws message); the final
outcome returned. The embedded executor and the Celery task both call `solve_request`, so a
schedule solved either way is the same schedule.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from merit_order.schedule import (
    Progress,
    ScheduleError,
    ScheduleInfeasible,
    ScheduleResult,
    read_problem,
    schedule_document,
    solve_schedule,
)
from merit_order.schedule.model import Problem

#: Least seconds between two progress snapshots (the first and the last always go out).
SNAPSHOT_INTERVAL_S = 0.25
#: Least seconds between two best-so-far schedule documents (each is tens to hundreds of KB).
BEST_INTERVAL_S = 2.0


@dataclass(frozen=True, slots=True)
class ScheduleOptions:
    """What a request may set besides the instance (validated by the route)."""

    gap: float
    time_limit_s: float
    periods: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScheduleOptions:
        return cls(gap=float(data["gap"]), time_limit_s=float(data["time_limit_s"]), periods=data.get("periods"))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a running solve knows: the best objective, the proven bound, the gap."""

    objective: float | None
    lower_bound: float | None
    gap: float | None
    elapsed_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a solve ended: `done` (a schedule within the gap or the time limit), `cancelled`
    (stopped on request; `schedule` is the best found, or None), `failed` (`error` says why)."""

    status: str
    schedule: dict[str, Any] | None
    error: str | None
    snapshot: Snapshot

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "schedule": self.schedule, "error": self.error, "snapshot": self.snapshot.as_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        return cls(data["status"], data.get("schedule"), data.get("error"), Snapshot(**data["snapshot"]))


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _snapshot(progress: Progress) -> Snapshot:
    return Snapshot(_finite(progress.objective), _finite(progress.lower_bound), _finite(progress.gap), round(progress.elapsed, 3))


def _best_document(problem: Problem, progress: Progress) -> dict[str, Any] | None:
    """The best schedule so far in the documented output format (status `feasible`)."""
    if progress.best is None:
        return None
    bound = min(progress.lower_bound, progress.best.total)
    gap = progress.gap if progress.gap is not None and math.isfinite(progress.gap) else 1.0
    result = ScheduleResult("feasible", progress.best, bound, gap, progress.iterations, progress.elapsed, "lagrangian")
    return schedule_document(problem, result)


def solve_request(
    document: Any,
    options: ScheduleOptions,
    *,
    on_snapshot: Callable[[Snapshot], None] | None = None,
    on_best: Callable[[dict[str, Any]], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> Outcome:
    """Solve `document` (pglib-uc or desk JSON, already validated by the route) under `options`.

    `on_snapshot` gets the progress at most every SNAPSHOT_INTERVAL_S; `on_best` the best
    schedule so far (documented format) at most every BEST_INTERVAL_S, so that a cancelled
    or interrupted solve still has something to show; `stop` cancels (checked often: cheap).
    """
    started = time.monotonic()
    last = {"snapshot": -math.inf, "best": -math.inf}
    latest: list[Progress] = []
    problem = read_problem(document, periods=options.periods)

    def progress(p: Progress) -> None:
        latest[:] = [p]
        now = time.monotonic()
        if on_snapshot is not None and now - last["snapshot"] >= SNAPSHOT_INTERVAL_S:
            last["snapshot"] = now
            on_snapshot(_snapshot(p))
        if on_best is not None and p.best is not None and now - last["best"] >= BEST_INTERVAL_S:
            last["best"] = now
            best = _best_document(problem, p)
            if best is not None:
                on_best(best)

    def final_snapshot() -> Snapshot:
        if latest:
            p = latest[0]
            return Snapshot(_finite(p.objective), _finite(p.lower_bound), _finite(p.gap), round(time.monotonic() - started, 3))
        return Snapshot(None, None, None, round(time.monotonic() - started, 3))

    try:
        result = solve_schedule(problem, gap=options.gap, time_limit=options.time_limit_s, progress=progress, stop=stop)
    except ScheduleInfeasible as exc:
        return Outcome("failed", None, f"infeasible: {exc}", final_snapshot())
    except ScheduleError as exc:
        stopped = stop is not None and stop()
        best = _best_document(problem, latest[0]) if latest else None
        return Outcome("cancelled" if stopped else "failed", best, None if stopped else str(exc), final_snapshot())
    document_out = schedule_document(problem, result)
    snapshot = Snapshot(
        float(result.schedule.total), float(result.lower_bound), float(result.gap), round(time.monotonic() - started, 3)
    )
    return Outcome("cancelled" if result.stopped else "done", document_out, None, snapshot)
