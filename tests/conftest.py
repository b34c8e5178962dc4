"""Shared fixtures: the shipped examples, settings for an in-process app, and TestClients on it;
the Hypothesis profiles (`ci`, the default, and `fast`, for `make test-fast`)."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings

from merit_order.api import create_app
from merit_order.settings import Settings

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE (or pytest --hypothesis-profile):
# * ci (the default, what `make test` and CI run): every test's own max_examples, unchanged;
# * fast (`make test-fast`): at most FAST_EXAMPLES cases a property, a smoke run of each.
# A test's own @settings(max_examples=N) overrides any profile, so tests that set one write
# max_examples=profile_examples(N): N under ci, at most FAST_EXAMPLES under fast.
FAST_EXAMPLES = 10
settings.register_profile("ci", settings.get_profile("default"))
settings.register_profile("fast", max_examples=FAST_EXAMPLES)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "ci")


def profile_examples(n: int) -> int:
    """max_examples for a test that sets its own: n, capped at FAST_EXAMPLES under the fast profile.
    Read where the test is defined (collection), after --hypothesis-profile is applied."""
    return min(n, FAST_EXAMPLES) if settings.get_current_profile_name() == "fast" else n


def pytest_report_header() -> str:
    return f"hypothesis profile: {settings.get_current_profile_name()} (HYPOTHESIS_PROFILE, tests/conftest.py)"


def load_example(name: str) -> Any:
    """An example shipped in the package (payload1..3, response3): tests never read ../shared."""
    text = resources.files("merit_order").joinpath("examples", f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


@pytest.fixture
def example() -> Callable[[str], Any]:
    """example("payload3") -> a fresh deep copy, free to mutate."""
    return lambda name: copy.deepcopy(load_example(name))


def make_settings(**overrides: Any) -> Settings:
    """Settings for an in-process app: embedded backends whatever the environment says."""
    base: dict[str, Any] = {"redis_url": None, "log_format": "json", "log_level": "INFO"}
    base.update(overrides)
    return Settings(**base)


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
