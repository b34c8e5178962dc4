"""Celery over Redis: the distributed executor (REDIS_URL set, `merit-order worker` started).

Delivery guarantees, and the settings that give them (docs/jobs.md, "Where the work runs"):

* `task_acks_late=True`: a chunk's message is acknowledged after the chunk is solved and
  its results are in Redis, not when a worker takes it. A worker that dies before that
  leaves the message unacknowledged, so it is delivered again.
* `task_reject_on_worker_lost=True`: when the pool process running a chunk is killed
  (SIGKILL, OOM killer), the worker rejects the message with requeue, and another process
  takes the chunk at once. Without it Celery would acknowledge it (and lose the chunk).
* `worker_prefetch_multiplier=1`: a worker process holds one chunk at a time, so chunks
  spread over every worker and a dead worker strands at most its own chunk.
* `visibility_timeout` (JOB_VISIBILITY_TIMEOUT_SECONDS): when the *whole* worker dies
  (machine lost, SIGKILL of the main process), nobody is left to reject the message; the
  Redis transport hands it to another worker once it has been unacknowledged this long.
  The trade-off: short recovers sooner, but a chunk running longer than it is handed out
  a second time (harmless here -- a chunk's results overwrite themselves -- but wasted work).
  Chunks take about a second, so the default is 120 s.
* None of the above survives the broker itself failing (a Redis stall can lose a message
  for good), so chunks also have deadlines in Redis, kept fresh by a heartbeat while they
  run, and a watchdog thread in every worker resubmits the ones that went silent
  (watchdog.py). It also recovers a dead worker's chunk in JOB_CHUNK_STALE_SECONDS instead
  of the visibility timeout.

The message names the chunk, (job id, chunk index); its periods are read from Redis, where
any process can find them to resubmit it. Solving a chunk is idempotent (results are keyed
by chunk index), which is what makes late acknowledgement, redelivery and resubmission safe.
A task whose writes fail (Redis unreachable) retries them for 2 x JOB_CHUNK_STALE_SECONDS,
then gives up and leaves the chunk to the watchdog: no Celery retry, whose new message would go
through the same broken broker.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis.exceptions
import structlog
from celery import Celery, Task
from celery.signals import worker_ready, worker_shutdown

from ..broadcast.messages import job_plan_messages
from ..broadcast.worker import publish_blocking
from ..settings import Settings, get_settings
from . import store, watchdog
from .compute import solve_chunk
from .results import ResultCodec
from .watchdog import Recovery

log = structlog.get_logger(__name__)

QUEUE = "merit-order.chunks"
TASK_NAME = "merit_order.solve_chunk"

#: How long a task keeps retrying a write that fails for want of Redis, in multiples of
#: JOB_CHUNK_STALE_SECONDS, before giving the chunk up to the watchdog. Long enough to carry
#: its results over a Redis restart or a short stall; no longer, because by then the chunk's
#: deadline has passed and the watchdog resubmits it as soon as Redis answers: holding on
#: would only keep a pool process busy for a duplicate.
STORE_RETRY_STALE_MULTIPLE = 2.0

_T = TypeVar("_T")


def create_celery_app(
    redis_url: str,
    *,
    visibility_timeout: int = 120,
    result_ttl_seconds: int = 86_400,
    socket_timeout: float = 5.0,
    recovery: Recovery | None = None,
) -> Celery:
    """A Celery app on `redis_url` (broker and result store) with the job task registered.

    `recovery` is the chunk watchdog's settings (deadlines, resubmissions): the API uses it
    for each chunk's first deadline, the workers for their heartbeats and the watchdog.
    """
    app = Celery("merit_order", broker=redis_url, backend=redis_url, set_as_current=False)
    # Sweep for abandoned messages often enough that a visibility timeout of a few seconds
    # (tests) is honoured promptly; kombu's default sweep is every 10 s x 10.
    restore_interval = max(1, min(10, visibility_timeout // 4))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,  # results go to our own keys (store.py), read by any API replica
        result_expires=result_ttl_seconds,
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": restore_interval,
            "unacked_restore_throttle": 1,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_timeout,
        },
        result_backend_transport_options={"visibility_timeout": visibility_timeout},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        merit_order_redis_url=redis_url,
        merit_order_result_ttl=result_ttl_seconds,
        merit_order_recovery=recovery or Recovery(),
        # The queues a worker consumes; other task families (schedules) add theirs when registered.
        merit_order_queues=[QUEUE],
    )
    app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)(_solve_chunk_task)
    return app


def publish_chunk(app: Celery, job_id: str, chunk: int, producer: Any = None) -> None:
    """Send (or send again) one chunk of a job to the workers."""
    app.send_task(
        TASK_NAME,
        args=(job_id, chunk),
        queue=QUEUE,
        producer=producer,
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
    )


_clients: dict[str, Any] = {}


def _redis(app: Celery) -> Any:
    """One synchronous client per process (pool processes are forked: create it after the fork)."""
    import redis

    url = app.conf.merit_order_redis_url
    key = f"{os.getpid()}:{url}"
    client = _clients.get(key)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        _clients[key] = client
    return client


def _with_retries(what: Callable[[], _T], *, job_id: str, chunk: int, window: float) -> _T:
    """`what()`, retried with back-off while Redis is unreachable, for at most `window` seconds.

    Every write it wraps is idempotent, so a write that reached Redis before its reply was
    lost does no harm when repeated.
    """
    deadline = time.monotonic() + window
    pause = 0.25
    while True:
        try:
            return what()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("job.chunk_store_retry", job_id=job_id, chunk=chunk, error=f"{type(error).__name__}: {error}")
            time.sleep(pause)
            pause = min(2.0, pause * 2)


def _solve_chunk_task(self: Task, job_id: str, chunk: int) -> int:
    """Solve one chunk and store its results; returns the number of periods solved (0: skipped)."""
    app = self.app
    client = _redis(app)
    ttl = int(app.conf.merit_order_result_ttl)
    recovery: Recovery = app.conf.merit_order_recovery
    worker = self.request.hostname or socket.gethostname()
    window = STORE_RETRY_STALE_MULTIPLE * recovery.stale_seconds
    work = _with_retries(lambda: watchdog.chunk_work(client, job_id, chunk), job_id=job_id, chunk=chunk, window=window)
    if work is None:  # done already (a late redelivery), or the job is gone
        log.info("job.chunk_skipped", job_id=job_id, chunk=chunk, worker=worker)
        return 0
    attempt = _with_retries(lambda: store.chunk_started(client, job_id, chunk, worker, ttl), job_id=job_id, chunk=chunk, window=window)
    if attempt > 1:
        log.warning("job.chunk_redelivered", job_id=job_id, chunk=chunk, attempt=attempt, worker=worker)
    with watchdog.heartbeat(client, job_id, chunk, recovery):
        results = solve_chunk(work.message, work.options)
        _with_retries(
            lambda: store.chunk_finished(
                client, job_id, chunk, worker, results, work.total_chunks, ttl,
                codec=ResultCodec.for_job(work.message["fleet"], work.options),  # compact: see results.py
            ),
            job_id=job_id, chunk=chunk, window=window,
        )
    _with_retries(lambda: watchdog.chunk_stored(client, job_id, chunk), job_id=job_id, chunk=chunk, window=window)
    # The live feed (/ws on every API replica): after the results are safe; never fails the task.
    publish_blocking(client, job_plan_messages(job_id, work.message, results), channel=get_settings().broadcast_channel)
    return len(results)


# --- worker heartbeat: lets /_healthcheck on any API replica list the live workers ----------


class _Heartbeat:
    def __init__(self, app: Celery, name: str, concurrency: int) -> None:
        self._app = app
        self._name = name
        self._info = {"pid": os.getpid(), "host": socket.gethostname(), "concurrency": concurrency}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="merit-order-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                store.beat(_redis(self._app), self._name, {**self._info, "at": time.time()})
            except Exception as error:  # noqa: BLE001 - Redis down: the worker itself reconnects
                log.warning("worker.heartbeat_failed", error=str(error))
            self._stop.wait(store.HEARTBEAT_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        try:
            store.forget_worker(_redis(self._app), self._name)
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass


_heartbeats: list[_Heartbeat] = []
_watchdogs: list[watchdog.Watchdog] = []


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    # sender is the worker's Consumer (celery.apps.worker: worker_ready.send(sender=consumer)).
    app = sender.app
    if not app.conf.get("merit_order_redis_url"):
        return
    concurrency = getattr(getattr(sender, "controller", None), "concurrency", None) or 1
    beat = _Heartbeat(app, sender.hostname, int(concurrency))
    beat.start()
    _heartbeats.append(beat)
    # The chunk watchdog: in every worker's main process (the sweep's claims are atomic, so
    # several workers sweeping at once is redundancy, not duplicated resubmissions).
    dog = watchdog.Watchdog(
        lambda: _redis(app),
        lambda job_id, chunk: publish_chunk(app, job_id, chunk),
        app.conf.merit_order_recovery,
        queue=QUEUE,
        ttl=int(app.conf.merit_order_result_ttl),
    )
    dog.start()
    _watchdogs.append(dog)


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    while _watchdogs:
        _watchdogs.pop().stop()
    while _heartbeats:
        _heartbeats.pop().stop()


def app_from_settings(settings: Settings | None = None) -> Celery:
    """The workers' Celery app for these settings (the environment's when None)."""
    settings = settings or get_settings()
    if not settings.redis_url:
        raise SystemExit("REDIS_URL is not set: a Celery worker needs Redis (the in-process executor needs no worker)")
    return create_celery_app(
        settings.redis_url,
        visibility_timeout=settings.job_visibility_timeout_seconds,
        result_ttl_seconds=settings.job_result_ttl_seconds,
        recovery=Recovery.from_settings(settings),
    )


def __getattr__(name: str) -> Any:
    # `celery -A merit_order.jobs.celery_app worker` looks up `app`; build it from the
    # settings only then, so that importing this module never needs REDIS_URL.
    if name in ("app", "celery"):
        return app_from_settings()
    raise AttributeError(name)


def run_worker(
    app: Celery,
    *,
    concurrency: int | None = None,
    name: str | None = None,
    loglevel: str = "INFO",
    pool: str = "prefork",
) -> None:
    """Run a worker in this process until it is stopped (what `merit-order worker` calls)."""
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency or os.cpu_count() or 1}",
        f"--pool={pool}",
        f"--queues={','.join(app.conf.merit_order_queues)}",
        "--without-gossip",
        "--without-mingle",
    ]
    if name:
        argv.append(f"--hostname={name}")
    app.worker_main(argv=argv)
