"""Issue 13 in a real Chromium: /monitor opened after a plan was made shows it, wind blocks are visible."""

from __future__ import annotations

from typing import Any

import pytest
from browser import PAYLOAD3, RESPONSE3, api, page  # noqa: F401 - the fixtures
from live_server import ApiServer

pytestmark = pytest.mark.browser


def test_a_monitor_opened_after_a_plan_shows_it_with_a_visible_wind_block(api: ApiServer, page: Any) -> None:
    status, _ = api.post_json("/productionplan", PAYLOAD3)
    assert status == 200
    page.goto(f"{api.url}/monitor")
    page.wait_for_selector('#status[data-state="live"]')
    page.wait_for_function("document.querySelectorAll('#chart g.block[data-plant]').length === 6")
    assert page.locator("#chart-empty").is_hidden()
    names = page.eval_on_selector_all("#chart g.block", "gs => gs.map(g => g.dataset.plant)")
    assert names == [r["name"] for r in RESPONSE3]
    assert page.locator("#recent .recent-item").count() == 1
    # windpark1 costs 0 EUR/MWh: its block is a block, not a hairline on the axis
    wind = page.eval_on_selector(
        '#chart g.block[data-plant="windpark1"] rect.available', "r => r.height.baseVal.value"
    )
    gas = page.eval_on_selector(
        '#chart g.block[data-plant="gasfiredbig1"] rect.available', "r => r.height.baseVal.value"
    )
    assert 14 <= wind < gas
    assert page.script_errors == []  # type: ignore[attr-defined]  # the test hangs its own records on Playwright's Page
