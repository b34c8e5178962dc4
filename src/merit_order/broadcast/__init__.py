"""Every plan the service answers, pushed live to every websocket client (`/ws`, `/monitor`).

One concept a module:

* `messages`: the typed messages (`PlanMessage`, `HelloMessage`, `HeartbeatMessage`; the union
  `FeedMessage` of those published) and the one JSON encoder;
* `hub`: one bounded mailbox per client, a fan-out that never waits, the recent messages
  replayed to a client that connects later;
* `memory`: the in-process broadcaster (the default, one replica);
* `redis_pubsub`: the Redis broadcaster (`REDIS_URL`): one channel, one listener per replica;
* `worker`: publishing from a Celery worker (no event loop, no hub).

Which backend runs is decided in one place, `merit_order.bootstrap`.
"""

from __future__ import annotations

from .hub import Hub, NoLiveFeed, Subscription, TooManyClients
from .memory import HubBroadcaster, InProcessBroadcaster
from .messages import (
    REPLICA,
    FeedMessage,
    HeartbeatMessage,
    HelloMessage,
    PlanMessage,
    ServerMessage,
    encode,
    heartbeat_message,
    hello_message,
    job_plan_messages,
    plan_message,
)
from .redis_pubsub import DEFAULT_CHANNEL, RedisBroadcaster

__all__ = [
    "DEFAULT_CHANNEL",
    "REPLICA",
    "FeedMessage",
    "HeartbeatMessage",
    "HelloMessage",
    "Hub",
    "HubBroadcaster",
    "InProcessBroadcaster",
    "NoLiveFeed",
    "PlanMessage",
    "RedisBroadcaster",
    "ServerMessage",
    "Subscription",
    "TooManyClients",
    "encode",
    "heartbeat_message",
    "hello_message",
    "job_plan_messages",
    "plan_message",
]
