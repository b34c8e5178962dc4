"""Jobs: one payload or a batch of periods, solved off the request path, results kept a day.

`build_job_queue(settings)` picks the executor: Celery workers over Redis when REDIS_URL
is set, else an in-process pool. Both speak `JobQueue` and return the same status document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import JOB_STATES, JobBackendUnavailable, JobQueue, JobStatus
from .models import Batch, JobSubmission

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["JOB_STATES", "Batch", "JobBackendUnavailable", "JobQueue", "JobStatus", "JobSubmission", "build_job_queue"]


def build_job_queue(settings: "Settings") -> JobQueue:
    """The executor the settings ask for (imports Celery only when it is used)."""
    if settings.redis_url:
        from .distributed import CeleryJobQueue
        from .watchdog import Recovery

        return CeleryJobQueue(
            settings.redis_url,
            chunk_size=settings.job_chunk_size,
            result_ttl_seconds=settings.job_result_ttl_seconds,
            visibility_timeout=settings.job_visibility_timeout_seconds,
            recovery=Recovery.from_settings(settings),
            page_max_bytes=settings.job_results_max_page_bytes,
        )
    from .local import LocalJobQueue

    return LocalJobQueue(
        chunk_size=settings.job_chunk_size,
        result_ttl_seconds=settings.job_result_ttl_seconds,
        workers=settings.job_local_workers,
        max_store_bytes=settings.job_store_max_bytes,
        page_max_bytes=settings.job_results_max_page_bytes,
    )
