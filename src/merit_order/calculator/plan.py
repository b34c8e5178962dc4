"""The answer: the plan in merit order, with the figures a trader reads next to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .fleet import Unit
from .schema import PlantType


class PlanEntry(NamedTuple):
    """What one plant produces, and what it costs per MWh (a NamedTuple: one per plant per plan)."""

    name: str
    type: PlantType
    p_tenths: int
    cost_per_mwh: float
    available_tenths: int  # the most it could have produced this hour (Pmax, or the wind's share)
    pmin_tenths: int  # the least it produces when on
    co2_t_per_mwh: float

    @property
    def p(self) -> float:
        """Production in MW with one decimal (the only place tenths become floats)."""
        return self.p_tenths / 10

    @property
    def cost(self) -> float:
        return self.cost_per_mwh * self.p_tenths / 10

    @property
    def co2_tonnes(self) -> float:
        return self.co2_t_per_mwh * self.p_tenths / 10


@dataclass(frozen=True, slots=True)
class Plan:
    """A minimum-cost plan: every plant in merit order, the off ones with p = 0."""

    load_tenths: int
    entries: tuple[PlanEntry, ...]

    @property
    def load(self) -> float:
        return self.load_tenths / 10

    @property
    def total_cost(self) -> float:
        """Euro for the hour."""
        return sum(e.cost for e in self.entries)

    @property
    def marginal_cost(self) -> float | None:
        """Euro per MWh of the dearest plant that runs: the price of the last MWh. None if nothing runs."""
        running = [e.cost_per_mwh for e in self.entries if e.p_tenths > 0]
        return max(running) if running else None

    @property
    def co2_tonnes(self) -> float:
        return sum(e.co2_tonnes for e in self.entries)

    def as_challenge_list(self) -> list[dict[str, float | str]]:
        """The challenge's answer: `[{"name": ..., "p": ...}]`, in merit order."""
        return [{"name": e.name, "p": e.p} for e in self.entries]

    @classmethod
    def from_units(cls, load_tenths: int, units: list[Unit], p_tenths: list[int]) -> Plan:
        return cls(
            load_tenths,
            tuple(  # positional: built for every plant of every plan
                PlanEntry(u.name, u.type, p, u.cost, u.hi, u.lo, u.co2_t_per_mwh)
                for u, p in zip(units, p_tenths, strict=True)
            ),
        )
