"""Every plan the service answers, pushed live to every websocket client.

Two backends behind one small protocol (``publish``, ``health``, ``subscribe``, ``unsubscribe``):

* ``InProcessBroadcaster`` (default): a hub in this process. Right for one replica.
* ``RedisBroadcaster`` (``REDIS_URL`` set): each replica publishes to one Redis channel and runs
  one listener task that fans the channel out to its own websocket clients, so that a client
  connected to any replica sees the plans made by every replica (and by the Celery workers).

Why the hub looks the way it does: the POST route must never wait for a websocket client. A
client that stops reading (a laptop lid closed, a stalled proxy) would otherwise slow every
plan, or, with unbounded queues, grow the server's memory until it dies. So each client owns
a *bounded* queue, ``publish`` only ever does ``put_nowait``, and when a queue is full the
*oldest* message is dropped (a monitor wants the latest plans, not a backlog) and the drop is
counted, per client and in total, for ``/_healthcheck`` and ``/metrics``.

Messages are encoded to JSON once per publish, not once per client: a hundred clients cost a
hundred queue puts of the same string.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from typing import Any, Literal, Protocol, runtime_checkable

import structlog

# Prometheus series: defined in metrics.py with every other series of the service.
from merit_order.metrics import BROADCAST_MESSAGES, REDIS_RECONNECTS, WS_CLIENTS

log = structlog.get_logger(__name__)

#: Which process made a plan: shown on the monitor, and used to skip our own echo from Redis.
REPLICA = f"{socket.gethostname()}:{os.getpid()}"

DEFAULT_CHANNEL = "merit-order:plans"


Source = Literal["sync", "job"]


class TooManyClients(Exception):
    """The hub already serves ``max_clients`` websockets; the route answers 1013 (try again later)."""


@runtime_checkable
class Broadcaster(Protocol):
    """What services.py holds and planning.py / the jobs / the /ws route call."""

    backend: str

    async def publish(self, message: dict[str, Any]) -> None: ...

    async def health(self) -> dict[str, Any]: ...

    def subscribe(self) -> "Subscription": ...

    def unsubscribe(self, subscription: "Subscription") -> None: ...


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


def utc_now_iso() -> str:
    """ISO-8601 in UTC with millisecond precision and a ``Z``: what browsers parse without help."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def plan_message(
    *,
    request: Mapping[str, Any],
    response: Sequence[Mapping[str, Any]],
    detail: Mapping[str, Any],
    source: Source,
    cached: bool,
    job_id: str | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """The one shape every client receives for a plan (documented in the README).

    ``request`` is the payload by alias (as a client writes it), ``response`` the challenge's
    list, ``detail`` the costs behind it, so that a client needs nothing else to draw the curve.
    """
    message: dict[str, Any] = {
        "type": "plan",
        "id": message_id or uuid.uuid4().hex,
        "at": utc_now_iso(),
        "source": source,
        "cached": cached,
        "replica": REPLICA,
        "request": dict(request),
        "response": list(response),
        "detail": dict(detail),
    }
    if job_id is not None:
        message["job_id"] = job_id
    return message


def encode(message: Mapping[str, Any]) -> str:
    """Compact JSON; NaN/inf are refused (a browser's JSON.parse would reject them anyway)."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# The local hub: one bounded queue per websocket client
# --------------------------------------------------------------------------------------------


_subscription_ids = count(1)


@dataclass(eq=False, slots=True)
class Subscription:
    """One websocket client's mailbox. Only ever touched from the event loop's thread."""

    maxsize: int
    id: int = field(default_factory=lambda: next(_subscription_ids))
    queue: asyncio.Queue[str] = field(init=False)
    delivered: int = 0  # messages accepted into the queue
    dropped: int = 0  # messages pushed out of a full queue (the oldest ones)
    connected_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.maxsize)

    def offer(self, text: str) -> bool:
        """Queue ``text`` without ever waiting; on overflow drop the oldest. False if one was dropped."""
        dropped = False
        if self.queue.full():
            try:
                self.queue.get_nowait()
            except asyncio.QueueEmpty:  # pragma: no cover - cannot be full and empty at once
                pass
            self.dropped += 1
            dropped = True
        self.queue.put_nowait(text)
        self.delivered += 1
        return not dropped

    async def next(self, timeout: float | None = None) -> str | None:
        """The next message, or None when ``timeout`` seconds pass without one (time for a heartbeat)."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def stats(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "queued": self.queue.qsize(),
            "delivered": self.delivered,
            "dropped": self.dropped,
            "connected_s": round(time.time() - self.connected_at, 1),
        }


class Hub:
    """The set of local subscriptions, and the fan-out that never blocks."""

    def __init__(self, queue_size: int = 100, max_clients: int = 1000) -> None:
        if queue_size < 1:
            raise ValueError("broadcast queue size must be at least 1")
        self.queue_size = queue_size
        self.max_clients = max_clients
        self._subs: set[Subscription] = set()
        self.fanned_out = 0  # messages handed to the hub
        self.dropped_total = 0  # over all clients, including those gone since

    def subscribe(self) -> Subscription:
        if len(self._subs) >= self.max_clients:
            raise TooManyClients(f"{len(self._subs)} websocket clients already connected")
        sub = Subscription(self.queue_size)
        self._subs.add(sub)
        WS_CLIENTS.inc()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            WS_CLIENTS.dec()

    def fan_out(self, text: str) -> None:
        """Queue ``text`` for every client without waiting; a full queue loses its oldest message."""
        self.fanned_out += 1
        dropped = 0
        for sub in tuple(self._subs):
            if not sub.offer(text):
                dropped += 1
        if self._subs:
            BROADCAST_MESSAGES.labels("delivered").inc(len(self._subs))
        if dropped:
            self.dropped_total += dropped
            BROADCAST_MESSAGES.labels("dropped").inc(dropped)

    @property
    def clients(self) -> int:
        return len(self._subs)

    def stats(self) -> dict[str, Any]:
        return {
            "clients": len(self._subs),
            "queue_size": self.queue_size,
            "messages": self.fanned_out,
            "dropped_total": self.dropped_total,
            # the clients worst off first, a few only: a health check must stay small with 1000 clients
            "subscriptions": sorted((s.stats() for s in self._subs), key=lambda s: (-s["dropped"], s["id"]))[:20],
        }


class _HubBroadcaster:
    """What both backends share: local subscriptions and a publish that cannot raise."""

    backend = "memory"

    def __init__(self, *, queue_size: int = 100, max_clients: int = 1000, heartbeat_s: float = 15.0) -> None:
        self.hub = Hub(queue_size, max_clients)
        self.heartbeat_s = heartbeat_s
        self.published = 0
        self.publish_errors = 0

    def subscribe(self) -> Subscription:
        return self.hub.subscribe()

    def unsubscribe(self, subscription: Subscription) -> None:
        self.hub.unsubscribe(subscription)

    async def start(self) -> None:
        """Start background tasks (none for the in-process hub). Called from the app's lifespan."""

    async def aclose(self) -> None:
        """Stop background tasks. Connected websockets end on their own with the server."""

    def has_audience(self) -> bool:
        """Local clients only: a replica with no /ws client need not build the message."""
        return self.hub.clients > 0

    async def publish(self, message: dict[str, Any]) -> None:
        """Hand ``message`` to every client; never raises and never waits for a client.

        A plan that cannot be broadcast is still a plan the caller gets: the failure is
        logged and counted, never turned into a 500.
        """
        try:
            text = encode(message)
        except (TypeError, ValueError) as exc:
            self.publish_errors += 1
            log.error("broadcast_encode_failed", error=str(exc), message_id=message.get("id"))
            return
        try:
            self._dispatch(text)
        except Exception as exc:  # noqa: BLE001 - a feed that breaks must not break the plan
            self.publish_errors += 1
            log.error("broadcast_dispatch_failed", error=f"{type(exc).__name__}: {exc}", message_id=message.get("id"))
            return
        self.published += 1
        BROADCAST_MESSAGES.labels("published").inc()

    def _dispatch(self, text: str) -> None:
        self.hub.fan_out(text)

    def _base_health(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "published": self.published,
            "publish_errors": self.publish_errors,
            **self.hub.stats(),
        }


class InProcessBroadcaster(_HubBroadcaster):
    """One replica: publish goes straight to this process's websocket clients."""

    backend = "memory"

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", **self._base_health()}


# --------------------------------------------------------------------------------------------
# Redis pub/sub: several replicas, one feed
# --------------------------------------------------------------------------------------------


class RedisBroadcaster(_HubBroadcaster):
    """Publish to a Redis channel; one listener per replica fans the channel out locally.

    Local clients get this replica's plans at once from the hub (they do not wait for the
    round trip, and still get them while Redis is down); the listener skips the echo of our
    own messages by the origin tag each one carries on the wire (``<origin>\\n<json>``).

    Publishing goes through a bounded outbox drained by a background task, so that a slow or
    absent Redis never adds latency to the POST route: if the outbox overflows, the oldest
    message is dropped and counted. The listener reconnects by itself, with a capped backoff,
    when Redis goes away and comes back.
    """

    backend = "redis"

    def has_audience(self) -> bool:
        """Always: the clients of the other replicas listen through Redis."""
        return True

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        queue_size: int = 100,
        max_clients: int = 1000,
        heartbeat_s: float = 15.0,
        outbox_size: int = 1000,
        max_backoff_s: float = 5.0,
    ) -> None:
        super().__init__(queue_size=queue_size, max_clients=max_clients, heartbeat_s=heartbeat_s)
        self.url = url
        self.channel = channel
        self.max_backoff_s = max_backoff_s
        self.origin = f"{REPLICA}:{uuid.uuid4().hex[:8]}".encode()
        self._outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=outbox_size)
        self._client: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = False
        self.reconnects = 0
        self.outbox_dropped = 0
        self.redis_failed = 0
        self.received = 0
        self.last_error: str | None = None

    def _make_client(self) -> Any:
        import redis.asyncio as aioredis

        return aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=2,
            socket_keepalive=True,
            health_check_interval=10,  # the pub/sub connection pings, so a silent death is seen
        )

    async def start(self) -> None:
        if self._tasks:
            return
        self._client = self._make_client()
        self._tasks = [
            asyncio.create_task(self._listen(), name="broadcast-redis-listener"),
            asyncio.create_task(self._drain_outbox(), name="broadcast-redis-publisher"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        if self._client is not None:
            try:
                await self._client.aclose()
            except Exception:  # pragma: no cover - closing a dead connection
                pass
            self._client = None
        self.listening = False

    def _dispatch(self, text: str) -> None:
        self.hub.fan_out(text)
        try:
            self._outbox.put_nowait(text)
        except asyncio.QueueFull:
            self._outbox.get_nowait()
            self._outbox.put_nowait(text)
            self.outbox_dropped += 1
            BROADCAST_MESSAGES.labels("redis_failed").inc()

    async def _drain_outbox(self) -> None:
        """Hand queued messages to Redis, one at a time; failures are logged, counted, not raised."""
        failing_since: float | None = None
        while True:
            text = await self._outbox.get()
            try:
                await self._client.publish(self.channel, self.origin + b"\n" + text.encode())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.redis_failed += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                BROADCAST_MESSAGES.labels("redis_failed").inc()
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning("broadcast_redis_publish_failed", error=self.last_error, channel=self.channel)
                await asyncio.sleep(0.2)  # do not spin on a dead Redis; the outbox bounds the backlog
            else:
                if failing_since is not None:
                    log.info("broadcast_redis_publish_recovered", after_s=round(time.monotonic() - failing_since, 1))
                    failing_since = None

    async def _listen(self) -> None:
        """Subscribe and fan out, forever; on any failure wait (0.1 s doubling to 5 s) and start again."""
        backoff = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.listening = True
                backoff = 0.1
                log.info("broadcast_redis_listening", channel=self.channel)
                while True:
                    item = await pubsub.get_message(timeout=1.0)
                    if item is None or item.get("type") != "message":
                        continue
                    self._receive(item["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self.listening:
                    self.reconnects += 1
                    REDIS_RECONNECTS.inc()
                    log.warning("broadcast_redis_listener_lost", error=self.last_error)
                self.listening = False
            finally:
                self.listening = False
                try:
                    await pubsub.aclose()
                except Exception:
                    pass
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    def _receive(self, data: bytes | str) -> None:
        raw = data if isinstance(data, bytes) else data.encode()
        origin, sep, body = raw.partition(b"\n")
        if not sep:  # a message not in our wire format (someone else on the channel): ignore it
            return
        if origin == self.origin:
            return  # ours: local clients already have it
        self.received += 1
        self.hub.fan_out(body.decode())

    async def health(self) -> dict[str, Any]:
        redis_ok = False
        try:
            redis_ok = bool(await asyncio.wait_for(self._client.ping(), timeout=1.0)) if self._client else False
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
        return {
            "status": "ok" if (redis_ok and self.listening) else "degraded",
            **self._base_health(),
            "channel": self.channel,
            "redis": "ok" if redis_ok else "down",
            "listening": self.listening,
            "received": self.received,
            "reconnects": self.reconnects,
            "redis_publish_failed": self.redis_failed,
            "outbox_queued": self._outbox.qsize(),
            "outbox_dropped": self.outbox_dropped,
            "last_error": self.last_error,
        }


def job_plan_messages(
    job_id: str, chunk_message: Mapping[str, Any], results: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One plan message per period a job's chunk solved (infeasible and failed periods have no plan).

    Built from the chunk as the executors pass it around (see jobs/models.py: ``items`` are
    payloads by alias, or ``{"label", "load", "fuels"}`` next to one ``fleet``), so that nothing
    is validated twice and a worker needs no models to publish.
    """
    fleet = chunk_message.get("fleet")
    items = chunk_message["items"]
    start = int(chunk_message["start"])
    messages = []
    for result in results:
        if result.get("status") != "ok":
            continue
        item = items[int(result["index"]) - start]
        if fleet is None:
            request = {key: value for key, value in item.items() if key != "label"}
        else:
            request = {"load": item["load"], "fuels": item["fuels"], "powerplants": fleet}
        message = plan_message(
            request=request,
            response=result["plan"],
            detail=result["detail"],
            source="job",
            cached=False,
            job_id=job_id,
        )
        message["period"] = result["index"]
        if result.get("label") is not None:
            message["label"] = result["label"]
        messages.append(message)
    return messages


def publish_blocking(
    redis: Any, messages: Sequence[Mapping[str, Any]], *, channel: str = DEFAULT_CHANNEL
) -> bool:
    """Publish from a process with no event loop and no hub (a Celery worker). False on failure.

    ``redis`` is a URL or a synchronous ``redis.Redis`` client (the worker's own, reused). One
    pipelined round trip for a whole chunk. Every API replica's listener fans the messages out
    (the worker's origin tag is not theirs). A failure is logged and counted, never raised:
    the job's results are already stored, the feed is a side channel.
    """
    if not messages:
        return True
    try:
        if isinstance(redis, str):
            import redis as redis_lib

            client = redis_lib.Redis.from_url(redis, socket_connect_timeout=2, socket_timeout=2)
            owned = True
        else:
            client, owned = redis, False
        origin = f"worker:{REPLICA}".encode() + b"\n"
        try:
            pipe = client.pipeline(transaction=False)
            for message in messages:
                pipe.publish(channel, origin + encode(message).encode())
            pipe.execute()
        finally:
            if owned:
                client.close()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        BROADCAST_MESSAGES.labels("redis_failed").inc(len(messages))
        log.warning("broadcast_worker_publish_failed", error=f"{type(exc).__name__}: {exc}", messages=len(messages))
        return False
    BROADCAST_MESSAGES.labels("published").inc(len(messages))
    return True


def build_broadcaster(settings: Any) -> InProcessBroadcaster | RedisBroadcaster:
    """The backend the settings ask for: Redis pub/sub when ``redis_url`` is set, else in-process."""
    common = {
        "queue_size": getattr(settings, "broadcast_queue_size", 100),
        "max_clients": getattr(settings, "broadcast_max_clients", 1000),
        "heartbeat_s": getattr(settings, "broadcast_heartbeat_seconds", 15.0),
    }
    redis_url = getattr(settings, "redis_url", None)
    if redis_url:
        return RedisBroadcaster(
            str(redis_url), channel=getattr(settings, "broadcast_channel", DEFAULT_CHANNEL), **common
        )
    return InProcessBroadcaster(**common)
