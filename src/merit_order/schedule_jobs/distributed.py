"""The API's side of schedules over Celery (REDIS_URL set): publish, read Redis, cancel.

Nothing here keeps state in the API process, so any replica answers for any schedule. The
instance is stored in Redis first and the Celery message only names the schedule, so that
the sweeper of any worker can publish it again (task.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
import redis.exceptions
import structlog
from celery import Celery

from . import redis_state as rs
from .queue import NotCancellable, ScheduleBackendUnavailable
from .record import ScheduleRecord, utc_now
from .runner import ScheduleOptions
from .stats import RedisStats
from .stats import Snapshot as StatsSnapshot
from .task import QUEUE, TASK_NAME

log = structlog.get_logger(__name__)

#: How long a cancel waits for the worker to stop the solve and store the best schedule.
CANCEL_WAIT_S = 5.0


def publish_schedule(app: Celery, schedule_id: str) -> None:
    """Send (or send again) one schedule to the workers (blocking: kombu)."""
    app.send_task(
        TASK_NAME, args=(schedule_id,), queue=QUEUE,
        retry=True, retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
    )


class CelerySchedules:
    backend = "celery"

    def __init__(self, redis_url: str, *, ttl_seconds: int, max_time_limit_s: float, socket_timeout: float = 2.0) -> None:
        self._ttl = ttl_seconds
        # Keys outlive the longest possible solve, whatever happens to the worker.
        self._open_ttl = int(ttl_seconds + 4 * max_time_limit_s)
        self._client = aioredis.Redis.from_url(redis_url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)
        self._celery = Celery("merit_order_schedules_api", broker=redis_url, set_as_current=False)
        self._celery.conf.update(broker_connection_retry_on_startup=True, broker_transport_options={"socket_timeout": socket_timeout})
        self.stats = RedisStats(self._client)

    async def submit(self, document: Any, fmt: str, options: ScheduleOptions, shape: dict[str, Any]) -> str:
        schedule_id = uuid.uuid4().hex
        record = ScheduleRecord(
            id=schedule_id, format=fmt, options=options.as_dict(), size=shape["size"],
            demand=shape["demand"], reserve=shape["reserve"],
        )
        payload = await asyncio.to_thread(orjson.dumps, document)
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.hset(rs.key(schedule_id), mapping={"meta": rs.meta_of(record), "status": "queued", "attempts": 0,
                                                     "published_at": time.time()})
            pipe.set(rs.key(schedule_id, "input"), payload)
            for name in rs.all_keys(schedule_id)[:2]:
                pipe.expire(name, self._open_ttl)
            pipe.zadd(rs.RECENT_KEY, {schedule_id: time.time()})
            pipe.zremrangebyrank(rs.RECENT_KEY, 0, -rs.RECENT_MAX - 1)
            pipe.sadd(rs.ACTIVE_KEY, schedule_id)
            await pipe.execute()
            await asyncio.to_thread(publish_schedule, self._celery, schedule_id)
        except (redis.exceptions.RedisError, OSError) as exc:
            log.error("schedule_submit_failed", schedule_id=schedule_id, error=str(exc))
            raise ScheduleBackendUnavailable("the schedule queue (Redis) is unavailable") from exc
        except Exception as exc:  # kombu's own errors when the broker is down
            log.error("schedule_publish_failed", schedule_id=schedule_id, error=repr(exc))
            raise ScheduleBackendUnavailable("the schedule queue (Redis) is unavailable") from exc
        log.info("schedule_accepted", schedule_id=schedule_id, format=fmt, **shape["size"])
        return schedule_id

    async def _record(self, schedule_id: str, with_history: bool = True) -> ScheduleRecord | None:
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.hgetall(rs.key(schedule_id))
            if with_history:
                pipe.lrange(rs.key(schedule_id, "history"), 0, -1)
            found = await pipe.execute()
        except (redis.exceptions.RedisError, OSError) as exc:
            raise ScheduleBackendUnavailable("the schedule store (Redis) is unavailable") from exc
        return rs.record_of(schedule_id, found[0], found[1] if with_history else ())

    async def status(self, schedule_id: str) -> dict[str, Any] | None:
        record = await self._record(schedule_id)
        return None if record is None else await asyncio.to_thread(record.document)

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        try:
            recent = cast(list[bytes], await self._client.zrevrange(rs.RECENT_KEY, 0, limit - 1))  # (no decode_responses)
            ids = [i.decode() for i in recent]
            pipe = self._client.pipeline(transaction=False)
            for schedule_id in ids:
                pipe.hmget(rs.key(schedule_id), "meta", "status", "progress", "finished_at")
            rows = await pipe.execute()
        except (redis.exceptions.RedisError, OSError) as exc:
            raise ScheduleBackendUnavailable("the schedule store (Redis) is unavailable") from exc
        out = []
        for schedule_id, (meta, status, progress, finished_at) in zip(ids, rows, strict=True):
            record = rs.record_of(schedule_id, {"meta": meta, "status": status, "progress": progress, "finished_at": finished_at})
            if record is not None:
                out.append(record.summary())
        return out

    async def cancel(self, schedule_id: str) -> dict[str, Any] | None:
        try:
            found = await self._client.eval(rs.CANCEL, 2, rs.key(schedule_id), rs.ACTIVE_KEY, schedule_id, utc_now())
        except (redis.exceptions.RedisError, OSError) as exc:
            raise ScheduleBackendUnavailable("the schedule store (Redis) is unavailable") from exc
        status = None if found is None else (found.decode() if isinstance(found, bytes) else found)
        if status is None:
            return None
        if status in ("done", "failed"):
            raise NotCancellable(f"schedule {schedule_id} already ended ({status}): nothing to cancel")
        if status == "queued":
            await self._client.expire(rs.key(schedule_id), self._ttl)
            log.info("schedule_cancelled", schedule_id=schedule_id, while_status="queued")
        elif status == "running":  # its worker sees the flag at its next heartbeat, stops, stores the best
            deadline = time.monotonic() + CANCEL_WAIT_S
            while time.monotonic() < deadline:
                record = await self._record(schedule_id, with_history=False)
                if record is None or record.finished:
                    break
                await asyncio.sleep(0.1)
        return await self.status(schedule_id)

    async def start(self) -> None:
        """Nothing to start: the workers solve."""

    async def stats_snapshot(self) -> StatsSnapshot:
        return await self.stats.snapshot()

    async def health(self) -> dict[str, Any]:
        try:
            active = await self._client.scard(rs.ACTIVE_KEY)
        except (redis.exceptions.RedisError, OSError) as exc:
            return {"status": "down", "backend": self.backend, "error": type(exc).__name__}
        return {"status": "ok", "backend": self.backend, "active": int(active)}

    async def aclose(self) -> None:
        await self._client.aclose()
