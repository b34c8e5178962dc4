"""Jobs: one payload or a batch of periods, solved off the request path, results kept a day.

One concept a module: `models` (the submission's shapes, for OpenAPI and re-validation),
`submission` (validating a whole submission into a `Batch`), `chunks` (a slice of a job on
the wire, `ChunkMessage`, and a period's result), `compute` (solving a chunk: all a worker
runs), `base` (the `JobQueue` contract and the one status document), `results` (how results
are stored and paged), `local` (the in-process executor), `distributed`, `celery_app`,
`store` and `watchdog` (the Celery executor over Redis).

Which executor runs is decided in one place, `merit_order.bootstrap`: Celery workers over
Redis when REDIS_URL is set, else an in-process pool. Both speak `JobQueue`.
"""

from __future__ import annotations

from .base import JOB_STATES, JobBackendUnavailable, JobQueue, JobStatus
from .models import JobSubmission
from .submission import Batch

__all__ = ["JOB_STATES", "Batch", "JobBackendUnavailable", "JobQueue", "JobStatus", "JobSubmission"]
