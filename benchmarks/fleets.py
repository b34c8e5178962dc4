"""Realistic generated fleets for `make bench`: seeded, so every run times the same instances.

What "realistic" means here: mostly gas units (efficiency 0.35-0.6, 50-500 MW, Pmin 20-50 %
of Pmax, half of them with one decimal), a few turbojets (0-50 MW, efficiency 0.25-0.35),
20-30 % wind parks (all-or-nothing at one wind percentage for the hour), and some identical
units (a power station often has several copies of the same block, which makes ties).
Fuel prices move around their 2020s ranges. Loads are spread over the fleet's capacity,
capped at 20,000 MW (the issue's largest case), and kept only when feasible.
"""

from __future__ import annotations

import random
from typing import Any

MAX_LOAD_MW = 20_000.0


def fuels(rng: random.Random) -> dict[str, float]:
    return {
        "gas(euro/MWh)": round(rng.uniform(8, 60), 2),
        "kerosine(euro/MWh)": round(rng.uniform(30, 120), 2),
        "co2(euro/ton)": round(rng.uniform(5, 90), 2),
        "wind(%)": round(rng.uniform(0, 100), 1),
    }


def plant(rng: random.Random, index: int, kind: str) -> dict[str, Any]:
    if kind == "windturbine":
        return {"name": f"wind{index}", "type": kind, "efficiency": 1, "pmin": 0, "pmax": float(rng.randint(10, 400))}
    if kind == "turbojet":
        return {
            "name": f"tj{index}",
            "type": kind,
            "efficiency": round(rng.uniform(0.25, 0.35), 3),
            "pmin": 0,
            "pmax": float(rng.randint(5, 50)),
        }
    pmax = rng.randint(50, 500) if rng.random() < 0.5 else round(rng.uniform(50, 500), 1)
    return {
        "name": f"gas{index}",
        "type": kind,
        "efficiency": round(rng.uniform(0.35, 0.6), 3),
        "pmin": round(pmax * rng.uniform(0.2, 0.5), 1),
        "pmax": float(pmax),
    }


def fleet(rng: random.Random, size: int) -> list[dict[str, Any]]:
    """`size` plants: 20-30 % wind, ~4 % turbojets, the rest gas with ~15 % identical copies."""
    n_wind = round(size * rng.uniform(0.2, 0.3))
    n_jet = max(1, round(size * 0.04))
    plants: list[dict[str, Any]] = []
    for i in range(size):
        if i < n_wind:
            plants.append(plant(rng, i, "windturbine"))
        elif i < n_wind + n_jet:
            plants.append(plant(rng, i, "turbojet"))
        elif i > n_wind + n_jet + 2 and rng.random() < 0.15:
            twin = dict(rng.choice([p for p in plants if p["type"] == "gasfired"]))
            plants.append({**twin, "name": f"{twin['name']}_twin{i}"})
        else:
            plants.append(plant(rng, i, "gasfired"))
    rng.shuffle(plants)
    return plants


def capacity_mw(payload: dict[str, Any]) -> float:
    wind = payload["fuels"]["wind(%)"] / 100
    return sum(p["pmax"] * (wind if p["type"] == "windturbine" else 1) for p in payload["powerplants"])


def payloads(size: int, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` payloads of `size` plants with a load drawn over [5 %, 95 %] of min(capacity, 20,000 MW).

    The load's feasibility is left to the caller (it needs a referee); see `benchmarks/run.py`.
    """
    rng = random.Random(seed * 1_000_003 + size)
    out = []
    for _ in range(count):
        body: dict[str, Any] = {"load": 0.0, "fuels": fuels(rng), "powerplants": fleet(rng, size)}
        top = min(capacity_mw(body), MAX_LOAD_MW)
        body["load"] = round(rng.uniform(0.05, 0.95) * top, 1)
        out.append(body)
    return out
