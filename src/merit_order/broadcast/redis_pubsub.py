"""Redis pub/sub: several replicas, one feed (`REDIS_URL` set).

Each replica publishes to one Redis channel and runs one listener task that fans the channel
out to its own websocket clients, so that a client connected to any replica sees the plans
made by every replica (and by the Celery workers, see worker.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import structlog

from ..metrics import BROADCAST_MESSAGES, REDIS_RECONNECTS
from .memory import HubBroadcaster
from .messages import REPLICA

log = structlog.get_logger(__name__)

DEFAULT_CHANNEL = "merit-order:plans"



class RedisBroadcaster(HubBroadcaster):
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
        history_size: int = 0,
    ) -> None:
        super().__init__(queue_size=queue_size, max_clients=max_clients, heartbeat_s=heartbeat_s, history_size=history_size)
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
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing: how a task ended no longer matters
                pass
        self._tasks = []
        if self._client is not None:
            try:
                await self._client.aclose()
            except Exception:  # noqa: BLE001 - closing a dead connection  # pragma: no cover
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
            except Exception as exc:  # noqa: BLE001 - Redis down: count it, keep the local feed going
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
            except Exception as exc:  # noqa: BLE001 - any Redis/socket error: reconnect with backoff
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
                except Exception:  # noqa: BLE001 - closing a dead subscription before reconnecting
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
        except Exception as exc:  # noqa: BLE001 - a health check must answer, whatever broke
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
