"""The request contract: the challenge's payload, validated once, at the edge.

These models are plain pydantic (no web framework) so that the API, the CLI and the
job workers all reject bad input with the same messages. Every message names the
plant and the field, because the person reading it has to find the line to fix.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: A load is accepted when it is within this many tenths of a MW of the 0.1 MW grid,
#: so that float noise such as 480.00000001 is not mistaken for a finer load.
GRID_NOISE_TENTHS = 1e-6

#: No plant or load on Earth reaches 10 TW; the cap keeps tenths-of-a-MW arithmetic far from
#: float overflow whatever a client sends (the service's own limits are much tighter).
MAX_MW = 1e7

#: Numbers are strict: JSON true/false or "480" are refused rather than read as 1/0/480 (pydantic's
#: lax mode would), since a plant sent with "pmax": false is a bug to report, not a 0 MW plant.
FiniteNonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
Megawatts = Annotated[float, Field(ge=0, le=MAX_MW, allow_inf_nan=False, strict=True)]


def check_load_on_grid(load: float) -> float:
    """The load rule, shared by every model that carries a load (requests, batch periods)."""
    tenths = load * 10
    if abs(tenths - round(tenths)) > GRID_NOISE_TENTHS:
        raise ValueError(
            f"load {load!r} MW is not a multiple of 0.1 MW; send it rounded to one decimal "
            f"(e.g. {math.floor(tenths) / 10:.1f} or {math.ceil(tenths) / 10:.1f})"
        )
    return load


def as_sent(value: float) -> str:
    """A figure as the client wrote it (shortest round-trip form): 460.123456 stays 460.123456.

    `:g` would keep six significant digits and quote 50000.04 as 50000, which makes an error
    message contradict itself ("50000 MW is above 50000 MW"). Whole values print without ".0".
    """
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


class PlantType(str, Enum):  # noqa: UP042 - StrEnum would change str(PlantType.x) in messages and logs
    """The three kinds of plant the challenge knows."""

    gasfired = "gasfired"
    turbojet = "turbojet"
    windturbine = "windturbine"


class Fuels(BaseModel):
    """Prices for the hour, under the challenge's own key names."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    gas: FiniteNonNegative = Field(alias="gas(euro/MWh)", description="Gas price, euro per MWh of fuel.")
    kerosine: FiniteNonNegative = Field(
        alias="kerosine(euro/MWh)", description="Kerosine price, euro per MWh of fuel."
    )
    co2: FiniteNonNegative = Field(alias="co2(euro/ton)", description="CO2 allowance price, euro per tonne.")
    wind: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False, strict=True)] = Field(
        alias="wind(%)", description="Wind availability in percent of each wind park's pmax."
    )


class PowerPlant(BaseModel):
    """One plant of the fleet. Pmin/Pmax are in MW; a thermal plant is off or within them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=200)]
    type: PlantType
    efficiency: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False, strict=True)]
    pmin: Megawatts
    pmax: Megawatts

    @model_validator(mode="after")
    def _pmin_not_above_pmax(self) -> PowerPlant:
        if self.pmin > self.pmax:
            raise ValueError(
                f"powerplant {self.name!r}: pmin ({as_sent(self.pmin)} MW) is greater than pmax ({as_sent(self.pmax)} MW)"
            )
        return self


class ProductionPlanRequest(BaseModel):
    """The whole payload of `POST /productionplan`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    load: Megawatts = Field(description="MW to produce during the hour; a multiple of 0.1 MW.")
    fuels: Fuels
    powerplants: list[PowerPlant]  # empty is valid: load 0 is met by producing nothing (issue 13)

    @field_validator("load")
    @classmethod
    def _load_on_grid(cls, load: float) -> float:
        return check_load_on_grid(load)

    @model_validator(mode="after")
    def _unique_names(self) -> ProductionPlanRequest:
        seen: set[str] = set()
        for plant in self.powerplants:
            if plant.name in seen:
                raise ValueError(f"powerplant name {plant.name!r} appears more than once; names must be unique")
            seen.add(plant.name)
        return self

    @property
    def load_tenths(self) -> int:
        """The load in whole tenths of a MW (exact, since the validator checked the grid)."""
        return round(self.load * 10)
