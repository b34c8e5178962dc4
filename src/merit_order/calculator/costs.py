"""What one MWh of each plant costs.

The emission factors are parameters rather than constants so that a desk can price the
CO2 of kerosine too (the challenge prices only gas's). Defaults are the challenge's.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Fuels, PlantType, PowerPlant


@dataclass(frozen=True, slots=True)
class CostModel:
    """Tonnes of CO2 emitted per MWh of electricity produced, per fuel."""

    gas_co2_t_per_mwh: float = 0.3
    kerosine_co2_t_per_mwh: float = 0.0

    def co2_t_per_mwh(self, plant_type: PlantType) -> float:
        if plant_type is PlantType.gasfired:
            return self.gas_co2_t_per_mwh
        if plant_type is PlantType.turbojet:
            return self.kerosine_co2_t_per_mwh
        return 0.0

    def cost_per_mwh(self, plant: PowerPlant, fuels: Fuels) -> float:
        """Euro per MWh produced: fuel burnt for one MWh out, plus its CO2 allowances."""
        if plant.type is PlantType.windturbine:
            return 0.0
        fuel_price = fuels.gas if plant.type is PlantType.gasfired else fuels.kerosine
        return fuel_price / plant.efficiency + self.co2_t_per_mwh(plant.type) * fuels.co2
