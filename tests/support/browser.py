"""Chromium for the page tests: where it is, how it is started, and the fixtures that give a
test a real API server (tests/support/live_server.py) and a Playwright page on it.

Needs Debian's chromium at /usr/bin/chromium (`playwright install` cannot download here): a
test skips without it on a laptop, and fails under CI=true.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from live_server import ApiServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAYLOAD3: dict[str, Any] = json.loads(resources.files("merit_order").joinpath("examples", "payload3.json").read_text())
RESPONSE3: list[dict[str, Any]] = json.loads(
    resources.files("merit_order").joinpath("examples", "response3.json").read_text()
)


def require_chromium() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("/usr/bin/chromium is missing and CI=true: the browser tests must run in CI")
        pytest.skip("/usr/bin/chromium is missing (apt-get install chromium); fails instead under CI=true")


@pytest.fixture()
def api() -> Iterator[ApiServer]:
    server = ApiServer({"BROADCAST_HEARTBEAT_SECONDS": "2"})
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


@pytest.fixture()
def page() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.set_default_timeout(15_000)
            page.script_errors = []  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page
            page.on("pageerror", lambda error: page.script_errors.append(str(error)))  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page
            yield page
        finally:
            browser.close()
