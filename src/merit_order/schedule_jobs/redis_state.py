"""A schedule's state in Redis: the keys, and the record read back from them.

Shared by the API replicas (asyncio client, distributed.py) and the workers (synchronous
client, task.py), so that any replica answers for any schedule and any worker can take over
one whose worker died:

    merit-order:schedule:{id}           hash    meta (JSON: format, options, size, demand,
                                                reserve, created_at), status, started_at,
                                                finished_at, progress (JSON), schedule (JSON),
                                                error, worker, attempts, cancel ("1" once asked),
                                                published_at (Redis clock, s)
    merit-order:schedule:{id}:input     string  the instance as sent (JSON): what a worker solves
    merit-order:schedule:{id}:history   list    progress snapshots (JSON), the last HISTORY_MAX
    merit-order:schedule:{id}:lease     string  the solving worker's token; it renews it while it
                                                runs, so a lapsed lease means a dead worker
    merit-order:schedules:recent        zset    id -> created (s): GET /schedules
    merit-order:schedules:active        set     ids queued or running: what the sweeper watches

Every key of a schedule expires JOB_RESULT_TTL_SECONDS after it ends (and at the latest that
long after its longest possible solve, should nobody ever end it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from .record import HISTORY_MAX, ScheduleRecord, empty_progress

PREFIX = "merit-order:schedule"
RECENT_KEY = "merit-order:schedules:recent"
ACTIVE_KEY = "merit-order:schedules:active"
#: Most schedules `GET /schedules` can list (older ids are dropped from the index, not deleted).
RECENT_MAX = 1_000


def key(schedule_id: str, part: str = "") -> str:
    return f"{PREFIX}:{schedule_id}" + (f":{part}" if part else "")


def all_keys(schedule_id: str) -> list[str]:
    return [key(schedule_id), key(schedule_id, "input"), key(schedule_id, "history"), key(schedule_id, "lease")]


def meta_of(record: ScheduleRecord) -> bytes:
    return orjson.dumps(
        {"format": record.format, "options": record.options, "size": record.size, "demand": record.demand,
         "reserve": record.reserve, "created_at": record.created_at}
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def record_of(schedule_id: str, fields: Mapping[Any, Any], history: Sequence[Any] = ()) -> ScheduleRecord | None:
    """The record stored under these hash fields (None when there is none, e.g. expired)."""
    raw = {_text(k): v for k, v in fields.items()}
    if "meta" not in raw:
        return None
    meta = orjson.loads(raw["meta"])
    record = ScheduleRecord(
        id=schedule_id, format=meta["format"], options=meta["options"], size=meta["size"],
        demand=meta["demand"], reserve=meta["reserve"], created_at=meta["created_at"],
    )
    record.status = _text(raw.get("status")) or "queued"
    record.started_at = _text(raw.get("started_at"))
    record.finished_at = _text(raw.get("finished_at"))
    record.progress = orjson.loads(raw["progress"]) if raw.get("progress") else empty_progress()
    record.history = [orjson.loads(h) for h in history][-HISTORY_MAX:]
    record.schedule = orjson.loads(raw["schedule"]) if raw.get("schedule") else None
    record.error = _text(raw.get("error")) or None
    record.worker = _text(raw.get("worker"))
    record.attempts = int(raw.get("attempts") or 0)
    record.cancel_requested = _text(raw.get("cancel")) == "1"
    return record


#: Cancels a queued schedule at once (it never runs), or flags a running one for its worker.
#: KEYS: hash, active set. ARGV: id, finished_at. Returns the status it found.
CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancel', '1', 'finished_at', ARGV[2])
  redis.call('SREM', KEYS[2], ARGV[1])
  return 'queued'
end
if status == 'running' then redis.call('HSET', KEYS[1], 'cancel', '1') end
return status
"""

#: Takes a schedule for one worker: the lease (NX), then `running`, unless it already ended.
#: KEYS: hash, lease. ARGV: token, lease ms, worker, started_at, max attempts.
#: Returns 'claimed', 'ended', 'held' (another worker's lease), 'gone' or 'exhausted'.
CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'gone' end
if status == 'done' or status == 'failed' or status == 'cancelled' then return 'ended' end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'held' end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if attempts > tonumber(ARGV[5]) then
  redis.call('DEL', KEYS[2])
  return 'exhausted'
end
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[3])
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[4])
return 'claimed'
"""

#: A running worker's heartbeat: renews its lease if it still holds it; returns the cancel flag
#: ('1' asked) or 'lost' when the lease is no longer its own. KEYS: lease, hash. ARGV: token, ms.
RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'lost' end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('HGET', KEYS[2], 'cancel') or '0'
"""

#: Releases a lease only if it is still the caller's. KEYS: lease. ARGV: token.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
