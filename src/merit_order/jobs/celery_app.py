"""Celery over Redis: the distributed executor (REDIS_URL set, `merit-order worker` started).

Delivery guarantees, and the settings that give them (see the README, "Distributed mode"):

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

Solving a chunk is idempotent (results are keyed by chunk index), which is what makes
late acknowledgement and redelivery safe.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import redis.exceptions
import structlog
from celery import Celery, Task
from celery.signals import worker_ready, worker_shutdown

from ..broadcast import job_plan_messages, publish_blocking
from ..settings import get_settings
from . import store
from .compute import solve_chunk
from .results import ResultCodec

log = structlog.get_logger(__name__)

QUEUE = "merit-order.chunks"
TASK_NAME = "merit_order.solve_chunk"


def create_celery_app(
    redis_url: str,
    *,
    visibility_timeout: int = 120,
    result_ttl_seconds: int = 86_400,
    socket_timeout: float = 5.0,
) -> Celery:
    """A Celery app on `redis_url` (broker and result store) with the job task registered."""
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
    )
    app.task(
        name=TASK_NAME,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=(redis.exceptions.ConnectionError, redis.exceptions.TimeoutError),
        retry_backoff=True,
        retry_backoff_max=30,
        max_retries=10,
    )(_solve_chunk_task)
    return app


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


def _solve_chunk_task(
    self: Task, job_id: str, message: dict[str, Any], options: dict[str, Any], total_chunks: int
) -> int:
    """Solve one chunk and store its results; returns the number of periods solved."""
    app = self.app
    client = _redis(app)
    ttl = int(app.conf.merit_order_result_ttl)
    worker = self.request.hostname or socket.gethostname()
    attempt = store.chunk_started(client, job_id, message["index"], worker, ttl)
    if attempt > 1:
        log.warning("job.chunk_redelivered", job_id=job_id, chunk=message["index"], attempt=attempt, worker=worker)
    results = solve_chunk(message, options)
    store.chunk_finished(
        client, job_id, message["index"], worker, results, total_chunks, ttl,
        codec=ResultCodec.for_job(message["fleet"], options),  # compact: see results.py
    )
    # The live feed (/ws on every API replica): after the results are safe; never fails the task.
    publish_blocking(client, job_plan_messages(job_id, message, results), channel=get_settings().broadcast_channel)
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


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    while _heartbeats:
        _heartbeats.pop().stop()


def app_from_settings() -> Celery:
    from ..settings import get_settings

    settings = get_settings()
    if not settings.redis_url:
        raise SystemExit("REDIS_URL is not set: a Celery worker needs Redis (the in-process executor needs no worker)")
    return create_celery_app(
        settings.redis_url,
        visibility_timeout=settings.job_visibility_timeout_seconds,
        result_ttl_seconds=settings.job_result_ttl_seconds,
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
        f"--queues={QUEUE}",
        "--without-gossip",
        "--without-mingle",
    ]
    if name:
        argv.append(f"--hostname={name}")
    app.worker_main(argv=argv)
