"""/monitor/schedules: the schedule page, in a real headless Chromium against a real server process.

A day of pglib-uc's RTS-GMLC system (73 thermal + 81 renewable units, cut to 24 periods) is
posted to POST /schedules; the page, opened on its id, follows it to the end and draws it. The
checks compare what the page drew with the API's own document: every committed unit in the
stacked chart and in the on/off chart (with its number of periods on), one marginal-price
point per period with the API's value, the headline objective, and no console error. Another
schedule is cancelled from the page's button. The route serving the page's files is checked
without a browser. Needs Debian's chromium (skips without it locally, fails under CI=true).

UPDATE_SCREENSHOTS=1 writes docs/schedule-monitor.png from the first test (CI leaves the tree alone).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, api, require_chromium  # noqa: F401 - api is a fixture
from fastapi import FastAPI
from fastapi.testclient import TestClient
from live_server import ApiServer
from uc_instances import load_instance

from merit_order.api.routes import schedule_page

RTS_DAY = "pglib-uc/rts_gmlc/2020-01-27.json"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "schedule-monitor.png"


@pytest.fixture()
def page(api: ApiServer) -> Iterator[Any]:
    """A Chromium page that records console errors, page errors and any request to another host."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(20_000)
            problems: list[str] = []
            page.problems = problems  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
            served = urlsplit(api.url).netloc

            def only_this_server(route: Any) -> None:
                if urlsplit(route.request.url).netloc != served:
                    problems.append(f"request to another host: {route.request.url}")
                    route.abort()
                else:
                    route.continue_()

            page.route("**/*", only_this_server)
            yield page
        finally:
            browser.close()


def _post_rts_day(api: ApiServer, query: str) -> str:
    status, body = api.post_json(f"/schedules?periods=24&{query}", load_instance(RTS_DAY), timeout=60)
    assert status == 202, body
    return str(body["id"])


def _drawn(page: Any, chart: str) -> dict[str, int]:
    """data-unit -> data-on-count (or 0) of every unit drawn in one chart."""
    return page.eval_on_selector_all(
        f"#{chart} [data-unit]", "els => Object.fromEntries(els.map(e => [e.dataset.unit, +(e.dataset.onCount || 0)]))"
    )


def _assert_draws(page: Any, doc: dict[str, Any]) -> None:
    """The page's charts are the API's schedule: every committed unit, every period's price."""
    schedule = doc["schedule"]
    committed = {name: sum(unit["on"]) for name, unit in schedule["thermal"].items() if any(unit["on"])}
    assert committed, "the schedule commits no unit: nothing to check"
    stacked = _drawn(page, "stack-chart")
    assert set(stacked) == set(committed)
    assert _drawn(page, "onoff-chart") == committed
    assert page.locator('#stack-chart [data-layer="renewable"]').count() == (1 if schedule["renewable"] else 0)
    assert page.locator('#stack-chart [data-role="demand-line"]').count() == 1
    assert page.locator('#stack-chart [data-role="reserve-line"]').count() == 1

    periods = schedule["time_periods"]
    assert periods == 24
    price_line = page.locator('#price-chart [data-role="price-line"]')
    assert price_line.get_attribute("data-points") == str(periods)
    assert len(re.findall(r"[HV]", price_line.get_attribute("d"))) == 2 * periods - 1  # one step per period
    points = page.eval_on_selector_all("#price-chart .price-point", "cs => cs.map(c => [+c.dataset.t, +c.dataset.value])")
    assert [t for t, _ in points] == list(range(1, periods + 1))
    assert [v for _, v in points] == pytest.approx(schedule["marginal_price"], rel=1e-12, abs=1e-12)

    objective = float(page.get_attribute('[data-kpi="objective"]', "data-value"))
    assert objective == pytest.approx(schedule["objective"], rel=1e-12)


@pytest.mark.slow
@pytest.mark.browser
def test_page_draws_every_committed_unit_of_a_finished_rts_day(api: ApiServer, page: Any, tmp_path: Path) -> None:
    schedule_id = _post_rts_day(api, "time_limit_s=5")
    page.goto(f"{api.url}/monitor/schedules?id={schedule_id}")
    page.wait_for_selector('#status[data-state="live"]')
    page.wait_for_selector(f'#recent .recent-item[data-id="{schedule_id}"]')
    page.wait_for_selector('#sched-status[data-status="done"]', timeout=90_000)
    page.wait_for_selector(f'#onoff-chart[data-drawn="{schedule_id}"]')

    doc = api.get_json(f"/schedules/{schedule_id}")
    assert doc["status"] == "done"
    _assert_draws(page, doc)
    # the solve converging: objective and bound against time, from the job's history
    history = doc["progress"]["history"]
    if any(h.get("objective") is not None for h in history):
        assert page.locator('#conv-chart [data-role="objective-line"]').count() == 1
    if any(h.get("lower_bound") is not None for h in history):
        assert page.locator('#conv-chart [data-role="bound-line"]').count() == 1
    assert page.is_hidden("#cancel-button")
    assert page.inner_text("#sched-id") == schedule_id

    shot = tmp_path / "schedule-monitor.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert page.problems == []  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page


@pytest.mark.slow
@pytest.mark.browser
def test_cancel_button_stops_a_running_schedule_and_draws_the_best_so_far(api: ApiServer, page: Any) -> None:
    schedule_id = _post_rts_day(api, "time_limit_s=120&gap=0")
    page.goto(f"{api.url}/monitor/schedules?id={schedule_id}")
    page.wait_for_selector('#sched-status[data-status="running"]', timeout=60_000)
    # a first schedule exists (the objective line), so that cancelling keeps one to draw
    page.wait_for_selector('#conv-chart [data-role="objective-line"]', timeout=60_000)
    page.click("#cancel-button")
    page.wait_for_selector('#sched-status[data-status="cancelled"]')
    page.wait_for_selector(f'#onoff-chart[data-drawn="{schedule_id}"]')
    assert page.is_hidden("#cancel-button")

    doc = api.get_json(f"/schedules/{schedule_id}")
    assert doc["status"] == "cancelled" and doc["schedule"] is not None
    _assert_draws(page, doc)
    assert page.get_attribute(f'#recent .recent-item[data-id="{schedule_id}"]', "data-status") == "cancelled"
    assert page.problems == []  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page


# ---------------------------------------------------------------------- the route, without a browser
@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(schedule_page.router)
    with TestClient(app) as test_client:
        yield test_client


def test_page_is_served_without_cache_and_loads_its_modules_by_relative_urls(client: TestClient) -> None:
    response = client.get("/monitor/schedules")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="schedules/page.js">' in response.text
    assert "http://" not in response.text and "https://" not in response.text  # nothing from elsewhere


def test_every_module_the_page_imports_is_served_as_javascript(client: TestClient) -> None:
    pending, seen = ["page.js"], set()
    while pending:
        name = pending.pop()
        seen.add(name)
        response = client.get(f"/monitor/schedules/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        imported = re.findall(r'from "\./([a-z0-9_-]+\.js)"', response.text)
        pending += [n for n in imported if n not in seen]
    assert seen == {"page.js", "feed.js", "charts.js"}
    css = client.get("/monitor/schedules/schedules.css")
    assert css.status_code == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    assert {"/monitor/schedules", *(f"/monitor/schedules/{n}" for n in seen)} <= schedule_page.SCHEDULE_PAGE_PATHS


@pytest.mark.parametrize(
    "asset",
    ["..%2Fschedules.html", "..%2F..%2Fapi%2Fapp.py", ".hidden.js", "page.js.map", "PAGE.JS", "page.js%00.css",
     "missing.js", "%2Fetc%2Fpasswd"],
)
def test_nothing_but_the_pages_own_files_is_served(client: TestClient, asset: str) -> None:
    response = client.get(f"/monitor/schedules/{asset}")
    assert response.status_code == 404
    assert "text/javascript" not in response.headers.get("content-type", "")
