"""The job queue's contract, and the status document both executors return.

The API only ever sees `JobQueue`; whether chunks run in a local process pool or on
Celery workers on other machines, `status()` answers with the same document, assembled
from the same pieces (the job's metadata and each finished chunk's results).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

from ..clock import utc_now_iso
from .results import ResultsNotKept
from .submission import Batch

#: The status document (see `assemble_status`); a plain dict because a year of plans is
#: tens of MB and re-validating it through a response model would cost seconds.
JobStatus = dict[str, Any]

JOB_STATES = ("queued", "running", "done", "failed")
JobState = Literal["queued", "running", "done", "failed"]


class JobBackendUnavailable(RuntimeError):
    """The queue cannot take or report jobs right now (broker down): a 503, not a 500."""


@runtime_checkable
class JobQueue(Protocol):
    """An executor of jobs: the in-process pool (local.py) or Celery workers (distributed.py)."""

    backend: str

    async def submit(self, batch: Batch, options: dict[str, Any]) -> str:
        """Queue the batch; returns its job id at once (the work happens elsewhere)."""
        ...

    async def status(
        self, job_id: str, *, offset: int = 0, limit: int = 0, detail: bool | None = None
    ) -> JobStatus | None:
        """The job's status document with the results page [offset, offset + limit) once it is
        finished (`limit` 0: none), or None when no such job exists (or it expired).

        Raises JobGone when the job is known to have been dropped (evicted, expired), and
        ResultsNotKept when `detail` asks for a detail the job did not keep."""
        ...

    async def cluster_job_states(self) -> dict[str, int] | None:
        """Jobs that reached each state over the whole deployment, when other processes run them
        (Celery); None when this process's own `jobs_total` series already says it all."""
        ...

    async def health(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


def job_outcome(errors: int) -> JobState:
    """How a finished job ends: "failed" when any period hit an internal error, else "done".

    Infeasible periods do not fail a job (they are answers, with their reason). The one rule
    for the status document, this process's metrics and the deployment's counts in Redis.
    """
    return "failed" if errors else "done"


def job_meta(kind: str, periods: int, chunks: int, chunk_size: int, options: dict[str, Any]) -> dict[str, Any]:
    """What every executor records about a job when it is accepted (the status is built on it)."""
    return {
        "kind": kind,
        "periods": periods,
        "chunks": chunks,
        "chunk_size": chunk_size,
        "options": options,
        "created_at": utc_now_iso(),
    }


def count_results(results: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many periods of a chunk ended in each state (ok, infeasible, error)."""
    counts = {"ok": 0, "infeasible": 0, "error": 0}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts


def effective_detail(meta: dict[str, Any], asked: bool | None) -> bool:
    """Whether a poll's page carries the plans' detail: as the job was submitted, unless the poll
    asks for less. Asking for a detail the job did not keep is an error that says how to get it."""
    kept = bool(meta.get("options", {}).get("detail", False))
    if asked and not kept:
        raise ResultsNotKept(
            "this job kept its plans without their detail: submit it with ?detail=true to get each plan's "
            "detail document (costs per plant)"
        )
    return kept if asked is None else asked


def assemble_status(
    job_id: str,
    meta: dict[str, Any],
    chunk_counts: dict[int, dict[str, int]],
    chunk_workers: dict[int, str],
    running_chunks: int,
    *,
    first_error: dict[str, Any] | None = None,
    page: dict[str, Any] | None = None,
) -> JobStatus:
    """The one status document, whatever ran the chunks.

    `chunk_counts` has one entry per finished chunk; `page` (see results.page_fields) is the
    results page the poll asked for, read by the executor only once every chunk has finished
    (a poll of a running job reads counts, not megabytes of plans); `first_error` the first
    period in error, for a failed job's reason.

    queued: no chunk started; running: some started, not all finished; done: every period
    has a result (infeasible periods included: they are answers, with their reason);
    failed: every chunk finished but some period hit an internal error (its reason is in
    its result, the other periods' plans are still there).
    """
    total_chunks = int(meta["chunks"])
    periods = int(meta["periods"])
    counts = {"ok": 0, "infeasible": 0, "error": 0}
    for chunk in chunk_counts.values():
        for outcome, n in chunk.items():
            counts[outcome] = counts.get(outcome, 0) + n
    periods_done = sum(counts.values())
    finished = len(chunk_counts) >= total_chunks

    state: JobState
    if finished:
        state = job_outcome(counts["error"])
    elif chunk_counts or running_chunks or meta.get("started_at"):
        state = "running"
    else:
        state = "queued"

    workers: dict[str, int] = {}
    for name in chunk_workers.values():
        workers[name] = workers.get(name, 0) + 1

    document: JobStatus = {
        "job_id": job_id,
        "status": state,
        "kind": meta.get("kind"),
        "periods": periods,
        "progress": {
            "chunks": total_chunks,
            "chunks_done": len(chunk_counts),
            "chunks_running": running_chunks,
            "periods_done": periods_done,
            "ok": counts["ok"],
            "infeasible": counts["infeasible"],
            "errors": counts["error"],
        },
        "options": meta.get("options", {}),
        "created_at": meta.get("created_at"),
        "started_at": meta.get("started_at"),
        "finished_at": meta.get("finished_at") if finished else None,
        "workers": workers,
    }
    if finished:
        if state == "failed":
            where = f"period {first_error['index']}: {first_error['reason']}" if first_error else "see the results"
            document["reason"] = f"{counts['error']} period(s) could not be computed; first: {where}"
        if page is not None:
            document.update(page)
    return document
