"""The calculator: a validated request in, the exact minimum-cost plan out. No I/O, no web.

    from merit_order.calculator import ProductionPlanRequest, compute_plan
    plan = compute_plan(ProductionPlanRequest.model_validate(payload))
    plan.as_challenge_list()   # [{"name": "windpark1", "p": 90.0}, ...]
"""

from __future__ import annotations

from .costs import CostModel
from .errors import InfeasibleLoad, ProblemTooLarge
from .fleet import Unit, build_units
from .plan import Plan, PlanEntry
from .schema import Fuels, PlantType, PowerPlant, ProductionPlanRequest
from .solver import SMALL_FLEET, solve_units

__all__ = [
    "CostModel",
    "Fuels",
    "InfeasibleLoad",
    "Plan",
    "PlanEntry",
    "PlantType",
    "PowerPlant",
    "ProblemTooLarge",
    "ProductionPlanRequest",
    "Unit",
    "build_units",
    "compute_plan",
    "solve_units",
    "solves_instantly",
]

_DEFAULT_COSTS = CostModel()


def solves_instantly(request: ProductionPlanRequest) -> bool:
    """True when the plan takes well under a millisecond whatever the load (at most
    SMALL_FLEET plants: the relaxation or the enumeration of their commitments), so that a
    server may solve it on its event loop instead of paying a thread hand-off."""
    return len(request.powerplants) <= SMALL_FLEET


def compute_plan(
    request: ProductionPlanRequest,
    cost_model: CostModel = _DEFAULT_COSTS,
    wind_curtailment: bool = False,
) -> Plan:
    """The cheapest plan for the request (ties: most to the first plants in merit order).

    Raises InfeasibleLoad, with the nearest loads that can be met, when none exists, and
    ProblemTooLarge when proving the optimum would exceed the work limit of one request.
    """
    units = build_units(request, cost_model, wind_curtailment)
    p_tenths = solve_units(units, request.load_tenths)
    return Plan.from_units(request.load_tenths, units, p_tenths)
