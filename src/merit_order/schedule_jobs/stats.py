"""The schedule metrics: schedules by final status, solve seconds, final gap.

Kept where the schedules end, not in one process's Prometheus registry: in embedded mode
that is this process (`MemoryStats`); with Celery it is the workers, which nobody scrapes, so
they add to counters in Redis (`RedisStats`) that any API replica renders on /metrics. One
rendering for both (`render`), as cumulative histograms in the Prometheus text format:

    merit_order_schedules_total{status}            counter
    merit_order_schedule_solve_seconds_bucket{le}  histogram (every finished schedule)
    merit_order_schedule_gap_bucket{le}            histogram (schedules that ended with one)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from .record import FINAL

SECONDS_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
#: 1e-6 is "optimal" (the solver's own rounding); then the gaps desks ask for.
GAP_BUCKETS = (1e-6, 1e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 1.0)

STATS_KEY = "merit-order:schedule-stats"


@dataclass(slots=True)
class Snapshot:
    """Counters as plain numbers: per status; per histogram, cumulative bucket counts + sum."""

    by_status: dict[str, int] = field(default_factory=dict)
    seconds_buckets: dict[str, int] = field(default_factory=dict)
    seconds_sum: float = 0.0
    gap_buckets: dict[str, int] = field(default_factory=dict)
    gap_sum: float = 0.0


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def increments(status: str, seconds: float, gap: float | None) -> dict[str, float]:
    """What one finished schedule adds, as field -> amount (the Redis hash's layout)."""
    out: dict[str, float] = {f"status:{status}": 1, "seconds:sum": float(seconds)}
    for bound in (*SECONDS_BUCKETS, math.inf):
        if seconds <= bound:
            out[f"seconds:{_le(bound)}"] = 1
    if gap is not None and math.isfinite(gap):
        out["gap:sum"] = float(gap)
        for bound in (*GAP_BUCKETS, math.inf):
            if gap <= bound:
                out[f"gap:{_le(bound)}"] = 1
    return out


def snapshot_of(fields: Mapping[str, float]) -> Snapshot:
    snap = Snapshot()
    for name, value in fields.items():
        kind, _, key = name.partition(":")
        if kind == "status":
            snap.by_status[key] = int(value)
        elif kind == "seconds":
            if key == "sum":
                snap.seconds_sum = float(value)
            else:
                snap.seconds_buckets[key] = int(value)
        elif kind == "gap":
            if key == "sum":
                snap.gap_sum = float(value)
            else:
                snap.gap_buckets[key] = int(value)
    return snap


class MemoryStats:
    """This process's schedules (embedded mode)."""

    def __init__(self) -> None:
        self._fields: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(self, status: str, seconds: float, gap: float | None) -> None:
        with self._lock:
            for name, amount in increments(status, seconds, gap).items():
                self._fields[name] = self._fields.get(name, 0) + amount

    async def snapshot(self) -> Snapshot:
        with self._lock:
            return snapshot_of(dict(self._fields))


def record_in_redis(client: Any, status: str, seconds: float, gap: float | None) -> None:
    """Add one finished schedule to the shared counters (a worker, synchronous client)."""
    pipe = client.pipeline(transaction=False)
    for name, amount in increments(status, seconds, gap).items():
        if isinstance(amount, int):
            pipe.hincrby(STATS_KEY, name, amount)
        else:
            pipe.hincrbyfloat(STATS_KEY, name, amount)
    pipe.execute()


class RedisStats:
    """Every worker's schedules (Celery mode), read by the API with its asyncio client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def snapshot(self) -> Snapshot:
        raw = await self._client.hgetall(STATS_KEY)
        return snapshot_of({k.decode() if isinstance(k, bytes) else k: float(v) for k, v in raw.items()})


class _Collector:
    def __init__(self, snap: Snapshot) -> None:
        self._snap = snap

    def collect(self) -> Iterator[Any]:
        snap = self._snap
        counts = CounterMetricFamily("merit_order_schedules", "Schedules that ended, by final status.", labels=["status"])
        for status in sorted(FINAL):
            counts.add_metric([status], snap.by_status.get(status, 0))
        yield counts
        yield _histogram("merit_order_schedule_solve_seconds", "Seconds from start to end of each schedule's solve.",
                         SECONDS_BUCKETS, snap.seconds_buckets, snap.seconds_sum)
        yield _histogram("merit_order_schedule_gap", "Certified relative gap of each schedule that ended with one.",
                         GAP_BUCKETS, snap.gap_buckets, snap.gap_sum)


def _histogram(name: str, documentation: str, bounds: tuple[float, ...], buckets: dict[str, int], total: float) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation)
    pairs = [(_le(b), float(buckets.get(_le(b), 0))) for b in (*bounds, math.inf)]
    family.add_metric([], pairs, sum_value=total)
    return family


def render(snap: Snapshot) -> bytes:
    """The three series in the Prometheus text format (appended to /metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(snap))
    return generate_latest(registry)
