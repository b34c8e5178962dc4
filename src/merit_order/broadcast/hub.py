"""The local hub: one bounded mailbox per websocket client, a fan-out that never waits, and the
last few messages kept for the clients that connect later.

Why bounded mailboxes: the POST route must never wait for a websocket client. A client that
stops reading (a laptop lid closed, a stalled proxy) would otherwise slow every plan, or,
with unbounded queues, grow the server's memory until it dies. So `fan_out` only ever does
`put_nowait`, and when a mailbox is full the *oldest* message is dropped (a monitor wants the
latest plans, not a backlog) and the drop is counted, per client and in total, for
`/_healthcheck` and `/metrics`.

Why a history ring: a monitor opened after the plans were made would otherwise show nothing
until the next one. The ring holds the last `history_size` messages this replica fanned out
(with Redis: every replica's, as its listener received them), and a new subscription starts
with them in its mailbox. A message may be kept unbuilt (`remember`): when nobody listens the
route skips building it, and builds it only if a client connects while it is still recent.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import structlog

from ..metrics import BROADCAST_MESSAGES, WS_CLIENTS
from .messages import FeedMessage, encode, is_replayed

log = structlog.get_logger(__name__)

#: A message kept for replay: its JSON text, or how to build it (only if a client ever wants it).
Recent = str | Callable[[], FeedMessage]


class TooManyClients(Exception):
    """The hub already serves `max_clients` websockets; the route answers 1013 (try again later)."""


class NoLiveFeed(Exception):
    """This service was built without a live feed (a bare `Services`): the route answers 1011."""


_subscription_ids = count(1)


@dataclass(eq=False, slots=True)
class Subscription:
    """One websocket client's mailbox. Only ever touched from the event loop's thread."""

    maxsize: int
    id: int = field(default_factory=lambda: next(_subscription_ids))
    queue: asyncio.Queue[str] = field(init=False)
    delivered: int = 0  # messages accepted into the queue
    dropped: int = 0  # messages pushed out of a full queue (the oldest ones)
    replayed: int = 0  # recent messages it started with (the hub's history)
    connected_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.maxsize)

    def offer(self, text: str) -> bool:
        """Queue `text` without ever waiting; on overflow drop the oldest. False if one was dropped."""
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
        """The next message, or None when `timeout` seconds pass without one (time for a heartbeat)."""
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
    """The set of local subscriptions, the fan-out that never blocks, and the recent messages."""

    def __init__(self, queue_size: int = 100, max_clients: int = 1000, history_size: int = 0) -> None:
        if queue_size < 1:
            raise ValueError("broadcast queue size must be at least 1")
        if history_size < 0:
            raise ValueError("broadcast history size cannot be negative")
        self.queue_size = queue_size
        self.max_clients = max_clients
        self._subs: set[Subscription] = set()
        self._recent: deque[Recent] = deque(maxlen=history_size)
        self.fanned_out = 0  # messages handed to the hub
        self.dropped_total = 0  # over all clients, including those gone since

    def subscribe(self) -> Subscription:
        """A new mailbox, holding the recent messages (oldest first) so that a late client sees them."""
        if len(self._subs) >= self.max_clients:
            raise TooManyClients(f"{len(self._subs)} websocket clients already connected")
        sub = Subscription(self.queue_size)
        for text in self.recent()[-self.queue_size :]:
            sub.queue.put_nowait(text)
            sub.replayed += 1
        self._subs.add(sub)
        WS_CLIENTS.inc()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            WS_CLIENTS.dec()

    def fan_out(self, text: str) -> None:
        """Queue `text` for every client without waiting; a full queue loses its oldest message."""
        self.fanned_out += 1
        if is_replayed(text):
            self._recent.append(text)
        dropped = 0
        for sub in tuple(self._subs):
            if not sub.offer(text):
                dropped += 1
        if self._subs:
            BROADCAST_MESSAGES.labels("delivered").inc(len(self._subs))
        if dropped:
            self.dropped_total += dropped
            BROADCAST_MESSAGES.labels("dropped").inc(dropped)

    def remember(self, build: Callable[[], FeedMessage]) -> None:
        """Keep a message for replay without building it now (nobody listens; most are never wanted)."""
        self._recent.append(build)

    def recent(self) -> list[str]:
        """The recent messages as JSON text, oldest first; those kept unbuilt are built (once) now.

        One that cannot be built or encoded is left out, and logged: the replay is a courtesy.
        """
        texts: list[str] = []
        for i in range(len(self._recent)):
            item = self._recent[i]
            if not isinstance(item, str):
                try:
                    item = encode(item())
                except Exception as exc:  # noqa: BLE001 - a bad old message must not refuse a client
                    log.warning("broadcast_replay_failed", error=f"{type(exc).__name__}: {exc}")
                    item = ""
                self._recent[i] = item
            if item:
                texts.append(item)
        return texts

    @property
    def clients(self) -> int:
        return len(self._subs)

    def stats(self) -> dict[str, Any]:
        return {
            "clients": len(self._subs),
            "queue_size": self.queue_size,
            "history_size": self._recent.maxlen,
            "messages": self.fanned_out,
            "dropped_total": self.dropped_total,
            # the clients worst off first, a few only: a health check must stay small with 1000 clients
            "subscriptions": sorted((s.stats() for s in self._subs), key=lambda s: (-s["dropped"], s["id"]))[:20],
        }
