"""/monitor in a real headless Chromium against a real server process.

Posts payload 3 through the page's own form and checks what the page drew: the six plant
blocks in merit order with their dispatched share, the load line, and headline figures equal
to the API's detailed answer. Then the page's handling of a 422, and its reconnection when
the service restarts. Needs Debian's chromium (skips without it locally, fails under CI=true).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser import PAYLOAD3, RESPONSE3, api, page  # noqa: F401 - the fixtures
from live_server import ApiServer

pytestmark = pytest.mark.browser

def test_monitor_draws_payload3_posted_through_its_form(api: ApiServer, page: Any, tmp_path: Path) -> None:
    page.goto(f"{api.url}/monitor")
    page.wait_for_selector('#status[data-state="live"]')
    # the form starts with payload 3, fetched from the service
    page.wait_for_function("document.querySelector('#payload').value.includes('powerplants')")
    assert json.loads(page.input_value("#payload")) == PAYLOAD3

    page.click("#post-button")
    page.wait_for_function("document.querySelectorAll('#chart g.block[data-plant]').length === 6")
    page.wait_for_selector('#chart [data-role="load-line"]')
    assert "200" in page.inner_text("#post-result")

    # the six blocks, in merit order, each with its dispatched p
    blocks = page.eval_on_selector_all(
        "#chart g.block",
        """gs => gs.map(g => ({name: g.dataset.plant, type: g.dataset.type, p: +g.dataset.p,
              available: +g.dataset.available, x0: +g.dataset.x0,
              availW: g.querySelector('rect.available').width.baseVal.value,
              dispW: g.querySelector('rect.dispatched') ? g.querySelector('rect.dispatched').width.baseVal.value : 0}))""",
    )
    assert [(b["name"], b["p"]) for b in blocks] == [(r["name"], r["p"]) for r in RESPONSE3]
    assert [b["x0"] for b in blocks] == sorted(b["x0"] for b in blocks)
    by_name = {b["name"]: b for b in blocks}
    assert by_name["windpark1"]["available"] == 90.0 and by_name["windpark1"]["type"] == "windturbine"
    assert by_name["tj1"]["dispW"] == 0 and by_name["gasfiredsomewhatsmaller"]["dispW"] == 0
    assert by_name["gasfiredbig1"]["dispW"] == pytest.approx(by_name["gasfiredbig1"]["availW"])
    big2 = by_name["gasfiredbig2"]
    assert (big2["dispW"] + 1.5) / (big2["availW"] + 1.5) == pytest.approx(338.4 / 460, abs=0.01)  # hairline gap

    load_line = page.locator('#chart [data-role="load-line"]')
    assert float(load_line.get_attribute("data-load")) == 910.0
    assert "Load 910.0 MW" in load_line.text_content()
    assert page.locator('#chart [data-role="marginal-line"]').count() == 1

    # the headline figures are the API's own detail
    status, detail = api.post_json("/productionplan?detail=true", PAYLOAD3)
    assert status == 200
    shown = {k: page.get_attribute(f'[data-kpi="{k}"]', "data-value") for k in ("load", "total_cost", "marginal_cost", "co2_tonnes")}
    for key, value in shown.items():
        assert float(value) == pytest.approx(detail[key], rel=1e-12), key
    assert page.inner_text("#kpi-total") == f"{detail['total_cost']:,.2f}"
    assert page.inner_text("#kpi-marginal") == f"{detail['marginal_cost']:,.2f}"
    # the table lists every plant with its p
    rows = page.eval_on_selector_all("#plants-body tr", "trs => trs.map(tr => tr.dataset.plant)")
    assert rows == [r["name"] for r in RESPONSE3]

    # the ?detail=true call above was a plan too (from the cache): it is in the recent list
    page.wait_for_function("document.querySelectorAll('#recent .recent-item').length === 2")
    assert "cached" in page.inner_text("#recent .recent-item >> nth=0").lower()

    shot = tmp_path / "monitor.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    assert page.script_errors == []  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page


@pytest.mark.slow
def test_monitor_shows_the_apis_error_message_for_a_bad_payload(api: ApiServer, page: Any, tmp_path: Path) -> None:
    page.goto(f"{api.url}/monitor")
    page.wait_for_selector('#status[data-state="live"]')
    bad = {**PAYLOAD3, "powerplants": [{**PAYLOAD3["powerplants"][0], "pmin": 500}] + PAYLOAD3["powerplants"][1:]}
    page.fill("#payload", json.dumps(bad))
    page.click("#post-button")
    page.wait_for_selector(".post-result.error")
    text = page.inner_text("#post-result")
    assert "422" in text
    assert "gasfiredbig1" in text and "pmin" in text  # the API's own words, naming the plant and field
    page.fill("#payload", "{ not json")
    page.click("#post-button")
    page.wait_for_function("document.querySelector('#post-result').innerText.includes('not valid JSON')")
    page.screenshot(path=str(tmp_path / "monitor-error.png"))
    assert page.script_errors == []  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page


@pytest.mark.slow
def test_monitor_reconnects_when_the_service_restarts(api: ApiServer, page: Any) -> None:
    page.goto(f"{api.url}/monitor")
    page.wait_for_selector('#status[data-state="live"]')
    api.stop()
    page.wait_for_selector('#status[data-state="reconnecting"]')
    api.start()  # same port
    page.wait_for_selector('#status[data-state="live"]', timeout=30_000)
    status, _ = api.post_json("/productionplan", PAYLOAD3)
    assert status == 200
    page.wait_for_function("document.querySelectorAll('#chart g.block[data-plant]').length === 6")
    assert page.script_errors == []  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page


@pytest.mark.slow
def test_monitor_with_an_api_key(page: Any) -> None:
    """With API_KEY set the page still loads, asks for the key on a 401, then goes live with it."""
    server = ApiServer({"API_KEY": "s3cret-key"})
    server.start()
    try:
        page.goto(f"{server.url}/monitor")
        page.wait_for_selector('#status[data-state="reconnecting"]')  # /ws refuses it without the key
        page.click("#post-button")
        page.wait_for_selector(".post-result.error")
        assert "401" in page.inner_text("#post-result")
        page.fill("#api-key", "s3cret-key")
        page.click("#key-button")
        page.wait_for_selector('#status[data-state="live"]')
        page.click("#post-button")
        page.wait_for_function("document.querySelectorAll('#chart g.block[data-plant]').length === 6")
        # and a page opened with the key in its fragment is live at once
        page.goto(f"{server.url}/monitor#api_key=s3cret-key")
        page.reload()
        page.wait_for_selector('#status[data-state="live"]')
        assert page.script_errors == []  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)
