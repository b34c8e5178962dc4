"""Independent referees for the calculator: a MILP, a rule checker and a brute force.

Why a separate module, and why it imports nothing from `merit_order`: a referee that
shares the fleet or cost code with the calculator would agree with it on that code's
bugs. Everything here is recomputed from the raw challenge payload (the dict with the
keys in parentheses), straight from the rules of DESIGN.md §1:

- power in whole tenths of a MW; Pmin rounded *up* to the 0.1 grid, Pmax rounded *down*,
  a wind park's available power `pmax * wind% / 100` rounded *down*; a thermal plant whose
  rounded Pmin exceeds its rounded Pmax cannot run at all;
- cost per MWh: gas `gas / eff + gas_co2 * co2`, turbojet `kerosine / eff + kerosine_co2 * co2`,
  wind 0; merit order = (cost per MWh, position in the request);
- ties: costs within 1e-9 relative (of max(1, |cost|)) are equal; among them the plan that gives
  the most to the first plant in merit order, then the second, and so on.

Used by the referee tests (tests/test_referee_*.py) and by `make bench` (benchmarks/run.py),
which is why it lives in tests/ as a plain module rather than in the package.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

#: Float noise forgiven when putting a MW figure on the 0.1 grid, in tenths of a MW: a
#: Pmax of 9.99999999999 MW (or 36 * 60 / 100 = 21.599999...) is 100 (216) tenths, not 99 (215).
GRID_NOISE = 1e-6
#: Relative cost tolerance of the tie rule (DESIGN.md).
TIE_RTOL = 1e-9

_GAS = "gasfired"
_TURBOJET = "turbojet"
_WIND = "windturbine"


@dataclass(frozen=True)
class RefPlant:
    """One plant, as the referee reads the payload: tenths of a MW and euro per MWh."""

    index: int
    name: str
    kind: str
    cost: float  # euro per MWh
    lo: int  # least output when on, tenths (== hi for all-or-nothing wind)
    hi: int  # most output, tenths (0: cannot run)
    continuous_from_zero: bool  # True when any value in [0, hi] is allowed (no Pmin, curtailed wind)


def _down(mw: float) -> int:
    """MW -> tenths, rounded down, forgiving float noise."""
    tenths = mw * 10.0
    nearest = round(tenths)
    return int(nearest) if abs(tenths - nearest) <= GRID_NOISE else math.floor(tenths)


def _up(mw: float) -> int:
    """MW -> tenths, rounded up, forgiving float noise."""
    tenths = mw * 10.0
    nearest = round(tenths)
    return int(nearest) if abs(tenths - nearest) <= GRID_NOISE else math.ceil(tenths)


def load_tenths(payload: Mapping[str, Any]) -> int:
    """The payload's load in tenths (the tests only generate loads on the grid)."""
    tenths = float(payload["load"]) * 10.0
    nearest = round(tenths)
    if abs(tenths - nearest) > GRID_NOISE:
        raise ValueError(f"load {payload['load']!r} is not on the 0.1 MW grid")
    return int(nearest)


def cost_per_mwh(plant: Mapping[str, Any], fuels: Mapping[str, Any], *, gas_co2: float, kerosine_co2: float) -> float:
    """Euro per MWh produced, written from the rule, in the rule's own order of operations."""
    kind = plant["type"]
    if kind == _WIND:
        return 0.0
    if kind == _GAS:
        return fuels["gas(euro/MWh)"] / plant["efficiency"] + gas_co2 * fuels["co2(euro/ton)"]
    if kind == _TURBOJET:
        return fuels["kerosine(euro/MWh)"] / plant["efficiency"] + kerosine_co2 * fuels["co2(euro/ton)"]
    raise ValueError(f"unknown plant type {kind!r}")


def ref_plants(
    payload: Mapping[str, Any], *, gas_co2: float = 0.3, kerosine_co2: float = 0.0, wind_curtailment: bool = False
) -> list[RefPlant]:
    """The payload's plants in merit order (cost, then position in the request)."""
    fuels = payload["fuels"]
    plants: list[RefPlant] = []
    for index, raw in enumerate(payload["powerplants"]):
        cost = cost_per_mwh(raw, fuels, gas_co2=gas_co2, kerosine_co2=kerosine_co2)
        if raw["type"] == _WIND:
            available = _down(raw["pmax"] * fuels["wind(%)"] / 100.0)
            lo, hi, free = available, available, wind_curtailment
        else:
            lo, hi = _up(raw["pmin"]), _down(raw["pmax"])
            if lo > hi:
                lo = hi = 0
            free = lo == 0
        if free:
            lo = 0
        plants.append(RefPlant(index, raw["name"], raw["type"], cost, lo, hi, free))
    plants.sort(key=lambda p: (p.cost, p.index))
    return plants


def plan_cost(plants: Sequence[RefPlant], p_tenths: Mapping[str, int]) -> float:
    """Euro for the hour of a plan given in tenths, from the referee's own costs."""
    return math.fsum(p.cost * p_tenths[p.name] / 10.0 for p in plants)


def costs_tie(a: float, b: float) -> bool:
    """True when two plan costs count as equal under the tie rule."""
    return abs(a - b) <= TIE_RTOL * max(1.0, abs(a), abs(b))


# --------------------------------------------------------------------------- MILP referee


class RefereeInconclusive(RuntimeError):
    """HiGHS stopped without proving optimality or infeasibility (time limit, numerical trouble)."""


def milp_plan(
    payload: Mapping[str, Any],
    *,
    gas_co2: float = 0.3,
    kerosine_co2: float = 0.0,
    wind_curtailment: bool = False,
    load_override_tenths: int | None = None,
    formulation: str = "binary",
    time_limit: float = 60.0,
    presolve: bool = False,
) -> tuple[float, dict[str, int]] | None:
    """The cheapest plan by scipy's MILP (HiGHS), or None when no plan meets the load.

    Variables are whole tenths of a MW. The default `formulation="binary"` gives each plant
    an on/off binary z with lo*z <= x <= hi*z. `formulation="semi"` uses HiGHS's semi-integer
    variables (integrality 3: 0 or an integer in [lo, hi]), the Pmin rule verbatim, but
    HiGHS (scipy 1.17) was caught returning a suboptimal plan as "optimal" with them (a
    15-plant case: 6844.22 instead of 6825.77), so it is kept only for cross-checking. The gaps are set to 0 so
    that HiGHS proves optimality rather than stopping within its default 0.01%.

    The returned cost is recomputed from the integer plan with the referee's formula,
    not read from HiGHS's objective. `load_override_tenths` solves the same fleet for
    another load (used to check the nearest feasible loads of an infeasible request).
    """
    plants = ref_plants(payload, gas_co2=gas_co2, kerosine_co2=kerosine_co2, wind_curtailment=wind_curtailment)
    load = load_tenths(payload) if load_override_tenths is None else load_override_tenths
    if load == 0:
        return 0.0, {p.name: 0 for p in plants}
    if load > sum(p.hi for p in plants):
        return None
    n = len(plants)
    cost = np.array([p.cost / 10.0 for p in plants])
    lo = np.array([p.lo for p in plants], dtype=float)
    hi = np.array([p.hi for p in plants], dtype=float)
    # An all-or-nothing unit (wind, or Pmin == Pmax) is a binary times its output: HiGHS 1.x
    # fails ("Solve error") on semi-integer variables whose bounds are equal.
    step = np.array([p.hi if (p.lo == p.hi and p.hi > 0) else 1 for p in plants], dtype=float)
    if formulation == "semi":
        integrality = np.array([1 if (p.continuous_from_zero or p.hi == 0 or p.lo == p.hi) else 3 for p in plants])
        c = cost * step
        bounds = Bounds(np.where(integrality == 3, lo, 0.0), hi / step)
        constraints = [LinearConstraint(step.reshape(1, n), [load], [load])]
    elif formulation == "binary":
        # x_0..x_{n-1} integer tenths, z_0..z_{n-1} binaries: lo*z <= x <= hi*z.
        c = np.concatenate([cost, np.zeros(n)])
        integrality = np.ones(2 * n, dtype=int)
        bounds = Bounds(np.zeros(2 * n), np.concatenate([hi, np.ones(n)]))
        eye = np.eye(n)
        constraints = [
            LinearConstraint(np.concatenate([np.ones((1, n)), np.zeros((1, n))], axis=1), [load], [load]),
            LinearConstraint(np.concatenate([eye, -np.diag(hi)], axis=1), -np.inf, 0.0),  # x <= hi*z
            LinearConstraint(np.concatenate([eye, -np.diag(lo)], axis=1), 0.0, np.inf),  # x >= lo*z
        ]
    else:
        raise ValueError(f"unknown formulation {formulation!r}")
    result = _highs(c, integrality, bounds, constraints, time_limit, presolve)
    if result.status == 2:  # infeasible
        return None
    if result.status != 0 or result.x is None:
        raise RefereeInconclusive(f"HiGHS: status {result.status}: {result.message}")
    x = result.x[:n] * (step if formulation == "semi" else 1.0)
    p_tenths = {p.name: int(round(v)) for p, v in zip(plants, x, strict=True)}  # noqa: RUF046 - round() of a numpy float is a numpy float
    for p, v in zip(plants, x, strict=True):
        if abs(v - round(v)) > 1e-4:
            raise RefereeInconclusive(f"HiGHS returned a fractional value {v!r} for {p.name!r}")
    if sum(p_tenths.values()) != load:
        raise RefereeInconclusive(f"HiGHS's rounded plan sums to {sum(p_tenths.values())}, not {load}")
    problems = _grid_violations(plants, p_tenths)
    if problems:
        raise RefereeInconclusive(f"HiGHS's rounded plan breaks the rules: {problems}")
    return plan_cost(plants, p_tenths), p_tenths


def milp_lexicographic_plan(
    payload: Mapping[str, Any],
    *,
    gas_co2: float = 0.3,
    kerosine_co2: float = 0.0,
    wind_curtailment: bool = False,
    time_limit: float = 60.0,
) -> list[tuple[str, int]] | None:
    """The tie rule's plan by a sequence of MILPs, for fleets too big for the brute force.

    First the optimum cost C; then, plant by plant in merit order, the most that plant can
    produce among plans costing at most C (+ the tie tolerance) with the plants before it
    fixed at what they were given. Returns [(name, tenths)] in merit order, None if infeasible.
    """
    options = {"gas_co2": gas_co2, "kerosine_co2": kerosine_co2, "wind_curtailment": wind_curtailment}
    optimum = milp_plan(payload, time_limit=time_limit, **options)
    if optimum is None:
        return None
    best = optimum[0]
    plants = ref_plants(payload, **options)
    load = load_tenths(payload)
    n = len(plants)
    lo = np.array([p.lo for p in plants], dtype=float)
    hi = np.array([p.hi for p in plants], dtype=float)
    ceiling = best + TIE_RTOL * max(1.0, abs(best))
    eye, zeros = np.eye(n), np.zeros((1, n))
    # x_0..x_{n-1} integer tenths, z_0..z_{n-1} binaries, as in milp_plan's binary formulation.
    constraints = [
        LinearConstraint(np.concatenate([np.ones((1, n)), zeros], axis=1), [load], [load]),
        LinearConstraint(np.concatenate([eye, -np.diag(hi)], axis=1), -np.inf, 0.0),
        LinearConstraint(np.concatenate([eye, -np.diag(lo)], axis=1), 0.0, np.inf),
        LinearConstraint(np.concatenate([[[p.cost / 10.0 for p in plants]], zeros], axis=1), -np.inf, ceiling),
    ]
    integrality = np.ones(2 * n, dtype=int)
    fixed: list[int] = []  # tenths given to plants[0..k-1]
    for k in range(n):
        if sum(fixed) == load or plants[k].hi == 0:
            fixed.append(0)
            continue
        lb, ub = np.zeros(2 * n), np.concatenate([hi, np.ones(n)])
        for j, tenths in enumerate(fixed):
            lb[j] = ub[j] = tenths
        objective = np.zeros(2 * n)
        objective[k] = -1.0
        result = _highs(objective, integrality, Bounds(lb, ub), constraints, time_limit)
        if result.status != 0 or result.x is None:
            raise RefereeInconclusive(f"lexicographic step {k}: HiGHS status {result.status}: {result.message}")
        fixed.append(int(round(result.x[k])))  # noqa: RUF046 - round() of a numpy float is a numpy float
    plan = dict(zip([p.name for p in plants], fixed))
    if sum(fixed) != load or _grid_violations(plants, plan) or not costs_tie(plan_cost(plants, plan), best):
        raise RefereeInconclusive(f"lexicographic plan {plan} is not a tie of the optimum {best!r}")
    return [(p.name, v) for p, v in zip(plants, fixed)]


def _highs(
    c: np.ndarray,
    integrality: np.ndarray,
    bounds: Bounds,
    constraints: list[LinearConstraint],
    time_limit: float,
    presolve: bool = False,
) -> Any:
    """scipy's milp with zero optimality gaps and, unless asked, HiGHS's presolve off.

    With presolve on, HiGHS (scipy 1.17) was caught returning suboptimal plans as "optimal",
    with both formulations (e.g. a 12-plant case: 2,203,912 instead of 2,199,940 for the
    binary one), and ending some infeasible semi-integer models with "Solve error". Without
    presolve it agreed with the calculator and the brute force on every case seen. The bench
    turns presolve on (300-plant fleets run into the time limit without it) and only requires
    ours never to be the costlier, counting the cases where the referee was.
    """
    with warnings.catch_warnings():
        # mip_abs_gap is not in scipy's list of known options; scipy passes it to HiGHS verbatim.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = milp(
            c,
            integrality=integrality,
            bounds=bounds,
            constraints=constraints,
            options={"mip_rel_gap": 0.0, "mip_abs_gap": 0.0, "time_limit": time_limit, "presolve": presolve},
        )
    return result


def _grid_violations(plants: Sequence[RefPlant], p_tenths: Mapping[str, int]) -> list[str]:
    problems = []
    for p in plants:
        v = p_tenths[p.name]
        if v == 0:
            continue
        low = 0 if p.continuous_from_zero else p.lo
        if not low <= v <= p.hi:
            problems.append(f"{p.name}: {v} tenths outside {{0}} U [{low}, {p.hi}]")
    return problems


# --------------------------------------------------------------------------- rule checker


def check_plan_rules(
    payload: Mapping[str, Any],
    answer: Any,
    *,
    gas_co2: float = 0.3,
    kerosine_co2: float = 0.0,
    wind_curtailment: bool = False,
) -> list[str]:
    """Every way `answer` (the challenge's list of {"name", "p"}) breaks DESIGN.md §1; [] if none.

    Optimality is not checked here (that is the MILP's job); everything else is.
    """
    problems: list[str] = []
    if not isinstance(answer, list):
        return [f"answer is a {type(answer).__name__}, not a list"]
    plants = ref_plants(payload, gas_co2=gas_co2, kerosine_co2=kerosine_co2, wind_curtailment=wind_curtailment)
    by_name = {p.name: p for p in plants}
    names: list[str] = []
    p_tenths: dict[str, int] = {}
    for position, entry in enumerate(answer):
        if not isinstance(entry, dict) or set(entry) != {"name", "p"}:
            problems.append(f"entry {position}: {entry!r} is not exactly {{'name', 'p'}}")
            continue
        name, p = entry["name"], entry["p"]
        names.append(name)
        if name not in by_name:
            problems.append(f"entry {position}: unknown plant {name!r}")
            continue
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p):
            problems.append(f"{name}: p {p!r} is not a finite number")
            continue
        tenths = p * 10
        if abs(tenths - round(tenths)) > 1e-9:
            problems.append(f"{name}: p {p!r} is not a multiple of 0.1 MW")
            continue
        if round(tenths) / 10 != p:
            problems.append(f"{name}: p {p!r} is not the float nearest to a one-decimal value")
        p_tenths[name] = int(round(tenths))  # noqa: RUF046 - tenths may be a numpy float
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{name}: present {names.count(name)} times")
    for p in plants:
        if p.name not in names:
            problems.append(f"{p.name}: missing from the answer")
    expected_order = [p.name for p in plants]
    if not problems and names != expected_order:
        problems.append(f"not in merit order: got {names}, expected {expected_order}")
    for name, v in p_tenths.items():
        plant = by_name[name]
        if v < 0:
            problems.append(f"{name}: negative p {v / 10}")
        elif v == 0:
            continue
        elif plant.kind == _WIND and not wind_curtailment and v != plant.hi:
            problems.append(f"{name}: wind park at {v / 10} MW, neither 0 nor its available {plant.hi / 10} MW")
        elif v > plant.hi:
            problems.append(f"{name}: {v / 10} MW above its maximum {plant.hi / 10} MW")
        elif not plant.continuous_from_zero and v < plant.lo:
            problems.append(f"{name}: {v / 10} MW below its minimum {plant.lo / 10} MW")
    load = load_tenths(payload)
    if not problems and sum(p_tenths.values()) != load:
        problems.append(f"sum of p is {sum(p_tenths.values()) / 10} MW, load is {load / 10} MW")
    return problems


# --------------------------------------------------------------------------- brute force


def brute_force_plan(
    payload: Mapping[str, Any],
    *,
    gas_co2: float = 0.3,
    kerosine_co2: float = 0.0,
    wind_curtailment: bool = False,
    max_plans: int = 200_000,
) -> tuple[float, list[tuple[str, int]]] | None:
    """The exact answer of the rules for a tiny fleet, by enumerating every plan; None if infeasible.

    Returns (cost, [(name, p_tenths), ...] in merit order). Among the plans whose cost ties
    with the cheapest, the lexicographically greatest in merit order wins (most to the first
    plant, then the second, ...). Meant for <= 4 plants and loads of a few dozen tenths.
    """
    plants = ref_plants(payload, gas_co2=gas_co2, kerosine_co2=kerosine_co2, wind_curtailment=wind_curtailment)
    load = load_tenths(payload)
    options: list[list[int]] = []
    for p in plants:
        values = {0}
        if p.hi > 0:
            low = 0 if p.continuous_from_zero else p.lo
            values.update(v for v in range(low, p.hi + 1) if v <= load)
        options.append(sorted(values))
    size = math.prod(len(o) for o in options[:-1])
    if size > max_plans:
        raise ValueError(f"{size} plans to enumerate: too big for the brute force")
    # Every choice for all plants but the last; the last one must then make up the load.
    last = set(options[-1])
    feasible = []
    for head in itertools.product(*options[:-1]):
        rest = load - sum(head)
        if rest in last:
            feasible.append((*head, rest))
    if not feasible:
        return None
    costs = [math.fsum(p.cost * v / 10.0 for p, v in zip(plants, plan)) for plan in feasible]
    best = min(costs)
    tied = [plan for plan, cost in zip(feasible, costs) if cost <= best + TIE_RTOL * max(1.0, abs(best))]
    winner = max(tied)  # tuples compare lexicographically, in merit order
    return plan_cost(plants, dict(zip([p.name for p in plants], winner))), [
        (p.name, v) for p, v in zip(plants, winner)
    ]


def greedy_plan(payload: Mapping[str, Any], *, gas_co2: float = 0.3, kerosine_co2: float = 0.0) -> list[dict[str, Any]]:
    """The plain merit-order walk most answers to the challenge use (for `make bench` only).

    Cheapest first, each plant takes min(remainder, its maximum), skipped when the remainder
    is below its minimum (so an all-or-nothing wind park is skipped when it exceeds the
    remainder). It may leave load uncovered or cost more than the optimum: that is the point.
    """
    plants = ref_plants(payload, gas_co2=gas_co2, kerosine_co2=kerosine_co2)
    left = load_tenths(payload)
    answer = []
    for p in plants:
        take = 0
        if p.hi > 0 and left >= max(p.lo, 1):
            take = min(left, p.hi)
        left -= take
        answer.append({"name": p.name, "p": take / 10})
    return answer
