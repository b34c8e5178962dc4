"""The one code path behind `POST /productionplan`: cache, compute, store, broadcast.

Web-free on purpose (no FastAPI import), and needed by no worker: a job's plan becomes the
same document as the sync route's answer through calculator/document.py, which both use.

The calculator is pure CPU. Most plans take microseconds and are answered on the event
loop; a plan that needs the calculator's table is first sized there (prepare_plan), then
built in a thread under the admission budget and cancellation of solve_budget.py, so that
the event loop keeps serving other requests, health checks and websockets meanwhile and a
request answered 503 stops costing anything.
"""

from __future__ import annotations

from typing import Any

import structlog

from merit_order import metrics
from merit_order.broadcast.messages import PlanMessage, plan_message
from merit_order.cache import plan_cache_key
from merit_order.calculator import (
    Plan,
    ProductionPlanRequest,
    compute_plan,
    prepare_plan,
    solves_instantly,
)
from merit_order.calculator.document import challenge_list, plan_document
from merit_order.clock import utc_now_iso
from merit_order.services import Services
from merit_order.settings import Settings
from merit_order.solve_budget import SolveTimedOut, budget_for, finish_heavy, finish_light

log = structlog.get_logger(__name__)


class PlanAnswer:
    """A planned request: the challenge's list or the detailed document, each built when asked.

    The detailed document costs more to build than the plan of a small fleet costs to
    solve, and a plain request with the cache off (or a cache hit) never needs both; so
    whichever of the plan and the document is at hand, the other is derived on demand.
    """

    __slots__ = ("_document", "_plan", "cache_hit")

    def __init__(self, *, plan: Plan | None = None, document: dict[str, Any] | None = None, cache_hit: bool = False) -> None:
        if plan is None and document is None:
            raise ValueError("a PlanAnswer needs the plan or its document")
        self._plan = plan
        self._document = document
        self.cache_hit = cache_hit

    def document(self) -> dict[str, Any]:
        """The detailed answer (see plan_document)."""
        if self._document is None:
            assert self._plan is not None
            self._document = plan_document(self._plan)
        return self._document

    def challenge_list(self) -> list[dict[str, Any]]:
        """The challenge's answer, `[{"name": ..., "p": ...}]`; the same from the plan or its document."""
        if self._plan is not None:
            return self._plan.as_challenge_list()
        return challenge_list(self.document())


async def plan_request(
    services: Services,
    settings: Settings,
    request: ProductionPlanRequest,
    *,
    wind_curtailment: bool,
) -> PlanAnswer:
    """The answer to a validated request, from the cache or computed (and then cached).

    Raises InfeasibleLoad when no plan meets the load (not cached: it is cheap to find
    again and carries no plan to broadcast). The cache and the broadcaster are
    optimisations and side channels: if one fails, the plan is still answered.
    """
    cost_model = settings.cost_model()
    key = plan_cache_key(request, cost_model, wind_curtailment=wind_curtailment) if settings.cache_enabled else None

    if key is not None:
        try:
            cached = await services.cache.get(key)
        except Exception:  # a broken cache is a miss, never a failed request (logged with its traceback)
            log.warning("cache_get_failed", exc_info=True)
            metrics.cache_lookup("error")
        else:
            metrics.cache_lookup("hit" if cached is not None else "miss")
            if cached is not None:
                answer = PlanAnswer(document=cached, cache_hit=True)
                await _broadcast(services, request, answer)
                return answer

    if solves_instantly(request):  # a thread hand-off would cost more than the solve itself
        plan = _compute(request, cost_model, wind_curtailment)
    else:
        plan = await _compute_within_budget(request, cost_model, wind_curtailment, settings)
    answer = PlanAnswer(plan=plan)
    if key is not None:
        try:
            await services.cache.set(key, answer.document())
        except Exception:  # a cache that cannot store is not a failed request (logged with its traceback)
            log.warning("cache_set_failed", exc_info=True)
    await _broadcast(services, request, answer)
    return answer


class SolveBudgetExceeded(Exception):
    """A solve took longer than SOLVE_TIMEOUT_SECONDS: the request is answered 503."""

    def __init__(self, budget_s: float) -> None:
        super().__init__(
            f"the plan took longer than {budget_s:g} s to compute (SOLVE_TIMEOUT_SECONDS); "
            "the service is overloaded or the fleet is pathological: retry later or split the request"
        )
        self.budget_s = budget_s


async def _compute_within_budget(
    request: ProductionPlanRequest, cost_model: Any, wind_curtailment: bool, settings: Settings
) -> Plan:
    """The plan, sized first: answered here if no table is needed, else admitted and solved in a thread.

    prepare_plan runs on the event loop (linear in the fleet, like the validation before
    it): it answers most fleets outright and gives the table's size to the rest, so that a
    request over the heavy-solve budget is a 503 (a 422 if the budget is configured below what
    one valid request can hold) before any thread or table exists. A table solve is cancelled once nobody waits for it
    (SOLVE_TIMEOUT_SECONDS, or its task cancelled): see solve_budget.py.
    """
    budget_s = settings.solve_timeout_seconds
    prepared = prepare_plan(request, cost_model=cost_model, wind_curtailment=wind_curtailment)
    if prepared.instant:
        with metrics.time_solve():
            return prepared.finish()
    budget = budget_for(settings)
    try:
        if budget.is_heavy(prepared.cells):
            return await finish_heavy(prepared, budget, budget_s)
        return await finish_light(prepared, budget, budget_s)
    except SolveTimedOut:
        metrics.solve_budget_exceeded()
        log.warning("solve_budget_exceeded", budget_s=budget_s, plants=len(request.powerplants), cells=prepared.cells)
        raise SolveBudgetExceeded(budget_s) from None


def _compute(request: ProductionPlanRequest, cost_model: Any, wind_curtailment: bool) -> Plan:
    with metrics.time_solve():
        return compute_plan(request, cost_model=cost_model, wind_curtailment=wind_curtailment)


async def _broadcast(services: Services, request: ProductionPlanRequest, answer: PlanAnswer) -> None:
    """Tell the live clients; a failure here is logged and never reaches the requester.

    With nobody listening the message is not built (its plan document costs more than a small
    fleet's solve): the broadcaster only remembers how to build it, for a client that connects
    while it is still among the recent plans.
    """
    at = utc_now_iso()

    def build() -> PlanMessage:
        return plan_message(
            request=request.model_dump(mode="json", by_alias=True),
            response=answer.challenge_list(),
            detail=answer.document(),
            source="sync",
            cached=answer.cache_hit,
            at=at,  # when the plan was made, not when a late client asked for it
        )

    try:
        broadcaster = services.broadcaster
        if broadcaster.has_audience():
            await broadcaster.publish(build())
        else:
            broadcaster.remember(build)
    except Exception:  # the live feed is a side channel: never fail the plan (logged with its traceback)
        log.warning("broadcast_failed", exc_info=True)
