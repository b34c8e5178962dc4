"""The calculator: a validated request in, the exact minimum-cost plan out. No I/O, no web.

    from merit_order.calculator import ProductionPlanRequest, compute_plan
    plan = compute_plan(ProductionPlanRequest.model_validate(payload))
    plan.as_challenge_list()   # [{"name": "windpark1", "p": 90.0}, ...]
"""

from __future__ import annotations

from .control import SolveControl
from .costs import CostModel
from .errors import InfeasibleLoad, ProblemTooLarge, SolveCancelled
from .fleet import Unit, build_units
from .plan import Plan, PlanEntry
from .schema import Fuels, PlantType, PowerPlant, ProductionPlanRequest
from .solver import METHODS, SMALL_FLEET, Solve, SolveResult, held_bound, prepare, solve, solve_units

__all__ = [
    "METHODS",
    "CostModel",
    "Fuels",
    "InfeasibleLoad",
    "Plan",
    "PlanEntry",
    "PlantType",
    "PowerPlant",
    "PreparedPlan",
    "ProblemTooLarge",
    "ProductionPlanRequest",
    "SolveCancelled",
    "SolveControl",
    "SolveResult",
    "Unit",
    "build_units",
    "compute_plan",
    "held_bound",
    "prepare_plan",
    "solve",
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
    method: str = "auto",
) -> Plan:
    """The cheapest plan for the request (ties: most to the first plants in merit order).

    Raises InfeasibleLoad, with the nearest loads that can be met, when none exists. No
    valid request is too large: a table's memory is bounded (docs/algorithm.md).
    `method` forces one of the solver's routes (solver.METHODS); "auto" picks the fastest.
    """
    units = build_units(request, cost_model, wind_curtailment)
    result = solve(units, request.load_tenths, method=method)
    return Plan.from_units(request.load_tenths, units, result.plan)


class PreparedPlan:
    """A request whose solve is prepared (see solver.Solve): its size known, its table not yet built.

    `cells` (0 when no table is needed) and `instant` let a server decide where to run
    `finish` and whether to admit it at all, before it costs anything.
    """

    __slots__ = ("_solve", "_units", "load_tenths")

    def __init__(self, load_tenths: int, units: list[Unit], solve: Solve) -> None:
        self.load_tenths = load_tenths
        self._units = units
        self._solve = solve

    @property
    def cells(self) -> int:
        """Table cells the solve will compute; 0 when it needs no table."""
        return self._solve.cells

    @property
    def held(self) -> int:
        """The most of them it holds in memory at once (8 bytes each; see solver._layout)."""
        return self._solve.held

    @property
    def instant(self) -> bool:
        """True when finish() is a few microseconds of pure Python (see solver.Solve.instant)."""
        return self._solve.instant

    def finish(self, control: SolveControl | None = None) -> Plan:
        """The plan (raises InfeasibleLoad, SolveCancelled when `control` says stop, or what its admit hook raises)."""
        p_tenths = self._solve.run(control)
        return Plan.from_units(self.load_tenths, self._units, p_tenths)


def prepare_plan(
    request: ProductionPlanRequest,
    cost_model: CostModel = _DEFAULT_COSTS,
    wind_curtailment: bool = False,
) -> PreparedPlan:
    """compute_plan's cheap half: the units, the merit-order shortcuts and the table's size."""
    units = build_units(request, cost_model, wind_curtailment)
    return PreparedPlan(request.load_tenths, units, prepare(units, request.load_tenths))
