"""Realistic generated fleets for `make bench`: seeded, so every run times the same instances.

What "realistic" means here: mostly gas units (efficiency 0.35-0.6, 50-500 MW, Pmin 20-50 %
of Pmax, half of them with one decimal), a few turbojets (0-50 MW, efficiency 0.25-0.35),
20-30 % wind parks (all-or-nothing at one wind percentage for the hour), and some identical
units (a power station often has several copies of the same block, which makes ties).
Fuel prices move around their 2020s ranges. Loads are spread over the fleet's capacity,
capped at 20,000 MW (the issue's largest case), and kept only when feasible.

The tie-heavy family (`tie_heavy_payloads`) is the opposite: fleets made of a few groups of
identical units, loads up to 50,000 MW, where every split inside a group ties.
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


MAX_TIE_LOAD_MW = 50_000.0
MAX_PLANTS = 500


def tie_heavy_fleet(rng: random.Random) -> list[dict[str, Any]]:
    """1-8 groups of 10-500 identical units (at most 500 plants in all, the request limit).

    Each group is one model repeated: mostly gas blocks (Pmin 0-60 % of Pmax), some
    turbojets, some all-or-nothing wind farms; unit sizes are drawn so that the fleet's
    capacity spans up to about 50 GW. Two groups share an efficiency now and then, so that
    their costs tie too. The groups are listed one after another or interleaved.
    """
    groups = rng.randint(1, 8)
    sizes = [rng.randint(10, 500) for _ in range(groups)]
    while sum(sizes) > MAX_PLANTS:
        sizes = [max(10, s // 2) for s in sizes]
        sizes = sizes[: max(1, MAX_PLANTS // 10)]
    efficiencies = [round(rng.uniform(0.35, 0.6), 3) for _ in range(max(1, groups - 1))]
    plants: list[dict[str, Any]] = []
    for g, count in enumerate(sizes):
        kind = rng.choices(["gasfired", "turbojet", "windturbine"], [6, 1, 2])[0]
        pmax = round(rng.uniform(1, 1.6 * MAX_TIE_LOAD_MW / sum(sizes)), rng.choice([0, 1]))
        pmax = max(pmax, 0.5)
        if kind == "windturbine":
            model = {"type": kind, "efficiency": 1, "pmin": 0, "pmax": pmax}
        else:
            pmin = round(pmax * rng.choice([0.0, rng.uniform(0.2, 0.6), 1.0]), 1)
            efficiency = rng.choice(efficiencies) if kind == "gasfired" else round(rng.uniform(0.25, 0.35), 3)
            model = {"type": kind, "efficiency": efficiency, "pmin": min(pmin, pmax), "pmax": pmax}
        plants.extend({"name": f"g{g}_{i}", **model} for i in range(count))
    if rng.random() < 0.3:
        rng.shuffle(plants)
    return plants


def tie_heavy_payloads(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` tie-heavy payloads with loads across the whole range, up to 50,000 MW.

    Every fourth is the issue's own case (20-300 units of 180-420 MW at k * 420 + 0.1 MW,
    refused or slow before groups). Of the others, half the loads are uniform over
    [0, min(capacity, 50 GW)], half sit 0.1 MW past a
    multiple of a unit's Pmax (the issue's 4,200.1 MW for 20 units of 420 MW): a full unit
    less leaves a remainder below every Pmin, so the merit-order fill breaks a rule.
    """
    rng = random.Random(seed * 7_919 + 11)
    out = []
    for n in range(count):
        body: dict[str, Any] = {"load": 0.0, "fuels": fuels(rng), "powerplants": tie_heavy_fleet(rng)}
        if n % 4 == 3:  # the issue's own shape: one series of 180-420 MW CCGT blocks, k blocks + 0.1 MW
            units = rng.randint(20, 300)
            model = {"type": "gasfired", "efficiency": 0.55, "pmin": 180, "pmax": 420}
            body["powerplants"] = [{"name": f"ccgt{i}", **model} for i in range(units)]
            body["load"] = round(min(MAX_TIE_LOAD_MW - 0.1, 420 * rng.randint(1, units - 1)) + 0.1, 1)
            out.append(body)
            continue
        top = min(capacity_mw(body), MAX_TIE_LOAD_MW)
        if rng.random() < 0.5:
            load = rng.uniform(0, top)
        else:
            unit = rng.choice(body["powerplants"])["pmax"]
            load = min(top, unit * rng.randint(1, max(1, int(top // unit)))) + 0.1
        body["load"] = round(min(load, MAX_TIE_LOAD_MW), 1)
        out.append(body)
    return out
