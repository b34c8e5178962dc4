"""The embedded job executor: no Redis, no worker to start (the default of `make run`).

Chunks run in a process pool (one process per core by default, JOB_LOCAL_WORKERS) so a
year of plans uses every core and the event loop stays free to answer other requests.
JOB_LOCAL_WORKERS=0 runs them in a thread instead (no parallelism, no process start-up;
handy on a one-core box or in tests). Jobs live in this process only, are kept
JOB_RESULT_TTL_SECONDS and are lost on restart: that is what REDIS_URL + Celery is for.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
import uuid
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from .. import metrics
from .base import JobStatus, assemble_status, count_results, job_meta, utc_now
from .compute import solve_chunk
from .models import Batch

log = structlog.get_logger(__name__)


@dataclass
class _LocalJob:
    meta: dict[str, Any]
    expires_at: float
    results: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    workers: dict[int, str] = field(default_factory=dict)
    running: int = 0
    task: asyncio.Task[None] | None = None


class LocalJobQueue:
    """Same API and status document as the Celery queue, run inside the API process."""

    backend = "in-process"

    def __init__(self, *, chunk_size: int, result_ttl_seconds: int, workers: int | None = None) -> None:
        self._chunk_size = chunk_size
        self._ttl = result_ttl_seconds
        self._workers = (os.cpu_count() or 1) if workers is None else workers
        self._pool: Executor | None = None
        self._jobs: dict[str, _LocalJob] = {}
        #: Called with (job_id, chunk message, results) as each chunk finishes; services.py points
        #: it at the live feed so that /ws shows a job's plans (a failure there never fails the job).
        self.on_chunk_done: Callable[[str, dict[str, Any], list[dict[str, Any]]], Awaitable[None]] | None = None

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

    def _prune(self) -> None:
        now = time.monotonic()
        for job_id in [j for j, job in self._jobs.items() if job.expires_at <= now and (job.task is None or job.task.done())]:
            del self._jobs[job_id]

    async def submit(self, batch: Batch, options: dict[str, Any]) -> str:
        self._prune()
        job_id = uuid.uuid4().hex
        chunks = batch.chunks(self._chunk_size)
        job = _LocalJob(
            meta=job_meta(batch.kind, batch.periods, len(chunks), self._chunk_size, options),
            expires_at=time.monotonic() + self._ttl,
        )
        self._jobs[job_id] = job
        job.task = asyncio.create_task(self._run(job_id, job, [c.to_message() for c in chunks], options))
        log.info("job.submitted", job_id=job_id, backend=self.backend, periods=batch.periods, chunks=len(chunks))
        metrics.job_state("queued")
        return job_id

    async def _run(self, job_id: str, job: _LocalJob, messages: list[dict[str, Any]], options: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        executor = self._executor()
        name = f"local-{'processes' if executor else 'thread'}@{os.getpid()}"
        limit = asyncio.Semaphore(max(1, self._workers))

        async def one(message: dict[str, Any]) -> None:
            async with limit:
                if "started_at" not in job.meta:
                    job.meta["started_at"] = utc_now()
                    metrics.job_state("running")
                job.running += 1
                try:
                    if executor is None:
                        results = await asyncio.to_thread(solve_chunk, message, options)
                    else:
                        try:
                            results = await loop.run_in_executor(executor, solve_chunk, message, options)
                        except BrokenProcessPool as error:
                            # A pool process died (OOM killer, a signal): the pool is unusable.
                            # Drop it (the next job starts a new one) and redo this chunk in a
                            # thread, the local equivalent of Celery's redelivery.
                            log.error("job.pool_broken", job_id=job_id, chunk=message["index"], error=repr(error))
                            self._discard_pool(executor)
                            results = await asyncio.to_thread(solve_chunk, message, options)
                except Exception as error:  # noqa: BLE001 - unexpected: report per period, job "failed"
                    log.error("job.chunk_crashed", job_id=job_id, chunk=message["index"], error=repr(error))
                    results = [
                        {"index": message["start"] + i, "label": None, "status": "error", "reason": repr(error)}
                        for i in range(len(message["items"]))
                    ]
                finally:
                    job.running -= 1
                job.results[message["index"]] = results
                job.workers[message["index"]] = name
                if self.on_chunk_done is not None:
                    try:
                        await self.on_chunk_done(job_id, message, results)
                    except Exception:  # noqa: BLE001 - the feed is a side channel
                        log.warning("job.chunk_publish_failed", job_id=job_id, exc_info=True)

        await asyncio.gather(*(one(m) for m in messages))
        job.meta["finished_at"] = utc_now()
        failed = any(r.get("status") == "error" for chunk in job.results.values() for r in chunk)
        metrics.job_state("failed" if failed else "done")  # the same rule as assemble_status
        log.info("job.finished", job_id=job_id, backend=self.backend, periods=job.meta["periods"])

    async def status(
        self, job_id: str, *, offset: int = 0, limit: int | None = None, detail: bool = True
    ) -> JobStatus | None:
        job = self._jobs.get(job_id)
        if job is None or job.expires_at <= time.monotonic():
            return None
        finished = len(job.results) >= job.meta["chunks"]
        ordered = [r for k in sorted(job.results) for r in job.results[k]] if finished else None
        return assemble_status(
            job_id,
            job.meta,
            {k: count_results(v) for k, v in job.results.items()},
            job.workers,
            job.running,
            ordered,
            offset=offset,
            limit=limit,
            detail=detail,
        )

    async def health(self) -> dict[str, Any]:
        active = sum(1 for job in self._jobs.values() if job.task is not None and not job.task.done())
        return {
            "backend": self.backend,
            "status": "ok",
            "workers": self._workers or "thread",
            "jobs_active": active,
            "jobs_kept": len(self._jobs),
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
