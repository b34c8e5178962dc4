"""Driving `/schedules` from a test: submit an instance, then poll its status until a condition.

Shared by the in-process API tests and the Celery ones, which see the same routes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

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
    """The first status document that passes `test` (polled every 50 ms); fails after `timeout`.

    A 503 (Redis slower than the API's socket timeout, with Retry-After) is retried as a client
    would; any other status than 200 fails at once."""
    deadline = time.monotonic() + timeout
    document: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = client.get(location)
        if answer.status_code == 503:
            assert answer.headers.get("Retry-After"), answer.text
            time.sleep(0.5)
            continue
        assert answer.status_code == 200, (answer.status_code, answer.text)
        document = answer.json()
        if test(document):
            return document
        time.sleep(0.05)
    raise AssertionError(f"{location}: condition not met in {timeout}s; last status: {document.get('status')}")


def wait_for(client: TestClient, location: str, statuses: tuple[str, ...] = FINAL, timeout: float = 120.0) -> dict[str, Any]:
    """The first status document whose status is one of `statuses`."""
    return wait_until(client, location, lambda document: document["status"] in statuses, timeout)
