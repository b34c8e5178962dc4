"""The plan cache without Redis: canonical keys, the in-memory LRU with TTL, and X-Cache through the API."""

from __future__ import annotations

import asyncio
import copy
import json

import orjson
import pytest
from common import load_example, profile_examples
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from referee_strategies import Case, cases

from merit_order.api.app import create_app
from merit_order.cache import MemoryCache, NullCache, build_cache, plan_cache_key
from merit_order.calculator import CostModel, InfeasibleLoad, ProblemTooLarge, ProductionPlanRequest, compute_plan
from merit_order.calculator.document import plan_document
from merit_order.planning import PlanAnswer
from merit_order.settings import Settings


def _payload3() -> dict:
    """The shipped example (conftest's loader): tests read nothing outside the repository."""
    return load_example("payload3")


def _key(payload: dict, *, cost_model: CostModel = CostModel(), wind_curtailment: bool = False) -> str:
    return plan_cache_key(ProductionPlanRequest.model_validate(payload), cost_model, wind_curtailment=wind_curtailment)


def _settings(**overrides) -> Settings:
    return Settings(log_format="console", log_level="WARNING", redis_url=None, job_local_workers=0, **overrides)


# --- canonical key ------------------------------------------------------------------------


def test_key_ignores_key_order_int_vs_float_and_unknown_fields() -> None:
    payload = _payload3()
    reordered = {
        "powerplants": [dict(reversed(list(p.items()))) for p in payload["powerplants"]],
        "fuels": dict(reversed(list(payload["fuels"].items()))),
        "load": float(payload["load"]),  # 910 -> 910.0
        "comment": "ignored by the model, so by the key",
    }
    for plant in reordered["powerplants"]:
        plant["pmax"] = float(plant["pmax"])
    assert json.dumps(reordered) != json.dumps(payload)
    assert _key(reordered) == _key(payload)


def test_key_changes_with_anything_that_changes_the_answer() -> None:
    payload = _payload3()
    base = _key(payload)
    other_load = dict(payload, load=payload["load"] + 0.1)
    swapped = dict(payload, powerplants=payload["powerplants"][::-1])  # order breaks cost ties
    assert len({
        base,
        _key(other_load),
        _key(swapped),
        _key(payload, wind_curtailment=True),
        _key(payload, cost_model=CostModel(gas_co2_t_per_mwh=0.35)),
        _key(payload, cost_model=CostModel(kerosine_co2_t_per_mwh=0.25)),
    }) == 6
    assert plan_cache_key(
        ProductionPlanRequest.model_validate(payload), CostModel(), wind_curtailment=False, salt="other-release"
    ) != base


# --- MemoryCache -----------------------------------------------------------------------------


def test_memory_cache_round_trip_is_a_copy() -> None:
    cache = MemoryCache(ttl_seconds=60, max_entries=10)

    async def scenario() -> None:
        assert await cache.get("k") is None
        value = {"plan": [{"name": "a", "p": 1.0}]}
        await cache.set("k", value)
        value["plan"].append("mutated after the store")
        got = await cache.get("k")
        assert got == {"plan": [{"name": "a", "p": 1.0}]}
        got["plan"].clear()
        assert await cache.get("k") == {"plan": [{"name": "a", "p": 1.0}]}

    asyncio.run(scenario())


def test_memory_cache_evicts_least_recently_used() -> None:
    cache = MemoryCache(ttl_seconds=60, max_entries=3)

    async def scenario() -> None:
        for k in "abc":
            await cache.set(k, {"k": k})
        assert await cache.get("a") == {"k": "a"}  # a is now the most recent
        await cache.set("d", {"k": "d"})  # evicts b, the least recently used
        assert await cache.get("b") is None
        assert [await cache.get(k) for k in "acd"] == [{"k": "a"}, {"k": "c"}, {"k": "d"}]
        assert len(cache) == 3
        assert (await cache.health())["entries"] == 3

    asyncio.run(scenario())


def test_memory_cache_expires_after_ttl() -> None:
    now = [1000.0]  # an injected clock: the TTL is tested without sleeping
    cache = MemoryCache(ttl_seconds=0.3, max_entries=10, clock=lambda: now[0])

    async def scenario() -> None:
        await cache.set("k", {"v": 1})
        now[0] += 0.29
        assert await cache.get("k") == {"v": 1}
        now[0] += 0.02
        assert await cache.get("k") is None
        assert len(cache) == 0  # the expired entry was dropped, not just hidden

    asyncio.run(scenario())


def test_build_cache_picks_the_backend() -> None:
    assert isinstance(build_cache(enabled=True, redis_url=None, ttl_seconds=10, max_entries=5), MemoryCache)
    assert isinstance(build_cache(enabled=False, redis_url="redis://x:1/0", ttl_seconds=10, max_entries=5), NullCache)


# --- through the API ---------------------------------------------------------------------------


def test_api_hit_and_miss_with_canonical_key() -> None:
    payload = _payload3()
    with TestClient(create_app(_settings())) as client:
        first = client.post("/productionplan", json=payload)
        assert first.status_code == 200 and first.headers["X-Cache"] == "miss"
        second = client.post("/productionplan", json=payload)
        assert second.headers["X-Cache"] == "hit"
        assert second.json() == first.json()

        # Same request written differently: still a hit, same answer.
        body = json.dumps({"powerplants": payload["powerplants"], "load": 910.0, "fuels": payload["fuels"]})
        third = client.post("/productionplan", content=body, headers={"content-type": "application/json"})
        assert third.headers["X-Cache"] == "hit" and third.json() == first.json()

        # The detail view comes from the same cached document.
        detail = client.post("/productionplan?detail=true", json=payload)
        assert detail.headers["X-Cache"] == "hit"
        assert [{"name": e["name"], "p": e["p"]} for e in detail.json()["plan"]] == first.json()

        # An option that changes the answer is another entry.
        curtailed = client.post("/productionplan?wind_curtailment=true", json=payload)
        assert curtailed.headers["X-Cache"] == "miss"

        other = copy.deepcopy(payload)
        other["load"] = 900
        assert client.post("/productionplan", json=other).headers["X-Cache"] == "miss"

        health = client.get("/_healthcheck").json()
        assert health["backends"]["cache"]["backend"] == "memory"
        assert health["backends"]["cache"]["entries"] == 3


def test_api_ttl_is_honoured() -> None:
    """The route's cache entry lives CACHE_TTL_SECONDS on the cache's clock (moved by hand)."""
    payload = _payload3()
    now = [0.0]
    with TestClient(create_app(_settings(cache_ttl_seconds=1))) as client:
        cache = client.app.state.services.cache
        assert isinstance(cache, MemoryCache)  # the one the app built from its settings
        cache.clock = lambda: now[0]
        assert client.post("/productionplan", json=payload).headers["X-Cache"] == "miss"
        now[0] = 0.9
        assert client.post("/productionplan", json=payload).headers["X-Cache"] == "hit"
        now[0] = 1.1
        assert client.post("/productionplan", json=payload).headers["X-Cache"] == "miss"


def test_api_infeasible_is_not_cached_and_cache_can_be_disabled() -> None:
    payload = dict(_payload3(), load=100_000 / 10)  # above the fleet's capacity
    with TestClient(create_app(_settings())) as client:
        assert client.post("/productionplan", json=payload).status_code == 422
        assert client.post("/productionplan", json=payload).status_code == 422
    with TestClient(create_app(_settings(cache_enabled=False))) as client:
        ok = _payload3()
        assert client.post("/productionplan", json=ok).headers["X-Cache"] == "miss"
        assert client.post("/productionplan", json=ok).headers["X-Cache"] == "miss"
        assert client.get("/_healthcheck").json()["backends"]["cache"]["status"] == "disabled"


@pytest.mark.parametrize("bad", [0, -1])
def test_memory_cache_rejects_nonsense_bounds(bad: int) -> None:
    with pytest.raises(ValueError):
        MemoryCache(ttl_seconds=bad or 0, max_entries=1)
    with pytest.raises(ValueError):
        MemoryCache(ttl_seconds=1, max_entries=bad)


# --- the same answer from a fresh plan and from a cached document ---------------------------


@settings(max_examples=profile_examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(max_plants=12))
def test_answer_from_plan_equals_answer_from_cached_document(case: Case) -> None:
    """A miss answers from the Plan, a hit from the cached JSON document: byte for byte the same."""
    request = ProductionPlanRequest.model_validate(case.payload)
    cost_model = CostModel(gas_co2_t_per_mwh=case.gas_co2, kerosine_co2_t_per_mwh=case.kerosine_co2)
    try:
        plan = compute_plan(request, cost_model=cost_model, wind_curtailment=case.wind_curtailment)
    except (InfeasibleLoad, ProblemTooLarge):
        return
    fresh = PlanAnswer(plan=plan)
    cached = PlanAnswer(document=orjson.loads(orjson.dumps(plan_document(plan))), cache_hit=True)
    assert orjson.dumps(fresh.challenge_list()) == orjson.dumps(cached.challenge_list())
    assert orjson.dumps(fresh.document()) == orjson.dumps(cached.document())
    assert [e["name"] for e in fresh.challenge_list()] == [e.name for e in plan.entries]
    assert sum(round(e["p"] * 10) for e in fresh.challenge_list()) == request.load_tenths
