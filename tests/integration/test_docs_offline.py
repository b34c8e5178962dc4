"""/docs and /redoc render in a real Chromium that can reach the service and nothing else.

The browser's every request to another host is aborted (and recorded): the pages must draw the
operations from what the service itself serves (api/docs.py), and must not even try to reach
out (no CDN, no fonts, no validator badge). Needs Debian's chromium (skips without it locally,
fails under CI=true).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from live_server import ApiServer, running_api

pytestmark = pytest.mark.browser

REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def api() -> Iterator[ApiServer]:
    with running_api() as server:
        yield server


@pytest.fixture()
def offline_page(api: ApiServer) -> Iterator[Any]:
    """A page whose requests to anything but the service are aborted; `page.blocked` lists them."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    service = urlsplit(api.url).netloc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            blocked: list[str] = []

            def only_the_service(route: Any) -> None:
                url = route.request.url
                if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == service:
                    route.continue_()
                else:
                    blocked.append(url)
                    route.abort("internetdisconnected")

            page.route("**/*", only_the_service)
            page.blocked = blocked  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page
            page.script_errors = []  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page
            page.on("pageerror", lambda error: page.script_errors.append(str(error)))  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page
            yield page
        finally:
            browser.close()


@pytest.mark.slow
def test_swagger_ui_renders_the_operations_with_no_internet(api: ApiServer, offline_page: Any) -> None:
    offline_page.goto(f"{api.url}/docs")
    offline_page.wait_for_selector(".opblock-summary-path")
    paths = set(offline_page.locator(".opblock-summary-path").all_inner_texts())
    assert {"/productionplan", "/productionplan/jobs", "/_healthcheck"} <= {p.strip() for p in paths}, paths
    assert "merit-order" in offline_page.locator(".info .title").inner_text()
    # Opening the plan operation shows the shipped examples, read from /openapi.json.
    offline_page.locator("#operations-default-post_productionplan, .opblock-post").first.click()
    offline_page.wait_for_selector(".opblock-body")
    assert offline_page.locator(".opblock-body").first.is_visible()
    assert offline_page.blocked == []  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page
    assert offline_page.script_errors == []  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page


def test_redoc_renders_the_operations_with_no_internet(api: ApiServer, offline_page: Any) -> None:
    offline_page.goto(f"{api.url}/redoc")
    offline_page.wait_for_function("document.body.innerText.includes('/productionplan/jobs')")
    text = offline_page.locator("body").inner_text()
    assert "/productionplan" in text and "/_healthcheck" in text
    # The one thing ReDoc reaches for outside is the "API docs by Redocly" logo in its footer (an
    # <img> hard-wired in the bundle, no option turns it off); offline it fails and ReDoc drops it.
    assert set(offline_page.blocked) <= {REDOCLY_LOGO}, offline_page.blocked  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page
    assert offline_page.script_errors == []  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page
