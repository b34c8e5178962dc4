"""The in-process broadcaster (the default: one replica), and what the Redis one shares with it.

Messages are encoded to JSON once per publish, not once per client: a hundred clients cost a
hundred queue puts of the same string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from ..metrics import BROADCAST_MESSAGES
from .hub import Hub, Subscription
from .messages import FeedMessage, encode

log = structlog.get_logger(__name__)


class HubBroadcaster:
    """What both backends share: local subscriptions, the recent messages, a publish that cannot raise."""

    backend = "memory"

    def __init__(
        self, *, queue_size: int = 100, max_clients: int = 1000, heartbeat_s: float = 15.0, history_size: int = 0
    ) -> None:
        self.hub = Hub(queue_size, max_clients, history_size)
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

    def remember(self, build: Callable[[], FeedMessage]) -> None:
        """Keep a message nobody hears now for the clients that connect later (built only then)."""
        self.hub.remember(build)

    async def publish(self, message: FeedMessage) -> None:
        """Hand `message` to every client; never raises and never waits for a client.

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


class InProcessBroadcaster(HubBroadcaster):
    """One replica: publish goes straight to this process's websocket clients."""

    backend = "memory"

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", **self._base_health()}
