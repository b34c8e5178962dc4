"""The embedded job executor: no Redis, no worker to start (the default of `make run`).

Chunks run in a process pool (one process per core by default, JOB_LOCAL_WORKERS) so a
year of plans uses every core and the event loop stays free to answer other requests.
JOB_LOCAL_WORKERS=0 runs them in a thread instead (no parallelism, no process start-up;
handy on a one-core box or in tests). Jobs live in this process only, are kept
JOB_RESULT_TTL_SECONDS and are lost on restart: that is what REDIS_URL + Celery is for.

Results are kept compact (jobs/results.py: one orjson document per period, names once per
series), and the whole store is bounded in bytes (JOB_STORE_MAX_BYTES): past it, the
finished jobs that finished first are evicted, and a poll of one is a 404 that says so.
A poll renders only the page it returns, in a thread, so no result read blocks the loop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import structlog

from .. import metrics
from ..clock import utc_now_iso
from .base import (
    JobBackendUnavailable,
    JobStatus,
    assemble_status,
    count_results,
    effective_detail,
    job_meta,
    job_outcome,
)
from .chunks import ChunkMessage, PeriodResult
from .compute import solve_chunk
from .results import EMPTY_PAGE, JobGone, PageRequest, ResultCodec, first_error, page_fields, render_page, stored_size
from .submission import Batch

#: What the live feed is told as each chunk finishes: (job id, the chunk, its periods' results).
ChunkDone = Callable[[str, ChunkMessage, list[PeriodResult]], Awaitable[None]]

#: Most dropped job ids remembered, so that their 404 says why (evicted or expired) rather than "unknown".
TOMBSTONES = 10_000


@dataclass(frozen=True, slots=True)
class _ChunkDone:
    """What a pool process sends back for a chunk: its periods already in stored form (bytes,
    which cross the process boundary as a copy) and the plain results only when the live feed
    wants them. Unpickling a chunk of plain results of a 500-plant fleet held the GIL, and so
    the event loop, for ~0.4 s; encoding it on the loop for the feed took ~1.7 s more."""

    stored: list[bytes]
    counts: dict[str, int]
    first_error: dict[str, Any] | None
    results: list[PeriodResult] | None


def _solve_chunk_stored(
    message: ChunkMessage, options: dict[str, Any], codec: ResultCodec, want_results: bool
) -> _ChunkDone:
    """solve_chunk, then the job's stored form of its periods (run in a pool process or a thread)."""
    results = solve_chunk(message, options)
    return _ChunkDone(codec.encode_chunk(results), count_results(results), first_error(results), results if want_results else None)


def _crashed_chunk(message: ChunkMessage, codec: ResultCodec, error: BaseException) -> _ChunkDone:
    results: list[PeriodResult] = [
        {"index": message["start"] + i, "label": None, "status": "error", "reason": repr(error)}
        for i in range(len(message["items"]))
    ]
    return _ChunkDone(codec.encode_chunk(results), count_results(results), first_error(results), results)

log = structlog.get_logger(__name__)


@dataclass
class _LocalJob:
    meta: dict[str, Any]
    expires_at: float
    codec: ResultCodec
    #: chunk index -> its periods in stored form (see jobs/results.py); counts and first error beside
    results: dict[int, list[bytes]] = field(default_factory=dict)
    counts: dict[int, dict[str, int]] = field(default_factory=dict)
    errors: dict[int, dict[str, Any]] = field(default_factory=dict)
    workers: dict[int, str] = field(default_factory=dict)
    running: int = 0
    size: int = 0  # bytes its stored results take (see results.stored_size)
    task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        return self.task is not None and self.task.done()


class LocalJobQueue:
    """Same API and status document as the Celery queue, run inside the API process."""

    backend = "in-process"

    def __init__(
        self,
        *,
        chunk_size: int,
        result_ttl_seconds: int,
        workers: int | None = None,
        max_store_bytes: int = 256 * 1024 * 1024,
        page_max_bytes: int = 4 * 1024 * 1024,
        on_chunk_done: ChunkDone | None = None,
        feed_wanted: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: The clock results expire by; a test moves a fake one instead of sleeping out a TTL.
        self.clock = clock
        self._chunk_size = chunk_size
        self._ttl = result_ttl_seconds
        self._workers = (os.cpu_count() or 1) if workers is None else workers
        self._max_store_bytes = max_store_bytes
        self._page_max_bytes = page_max_bytes
        self._pool: Executor | None = None
        self._jobs: dict[str, _LocalJob] = {}
        #: finished jobs in the order they finished: the first is the first evicted
        self._finished: OrderedDict[str, None] = OrderedDict()
        #: dropped job id -> why (bounded; the reasons are shared strings), for a 404 that says so
        self._gone: OrderedDict[str, str] = OrderedDict()
        self._expired = f"expired: results are kept {self._ttl} s (JOB_RESULT_TTL_SECONDS)"
        self._evicted = (
            f"evicted: the in-process job store keeps at most {self._max_store_bytes} bytes of results "
            "(JOB_STORE_MAX_BYTES) and drops the jobs that finished first; fetch results sooner, or use REDIS_URL"
        )
        #: Called with (job_id, chunk message, results) as each chunk finishes; bootstrap.py points
        #: it at the live feed so that /ws shows a job's plans (a failure there never fails the job).
        self.on_chunk_done = on_chunk_done
        #: Whether on_chunk_done is worth its cost right now (bootstrap.py: someone watches /ws);
        #: asked as each chunk is handed out, so an unwatched job never ships plain results back.
        self.feed_wanted = feed_wanted

    def _executor(self) -> Executor | None:
        """The process pool, started on the first job (most services never get one).

        forkserver, not fork: the API process has threads (the event loop's helpers), and
        forking a threaded process can copy a held lock into the child.
        """
        if self._workers <= 0:
            return None
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers, mp_context=multiprocessing.get_context("forkserver")
            )
        return self._pool

    def _discard_pool(self, pool: Executor) -> None:
        if self._pool is pool:
            self._pool = None
            pool.shutdown(wait=False, cancel_futures=False)

    def _drop(self, job_id: str, why: str) -> None:
        job = self._jobs.pop(job_id)
        self._finished.pop(job_id, None)
        self._gone[job_id] = why
        while len(self._gone) > TOMBSTONES:
            self._gone.popitem(last=False)
        log.info("job.dropped", job_id=job_id, why=why.split(":")[0], bytes=job.size)

    def _prune(self) -> None:
        now = self.clock()
        for job_id in [j for j, job in self._jobs.items() if job.expires_at <= now and job.finished]:
            self._drop(job_id, self._expired)

    def stored_bytes(self) -> int:
        """Bytes every kept job's results take (what JOB_STORE_MAX_BYTES bounds)."""
        return sum(job.size for job in self._jobs.values())

    def _evict(self) -> None:
        """Drop the jobs that finished first until the store is within its budget.

        Running jobs are never evicted (their results are still coming): while they alone are
        over the budget, submit refuses new jobs instead (see submit).
        """
        total = self.stored_bytes()
        while total > self._max_store_bytes and self._finished:
            job_id = next(iter(self._finished))
            total -= self._jobs[job_id].size
            self._drop(job_id, self._evicted)

    async def submit(self, batch: Batch, options: dict[str, Any]) -> str:
        self._prune()
        self._evict()
        if self.stored_bytes() >= self._max_store_bytes:
            raise JobBackendUnavailable(
                "the in-process job store is full of running jobs' results (JOB_STORE_MAX_BYTES); retry later"
            )
        job_id = uuid.uuid4().hex
        chunks = batch.chunks(self._chunk_size)
        job = _LocalJob(
            meta=job_meta(batch.kind, batch.periods, len(chunks), self._chunk_size, options),
            expires_at=self.clock() + self._ttl,
            codec=ResultCodec.for_job(batch.fleet, options),
        )
        self._jobs[job_id] = job
        job.task = asyncio.create_task(self._run(job_id, job, [c.to_message() for c in chunks], options))
        log.info("job.submitted", job_id=job_id, backend=self.backend, periods=batch.periods, chunks=len(chunks))
        metrics.job_state("queued")
        return job_id

    async def _run(self, job_id: str, job: _LocalJob, messages: list[ChunkMessage], options: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        executor = self._executor()
        name = f"local-{'processes' if executor else 'thread'}@{os.getpid()}"
        limit = asyncio.Semaphore(max(1, self._workers))

        async def one(message: ChunkMessage) -> None:
            async with limit:
                if "started_at" not in job.meta:
                    job.meta["started_at"] = utc_now_iso()
                    metrics.job_state("running")
                job.running += 1
                want = self.on_chunk_done is not None and self.feed_wanted()
                work = (message, options, job.codec, want)
                try:
                    if executor is None:
                        done = await asyncio.to_thread(_solve_chunk_stored, *work)
                    else:
                        try:
                            done = await loop.run_in_executor(executor, _solve_chunk_stored, *work)
                        except BrokenProcessPool as error:
                            # A pool process died (OOM killer, a signal): the pool is unusable.
                            # Drop it (the next job starts a new one) and redo this chunk in a
                            # thread, the local equivalent of Celery's redelivery.
                            log.error("job.pool_broken", job_id=job_id, chunk=message["index"], error=repr(error))
                            self._discard_pool(executor)
                            done = await asyncio.to_thread(_solve_chunk_stored, *work)
                except Exception as error:  # noqa: BLE001 - unexpected: report per period, job "failed"
                    log.error("job.chunk_crashed", job_id=job_id, chunk=message["index"], error=repr(error))
                    done = _crashed_chunk(message, job.codec, error)
                finally:
                    job.running -= 1
                chunk = message["index"]
                job.size += stored_size(done.stored) - stored_size(job.results.get(chunk, ()))
                job.results[chunk] = done.stored
                job.counts[chunk] = done.counts
                if done.first_error is not None:
                    job.errors[chunk] = done.first_error
                job.workers[chunk] = name
                self._evict()
                if self.on_chunk_done is not None and done.results is not None:
                    try:
                        await self.on_chunk_done(job_id, message, done.results)
                    except Exception:  # the feed is a side channel (logged with its traceback)
                        log.warning("job.chunk_publish_failed", job_id=job_id, exc_info=True)

        try:
            await asyncio.gather(*(one(m) for m in messages))
        finally:
            job.meta["finished_at"] = utc_now_iso()
            if job_id in self._jobs:
                self._finished[job_id] = None
                self._evict()
        metrics.job_state(job_outcome(sum(counts.get("error", 0) for counts in job.counts.values())))
        log.info("job.finished", job_id=job_id, backend=self.backend, periods=job.meta["periods"], bytes=job.size)

    async def status(
        self, job_id: str, *, offset: int = 0, limit: int = 0, detail: bool | None = None
    ) -> JobStatus | None:
        job = self._jobs.get(job_id)
        if job is None or job.expires_at <= self.clock():
            why = self._gone.get(job_id)
            if why is None and job is not None:
                why = self._expired
            if why is not None:
                raise JobGone(f"job {job_id!r} is no longer kept: {why}")
            return None
        with_detail = effective_detail(job.meta, detail)
        finished = len(job.counts) >= job.meta["chunks"]
        page = None
        if finished:
            request = PageRequest(offset, limit, with_detail, self._page_max_bytes)
            end = request.end(job.meta["periods"])
            size = job.meta["chunk_size"]
            items = [job.results[i // size][i % size] for i in range(offset, end)]
            rendered = (
                await asyncio.to_thread(
                    render_page, items, job.codec.names, detail=with_detail, max_bytes=self._page_max_bytes
                )
                if items
                else EMPTY_PAGE
            )
            page = page_fields(rendered, request, job.meta["periods"])
        return assemble_status(
            job_id,
            job.meta,
            dict(job.counts),
            job.workers,
            job.running,
            first_error=job.errors[min(job.errors)] if job.errors else None,
            page=page,
        )

    async def cluster_job_states(self) -> None:
        """None: the jobs run in this process, whose own `jobs_total` series counts them."""
        return None

    async def health(self) -> dict[str, Any]:
        active = sum(1 for job in self._jobs.values() if job.task is not None and not job.task.done())
        return {
            "backend": self.backend,
            "status": "ok",
            "workers": self._workers or "thread",
            "jobs_active": active,
            "jobs_kept": len(self._jobs),
            "store_bytes": self.stored_bytes(),
            "store_max_bytes": self._max_store_bytes,
        }

    async def aclose(self) -> None:
        for job in self._jobs.values():
            if job.task is not None and not job.task.done():
                job.task.cancel()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            # Wait for the worker processes to exit (off the event loop): shut down without
            # waiting, they outlived the API process, and so did the forkserver they hold open.
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
