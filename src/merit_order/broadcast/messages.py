"""What the live feed carries: one typed message per kind, and the one encoder.

Every message is a JSON object with a `type`; `FeedMessage` is the union of those the
broadcaster publishes (today only plans), `ServerMessage` adds the two that a `/ws`
connection sends by itself (hello, heartbeat). A new kind (a schedule's progress, say) is a
new TypedDict here, added to `FeedMessage`, and a builder function beside `plan_message`:
the hub, Redis and the route carry any `FeedMessage` without looking inside.

TypedDicts rather than models: a plan message holds the whole plan document, built on the
hot path of `POST /productionplan`, and must cost a dict, not a validation.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict

from ..clock import utc_now_iso

#: Which process made a plan: shown on the monitor, and used to skip our own echo from Redis.
REPLICA = f"{socket.gethostname()}:{os.getpid()}"

Source = Literal["sync", "job"]


class PlanMessage(TypedDict):
    """A plan answered by the service: by `POST /productionplan` (source "sync") or a job's period."""

    type: Literal["plan"]
    id: str
    at: str
    source: Source
    cached: bool
    replica: str
    request: dict[str, Any]  # the payload by alias, as a client writes it
    response: list[Any]  # the challenge's list
    detail: dict[str, Any]  # the plan document (costs per plant): all a client needs to draw the curve
    job_id: NotRequired[str]
    period: NotRequired[int]
    label: NotRequired[str]


class HelloMessage(TypedDict):
    """The first message of every `/ws` connection: what the client is connected to."""

    type: Literal["hello"]
    at: str
    backend: str
    heartbeat_s: float
    queue_size: int
    history: int  # how many recent messages follow at once (the replica's last few plans)


class HeartbeatMessage(TypedDict):
    """Sent when the feed has been quiet for `heartbeat_s`: a browser cannot see protocol pings."""

    type: Literal["heartbeat"]
    at: str


class ScheduleMessage(TypedDict):
    """A day-ahead schedule's state (POST /schedules): sent as its solve improves (throttled)
    and once when it ends; the full schedule is read from `location` (it can be megabytes)."""

    type: Literal["schedule"]
    id: str
    at: str
    status: str  # queued | running | done | failed | cancelled
    progress: dict[str, Any]  # {"objective", "lower_bound", "gap", "elapsed_s"}
    error: str | None
    location: str


#: Everything the broadcaster publishes (and replays to a client that connects later).
FeedMessage = PlanMessage | ScheduleMessage
#: Everything a `/ws` client may receive.
ServerMessage = FeedMessage | HelloMessage | HeartbeatMessage


def plan_message(
    *,
    request: Mapping[str, Any],
    response: Sequence[Mapping[str, Any]],
    detail: Mapping[str, Any],
    source: Source,
    cached: bool,
    job_id: str | None = None,
    message_id: str | None = None,
    at: str | None = None,
) -> PlanMessage:
    """The one shape every client receives for a plan (documented in docs/live.md).

    `at` is when the plan was made (now by default): a message built later, for a client that
    connected after it, still says when.
    """
    message: PlanMessage = {
        "type": "plan",
        "id": message_id or uuid.uuid4().hex,
        "at": at or utc_now_iso(),
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


def job_plan_messages(
    job_id: str, chunk_message: Mapping[str, Any], results: Sequence[Mapping[str, Any]]
) -> list[PlanMessage]:
    """One plan message per period a job's chunk solved (infeasible and failed periods have no plan).

    Built from the chunk as the executors pass it around (jobs/chunks.py: `items` are payloads
    by alias, or `{"label", "load", "fuels"}` next to one `fleet`), so that nothing is
    validated twice and a worker needs no models to publish.
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
            request=request, response=result["plan"], detail=result["detail"], source="job", cached=False, job_id=job_id
        )
        message["period"] = result["index"]
        if result.get("label") is not None:
            message["label"] = result["label"]
        messages.append(message)
    return messages


def schedule_message(
    schedule_id: str, status: str, progress: Mapping[str, Any], error: str | None = None
) -> ScheduleMessage:
    """The feed's message for a schedule's latest state (embedded executor and workers alike)."""
    return {
        "type": "schedule",
        "id": schedule_id,
        "at": utc_now_iso(),
        "status": status,
        "progress": dict(progress),
        "error": error,
        "location": f"/schedules/{schedule_id}",
    }


def hello_message(*, backend: str, heartbeat_s: float, queue_size: int, history: int) -> HelloMessage:
    return {
        "type": "hello",
        "at": utc_now_iso(),
        "backend": backend,
        "heartbeat_s": heartbeat_s,
        "queue_size": queue_size,
        "history": history,
    }


def heartbeat_message() -> HeartbeatMessage:
    return {"type": "heartbeat", "at": utc_now_iso()}


#: What a replayed message's text starts with: only plans are kept for clients that connect
#: later (the monitor's history). A schedule's progress is many small messages that would push
#: the plans out, and the schedule page reads its history from `GET /schedules` instead.
#: Every builder here puts "type" first, and `encode` keeps the order, so the test is a prefix.
_REPLAYED_PREFIX = '{"type":"plan"'


def is_replayed(text: str) -> bool:
    """True for an encoded message the hub keeps for late clients (a plan)."""
    return text.startswith(_REPLAYED_PREFIX)


def encode(message: Mapping[str, Any]) -> str:
    """Compact JSON; NaN/inf are refused (a browser's JSON.parse would reject them anyway)."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
