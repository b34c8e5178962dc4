"""The fleet in the solver's terms: whole tenths of a MW and a cost per MWh, in merit order.

Every plant becomes the same shape, a *semi-continuous unit*: off, or on anywhere in
[lo, hi] tenths. All-or-nothing wind is the case lo == hi, a curtailable wind park and a
plant without Pmin the case lo == 0. One shape keeps the solver free of plant types.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .costs import CostModel
from .schema import PlantType, ProductionPlanRequest

#: Float noise tolerated when putting a MW figure on the 0.1 grid (10.000000001 is 10.0).
_GRID_EPS = 1e-6


def floor_tenths(mw: float) -> int:
    """Round down to the 0.1 MW grid, forgiving float noise: a plant never exceeds its real maximum."""
    return math.floor(mw * 10 + _GRID_EPS)


def ceil_tenths(mw: float) -> int:
    """Round up to the 0.1 MW grid, forgiving float noise: a plant never runs below its real minimum."""
    return math.ceil(mw * 10 - _GRID_EPS)


class Unit(NamedTuple):
    """One plant as the solver sees it (a NamedTuple: built per plant per request, so cheap)."""

    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose: the request position reads best as .index; nothing calls tuple.index on a Unit
    name: str
    type: PlantType
    cost: float  # euro per MWh produced
    lo: int  # tenths of a MW: the least it produces when on
    hi: int  # tenths of a MW: the most it can produce this hour
    co2_t_per_mwh: float


def build_units(
    request: ProductionPlanRequest, cost_model: CostModel, wind_curtailment: bool = False
) -> list[Unit]:
    """The request's plants as units, sorted in merit order (cost, then position).

    One loop with positional NamedTuples: this runs on every request, and for the
    challenge's fleets it was half of the calculator's time when written as a helper per
    plant with keyword arguments.
    """
    fuels = request.fuels
    units = []
    for index, plant in enumerate(request.powerplants):
        kind = plant.type
        if kind is PlantType.windturbine:
            hi = floor_tenths(plant.pmax * fuels.wind / 100)
            lo = 0 if wind_curtailment else hi
        else:
            lo, hi = ceil_tenths(plant.pmin), floor_tenths(plant.pmax)
            if lo > hi:  # Pmin and Pmax fall inside the same 0.1 MW step: the plant cannot run on the grid
                lo = hi = 0
        cost = cost_model.cost_per_mwh(plant, fuels)
        units.append(Unit(index, plant.name, kind, cost, lo, hi, cost_model.co2_t_per_mwh(kind)))
    units.sort(key=_merit_key)
    return units


def _merit_key(unit: Unit) -> tuple[float, int]:
    return unit.cost, unit.index
