"""Fleets and series for the job tests, and the reference answer each period must match."""

from __future__ import annotations

import random
import time
from typing import Any

from common import poll_json
from fastapi.testclient import TestClient

from merit_order.calculator import CostModel, InfeasibleLoad, ProductionPlanRequest, compute_plan
from merit_order.calculator.document import plan_document


def fleet(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """A mixed fleet with Pmin gaps and wind, so that some loads are infeasible and ties happen."""
    rng = random.Random(seed)
    plants = []
    for i in range(n):
        kind = ("gasfired", "gasfired", "turbojet", "windturbine")[i % 4]
        if kind == "windturbine":
            plants.append({"name": f"wind{i}", "type": kind, "efficiency": 1, "pmin": 0, "pmax": rng.choice([36, 90, 150])})
        elif kind == "turbojet":
            plants.append({"name": f"tj{i}", "type": kind, "efficiency": 0.3, "pmin": 0, "pmax": rng.choice([16, 25])})
        else:
            pmax = rng.choice([120, 210, 460])
            plants.append(
                {
                    "name": f"gas{i}",
                    "type": kind,
                    "efficiency": rng.choice([0.37, 0.45, 0.53]),
                    "pmin": rng.choice([0, 40, 100]) if pmax > 100 else 0,
                    "pmax": pmax,
                }
            )
    return plants


def series(plants: list[dict[str, Any]], periods: int, seed: int = 11) -> list[dict[str, Any]]:
    """Hourly loads and prices that move like a year does (daily shape, weather)."""
    rng = random.Random(seed)
    capacity = sum(p["pmax"] for p in plants)
    out = []
    for h in range(periods):
        shape = 0.45 + 0.35 * abs(((h % 24) - 12) / 12)
        load = round(capacity * shape * rng.uniform(0.6, 1.05), 1)
        out.append(
            {
                "label": f"h{h:05d}",
                "load": load,
                "fuels": {
                    "gas(euro/MWh)": round(rng.uniform(8, 40), 2),
                    "kerosine(euro/MWh)": round(rng.uniform(40, 80), 2),
                    "co2(euro/ton)": round(rng.uniform(5, 80), 1),
                    "wind(%)": rng.choice([0, 10, 35, 60, 100]),
                },
            }
        )
    return out


def expected(plants: list[dict[str, Any]], period: dict[str, Any], cost_model: CostModel = CostModel()) -> dict[str, Any]:
    """What the job must say for this period: the sync path's plan and document, or infeasible."""
    request = ProductionPlanRequest.model_validate({"load": period["load"], "fuels": period["fuels"], "powerplants": plants})
    try:
        plan = compute_plan(request, cost_model=cost_model)
    except InfeasibleLoad as error:
        return {"status": "infeasible", "reason": str(error)}
    return {"status": "ok", "plan": plan.as_challenge_list(), "detail": plan_document(plan)}


def wait_done(client: TestClient, location: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the job (status only, limit=0) until it is done or failed, then fetch every page
    (a 503 is retried, see common.poll_json)."""
    deadline = time.monotonic() + timeout
    status: Any = None
    while time.monotonic() < deadline:
        polled = poll_json(client, location, {"limit": 0})
        if polled is None:
            continue
        status = polled
        if status["status"] in ("done", "failed"):
            return fetch_all(client, location)
        time.sleep(0.1)
    raise AssertionError(f"job not finished in {timeout}s: {status}")


def fetch_all(client: TestClient, location: str, limit: int | None = None) -> dict[str, Any]:
    """The finished job's status with every page's results joined, following each page's `next`
    (`limit`: periods a page; None, the server's default)."""
    job = client.get(location, params={} if limit is None else {"limit": limit}).json()
    results = list(job["results"])
    page = job["results_page"]
    while page["next"] is not None:
        more = client.get(page["next"]).json()
        assert more["results_page"]["offset"] == len(results), "pages must follow each other"
        results.extend(more["results"])
        page = more["results_page"]
    assert len(results) == page["total"] == job["periods"]
    return {**job, "results": results}


def assert_matches(
    results: list[dict[str, Any]],
    plants: list[dict[str, Any]],
    periods: list[dict[str, Any]],
    *,
    detail: bool | None = None,
) -> None:
    """Every period's result is the calculator's answer. `detail`: True, the job kept the plans'
    detail and it must equal the sync route's; False, it must be absent; None, compared when present."""
    assert [r["index"] for r in results] == list(range(len(periods)))
    for result, period in zip(results, periods, strict=True):
        assert result["label"] == period.get("label")
        want = expected(plants, period)
        assert result["status"] == want["status"], (result["index"], result.get("reason"))
        if want["status"] == "ok":
            assert result["plan"] == want["plan"], result["index"]
            if detail is False:
                assert "detail" not in result, result["index"]
            elif detail or "detail" in result:
                assert result["detail"] == want["detail"], result["index"]
        else:
            assert result["reason"] == want["reason"]
