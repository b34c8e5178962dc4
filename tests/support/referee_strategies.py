"""Hypothesis strategies for the referee tests: fleets built to hit the traps of the rules.

A uniform random fleet almost never exercises what breaks merit-order answers, so the
draws are biased towards the traps: wind parks whose output overshoots the load (a park
must be switched off), loads inside a gap that Pmin leaves, identical plants (ties),
Pmin/Pmax off the 0.1 grid (10.05), Pmin == Pmax, plants that cannot run at all (Pmin and
Pmax inside the same 0.1 step), zero prices, odd wind percentages, loads at and above
capacity, and now and then curtailable wind or a priced kerosine CO2.

Every MW figure has at most two decimals and every percentage one, so no value lands
within float noise of a grid boundary: the referee and the calculator must agree on the
rounding, not on how they forgive noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from referee import ref_plants

EFFICIENCIES = [0.3, 0.35, 0.37, 0.4, 0.45, 0.5, 0.53, 0.6, 1.0]
WIND_PERCENTS = [0.0, 100.0, 60.0, 50.0, 33.3, 12.5, 7.7, 99.9, 0.1, 25.0, 80.0]


@dataclass(frozen=True)
class Case:
    """One referee case: a raw payload plus the options the calculator is called with."""

    payload: dict[str, Any]
    gas_co2: float = 0.3
    kerosine_co2: float = 0.0
    wind_curtailment: bool = False

    def options(self) -> dict[str, Any]:
        return {"gas_co2": self.gas_co2, "kerosine_co2": self.kerosine_co2, "wind_curtailment": self.wind_curtailment}


def _price(max_value: float) -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([0.0, 13.4, 20.0, 50.8, 6.5, 1.0]),
        st.integers(0, int(max_value * 100)).map(lambda c: c / 100),
    )


@st.composite
def pmin_pmax(draw: st.DrawFn, scale: int) -> tuple[float, float]:
    """A (pmin, pmax) pair in MW, from one of the shapes that matter."""
    shape = draw(st.sampled_from(["round", "round", "offgrid", "offgrid", "equal", "dead", "nopmin", "tiny"]))
    if shape == "round":
        pmax = draw(st.integers(1, scale))
        return float(draw(st.integers(0, pmax))), float(pmax)
    if shape == "offgrid":  # 10.05 and friends: pmin rounds up, pmax down
        pmax_c = draw(st.integers(1, scale * 100))
        pmin_c = draw(st.integers(0, pmax_c))
        return pmin_c / 100, pmax_c / 100
    if shape == "equal":
        v = draw(st.one_of(st.integers(1, scale).map(float), st.integers(1, scale * 100).map(lambda c: c / 100)))
        return v, v
    if shape == "dead":  # both inside one 0.1 MW step: cannot run on the grid
        base = draw(st.integers(0, scale * 10))
        a = draw(st.integers(1, 9))
        b = draw(st.integers(a, 9))
        return (base * 10 + a) / 100, (base * 10 + b) / 100
    if shape == "tiny":
        pmax_t = draw(st.integers(1, 30))
        return draw(st.integers(0, pmax_t)) / 10, pmax_t / 10
    return 0.0, float(draw(st.integers(1, scale)))


@st.composite
def plant(draw: st.DrawFn, scale: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["gasfired"] * 5 + ["turbojet"] * 2 + ["windturbine"] * 3))
    if kind == "windturbine":
        pmax = draw(st.one_of(st.integers(1, scale).map(float), st.integers(1, scale * 100).map(lambda c: c / 100)))
        return {"type": kind, "efficiency": 1.0, "pmin": 0.0, "pmax": pmax}
    pmin, pmax = draw(pmin_pmax(scale))
    efficiency = draw(st.one_of(st.sampled_from(EFFICIENCIES), st.integers(10, 100).map(lambda c: c / 100)))
    return {"type": kind, "efficiency": efficiency, "pmin": pmin, "pmax": pmax}


@st.composite
def fleets(draw: st.DrawFn, min_plants: int = 1, max_plants: int = 40) -> list[dict[str, Any]]:
    """Plants with unique names; some are exact copies of others (ties in the merit order)."""
    scale = draw(st.sampled_from([5, 30, 100, 500]))
    n = draw(st.integers(min_plants, max_plants))
    copies = draw(st.integers(0, max(0, min(n - 1, n // 3))))
    base = draw(st.lists(plant(scale), min_size=n - copies, max_size=n - copies))
    plants = list(base)
    for _ in range(copies):
        plants.insert(draw(st.integers(0, len(plants))), dict(draw(st.sampled_from(base))))
    return [{"name": f"{p['type']}{i}", **p} for i, p in enumerate(plants)]


@st.composite
def fuels(draw: st.DrawFn) -> dict[str, float]:
    return {
        "gas(euro/MWh)": draw(_price(60)),
        "kerosine(euro/MWh)": draw(_price(120)),
        "co2(euro/ton)": draw(_price(80)),
        "wind(%)": draw(st.one_of(st.sampled_from(WIND_PERCENTS), st.integers(0, 1000).map(lambda c: c / 10))),
    }


@st.composite
def trap_load(draw: st.DrawFn, powerplants: list[dict[str, Any]], fuel: dict[str, float], curtail: bool) -> int:
    """A load in tenths, aimed at a trap of this fleet more often than not."""
    units = ref_plants(
        {"load": 0, "fuels": fuel, "powerplants": powerplants}, wind_curtailment=curtail
    )
    capacity = sum(u.hi for u in units)
    wind = [u.hi for u in units if u.kind == "windturbine" and u.hi > 0]
    mins = [u.lo for u in units if u.lo > 0 and u.kind != "windturbine"]
    mode = draw(st.sampled_from(["uniform", "uniform", "wind", "gap", "gap", "edge", "low"]))
    if mode == "wind" and wind:  # near what some wind parks give: one must go off, or the gap lies there
        subset = draw(st.lists(st.sampled_from(wind), min_size=1, max_size=len(wind)))
        return max(0, sum(subset) + draw(st.integers(-30, 30)))
    if mode == "gap" and mins:  # just below a Pmin, or just below Pmin plus what wind/others give
        return max(0, draw(st.sampled_from(mins)) + draw(st.sampled_from([0] + wind)) - draw(st.integers(0, 20)))
    if mode == "edge":
        return max(0, capacity + draw(st.integers(-3, 3)))
    if mode == "low":
        return draw(st.integers(0, 20))
    return draw(st.integers(0, capacity + max(1, capacity // 20)))


@st.composite
def cases(draw: st.DrawFn, min_plants: int = 1, max_plants: int = 40, curtail_rate: int = 10) -> Case:
    powerplants = draw(fleets(min_plants, max_plants))
    fuel = draw(fuels())
    curtail = draw(st.integers(0, curtail_rate - 1)) == 0 if curtail_rate else False
    gas_co2 = draw(st.sampled_from([0.3, 0.3, 0.3, 0.3, 0.25]))
    kerosine_co2 = draw(st.sampled_from([0.0, 0.0, 0.0, 0.0, 0.5]))
    load = draw(trap_load(powerplants, fuel, curtail))
    payload = {"load": load / 10, "fuels": fuel, "powerplants": powerplants}
    return Case(payload, gas_co2, kerosine_co2, curtail)
