"""Chunk deadlines and the watchdog: every accepted job ends `done` or `failed`, never stuck.

Why this exists. Celery's own guarantees (late acknowledgement, requeue when a pool process
dies, the Redis transport's visibility timeout) all live in the broker, so they fail together
with it. Measured (issue 14, item 3): Redis SIGSTOPped for ~31 s while two chunks ran; the
workers' writes timed out, the tasks' Celery retries had to be published through the same
stalled broker, and the two messages were gone (queue and `unacked` empty, no task active):
the job stayed `running` at 6/8 chunks forever. No broker setting makes that impossible, so
the job itself now records what each chunk is doing, and something outside the broker
checks it. With it, the same 31 s stall ends `done` 3.8 s after SIGCONT (docs/operations.md).

The record (Redis, next to the job's other keys; see store.py):

    merit-order:job:{id}:input       hash   chunk -> the chunk's periods (JSON): what a worker
                                            solves, and what lets *any* process resubmit it.
                                            The Celery message only names (job id, chunk).
    merit-order:job:{id}:running     hash   chunk -> {"worker", "pid", "since"} while started
    merit-order:job:{id}:counts      hash   chunk -> counts once its results are stored (done)
    merit-order:job:{id}:resubmits   hash   chunk -> times the watchdog resubmitted it
    merit-order:chunk-deadlines      zset   "{job id}:{chunk}" -> deadline (Redis clock, s)

A chunk is *queued* (published, no `running` entry), *running* (a `running` entry and a
deadline that its worker keeps pushing forward: a heartbeat every JOB_CHUNK_STALE_SECONDS / 4
while it solves) or *done* (in `counts`; its deadline entry is removed). Its deadline is
publish time (or last heartbeat) + JOB_CHUNK_STALE_SECONDS. Deadlines are read from Redis's
own clock (TIME inside scripts), so workers on machines whose clocks disagree still agree.

The watchdog (`Watchdog`, a thread in every worker's main process, every
JOB_WATCHDOG_INTERVAL_SECONDS) takes the chunks whose deadline has passed. Taking is one
atomic script that also pushes each deadline forward, so several workers sweeping at once
never handle the same chunk twice. For each one:

* job gone (expired, deleted), or the chunk done: forget the deadline;
* queued, and the broker's queue is not empty: it is probably waiting its turn behind other
  work; look again one period later (resubmitting would only lengthen the backlog);
* otherwise the chunk is lost -- started but silent (its worker died, or its task ended
  without storing results, e.g. its writes failed during a Redis stall), or queued while
  the queue is empty (its message vanished): publish it again. A chunk lost again after
  JOB_CHUNK_MAX_RESUBMITS resubmissions is given up on instead of being retried forever:
  each of its periods gets a result in error saying why, so the job ends `failed` (once its
  other chunks are in) with that reason, as a job with any period in error does.

Why this is safe to do eagerly. Solving a chunk twice gives the same results, stored under
the same keys (the second write replaces the first); the job-state counters are
counted once per job whatever runs twice (HSETNX on started_at / finished_at, see store.py);
a worker that receives a chunk already done (a late redelivery by the broker) skips it. So
a wrong guess costs one chunk of duplicated work, never a wrong or double-counted answer.

What it does for a dead worker (issue 13, item 4). A chunk held by a worker that vanished
stops beating, so it is resubmitted JOB_CHUNK_STALE_SECONDS after its last heartbeat plus
at most one sweep, instead of waiting for the broker's visibility timeout (120 s). A chunk
that is still running is never resubmitted: it keeps its deadline ahead of the sweep.

What it cannot do: a worker whose solve hangs forever while its heartbeat thread runs keeps
its chunk (chunks are bounded by the request limits: seconds); a queued chunk whose message
vanished while the queue never empties (a sustained backlog) is noticed only once the queue
drains; and with no worker alive, nothing runs the watchdog -- jobs wait, as they wait for
a worker anyway.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from . import store
from .chunks import ChunkMessage
from .store import job_key

log = structlog.get_logger(__name__)

DEADLINES_KEY = "merit-order:chunk-deadlines"

#: How many overdue chunks one sweep takes at most (the rest wait for the next sweep).
SWEEP_BATCH = 200

# Sets every member's score to Redis's clock + ARGV[1]; returns that score.
_SET_DEADLINES = """
local t = redis.call('TIME')
local at = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], at, ARGV[i]) end
return tostring(at)
"""

# A running chunk's heartbeat: pushes its deadline forward unless the chunk is done (then
# the deadline is removed, so a late beat cannot resurrect it). KEYS: deadlines, counts.
_BEAT = """
if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 0
end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1]), ARGV[2])
return 1
"""

# Takes up to ARGV[2] overdue members and pushes each one's deadline ARGV[1] seconds ahead,
# atomically: two watchdogs sweeping at once take disjoint sets.
_TAKE_OVERDUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), m) end
return due
"""


@dataclass(frozen=True, slots=True)
class Recovery:
    """The watchdog's settings (JOB_CHUNK_STALE_SECONDS, JOB_CHUNK_MAX_RESUBMITS,
    JOB_WATCHDOG_INTERVAL_SECONDS), carried by the Celery app to the API and the workers."""

    stale_seconds: float = 10.0
    max_resubmits: int = 5
    interval_seconds: float = 2.0

    @property
    def heartbeat_seconds(self) -> float:
        """How often a running chunk pushes its deadline: four beats may be lost before it is stale."""
        return self.stale_seconds / 4

    @classmethod
    def from_settings(cls, settings: Any) -> Recovery:
        return cls(
            stale_seconds=float(settings.job_chunk_stale_seconds),
            max_resubmits=int(settings.job_chunk_max_resubmits),
            interval_seconds=float(settings.job_watchdog_interval_seconds),
        )


def member(job_id: str, chunk: int) -> str:
    """The chunk's name in the deadline set."""
    return f"{job_id}:{chunk}"


def _text(value: Any) -> str | None:
    return None if value is None else value.decode() if isinstance(value, bytes) else str(value)


# --- the API, at submit (redis.asyncio) ------------------------------------------------------


async def register_chunks(
    client: Any, job_id: str, messages: Sequence[ChunkMessage], ttl: int, recovery: Recovery
) -> None:
    """Store each chunk's periods and give it its first deadline, before anything is published.

    Stored first so that a worker taking the message finds the periods, and so that a publish
    that half-succeeds (some chunks sent, then the broker fails) leaves chunks the watchdog
    will send.
    """
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(job_key(job_id, "input"), mapping={m["index"]: json.dumps(m, separators=(",", ":")) for m in messages})
        pipe.expire(job_key(job_id, "input"), ttl)
        await pipe.execute()
    await client.eval(_SET_DEADLINES, 1, DEADLINES_KEY, recovery.stale_seconds, *(member(job_id, m["index"]) for m in messages))


async def forget_chunks(client: Any, job_id: str, chunks: int) -> None:
    """A job refused after all (its publish failed): no deadline may outlive it."""
    await client.zrem(DEADLINES_KEY, *(member(job_id, k) for k in range(chunks)))


# --- a worker, around one chunk (redis, synchronous) ----------------------------------------


@dataclass(frozen=True, slots=True)
class ChunkWork:
    """What a worker needs to solve a chunk, read from Redis (the message only names it)."""

    message: ChunkMessage  # as register_chunks stored it (JSON)
    options: dict[str, Any]
    total_chunks: int


def chunk_work(client: Any, job_id: str, chunk: int) -> ChunkWork | None:
    """The chunk's periods and the job's options; None when there is nothing to do.

    Nothing to do: the job expired or was deleted, or this chunk is done (a redelivery the
    broker made after the watchdog had the chunk solved elsewhere, or a chunk given up on).
    """
    with client.pipeline(transaction=False) as pipe:
        pipe.hmget(job_key(job_id), "chunks", "options")
        pipe.hexists(job_key(job_id, "counts"), chunk)
        pipe.hget(job_key(job_id, "input"), chunk)
        (chunks, options), done, raw = pipe.execute()
    if chunks is None or done or raw is None:
        return None
    return ChunkWork(json.loads(raw), json.loads(options or "{}"), int(chunks))


def beat(client: Any, job_id: str, chunk: int, recovery: Recovery) -> bool:
    """Push the chunk's deadline JOB_CHUNK_STALE_SECONDS ahead; False once the chunk is done."""
    return bool(
        client.eval(_BEAT, 2, DEADLINES_KEY, job_key(job_id, "counts"), recovery.stale_seconds, member(job_id, chunk), chunk)
    )


@contextmanager
def heartbeat(client: Any, job_id: str, chunk: int, recovery: Recovery) -> Iterator[None]:
    """Beat for the chunk while the block runs (the solve is CPU-bound Python; a thread still
    gets the GIL every few milliseconds). A beat that fails (Redis stalled) is only logged:
    missing beats are exactly what the watchdog is there to notice."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(recovery.heartbeat_seconds):
            try:
                if not beat(client, job_id, chunk, recovery):
                    return
            except Exception as error:  # noqa: BLE001 - Redis unreachable: the deadline will tell
                log.warning("job.chunk_beat_failed", job_id=job_id, chunk=chunk, error=f"{type(error).__name__}: {error}")

    try:
        beat(client, job_id, chunk, recovery)
    except Exception as error:  # noqa: BLE001 - Redis unreachable: the deadline will tell
        log.warning("job.chunk_beat_failed", job_id=job_id, chunk=chunk, error=f"{type(error).__name__}: {error}")
    thread = threading.Thread(target=run, name=f"merit-order-chunk-beat-{chunk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=recovery.heartbeat_seconds + 6)


def chunk_stored(client: Any, job_id: str, chunk: int) -> None:
    """After the chunk's results are stored: no deadline, and its periods are no longer needed."""
    with client.pipeline(transaction=True) as pipe:
        pipe.zrem(DEADLINES_KEY, member(job_id, chunk))
        pipe.hdel(job_key(job_id, "input"), chunk)
        pipe.execute()


# --- the watchdog ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    """What one sweep did with one overdue chunk (returned for logs and tests)."""

    job_id: str
    chunk: int
    what: str  # "forgotten" | "waiting" | "resubmitted" | "failed"


def sweep(
    client: Any,
    publish: Callable[[str, int], None],
    recovery: Recovery,
    *,
    queue: str,
    ttl: int,
) -> list[Action]:
    """One pass over the overdue chunks (see the module docstring for the rules)."""
    taken = client.eval(_TAKE_OVERDUE, 1, DEADLINES_KEY, recovery.stale_seconds, SWEEP_BATCH)
    actions: list[Action] = []
    queue_length: int | None = None
    for raw in taken:
        name = _text(raw) or ""
        job_id, _, chunk_text = name.rpartition(":")
        chunk = int(chunk_text)
        with client.pipeline(transaction=False) as pipe:
            pipe.hmget(job_key(job_id), "chunks", "chunk_size")
            pipe.hexists(job_key(job_id, "counts"), chunk)
            pipe.hexists(job_key(job_id, "running"), chunk)
            (chunks, chunk_size), done, running = pipe.execute()
        if chunks is None or done:
            client.zrem(DEADLINES_KEY, name)
            actions.append(Action(job_id, chunk, "forgotten"))
            continue
        if not running:
            if queue_length is None:
                queue_length = int(client.llen(queue))
            if queue_length > 0:
                actions.append(Action(job_id, chunk, "waiting"))  # its deadline was pushed when taken
                continue
        actions.append(_resubmit(client, publish, recovery, job_id, chunk, int(chunks), int(chunk_size or 0), ttl, bool(running)))
    return actions


def _resubmit(
    client: Any,
    publish: Callable[[str, int], None],
    recovery: Recovery,
    job_id: str,
    chunk: int,
    chunks: int,
    chunk_size: int,
    ttl: int,
    was_running: bool,
) -> Action:
    with client.pipeline(transaction=True) as pipe:
        pipe.hincrby(job_key(job_id, "resubmits"), chunk, 1)
        pipe.expire(job_key(job_id, "resubmits"), ttl)
        resubmits, _ = pipe.execute()
    resubmits = int(resubmits)
    if resubmits > recovery.max_resubmits:
        first = chunk * chunk_size
        reason = (
            f"chunk {chunk} (from period {first}) was lost {resubmits} times "
            f"(worker died or Redis failed each time it ran); gave up after JOB_CHUNK_MAX_RESUBMITS="
            f"{recovery.max_resubmits} resubmissions"
        )
        fail_chunk(client, job_id, chunk, chunks, chunk_size, reason, ttl)
        return Action(job_id, chunk, "failed")
    # Not running any more (its holder is silent): status shows it queued again.
    client.hdel(job_key(job_id, "running"), chunk)
    try:
        publish(job_id, chunk)
    except Exception:
        client.hincrby(job_key(job_id, "resubmits"), chunk, -1)  # not sent: not counted; retried next sweep
        raise
    log.warning(
        "job.chunk_resubmitted", job_id=job_id, chunk=chunk, resubmits=resubmits,
        was="running, silent" if was_running else "queued, not in the queue",
    )
    return Action(job_id, chunk, "resubmitted")


def fail_chunk(client: Any, job_id: str, chunk: int, chunks: int, chunk_size: int, reason: str, ttl: int) -> None:
    """Give up on a chunk: store a result in error for each of its periods, with `reason`.

    Through the same write as a solved chunk, so the job ends as any job with a period in
    error does: `failed` once its other chunks are in, the reason in the status (naming the
    first such period) and in each of these periods' results, the other periods' plans kept,
    and the deployment's `failed` counter counted once.
    """
    raw = client.hget(job_key(job_id, "input"), chunk)
    if raw is not None:
        message = json.loads(raw)
        start, labels = int(message["start"]), [item.get("label") for item in message["items"]]
    else:  # its periods already dropped (should not happen): the indexes are still known
        periods = int(_text(client.hget(job_key(job_id), "periods")) or 0)
        start = chunk * chunk_size
        labels = [None] * max(0, min(chunk_size, periods - start))
    results = [
        {"index": start + i, "label": label, "status": "error", "reason": reason} for i, label in enumerate(labels)
    ]
    store.chunk_finished(client, job_id, chunk, "watchdog", results, chunks, ttl)
    chunk_stored(client, job_id, chunk)
    log.error("job.chunk_given_up", job_id=job_id, chunk=chunk, reason=reason)


class Watchdog:
    """The sweep on a daemon thread (one per worker main process), every interval."""

    def __init__(
        self,
        client_factory: Callable[[], Any],
        publish: Callable[[str, int], None],
        recovery: Recovery,
        *,
        queue: str,
        ttl: int,
    ) -> None:
        self._client_factory = client_factory
        self._publish = publish
        self._recovery = recovery
        self._queue = queue
        self._ttl = ttl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="merit-order-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._recovery.interval_seconds):
            try:
                sweep(self._client_factory(), self._publish, self._recovery, queue=self._queue, ttl=self._ttl)
            except Exception as error:  # noqa: BLE001 - Redis unreachable: try again next interval
                log.warning("job.watchdog_failed", error=f"{type(error).__name__}: {error}")
