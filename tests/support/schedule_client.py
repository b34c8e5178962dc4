"""Driving `/schedules` from a test: submit an instance, then poll its status until a condition.

Shared by the in-process API tests and the Celery ones, which see the same routes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from common import poll_json
from fastapi.testclient import TestClient

#: The statuses a schedule never leaves.
FINAL = ("done", "failed", "cancelled")


def submit(client: TestClient, instance: Any, **query: Any) -> str:
    """POST the instance; checks the 202 and its Location, returns the Location."""
    answer = client.post("/schedules", params=query, json=instance)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert answer.headers["location"] == body["location"] == f"/schedules/{body['id']}"
    assert body["status"] == "queued"
    return str(body["location"])


def wait_until(
    client: TestClient, location: str, test: Callable[[dict[str, Any]], bool], timeout: float = 120.0
) -> dict[str, Any]:
    """The first status document that passes `test` (polled every 50 ms; a 503 is retried, see
    common.poll_json); fails after `timeout`."""
    deadline = time.monotonic() + timeout
    document: dict[str, Any] = {}
    while time.monotonic() < deadline:
        polled = poll_json(client, location)
        if polled is None:
            continue
        document = polled
        if test(document):
            return document
        time.sleep(0.05)
    raise AssertionError(f"{location}: condition not met in {timeout}s; last status: {document.get('status')}")


def wait_for(client: TestClient, location: str, statuses: tuple[str, ...] = FINAL, timeout: float = 120.0) -> dict[str, Any]:
    """The first status document whose status is one of `statuses`."""
    return wait_until(client, location, lambda document: document["status"] in statuses, timeout)
