"""The API's side of the distributed executor: publish chunks to Celery, read status from Redis.

Nothing here keeps state in the API process, so any replica answers for any job.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog

from .. import metrics
from . import store, watchdog
from .base import JobBackendUnavailable, JobStatus, job_meta
from .celery_app import create_celery_app, publish_chunk
from .results import ResultCodec, ResultsNotKept
from .submission import Batch
from .watchdog import Recovery

log = structlog.get_logger(__name__)


class CeleryJobQueue:
    backend = "celery"

    def __init__(
        self,
        redis_url: str,
        *,
        chunk_size: int,
        result_ttl_seconds: int,
        visibility_timeout: int,
        socket_timeout: float = 2.0,
        recovery: Recovery | None = None,
        page_max_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        import redis.asyncio as aioredis

        self._chunk_size = chunk_size
        self._ttl = result_ttl_seconds
        self._page_max_bytes = page_max_bytes
        self._recovery = recovery or Recovery()
        self._app = create_celery_app(
            redis_url, visibility_timeout=visibility_timeout, result_ttl_seconds=result_ttl_seconds,
            socket_timeout=socket_timeout, recovery=self._recovery,
        )
        self._client = aioredis.Redis.from_url(
            redis_url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )

    def _publish(self, job_id: str, chunks: int) -> None:
        """Blocking (kombu): runs in a thread. One producer connection for every chunk of the job.

        A message only names its chunk: the periods were stored in Redis first (watchdog.py)."""
        with self._app.producer_or_acquire() as producer:
            for chunk in range(chunks):
                publish_chunk(self._app, job_id, chunk, producer=producer)

    async def submit(self, batch: Batch, options: dict[str, Any]) -> str:
        job_id = uuid.uuid4().hex
        chunks = batch.chunks(self._chunk_size)
        meta = job_meta(batch.kind, batch.periods, len(chunks), self._chunk_size, options)
        try:
            names = ResultCodec.for_job(batch.fleet, options).names  # a series' plant names, stored once
            await store.create_job(self._client, job_id, meta, self._ttl, names)
            await watchdog.register_chunks(self._client, job_id, [c.to_message() for c in chunks], self._ttl, self._recovery)
            await asyncio.to_thread(self._publish, job_id, len(chunks))
        except Exception as error:  # broker/Redis down: the client may retry later
            log.error("job.submit_failed", job_id=job_id, error=f"{type(error).__name__}: {error}")
            try:
                await watchdog.forget_chunks(self._client, job_id, len(chunks))
                await store.delete_job(self._client, job_id)
                await self._client.delete(store.job_key(job_id, "input"))
            except Exception:  # noqa: BLE001 - Redis is likely what failed
                pass
            raise JobBackendUnavailable(f"the job queue is unavailable ({type(error).__name__}); retry later") from error
        log.info("job.submitted", job_id=job_id, backend=self.backend, periods=batch.periods, chunks=len(chunks))
        metrics.job_state("queued")  # running/done/failed happen on the workers: see cluster_job_states
        return job_id

    async def status(
        self, job_id: str, *, offset: int = 0, limit: int = 0, detail: bool | None = None
    ) -> JobStatus | None:
        try:
            return await store.read_status(
                self._client, job_id, offset=offset, limit=limit, detail=detail, page_max_bytes=self._page_max_bytes
            )
        except ResultsNotKept:
            raise  # the poll's mistake (a 422), not the store's
        except Exception as error:
            raise JobBackendUnavailable(f"the job store is unavailable ({type(error).__name__}); retry later") from error

    async def cluster_job_states(self) -> dict[str, int]:
        """Jobs that reached each state in the whole deployment (the workers count theirs in Redis)."""
        return await store.job_state_counts(self._client)

    async def health(self) -> dict[str, Any]:
        """Broker reachable, and which workers sent a heartbeat in the last few seconds."""
        try:
            await self._client.ping()
            workers = await store.live_workers(self._client)
        except Exception as error:  # noqa: BLE001 - a health check must answer, whatever broke
            return {"backend": self.backend, "status": "down", "broker": "down", "error": f"{type(error).__name__}: {error}", "workers": []}
        return {
            "backend": self.backend,
            "status": "ok" if workers else "degraded",
            "broker": "ok",
            "workers": workers,
            **({} if workers else {"detail": "no worker has sent a heartbeat: jobs will wait in the queue"}),
        }

    async def aclose(self) -> None:
        try:
            await self._client.aclose()
        except Exception:  # noqa: BLE001 - closing a connection to a dead server must not fail shutdown
            pass
        try:
            self._app.close()
        except Exception:  # noqa: BLE001 - shutting down: a Celery app that will not close is let go
            pass

