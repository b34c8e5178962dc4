"""Publishing to the live feed from a process with no event loop and no hub: a Celery worker.

Apart from the API's broadcasters so that a worker imports only this, the messages and the
metrics series: no hub, no asyncio Redis client, no web framework.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis as redis_lib
import structlog

from ..metrics import BROADCAST_MESSAGES
from .messages import REPLICA, FeedMessage, encode
from .redis_pubsub import DEFAULT_CHANNEL

log = structlog.get_logger(__name__)


def publish_blocking(
    redis: Any, messages: Sequence[FeedMessage], *, channel: str = DEFAULT_CHANNEL
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
