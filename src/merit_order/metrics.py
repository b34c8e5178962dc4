"""Prometheus metrics: every series the service exports, the hooks that feed them, the scrape's body.

Every metric is defined here, once, so that one file says what a dashboard can rely on;
the other modules call the small functions below (one line at the place the thing happens)
rather than touching prometheus_client themselves. The HTTP side (the request middleware and
the `/metrics` route) is in api/metrics.py: a Celery worker imports this module to count its
jobs and feed messages, and must not import a web framework to do so.

Series (all prefixed `merit_order_`):

* `http_requests_total{method, route, status}` and `http_request_duration_seconds{method,
  route}`: by route *template* (`/productionplan/jobs/{job_id}`), never the raw path, so
  that a scanner probing random URLs cannot grow the number of series: anything no route
  matches is counted as route="<unmatched>".
* `solve_duration_seconds{outcome}`: time in the calculator per plan (ok, infeasible,
  too_large, cancelled, error), measured around compute_plan itself, not the HTTP request.
* `cache_lookups_total{result}`: hit, miss, error.
* `jobs_total{state}`: jobs queued, and finished (done or failed) where they ran in this
  process (the in-process executor; Celery workers run elsewhere).
* `cluster_jobs_total{state}` (Celery mode only): queued, running, done, failed over the whole
  deployment, counted in Redis by the API and the workers (jobs/store.py), read at each scrape.
* `ws_clients`: websocket clients connected; `broadcast_messages_total{outcome}`:
  published / delivered / dropped (a slow client's oldest message) / redis_failed.
* `solve_budget_exceeded_total`: requests answered 503 because a solve took longer than
  SOLVE_TIMEOUT_SECONDS.

Processes: by default each process exports its own figures (the right thing for the
compose deployment: one uvicorn process per replica, each scraped). With `WORKERS` > 1,
`merit-order serve` points PROMETHEUS_MULTIPROC_DIR at a fresh directory before the
workers start, and `/metrics` then sums over every worker process (prometheus_client's
multiprocess mode), whichever process answers the scrape.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from merit_order.calculator.errors import InfeasibleLoad, ProblemTooLarge, SolveCancelled

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Request latency: from sub-millisecond (a cache hit) to the solve budget's order (10 s).
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The calculator: ~10 us for the challenge's fleets to about a second at the limits.
_SOLVE_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "merit_order_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "merit_order_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by method and route template.",
    ["method", "route"],
    buckets=_HTTP_BUCKETS,
)
SOLVE_SECONDS = Histogram(
    "merit_order_solve_duration_seconds",
    "Time spent in the calculator for one plan, by outcome (ok, infeasible, too_large, cancelled, error).",
    ["outcome"],
    buckets=_SOLVE_BUCKETS,
)
SOLVE_BUDGET_EXCEEDED = Counter(
    "merit_order_solve_budget_exceeded_total",
    "Requests answered 503 because their solve took longer than SOLVE_TIMEOUT_SECONDS.",
)
SOLVE_REFUSED = Counter(
    "merit_order_solve_refused_total",
    "Heavy solves refused at once (503 + Retry-After) because MAX_HEAVY_SOLVES or "
    "MAX_SOLVE_CELLS_IN_FLIGHT was reached (see solve_budget.py).",
)
CACHE_LOOKUPS = Counter(
    "merit_order_cache_lookups_total",
    "Plan cache lookups by result (hit, miss, error: the cache failed and the plan was computed).",
    ["result"],
)
JOBS = Counter(
    "merit_order_jobs_total",
    "Jobs by state reached: queued (counted by the API that accepted it), running, done, failed "
    "(counted by the process that ran it: the in-process executor).",
    ["state"],
)
# The live feed's series (used by broadcast.py).
BROADCAST_MESSAGES = Counter(
    "merit_order_broadcast_messages_total",
    "Plan messages handled by the broadcaster, by outcome "
    "(published: accepted by publish; delivered/dropped: per websocket client queue; "
    "redis_failed: could not be handed to Redis).",
    ["outcome"],
)
WS_CLIENTS = Gauge(
    "merit_order_ws_clients",
    "Websocket clients connected to this process (summed over live worker processes).",
    multiprocess_mode="livesum",
)
REDIS_RECONNECTS = Counter(
    "merit_order_broadcast_redis_reconnects_total",
    "Times the Redis pub/sub listener lost its connection and started again.",
)

SolveOutcome = Literal["ok", "infeasible", "too_large", "cancelled", "error"]
CacheResult = Literal["hit", "miss", "error"]
JobState = Literal["queued", "running", "done", "failed"]


_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, remembered: prometheus_client validates and locks on every call,
    and the request path asks for the same few series thousands of times a second. The label
    sets are bounded (methods, route templates, statuses, outcomes), so this dict is too."""
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


# --------------------------------------------------------------------------------------
# the one-line hooks the other modules call


class time_solve:
    """`with time_solve(): compute_plan(...)`: observes the duration, labelled by how it ended.

    A class rather than a @contextmanager generator: it wraps every solve, and this way it
    costs a third as much.
    """

    __slots__ = ("_started",)

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        outcome: SolveOutcome = "ok"
        if kind is not None:
            if issubclass(kind, InfeasibleLoad):
                outcome = "infeasible"
            elif issubclass(kind, ProblemTooLarge):
                outcome = "too_large"
            elif issubclass(kind, SolveCancelled):  # its deadline passed, or nobody waited any more
                outcome = "cancelled"
            else:
                outcome = "error"
        _child(SOLVE_SECONDS, outcome).observe(time.perf_counter() - self._started)


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    """One HTTP request answered (api/metrics.py): counted and timed by route template."""
    _child(HTTP_REQUESTS, method, route, str(status)).inc()
    _child(HTTP_LATENCY, method, route).observe(seconds)


def cache_lookup(result: CacheResult) -> None:
    """One plan cache lookup: hit, miss or error."""
    _child(CACHE_LOOKUPS, result).inc()


def job_state(state: JobState) -> None:
    """A job reached `state`."""
    _child(JOBS, state).inc()


def solve_budget_exceeded() -> None:
    SOLVE_BUDGET_EXCEEDED.inc()


def solve_refused() -> None:
    """A heavy solve refused by the admission budget."""
    SOLVE_REFUSED.inc()


# --------------------------------------------------------------------------------------
# exposition


def enable_multiprocess() -> str:
    """Point PROMETHEUS_MULTIPROC_DIR at a fresh directory (unless set) for the workers to come.

    Call in the parent before the worker processes start: each of them reads the variable
    when it first imports prometheus_client, and writes its figures to files there.
    """
    import atexit
    import shutil
    import tempfile

    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        path = tempfile.mkdtemp(prefix="merit-order-metrics-")
        os.environ[MULTIPROC_ENV] = path
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def render() -> tuple[bytes, str]:
    """(body, content type) of a scrape: this process's registry, or every worker's in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def render_cluster_jobs(counts: dict[str, int]) -> bytes:
    """`merit_order_cluster_jobs_total{state}` from the deployment-wide counts kept in Redis.

    A separate family from `jobs_total`: that one is this process's own count, this one the
    whole deployment's (every API replica exports the same figures: aggregate with max, not sum).
    """
    from prometheus_client.core import CounterMetricFamily
    from prometheus_client.registry import Collector

    family = CounterMetricFamily(
        "merit_order_cluster_jobs",
        "Jobs that reached each state in the whole deployment (Celery mode: counted in Redis by the "
        "API and the workers; the same on every replica).",
        labels=["state"],
    )
    for state in ("queued", "running", "done", "failed"):
        family.add_metric([state], counts.get(state, 0))

    class _Family(Collector):
        def collect(self) -> Iterator[Any]:
            yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Family())
    return generate_latest(registry)
