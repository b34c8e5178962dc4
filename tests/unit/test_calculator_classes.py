"""Units of exactly equal cost but different Pmin/Pmax solved as one class (issue 11), against the referees.

Fleets here are built from equal-cost classes: a few plants of one type and efficiency,
each with its own Pmin and Pmax (now and then an identical copy, a plant without Pmin, an
all-or-nothing one), wind parks of several sizes (all wind costs 0: one class), mixed with
loose plants of other costs, listed in order or shuffled (classes interleaved in the request).

- the reachable-totals arithmetic of calculator/classes.py against an enumeration of subsets;
- tiny fleets against the brute force of tests/support/referee.py, the group routes forced: the exact plan;
- 9-24 plants against the lexicographic MILP chain, on the automatic route;
- the class route against the unit-by-unit route on larger fleets;
- the work bound that makes the limits provable: cells <= (live units + 1) * (load + 1).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

import pytest
from common import profile_examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plans import checked_plan
from referee import brute_force_plan, milp_lexicographic_plan, ref_plants
from referee_strategies import Case

from merit_order.calculator import CostModel, ProductionPlanRequest, build_units, prepare
from merit_order.calculator.classes import class_share, suffix_sets

_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
}


@st.composite
def ranged(draw: st.DrawFn, scale: int) -> tuple[float, float]:
    """(pmin, pmax) in MW from tenths of `scale`: a real range, no Pmin, all-or-nothing, or off the grid."""
    pmax = draw(st.integers(1, scale))
    pmin = draw(st.sampled_from([0, pmax, draw(st.integers(0, pmax)), draw(st.integers(0, pmax))]))
    offgrid = draw(st.sampled_from([0, 0, 0, 5]))
    return (pmin * 10 + (offgrid if pmin else 0)) / 100, (pmax * 10 + offgrid) / 100


@st.composite
def class_cases(draw: st.DrawFn, max_units: int, scale: int, max_load: int | None = None) -> Case:
    """1-3 equal-cost classes of differing plants, wind parks of several sizes, loose plants."""
    plants: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["gasfired", "gasfired", "turbojet", "windturbine"]))
        efficiency = draw(st.sampled_from([0.25, 0.4, 0.5, 0.5, 1.0]))
        members = []
        for _ in range(draw(st.integers(2, max(2, max_units // 2)))):
            pmin, pmax = draw(ranged(scale))
            if kind == "windturbine":
                members.append({"type": kind, "efficiency": 1.0, "pmin": 0.0, "pmax": pmax})
            else:
                members.append({"type": kind, "efficiency": efficiency, "pmin": pmin, "pmax": pmax})
            if draw(st.integers(0, 4)) == 0:  # an identical copy inside the class
                members.append(dict(members[-1]))
        plants.extend(members)
        if draw(st.integers(0, 3)) == 0:  # a loose plant of another cost
            pmin, pmax = draw(ranged(scale))
            plants.append({"type": "gasfired", "efficiency": draw(st.sampled_from([0.3, 0.45, 0.6])), "pmin": pmin, "pmax": pmax})
    plants = plants[:max_units]
    if draw(st.booleans()):
        plants = draw(st.permutations(plants))
    fuels = {
        "gas(euro/MWh)": draw(st.sampled_from([0.0, 5.0, 13.4, 20.0])),
        "kerosine(euro/MWh)": draw(st.sampled_from([0.0, 10.0, 50.8])),
        "co2(euro/ton)": draw(st.sampled_from([0.0, 20.0])),
        "wind(%)": draw(st.sampled_from([0.0, 50.0, 100.0, 60.0])),
    }
    payload: dict[str, Any] = {"load": 0.0, "fuels": fuels, "powerplants": [{"name": f"p{i}", **p} for i, p in enumerate(plants)]}
    capacity = sum(p.hi for p in ref_plants(payload))
    top = capacity + 2 if max_load is None else min(max_load, capacity + 2)
    payload["load"] = draw(st.integers(0, top)) / 10
    return Case(payload)


def _has_class(case: Case, method: str) -> bool:
    """True when the route's table has a column for at least one class of differing equal-cost units."""
    request = ProductionPlanRequest.model_validate(case.payload)
    units = build_units(request, CostModel())
    load = request.load_tenths
    if load == 0 or load > sum(u.hi for u in units):
        return False
    return prepare(units, load, method=method).classes > 0


# --------------------------------------------------------------------------------------
# the arithmetic of classes.py, against an enumeration of subsets


@settings(max_examples=profile_examples(400), **_SETTINGS)
@given(
    ranges=st.lists(st.integers(0, 12).flatmap(lambda lo: st.tuples(st.just(lo), st.integers(max(lo, 1), 15))), min_size=1, max_size=6),
    top=st.integers(0, 80),
)
def test_suffix_sets_are_exactly_the_totals_each_suffix_can_produce(ranges: list[tuple[int, int]], top: int) -> None:
    sets = suffix_sets(ranges, top)
    if sets is None:  # over MAX_INTERVALS: cannot happen with six units this small
        pytest.fail("six small units never give more than 32 intervals")
    for i in range(len(ranges) + 1):
        expected = set()
        for choice in itertools.product(*[[0, *range(lo, hi + 1)] for lo, hi in ranges[i:]]):
            if sum(choice) <= top:
                expected.add(sum(choice))
        got = {v for lo, hi in sets[i] for v in range(lo, hi + 1)}
        assert got == expected, (i, ranges, top, sets[i])


@settings(max_examples=profile_examples(300), **_SETTINGS)
@given(
    ranges=st.lists(st.integers(0, 6).flatmap(lambda lo: st.tuples(st.just(lo), st.integers(max(lo, 1), 8))), min_size=1, max_size=5),
    wanted=st.sets(st.integers(0, 40), min_size=1),
)
def test_the_share_out_is_the_greatest_split_onto_an_admissible_total(ranges: list[tuple[int, int]], wanted: set[int]) -> None:
    sets = suffix_sets(ranges, 40)
    assert sets is not None
    splits = [c for c in itertools.product(*[[0, *range(lo, hi + 1)] for lo, hi in ranges]) if sum(c) in wanted]
    if not splits:
        return
    admissible = [(t, t) for t in sorted(wanted)]
    assert tuple(class_share(ranges, sets, admissible)) == max(splits)


# --------------------------------------------------------------------------------------
# whole plans against the referees


@pytest.mark.slow
@pytest.mark.parametrize("method", ["classes", "classes-unbounded"])
def test_class_routes_match_the_brute_force(method: str, capsys: pytest.CaptureFixture[str]) -> None:
    tally: Counter[str] = Counter()

    @settings(max_examples=550, **_SETTINGS)
    @given(case=class_cases(max_units=7, scale=6, max_load=40))
    def judge(case: Case) -> None:
        try:
            expected = brute_force_plan(case.payload)
        except ValueError:  # too many plans to enumerate: not this referee's case
            tally["skipped"] += 1
            return
        got = checked_plan(case, method)
        if expected is None:
            assert got is None, f"we found {got}, the brute force no plan: {json.dumps(case.payload)}"
            tally["infeasible"] += 1
            return
        assert got == expected[1], f"plan {got} != brute force {expected[1]}: {json.dumps(case.payload)}"
        tally["class" if _has_class(case, method) else "feasible"] += 1

    judge()
    with capsys.disabled():
        print(f"\n[referee] equal-cost classes, tiny fleets, route {method}, vs brute force: {dict(tally)}")
    assert tally["class"] >= 300 and tally["infeasible"] > 0 and tally["skipped"] < 50


@pytest.mark.slow
def test_class_fleets_match_the_lexicographic_milp(capsys: pytest.CaptureFixture[str]) -> None:
    """9-24 plants, every class taken (method="classes"): the classes and the tie walk through them."""
    tally: Counter[str] = Counter()

    @settings(max_examples=250, **_SETTINGS)
    @given(case=class_cases(max_units=24, scale=400).filter(lambda c: len(c.payload["powerplants"]) >= 9))
    def judge(case: Case) -> None:
        expected = milp_lexicographic_plan(case.payload)
        got = checked_plan(case, "classes")
        assert got == expected, f"plan {got} != lexicographic MILP {expected}: {json.dumps(case.payload)}"
        tally["infeasible" if expected is None else "class" if _has_class(case, "classes") else "feasible"] += 1

    judge()
    with capsys.disabled():
        print(f"\n[referee] equal-cost classes, 9-24 plants, vs lexicographic MILP: {sum(tally.values())} cases ({dict(tally)})")
    assert tally["class"] >= 120


@settings(max_examples=profile_examples(250), **_SETTINGS)
@given(case=class_cases(max_units=60, scale=3000))
def test_classes_and_the_unit_by_unit_program_give_the_same_plan(case: Case) -> None:
    """The unit-by-unit program (proven by the referee suites), every class, and the classes
    that pay (the automatic choice) agree, ties included."""
    expected = checked_plan(case, "exact-dp")
    assert checked_plan(case, "classes") == expected, json.dumps(case.payload)
    assert checked_plan(case, "groups") == expected, json.dumps(case.payload)


# --------------------------------------------------------------------------------------
# the work bound


@settings(max_examples=profile_examples(300), **_SETTINGS)
@given(case=class_cases(max_units=60, scale=3000), method=st.sampled_from(["groups", "exact-dp", "classes", "classes-unbounded"]))
def test_no_table_has_more_cells_than_live_units_plus_one_times_load_plus_one(case: Case, method: str) -> None:
    """The bound that turns the request limits into a proof that the work limit is never reached."""
    request = ProductionPlanRequest.model_validate(case.payload)
    units = build_units(request, CostModel())
    load = request.load_tenths
    if load == 0 or load > sum(u.hi for u in units):
        return
    live = sum(1 for u in units if u.hi > 0)
    assert prepare(units, load, method=method).cells <= (live + 1) * (load + 1)
