"""What the tests share besides fixtures: the shipped examples, settings for an in-process app,
and the Hypothesis profiles (`ci`, the default, and `fast`, for `make test-fast`).

Imported as a plain module (pyproject's pythonpath holds tests/support), by tests/conftest.py
and by any test that needs these outside a fixture.
"""

from __future__ import annotations

import json
import os
import time
from importlib import resources
from typing import Any

from hypothesis import settings

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


def load_example(name: str) -> Any:
    """An example shipped in the package (payload1..3, response3): tests never read ../shared."""
    text = resources.files("merit_order").joinpath("examples", f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def make_settings(**overrides: Any) -> Settings:
    """Settings for an in-process app: embedded backends whatever the environment says."""
    base: dict[str, Any] = {"redis_url": None, "log_format": "json", "log_level": "INFO"}
    base.update(overrides)
    return Settings(**base)


def payload3() -> dict[str, Any]:
    """The challenge's third payload, as shipped (a fresh copy)."""
    payload: dict[str, Any] = load_example("payload3")
    return payload


def poll_json(client: Any, location: str, params: dict[str, Any] | None = None) -> Any:
    """One poll of a status document: its JSON, or None after a 503 (then waited a moment).

    A 503 is what the API answers when its Redis does not reply within the socket timeout (2 s),
    with Retry-After: a client retries it, so the pollers of the tests do too (a loaded CI
    machine met one while Celery respawned a killed pool process). Any other status than 200
    fails at once.
    """
    answer = client.get(location, params=params or {})
    if answer.status_code == 503:
        assert answer.headers.get("Retry-After"), answer.text
        time.sleep(0.5)
        return None
    assert answer.status_code == 200, (answer.status_code, answer.text)
    return answer.json()
