"""Where a distributed job lives in Redis: its metadata and each chunk's results.

The API writes the metadata at submit; workers write each chunk's results as they finish;
any API replica assembles the status from these keys alone. Celery's own result backend
is not used for this: a status needs a page of the job's periods, in order, from any
replica, and must survive a chunk being run twice (redelivery after a crash), which
per-period fields of one hash give for free (the second write of a chunk replaces the first).
A poll reads the counters, and once the job is finished only the fields of the page it
returns (HMGET, in slices, until the page's byte budget): never the whole job.

Keys (every one expires JOB_RESULT_TTL_SECONDS after the job's last write):

    merit-order:job:{id}            hash  kind, periods, chunks, chunk_size, options, created_at,
                                          started_at, finished_at
    merit-order:job:{id}:results    hash  period index -> that period's result, compact (jobs/results.py)
    merit-order:job:{id}:names      str   a series' plant names, JSON (results refer to them by position)
    merit-order:job:{id}:counts     hash  chunk index -> JSON {"ok", "infeasible", "error"}
    merit-order:job:{id}:errors     hash  chunk index -> JSON {"index", "reason"}: its first period in error
    merit-order:job:{id}:workers    hash  chunk index -> worker that finished it
    merit-order:job:{id}:running    hash  chunk index -> JSON {"worker", "pid", "since"} while running
    merit-order:job:{id}:attempts   hash  chunk index -> times a worker started it (>1: redelivered)
    merit-order:worker:{name}       str   heartbeat of a live worker (expires after 3 beats)
    merit-order:stats:jobs          hash  state -> jobs that reached it, whole deployment (no expiry)

The stats hash is what `/metrics` on any replica exports as merit_order_cluster_jobs_total:
the API counts a job queued, the worker that starts its first chunk counts it running, the
one that stores its last chunk counts it done or failed. Each is counted once even when a
chunk runs twice (HSETNX on started_at / finished_at decides who counts).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ..clock import utc_now_iso
from .base import JobStatus, assemble_status, count_results, effective_detail, job_outcome
from .results import EMPTY_PAGE, PageRequest, ResultCodec, first_error, page_fields, render_page

#: Periods fetched per HMGET while reading a page: the page stops once its byte budget is read.
PAGE_READ_SLICE = 64

JOB_PREFIX = "merit-order:job:"
WORKER_PREFIX = "merit-order:worker:"
STATS_KEY = "merit-order:stats:jobs"
HEARTBEAT_SECONDS = 2
HEARTBEAT_TTL_SECONDS = 3 * HEARTBEAT_SECONDS


def job_key(job_id: str, part: str | None = None) -> str:
    return f"{JOB_PREFIX}{job_id}" + (f":{part}" if part else "")


def _all_keys(job_id: str) -> list[str]:
    return [job_key(job_id)] + [
        job_key(job_id, p) for p in ("results", "names", "counts", "errors", "workers", "running", "attempts")
    ]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- written by the API (redis.asyncio) ---------------------------------------------------


async def create_job(
    client: Any, job_id: str, meta: dict[str, Any], ttl: int, names: tuple[str, ...] | None = None
) -> None:
    """The job's metadata and, for a series, its plant names (read only with a page of results)."""
    fields = {k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in meta.items()}
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(job_key(job_id), mapping=fields)
        pipe.expire(job_key(job_id), ttl)
        if names is not None:
            pipe.set(job_key(job_id, "names"), orjson.dumps(list(names)), ex=ttl)
        pipe.hincrby(STATS_KEY, "queued", 1)
        await pipe.execute()


async def delete_job(client: Any, job_id: str) -> None:
    await client.delete(*_all_keys(job_id))


async def read_page_items(client: Any, job_id: str, start: int, end: int, max_bytes: int) -> list[bytes | None]:
    """Stored periods [start, end), fetched a slice at a time until `max_bytes` of them are read.

    A period's stored form is never larger than its rendered one, so the page (cut at
    max_bytes when rendered) needs no period past that point.
    """
    items: list[bytes | None] = []
    size = 0
    key = job_key(job_id, "results")
    for first in range(start, end, PAGE_READ_SLICE):
        fields = [str(i) for i in range(first, min(end, first + PAGE_READ_SLICE))]
        values = await client.hmget(key, fields)
        items.extend(values)
        size += sum(len(v) for v in values if v is not None)
        if size >= max_bytes or any(v is None for v in values):
            break
    return items


async def read_status(
    client: Any,
    job_id: str,
    *,
    offset: int = 0,
    limit: int = 0,
    detail: bool | None = None,
    page_max_bytes: int = 4 * 1024 * 1024,
) -> JobStatus | None:
    """The status document from Redis: counters, and once every chunk is in, the page asked for."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(job_key(job_id))
        pipe.hgetall(job_key(job_id, "counts"))
        pipe.hgetall(job_key(job_id, "workers"))
        pipe.hlen(job_key(job_id, "running"))
        pipe.hgetall(job_key(job_id, "errors"))
        raw_meta, raw_counts, raw_workers, running, raw_errors = await pipe.execute()
    if not raw_meta:
        return None
    meta: dict[str, Any] = {_text(k): _text(v) for k, v in raw_meta.items()}
    meta["options"] = json.loads(meta.get("options", "{}"))
    with_detail = effective_detail(meta, detail)
    counts = {int(k): json.loads(v) for k, v in raw_counts.items()}
    workers = {int(k): _text(v) for k, v in raw_workers.items()}
    errors = {int(k): json.loads(v) for k, v in raw_errors.items()}
    page = None
    if len(counts) >= int(meta["chunks"]):
        total = int(meta["periods"])
        request = PageRequest(offset, limit, with_detail, page_max_bytes)
        rendered = EMPTY_PAGE
        if request.end(total) > offset:
            items = await read_page_items(client, job_id, offset, request.end(total), page_max_bytes)
            raw_names = await client.get(job_key(job_id, "names")) if meta.get("kind") == "series" else None
            names = orjson.loads(raw_names) if raw_names else None
            rendered = await asyncio.to_thread(render_page, items, names, detail=with_detail, max_bytes=page_max_bytes)
        page = page_fields(rendered, request, total)
    return assemble_status(
        job_id,
        meta,
        counts,
        workers,
        int(running),
        first_error=errors[min(errors)] if errors else None,
        page=page,
    )


async def job_state_counts(client: Any) -> dict[str, int]:
    """Jobs that reached each state, over the whole deployment (see the module docstring)."""
    raw = await client.hgetall(STATS_KEY)
    return {_text(state): int(count) for state, count in raw.items()}


async def live_workers(client: Any) -> list[str]:
    names = [_text(key)[len(WORKER_PREFIX) :] async for key in client.scan_iter(match=WORKER_PREFIX + "*", count=100)]
    return sorted(names)


# --- written by the workers (redis, synchronous) -------------------------------------------


def chunk_started(client: Any, job_id: str, chunk: int, worker: str, ttl: int) -> int:
    """Marks the chunk as held by this worker process; returns its attempt number (1 = first)."""
    with client.pipeline(transaction=True) as pipe:
        pipe.hsetnx(job_key(job_id), "started_at", utc_now_iso())
        pipe.hset(job_key(job_id, "running"), chunk, json.dumps({"worker": worker, "pid": os.getpid(), "since": utc_now_iso()}))
        pipe.hincrby(job_key(job_id, "attempts"), chunk, 1)
        for key in _all_keys(job_id):
            pipe.expire(key, ttl)
        first_start, _, attempt, *_ = pipe.execute()
    if first_start:  # this chunk is the job's first to start: the job is running
        client.hincrby(STATS_KEY, "running", 1)
    return int(attempt)


def chunk_finished(
    client: Any,
    job_id: str,
    chunk: int,
    worker: str,
    results: Sequence[Mapping[str, Any]],
    total_chunks: int,
    ttl: int,
    codec: ResultCodec | None = None,
) -> None:
    """Stores the chunk's results, one hash field per period, in the job's compact form (`codec`:
    ResultCodec.for_job(message["fleet"], options); None keeps every result whole, detail included)."""
    codec = codec or ResultCodec(None, keep_detail=True)
    stored = codec.encode_chunk(results)
    error = first_error(results)
    with client.pipeline(transaction=True) as pipe:
        if stored:
            pipe.hset(job_key(job_id, "results"), mapping={str(r["index"]): b for r, b in zip(results, stored, strict=True)})
        else:  # an empty chunk (never sent by the API): keep the reply positions below
            pipe.hlen(job_key(job_id, "results"))
        pipe.hset(job_key(job_id, "counts"), chunk, json.dumps(count_results(results)))
        pipe.hset(job_key(job_id, "workers"), chunk, worker)
        pipe.hdel(job_key(job_id, "running"), chunk)
        pipe.hlen(job_key(job_id, "counts"))
        for key in _all_keys(job_id):
            pipe.expire(key, ttl)
        if error is not None:
            pipe.hset(job_key(job_id, "errors"), chunk, json.dumps(error))
        replies = pipe.execute()
    if int(replies[4]) >= total_chunks and client.hsetnx(job_key(job_id), "finished_at", utc_now_iso()):
        # The job's last chunk, stored by this worker first: done, or failed if a period hit an error.
        errors = sum(json.loads(counts).get("error", 0) for counts in client.hvals(job_key(job_id, "counts")))
        client.hincrby(STATS_KEY, job_outcome(errors), 1)


def beat(client: Any, worker: str, info: dict[str, Any]) -> None:
    client.set(WORKER_PREFIX + worker, json.dumps(info), ex=HEARTBEAT_TTL_SECONDS)


def forget_worker(client: Any, worker: str) -> None:
    client.delete(WORKER_PREFIX + worker)
