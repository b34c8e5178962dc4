"""The worker's side of schedules over Celery: the task, its lease, and the sweeper.

Delivery, and why each piece is there (docs/schedules.md, "Where it runs"):

* The task is late-acknowledged and rejected with requeue when its pool process is killed
  (`acks_late`, `reject_on_worker_lost`), like the chunk task. Its message is handed out again
  only after the broker's visibility timeout, which the Celery app raises above the longest
  allowed solve (`visibility_timeout_for`), so a running solve is never handed out twice by
  the broker; the task's time limits are set just above that solve too.
* A worker that solves a schedule holds its *lease* in Redis and renews it every quarter of
  SCHEDULE_LEASE_SECONDS; the same heartbeat reads the cancel flag. A worker that dies (the
  machine lost, SIGKILL) stops renewing: its lease lapses within SCHEDULE_LEASE_SECONDS.
* The *sweeper*, a thread in every worker's main process, looks at the active schedules every
  third of SCHEDULE_LEASE_SECONDS: one `running` without a lease is re-published at once (not
  after the visibility timeout, minutes later), one `queued` whose message vanished is
  re-published once the queue is empty. Another worker takes it and solves it again from
  the start. A schedule whose solves were started SCHEDULE_MAX_ATTEMPTS times ends `failed`
  saying so, rather than being retried forever.
* Every path is idempotent: a task whose schedule already ended, or whose lease another
  worker holds, returns at once; a worker that finds its lease taken over stops and writes
  nothing. So a duplicate delivery costs a Redis round trip, never a second answer.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis
import redis.exceptions
import structlog
from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from redis.typing import EncodableT, FieldT

from ..broadcast.messages import ScheduleMessage, schedule_message
from . import redis_state as rs
from .record import HISTORY_MAX, utc_now
from .runner import Outcome, ScheduleOptions, Snapshot, solve_request
from .stats import record_in_redis

log = structlog.get_logger(__name__)

QUEUE = "merit-order.schedules"
TASK_NAME = "merit_order.solve_schedule"

Publish = Callable[[ScheduleMessage], None]


@dataclass(frozen=True, slots=True)
class ScheduleWorkerConfig:
    """The schedule settings a worker needs (from Settings, via the Celery app)."""

    redis_url: str
    ttl_seconds: int
    lease_seconds: float
    max_attempts: int
    max_time_limit_s: float


def visibility_timeout_for(config: ScheduleWorkerConfig, current: int) -> int:
    """The broker's visibility timeout: at least the longest allowed solve plus a margin, so
    that a message is never handed to a second worker while its first still solves it."""
    return max(current, int(config.max_time_limit_s * 1.5) + 120)


def register(app: Celery, config: ScheduleWorkerConfig, publish: Publish | None = None) -> None:
    """Add the schedule task (and, in workers, the sweeper) to a Celery app."""
    options = dict(app.conf.broker_transport_options or {})
    options["visibility_timeout"] = visibility_timeout_for(config, int(options.get("visibility_timeout", 0)))
    app.conf.broker_transport_options = options
    app.conf.result_backend_transport_options = {"visibility_timeout": options["visibility_timeout"]}
    app.conf.merit_order_schedules = config
    app.conf.merit_order_queues = [*app.conf.get("merit_order_queues", []), QUEUE]
    app.conf.merit_order_schedule_publish = publish
    app.task(
        name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True,
        soft_time_limit=config.max_time_limit_s + 60, time_limit=config.max_time_limit_s + 120,
    )(_solve_task)

    def started(sender: Any = None, **_: Any) -> None:
        sender_app: Any = getattr(sender, "app", None)  # (typed Any: `is` would narrow `app` to Optional)
        if sender_app is app:
            sweeper = Sweeper(app, config)
            app.conf.merit_order_schedule_sweeper = sweeper
            sweeper.start()

    def stopping(sender: Any = None, **_: Any) -> None:
        sweeper = app.conf.get("merit_order_schedule_sweeper")
        if sweeper is not None:
            sweeper.stop()

    worker_ready.connect(started, weak=False)
    worker_shutdown.connect(stopping, weak=False)


_clients: dict[str, redis.Redis] = {}


def redis_client(url: str) -> redis.Redis:
    """One synchronous client per process (pool processes are forked: created after the fork)."""
    name = f"{os.getpid()}:{url}"
    if name not in _clients:
        _clients[name] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return _clients[name]


def _text(value: Any) -> str | None:
    return None if value is None else (value.decode() if isinstance(value, bytes) else str(value))


class _Lease:
    """The heartbeat of one solve: renews the lease, reads the cancel flag, notices a takeover."""

    def __init__(self, client: redis.Redis, schedule_id: str, token: str, seconds: float) -> None:
        self._client, self._id, self._token = client, schedule_id, token
        self._ms = int(seconds * 1000)
        self._every = seconds / 4
        self.stop = threading.Event()  # the solver's stop: a cancel, or the lease lost
        self.lost = False
        self.cancelled = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"schedule-lease-{schedule_id[:8]}", daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._done.wait(self._every):
            try:
                answer = _text(self._client.eval(rs.RENEW, 2, rs.key(self._id, "lease"), rs.key(self._id), self._token, self._ms))
            except (redis.exceptions.RedisError, OSError) as exc:
                log.warning("schedule_lease_renew_failed", schedule_id=self._id, error=str(exc))
                continue
            if answer == "lost":
                self.lost = True
                self.stop.set()
                log.warning("schedule_lease_lost", schedule_id=self._id)
                return
            if answer == "1" and not self.cancelled:
                self.cancelled = True
                self.stop.set()


def _solve_task(task: Any, schedule_id: str) -> str:
    """Solve one schedule (see the module docstring for when it declines)."""
    config: ScheduleWorkerConfig = task.app.conf.merit_order_schedules
    publish: Publish | None = task.app.conf.get("merit_order_schedule_publish")
    client = redis_client(config.redis_url)
    worker = f"{task.request.hostname or socket.gethostname()}:{os.getpid()}"
    token = f"{worker}:{uuid.uuid4().hex[:12]}"
    claimed = _text(
        client.eval(rs.CLAIM, 2, rs.key(schedule_id), rs.key(schedule_id, "lease"), token,
                    int(config.lease_seconds * 1000), worker, utc_now(), config.max_attempts)
    )
    if claimed == "exhausted":
        _end(client, config, schedule_id, None, Outcome("failed", None, f"its solve was started {config.max_attempts} "
             "times and its worker died every time (SCHEDULE_MAX_ATTEMPTS)", Snapshot(None, None, None, 0.0)), publish, 0.0)
        return "failed"
    if claimed != "claimed":
        log.info("schedule_task_declined", schedule_id=schedule_id, reason=claimed)
        return claimed or "gone"
    fields, payload = client.hgetall(rs.key(schedule_id)), client.get(rs.key(schedule_id, "input"))
    record = rs.record_of(schedule_id, fields)
    started = time.monotonic()
    if record is None or payload is None:
        _end(client, config, schedule_id, token, Outcome("failed", None, "its input expired before a worker took it",
             Snapshot(None, None, None, 0.0)), publish, 0.0)
        return "failed"
    log.info("schedule_started", schedule_id=schedule_id, attempt=record.attempts, worker=worker)
    _tell(publish, schedule_id, "running", record.progress, None)

    def on_snapshot(snapshot: Snapshot) -> None:
        data = snapshot.as_dict()
        try:
            pipe = client.pipeline(transaction=False)
            pipe.hset(rs.key(schedule_id), "progress", orjson.dumps(data))
            pipe.rpush(rs.key(schedule_id, "history"), orjson.dumps(data))
            pipe.ltrim(rs.key(schedule_id, "history"), -HISTORY_MAX, -1)
            pipe.execute()
        except (redis.exceptions.RedisError, OSError) as exc:  # progress is best effort; the outcome is not
            log.warning("schedule_progress_write_failed", schedule_id=schedule_id, error=str(exc))
        _tell(publish, schedule_id, "running", data, None)

    def on_best(document: dict[str, Any]) -> None:
        try:
            client.hset(rs.key(schedule_id), "schedule", orjson.dumps(document))
        except (redis.exceptions.RedisError, OSError) as exc:
            log.warning("schedule_best_write_failed", schedule_id=schedule_id, error=str(exc))

    with _Lease(client, schedule_id, token, config.lease_seconds) as lease:
        try:
            outcome = solve_request(
                orjson.loads(payload), ScheduleOptions.from_dict(record.options),
                on_snapshot=on_snapshot, on_best=on_best, stop=lease.stop.is_set,
            )
        except Exception as exc:  # a bug or an exhausted machine: fail it, saying what, never drop it
            log.exception("schedule_task_crashed", schedule_id=schedule_id)
            outcome = Outcome("failed", None, f"the solve crashed: {type(exc).__name__}", Snapshot(None, None, None, 0.0))
    if lease.lost:  # another worker took it over (we were presumed dead): its answer counts, not ours
        log.warning("schedule_abandoned", schedule_id=schedule_id)
        return "abandoned"
    _end(client, config, schedule_id, token, outcome, publish, time.monotonic() - started)
    return outcome.status


def _end(
    client: redis.Redis, config: ScheduleWorkerConfig, schedule_id: str, token: str | None,
    outcome: Outcome, publish: Publish | None, seconds: float,
) -> None:
    """Store how the schedule ended, release its lease, count it, tell /ws."""
    fields: dict[FieldT, EncodableT] = {"status": outcome.status, "finished_at": utc_now(), "error": outcome.error or "",
                              "progress": orjson.dumps(outcome.snapshot.as_dict())}
    if outcome.schedule is not None:
        fields["schedule"] = orjson.dumps(outcome.schedule)
    for attempt in range(20):  # the answer must land: retry a Redis hiccup for ~10 s
        try:
            pipe = client.pipeline(transaction=True)
            pipe.hset(rs.key(schedule_id), mapping=fields)
            pipe.rpush(rs.key(schedule_id, "history"), orjson.dumps(outcome.snapshot.as_dict()))
            pipe.srem(rs.ACTIVE_KEY, schedule_id)
            for name in rs.all_keys(schedule_id):
                pipe.expire(name, config.ttl_seconds)
            pipe.execute()
            if token is not None:
                client.eval(rs.RELEASE, 1, rs.key(schedule_id, "lease"), token)
            break
        except (redis.exceptions.RedisError, OSError) as exc:
            log.warning("schedule_end_write_failed", schedule_id=schedule_id, attempt=attempt, error=str(exc))
            time.sleep(0.5)
    else:  # the lease lapses; the sweeper re-publishes it once Redis answers again
        log.error("schedule_end_lost", schedule_id=schedule_id)
        return
    has_schedule = outcome.schedule is not None and outcome.status != "failed"
    try:
        record_in_redis(client, outcome.status, seconds, outcome.snapshot.gap if has_schedule else None)
    except (redis.exceptions.RedisError, OSError):
        log.warning("schedule_stats_write_failed", schedule_id=schedule_id)
    log.info("schedule_finished", schedule_id=schedule_id, status=outcome.status, objective=outcome.snapshot.objective,
             gap=outcome.snapshot.gap, seconds=round(seconds, 3))
    _tell(publish, schedule_id, outcome.status, outcome.snapshot.as_dict(), outcome.error)


def _tell(publish: Publish | None, schedule_id: str, status: str, progress: dict[str, Any], error: str | None) -> None:
    if publish is None:
        return
    try:
        publish(schedule_message(schedule_id, status, progress, error))
    except Exception:  # the feed is best effort
        log.warning("schedule_publish_failed", schedule_id=schedule_id, exc_info=True)


class Sweeper:
    """Re-publishes schedules whose worker died, or whose message vanished (module docstring)."""

    def __init__(self, app: Celery, config: ScheduleWorkerConfig) -> None:
        self._app, self._config = app, config
        self._every = max(0.5, config.lease_seconds / 3)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedule-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()

    def _run(self) -> None:
        while not self._done.wait(self._every):
            try:
                self.sweep()
            except (redis.exceptions.RedisError, OSError) as exc:
                log.warning("schedule_sweep_failed", error=str(exc))
            except Exception:
                log.exception("schedule_sweep_crashed")

    def sweep(self) -> list[str]:
        """One look at every active schedule; returns the ids re-published."""
        client = redis_client(self._config.redis_url)
        ids = [_text(i) for i in client.smembers(rs.ACTIVE_KEY)]
        republished: list[str] = []
        now = time.time()
        for schedule_id in ids:
            assert schedule_id is not None
            status, published_at = (_text(v) for v in client.hmget(rs.key(schedule_id), "status", "published_at"))
            if status is None or status in ("done", "failed", "cancelled"):
                client.srem(rs.ACTIVE_KEY, schedule_id)
                continue
            if client.exists(rs.key(schedule_id, "lease")):
                continue  # a live worker holds it
            if status == "queued":
                waited = now - float(published_at or 0)
                if waited < 2 * self._config.lease_seconds or client.llen(QUEUE) > 0:
                    continue  # probably waiting its turn behind other work
            # running without a lease (its worker died), or queued with its message gone
            guard = client.set(rs.key(schedule_id, "resubmit"), "1", nx=True, px=int(self._config.lease_seconds * 1000))
            if not guard:
                continue  # another worker's sweeper just did it
            client.hset(rs.key(schedule_id), mapping={"status": "queued", "published_at": now})
            self._app.send_task(TASK_NAME, args=(schedule_id,), queue=QUEUE)
            log.warning("schedule_resubmitted", schedule_id=schedule_id, was=status)
            republished.append(schedule_id)
        return republished
