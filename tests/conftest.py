"""Shared fixtures: the shipped examples and TestClients on an in-process app.

The plain helpers they use (the examples, settings, the Hypothesis profiles) live in
tests/support/common.py, so that test modules import them from a support module, never from
another test module or from this file.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from common import load_example, make_settings, settings
from fastapi.testclient import TestClient

from merit_order.api import create_app


def pytest_report_header() -> str:
    return f"hypothesis profile: {settings.get_current_profile_name()} (HYPOTHESIS_PROFILE, tests/conftest.py)"


@pytest.fixture
def example() -> Callable[[str], Any]:
    """example("payload3") -> a fresh deep copy, free to mutate."""
    return lambda name: copy.deepcopy(load_example(name))


@pytest.fixture
def app_client() -> Iterator[Callable[..., TestClient]]:
    """app_client(**settings) -> a TestClient on a fresh app, lifespan started; closed after the test."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(app_client: Callable[..., TestClient]) -> TestClient:
    """A TestClient on an app with default settings."""
    return app_client()
