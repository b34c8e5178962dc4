"""The embedded schedule executor (no REDIS_URL): each solve in a process of its own.

Why a process per solve and not a thread: the solver is CPU-bound Python and numba for up
to SCHEDULE_MAX_TIME_LIMIT_SECONDS; in a thread it would hold the GIL against the event
loop, and a cancel could not be forced. Processes come from a fork server started on first
use with the solver already imported (`multiprocessing` "forkserver", preloaded): a solve
starts in milliseconds, and no process is forked from the threaded server itself.

Each solving process reports through a queue (snapshots, the best schedule so far, the
outcome); a reader on the event loop applies them to the schedule's record and tells /ws.
Cancel sets the process's stop event (the solver checks it where it checks its clock);
SCHEDULE_LOCAL_WORKERS solves run at once, the others wait `queued`. Schedules live in
this process only (bounded by SCHEDULE_KEEP and JOB_RESULT_TTL_SECONDS) and are lost on
restart: that is what REDIS_URL + Celery is for. A solving process that dies without an
outcome (killed, out of memory) leaves its schedule `failed` with the reason, never stuck.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue as queue_module
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext
from typing import Any

import structlog

from ..broadcast.messages import FeedMessage
from .queue import NotCancellable
from .record import ScheduleRecord, utc_now
from .runner import Outcome, ScheduleOptions, solve_request
from .stats import MemoryStats
from .stats import Snapshot as StatsSnapshot

log = structlog.get_logger(__name__)

#: How long a cancel waits for the solve to stop before answering (it stops within a second
#: or so: the solver checks between steps).
CANCEL_WAIT_S = 5.0
#: How often the reader looks whether a silent solving process is still alive.
POLL_S = 0.5

Publish = Callable[[FeedMessage], Awaitable[None]]


def _solve_in_process(document: Any, options: dict[str, Any], events: Any, stop: Any) -> None:
    """A solving process's body: every report goes to `events` as (kind, payload)."""
    outcome = solve_request(
        document,
        ScheduleOptions.from_dict(options),
        on_snapshot=lambda s: events.put(("progress", s.as_dict())),
        on_best=lambda d: events.put(("best", d)),
        stop=stop.is_set,
    )
    events.put(("end", outcome.as_dict()))


@dataclass
class _Running:
    stop: Any
    ended: asyncio.Event = field(default_factory=asyncio.Event)


def _context() -> ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["merit_order.schedule_jobs.preload"])
    return ctx


class LocalScheduleQueue:
    backend = "local"

    def __init__(
        self,
        *,
        workers: int,
        keep: int,
        ttl_seconds: float,
        publish: Publish | None = None,
        stats: MemoryStats | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: The clock finished schedules expire by; a test moves a fake one instead of sleeping.
        self.clock = clock
        self._slots = asyncio.Semaphore(workers)
        self._keep = keep
        self._ttl = ttl_seconds
        self._publish = publish
        self.stats = stats or MemoryStats()
        self._records: OrderedDict[str, ScheduleRecord] = OrderedDict()
        self._expires: dict[str, float] = {}
        self._inputs: dict[str, Any] = {}
        self._running: dict[str, _Running] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ctx: ForkServerContext | None = None
        self._warming: asyncio.Task[None] | None = None

    # --- the contract -----------------------------------------------------------------------
    async def submit(self, document: Any, fmt: str, options: ScheduleOptions, shape: dict[str, Any]) -> str:
        self._expire()
        schedule_id = uuid.uuid4().hex
        record = ScheduleRecord(
            id=schedule_id, format=fmt, options=options.as_dict(), size=shape["size"],
            demand=shape["demand"], reserve=shape["reserve"],
        )
        self._records[schedule_id] = record
        self._inputs[schedule_id] = document
        task = asyncio.create_task(self._run(record, options), name=f"schedule-{schedule_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await self._tell(record)
        log.info("schedule_accepted", schedule_id=schedule_id, format=fmt, **shape["size"])
        return schedule_id

    async def status(self, schedule_id: str) -> dict[str, Any] | None:
        self._expire()
        record = self._records.get(schedule_id)
        return None if record is None else record.document()

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        self._expire()
        return [r.summary() for r in reversed(list(self._records.values())[-limit:])]

    async def cancel(self, schedule_id: str) -> dict[str, Any] | None:
        record = self._records.get(schedule_id)
        if record is None:
            return None
        if record.status in ("done", "failed"):
            raise NotCancellable(f"schedule {schedule_id} already ended ({record.status}): nothing to cancel")
        if record.status == "queued":
            record.cancel_requested = True
            self._finish(record, "cancelled", None, None)
            await self._tell(record)
        elif record.status == "running":
            record.cancel_requested = True
            running = self._running.get(schedule_id)
            if running is not None:
                running.stop.set()
                try:
                    await asyncio.wait_for(running.ended.wait(), CANCEL_WAIT_S)
                except TimeoutError:
                    log.warning("schedule_cancel_slow", schedule_id=schedule_id, waited_s=CANCEL_WAIT_S)
        return record.document()

    async def start(self) -> None:
        """Start the fork server in the background, the solver imported in it, so that the
        first schedule does not wait for it (seconds: numpy, numba, the compiled kernels)."""
        self._warming = asyncio.create_task(asyncio.to_thread(self._warm), name="schedule-forkserver")

    def _warm(self) -> None:
        self._ctx = self._ctx or _context()
        forkserver.ensure_running()

    async def stats_snapshot(self) -> StatsSnapshot:
        return await self.stats.snapshot()

    async def health(self) -> dict[str, Any]:
        running = sum(1 for r in self._records.values() if r.status == "running")
        queued = sum(1 for r in self._records.values() if r.status == "queued")
        return {"status": "ok", "backend": self.backend, "running": running, "queued": queued}

    async def aclose(self) -> None:
        for running in self._running.values():
            running.stop.set()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- solving ------------------------------------------------------------------------------
    async def _run(self, record: ScheduleRecord, options: ScheduleOptions) -> None:
        async with self._slots:
            if record.finished:  # cancelled while it waited
                self._inputs.pop(record.id, None)
                return
            document = self._inputs.pop(record.id)
            if self._warming is not None:
                await asyncio.shield(self._warming)
            if self._ctx is None:
                self._ctx = _context()
            events = self._ctx.Queue()
            running = _Running(stop=self._ctx.Event())
            self._running[record.id] = running
            process = self._ctx.Process(
                target=_solve_in_process, args=(document, options.as_dict(), events, running.stop),
                name=f"merit-order-schedule-{record.id[:8]}", daemon=True,
            )
            del document
            started = time.monotonic()
            try:
                process.start()
                record.status, record.started_at, record.worker, record.attempts = "running", utc_now(), f"local:{process.pid}", 1
                await self._tell(record)
                await self._follow(record, process, events)
            except asyncio.CancelledError:
                running.stop.set()
                process.join(timeout=2)
                if process.is_alive():
                    process.terminate()
                if not record.finished:
                    self._finish(record, "failed", None, "the service stopped before the schedule was solved")
                raise
            except Exception as exc:  # the process could not start: say so, never leave it queued
                log.exception("schedule_process_failed", schedule_id=record.id)
                if not record.finished:
                    self._finish(record, "failed", None, f"the solving process could not run: {type(exc).__name__}")
                    await self._tell(record)
            finally:
                running.ended.set()
                self._running.pop(record.id, None)
                events.close()
                self.stats.record(record.status, time.monotonic() - started, record.progress.get("gap") if record.schedule else None)

    async def _follow(self, record: ScheduleRecord, process: Any, events: Any) -> None:
        """Apply the process's reports until its outcome (or its death) arrives."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                kind, payload = await loop.run_in_executor(None, events.get, True, POLL_S)
            except queue_module.Empty:
                if not process.is_alive():
                    process.join()
                    self._finish(record, "failed", None, f"the solving process died (exit code {process.exitcode})")
                    log.error("schedule_process_died", schedule_id=record.id, exit_code=process.exitcode)
                    await self._tell(record)
                    return
                continue
            if kind == "progress":
                record.add_progress(payload)
                await self._tell(record)
            elif kind == "best":
                record.schedule = payload
            elif kind == "end":
                outcome = Outcome.from_dict(payload)
                record.add_progress(outcome.snapshot.as_dict())
                self._finish(record, outcome.status, outcome.schedule or record.schedule, outcome.error)
                await loop.run_in_executor(None, process.join, 5)
                log.info("schedule_finished", schedule_id=record.id, status=record.status,
                         objective=record.progress.get("objective"), gap=record.progress.get("gap"),
                         elapsed_s=record.progress.get("elapsed_s"))
                await self._tell(record)
                return

    def _finish(self, record: ScheduleRecord, status: str, schedule: dict[str, Any] | None, error: str | None) -> None:
        record.status, record.finished_at, record.error = status, utc_now(), error
        if schedule is not None:
            record.schedule = schedule
        self._expires[record.id] = self.clock() + self._ttl

    async def _tell(self, record: ScheduleRecord) -> None:
        if self._publish is not None:
            try:
                await self._publish(record.message())
            except Exception:  # the feed is best effort: a schedule never fails for it
                log.warning("schedule_publish_failed", schedule_id=record.id, exc_info=True)

    def _expire(self) -> None:
        """Drop finished schedules past their TTL, then the oldest finished ones past SCHEDULE_KEEP."""
        now = self.clock()
        for schedule_id in [i for i, at in self._expires.items() if at <= now]:
            self._expires.pop(schedule_id, None)
            self._records.pop(schedule_id, None)
        excess = len(self._records) - self._keep
        if excess > 0:
            for schedule_id in [i for i, r in self._records.items() if r.finished][:excess]:
                self._expires.pop(schedule_id, None)
                self._records.pop(schedule_id, None)
