"""The plan cache: one answer per canonical request, kept a day (CACHE_TTL_SECONDS).

Two backends with one protocol (`PlanCache`: `async get/set/health`):

* `MemoryCache` -- the embedded default: a bounded LRU with a TTL, per process.
* `RedisCache` -- when REDIS_URL is set, so that every API replica shares the answers.

The cache is an optimisation, never a dependency: a Redis that is down, slow or
returning garbage turns into a miss (and a skipped store), logged once per outage,
and the route keeps answering from the calculator. A small circuit breaker stops the
service from paying a socket timeout on every request while Redis is away, and probes
it again after a growing back-off so that the cache comes back on its own.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import orjson
import structlog

from .calculator import CostModel, ProductionPlanRequest
from .version import package_version

log = structlog.get_logger(__name__)

#: Bump when the answer for the same request changes (solver, rules, document shape), so
#: that entries written by an older release are never served by a newer one.
CACHE_SCHEMA_VERSION = 2  # 2: keys hash orjson's canonical text

#: Every key the service writes to Redis starts with this, so that a shared Redis can be
#: inspected (and flushed) per application.
KEY_PREFIX = "merit-order:plan:"


VERSION_SALT = f"{package_version()}/{CACHE_SCHEMA_VERSION}"


def plan_cache_key(
    request: ProductionPlanRequest,
    cost_model: CostModel,
    *,
    wind_curtailment: bool,
    salt: str = VERSION_SALT,
) -> str:
    """The key of a request: sha256 of its canonical form plus every option that changes the answer.

    Canonical form = the *validated* request dumped by alias with sorted keys, so that key
    order, `480` vs `480.0` and unknown extra fields (which the model ignores) do not
    matter. The order of the plants does matter and is kept: it breaks cost ties in the
    merit order, so two fleets listed differently can have different answers.
    """
    canonical = {
        "request": request.model_dump(mode="json", by_alias=True),
        "options": {
            "gas_co2_t_per_mwh": float(cost_model.gas_co2_t_per_mwh),
            "kerosine_co2_t_per_mwh": float(cost_model.kerosine_co2_t_per_mwh),
            "wind_curtailment": bool(wind_curtailment),
        },
        "salt": salt,
    }
    # orjson: compact, UTF-8, keys sorted; every figure is finite (validated), so nothing to refuse.
    return KEY_PREFIX + hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


@runtime_checkable
class PlanCache(Protocol):
    """What planning.py needs from a cache. `value` is a JSON-ready plan document."""

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def set(self, key: str, value: dict[str, Any]) -> None: ...

    async def health(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


class MemoryCache:
    """A bounded LRU with a TTL, local to one process (the embedded default).

    A plain lock (not an asyncio one) guards the dict: every operation is a few dict
    moves with no await inside, so it is safe from the event loop and from worker
    threads alike, and never blocks for long.
    """

    backend = "memory"

    def __init__(
        self, *, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """`clock` is injectable so that a test can expire entries without sleeping."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        #: The clock entries expire by; a test moves a fake one instead of sleeping out a TTL.
        self.clock = clock
        self._ttl = float(ttl_seconds)
        self._max = int(max_entries)
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, key: str) -> dict[str, Any] | None:
        now = self.clock()
        with self._lock:
            item = self._entries.get(key)
            if item is None:
                return None
            expires_at, text = item
            if expires_at <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
        # Stored as JSON so that a caller mutating its copy cannot corrupt the cache.
        return orjson.loads(text)

    def _set(self, key: str, value: dict[str, Any]) -> None:
        text = orjson.dumps(value)
        with self._lock:
            self._entries[key] = (self.clock() + self._ttl, text)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    async def get(self, key: str) -> dict[str, Any] | None:
        return self._get(key)

    async def set(self, key: str, value: dict[str, Any]) -> None:
        self._set(key, value)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    async def health(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "status": "ok",
            "entries": len(self),
            "max_entries": self._max,
            "ttl_seconds": self._ttl,
        }

    async def aclose(self) -> None:
        return None


class CircuitBreaker:
    """Open after a failure; allow one probe after a back-off that doubles up to a ceiling.

    While open, callers skip Redis at once instead of each waiting for a socket timeout,
    so a dead Redis costs the route nothing. The first success closes it again.
    """

    def __init__(self, *, initial_backoff: float, max_backoff: float) -> None:
        self._initial = initial_backoff
        self._max = max_backoff
        self._backoff = 0.0
        self._retry_at = 0.0
        self.failures = 0
        self.last_error: str | None = None

    @property
    def is_open(self) -> bool:
        return self.failures > 0

    def allow(self) -> bool:
        """True when the caller may try Redis: always while closed, once per back-off while open.

        The first caller after the back-off becomes the probe and pushes the next retry
        time forward, so that concurrent requests do not all pay the timeout together.
        """
        if self.failures == 0:
            return True
        now = time.monotonic()
        if now >= self._retry_at:
            self._retry_at = now + self._backoff
            return True
        return False

    def record_failure(self, error: BaseException) -> bool:
        """Returns True when this failure opened the circuit (the first of an outage)."""
        opened = self.failures == 0
        self.failures += 1
        self._backoff = self._initial if opened else min(self._max, self._backoff * 2)
        self._retry_at = time.monotonic() + self._backoff
        self.last_error = f"{type(error).__name__}: {error}"
        return opened

    def record_success(self) -> bool:
        """Returns True when this success closed an open circuit (the end of an outage)."""
        closed = self.failures > 0
        self.failures = 0
        self._backoff = 0.0
        self.last_error = None
        return closed

    def seconds_until_retry(self) -> float:
        return max(0.0, self._retry_at - time.monotonic()) if self.failures else 0.0


class RedisCache:
    """A cache shared by every API replica, in Redis (SETEX with the TTL).

    Short socket timeouts bound what a hung Redis can cost one request; the circuit
    breaker bounds what an outage costs in total. Every Redis error is a miss.
    """

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: int,
        socket_timeout: float = 0.25,
        initial_backoff: float = 0.5,
        max_backoff: float = 5.0,
    ) -> None:
        # Imported here so that the embedded default never needs the redis package at import.
        import redis.asyncio as aioredis

        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._url = url
        self._ttl = int(ttl_seconds)
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry_on_timeout=False,
            health_check_interval=30,
        )
        self._breaker = CircuitBreaker(initial_backoff=initial_backoff, max_backoff=max_backoff)

    def _failed(self, operation: str, error: BaseException) -> None:
        if self._breaker.record_failure(error):
            log.warning(
                "cache.redis_unavailable",
                operation=operation,
                error=self._breaker.last_error,
                detail="serving from the calculator until Redis answers again",
            )
        else:
            log.debug("cache.redis_still_unavailable", operation=operation, error=self._breaker.last_error)

    def _succeeded(self) -> None:
        if self._breaker.record_success():
            log.warning("cache.redis_recovered", detail="cache lookups resumed")

    async def get(self, key: str) -> dict[str, Any] | None:
        if not self._breaker.allow():
            return None
        try:
            raw = await self._client.get(key)
        except Exception as error:  # noqa: BLE001 - any Redis/socket error is a miss, never a failed request
            self._failed("get", error)
            return None
        self._succeeded()
        if raw is None:
            return None
        try:
            value = orjson.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            log.warning("cache.corrupt_entry", key=key, error=str(error))
            return None
        return value if isinstance(value, dict) else None

    async def set(self, key: str, value: dict[str, Any]) -> None:
        if not self._breaker.allow():
            return
        try:
            # SET with EX is SETEX (redis-py deprecates the setex spelling).
            await self._client.set(key, orjson.dumps(value), ex=self._ttl)
        except Exception as error:  # noqa: BLE001 - a cache that cannot store is not a failed request
            self._failed("set", error)
            return
        self._succeeded()

    async def health(self) -> dict[str, Any]:
        """Pings Redis even while the circuit is open: the health check is the probe of record."""
        started = time.perf_counter()
        try:
            await self._client.ping()
        except Exception as error:  # noqa: BLE001 - a health check must answer, whatever broke
            self._failed("ping", error)
            return {
                "backend": self.backend,
                "status": "down",
                "error": self._breaker.last_error,
                "retry_in_seconds": round(self._breaker.seconds_until_retry(), 2),
            }
        self._succeeded()
        return {
            "backend": self.backend,
            "status": "ok",
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "ttl_seconds": self._ttl,
        }

    async def aclose(self) -> None:
        try:
            await self._client.aclose()
        except Exception:  # noqa: BLE001 - closing a connection to a dead server must not fail shutdown
            pass


class NullCache:
    """No cache at all (CACHE_ENABLED=false), e.g. to benchmark the calculator through the API."""

    backend = "none"

    async def get(self, key: str) -> dict[str, Any] | None:
        return None

    async def set(self, key: str, value: dict[str, Any]) -> None:
        return None

    async def health(self) -> dict[str, Any]:
        return {"backend": self.backend, "status": "disabled"}

    async def aclose(self) -> None:
        return None


def build_cache(
    *,
    enabled: bool,
    redis_url: str | None,
    ttl_seconds: int,
    max_entries: int,
    socket_timeout: float = 0.25,
    max_backoff: float = 5.0,
) -> MemoryCache | RedisCache | NullCache:
    """The backend the settings ask for: none, Redis when a URL is given, else in memory."""
    if not enabled:
        return NullCache()
    if redis_url:
        return RedisCache(redis_url, ttl_seconds=ttl_seconds, socket_timeout=socket_timeout, max_backoff=max_backoff)
    return MemoryCache(ttl_seconds=ttl_seconds, max_entries=max_entries)
