"""The schedule readers refuse bad input naming the field, the unit and the period.

Every test starts from a real, valid document (a small cut of rts_gmlc and ca from pglib-uc,
the desk example of test_schedule_solver) and breaks exactly one place on purpose; the
first error of the ScheduleInputError must name that place, nothing vaguer. Valid documents
(every shipped instance, generated fleets) must still read, to the Problem the raw JSON says.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest
from common import profile_examples
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from uc_instances import DATA_DIR, desk_document, instances, load_instance

from merit_order.schedule import ScheduleInputError, read_problem

Doc = dict[str, Any]
Expected = tuple[str, str | None, int | None]  # field, unit, period
FAST = settings(max_examples=profile_examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _rts() -> Doc:
    doc = load_instance("pglib-uc/rts_gmlc/2020-01-27.json", 6)
    doc["thermal_generators"] = dict(list(doc["thermal_generators"].items())[:12])
    doc["renewable_generators"] = dict(list(doc["renewable_generators"].items())[:5])
    return doc


@cache
def _ca() -> Doc:
    doc = load_instance("pglib-uc/ca/2014-09-01_reserves_3.json", 4)
    units = doc["thermal_generators"]
    doc["thermal_generators"] = {name: units[name] for name in [*list(units)[:10], "GEN1248"]}
    return doc


def small_instances() -> st.SearchStrategy[Doc]:
    """A fresh copy of a small real instance (mutating it does not touch the cache)."""
    return st.sampled_from([_rts, _ca]).map(lambda make: copy.deepcopy(make()))


def assert_refused_at(doc: Any, expected: Expected, **options: Any) -> ScheduleInputError:
    field, unit, period = expected
    with pytest.raises(ScheduleInputError) as caught:
        read_problem(doc, **options)
    first = caught.value.errors[0]
    assert (first["field"], first["unit"], first["period"]) == (field, unit, period), caught.value.errors
    assert first["message"] and str(caught.value) == f"{field}: {first['message']}"
    return caught.value


# --------------------------------------------------------------------------- pglib-uc: thermal units

NUMBERS = [
    "power_output_minimum", "power_output_maximum", "power_output_t0", "time_up_minimum", "time_down_minimum",
    "time_up_t0", "time_down_t0", "ramp_up_limit", "ramp_down_limit", "ramp_startup_limit", "ramp_shutdown_limit",
]
NOT_NUMBERS = ["NaN", "12", True, None, [1.0], {"mw": 1}, math.nan, math.inf]


def _bad_number(draw: st.DrawFn, g: Doc) -> str:
    key = draw(st.sampled_from(NUMBERS))
    g[key] = draw(st.sampled_from([*NOT_NUMBERS, -1.0, -0.5]))
    return key


def _zero_ramp(draw: st.DrawFn, g: Doc) -> str:
    key = draw(st.sampled_from(["ramp_up_limit", "ramp_down_limit"]))
    g[key] = 0
    return key


def _bad_flag(draw: st.DrawFn, g: Doc) -> str:
    key = draw(st.sampled_from(["must_run", "unit_on_t0"]))
    g[key] = draw(st.sampled_from([2, -1, 0.5, "1", None, [1]]))
    return key


def _missing(draw: st.DrawFn, g: Doc) -> str:
    key = draw(st.sampled_from(["power_output_minimum", "power_output_maximum", "piecewise_production"]))
    del g[key]
    return key


def _pmin_above_pmax(draw: st.DrawFn, g: Doc) -> str:
    g["power_output_minimum"] = g["power_output_maximum"] + draw(st.sampled_from([0.1, 1.0, 50.0]))
    return "power_output_minimum"


def _p0_above_pmax(draw: st.DrawFn, g: Doc) -> str:
    g["power_output_t0"] = g["power_output_maximum"] + draw(st.sampled_from([0.1, 10.0]))
    return "power_output_t0"


def _initial_times(draw: st.DrawFn, g: Doc) -> str:
    """Initial times that contradict the initial status (MODEL.tex: UT0 for on units, DT0 for off)."""
    on = g["unit_on_t0"] == 1
    if draw(st.booleans()):
        key = "time_up_t0" if on else "time_down_t0"
        g[key] = 0
    else:
        key = "time_down_t0" if on else "time_up_t0"
        g[key] = draw(st.sampled_from([1, 5]))
    return key


def _curve_mw_not_increasing(draw: st.DrawFn, g: Doc) -> str:
    curve = g["piecewise_production"]
    assume(len(curve) >= 2)
    k = draw(st.integers(1, len(curve) - 1))
    curve[k]["mw"] = curve[k - 1]["mw"] - draw(st.sampled_from([0.0, 1.0]))
    return f"piecewise_production[{k}].mw"


def _curve_off_pmin(draw: st.DrawFn, g: Doc) -> str:
    curve = g["piecewise_production"]
    assume(len(curve) >= 2)
    curve[0]["mw"] += (curve[1]["mw"] - curve[0]["mw"]) / 2
    return "piecewise_production[0].mw"


def _curve_short_of_pmax(draw: st.DrawFn, g: Doc) -> str:
    curve = g["piecewise_production"]
    assume(len(curve) >= 2)
    curve[-1]["mw"] -= (curve[-1]["mw"] - curve[-2]["mw"]) / 2
    return f"piecewise_production[{len(curve) - 1}].mw"


def _curve_cost_falls(draw: st.DrawFn, g: Doc) -> str:
    curve = g["piecewise_production"]
    assume(len(curve) >= 2)
    k = draw(st.integers(1, len(curve) - 1))
    curve[k]["cost"] = curve[k - 1]["cost"] - draw(st.sampled_from([1.0, 100.0]))
    return f"piecewise_production[{k}].cost"


def _curve_not_convex(draw: st.DrawFn, g: Doc) -> str:
    """Point k's cost raised to point k+1's: the marginal cost rises into k, then is 0 after it."""
    curve = g["piecewise_production"]
    assume(len(curve) >= 3)
    k = draw(st.integers(1, len(curve) - 2))
    assume(curve[k + 1]["cost"] > curve[k - 1]["cost"])
    curve[k]["cost"] = curve[k + 1]["cost"]
    return f"piecewise_production[{k}].cost"


def _startup_lags_not_increasing(draw: st.DrawFn, g: Doc) -> str:
    cats = g["startup"]
    assume(len(cats) >= 2)
    k = draw(st.integers(1, len(cats) - 1))
    cats[k]["lag"] = cats[k - 1]["lag"]
    return f"startup[{k}].lag"


def _startup_bad_value(draw: st.DrawFn, g: Doc) -> str:
    cats = g["startup"]
    k = draw(st.integers(0, len(cats) - 1))
    key = draw(st.sampled_from(["lag", "cost"]))
    cats[k][key] = draw(st.sampled_from([-1.0, "NaN", None]))
    return f"startup[{k}].{key}"


BREAK_A_UNIT: list[Callable[[st.DrawFn, Doc], str]] = [
    _bad_number, _zero_ramp, _bad_flag, _missing, _pmin_above_pmax, _p0_above_pmax, _initial_times,
    _curve_mw_not_increasing, _curve_off_pmin, _curve_short_of_pmax, _curve_cost_falls, _curve_not_convex,
    _startup_lags_not_increasing, _startup_bad_value,
]


@FAST
@given(doc=small_instances(), data=st.data())
def test_a_broken_thermal_unit_is_refused_naming_its_field_and_unit(doc: Doc, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(doc["thermal_generators"])))
    breaker = data.draw(st.sampled_from(BREAK_A_UNIT))
    key = breaker(data.draw, doc["thermal_generators"][name])
    assert_refused_at(doc, (f"thermal_generators.{name}.{key}", name, None))


def test_a_unit_that_is_not_an_object_is_refused_naming_it() -> None:
    doc = copy.deepcopy(_rts())
    doc["thermal_generators"]["101_CT_1"] = 5
    assert_refused_at(doc, ("thermal_generators.101_CT_1", "101_CT_1", None))


def test_the_first_error_is_the_first_place_in_the_document_and_all_are_listed() -> None:
    doc = copy.deepcopy(_rts())
    doc["thermal_generators"]["115_STEAM_1"]["power_output_minimum"] = -1
    doc["thermal_generators"]["101_CT_2"]["ramp_up_limit"] = "fast"
    error = assert_refused_at(doc, ("thermal_generators.115_STEAM_1.power_output_minimum", "115_STEAM_1", None))
    assert [e["field"] for e in error.errors] == [
        "thermal_generators.115_STEAM_1.power_output_minimum",
        "thermal_generators.101_CT_2.ramp_up_limit",
    ]


# --------------------------------------------------------------------------- pglib-uc: per-period series


@FAST
@given(doc=small_instances(), data=st.data())
def test_a_bad_demand_or_reserve_value_is_refused_naming_its_period(doc: Doc, data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(["demand", "reserves"]))
    t = data.draw(st.integers(0, doc["time_periods"] - 1))
    doc[key][t] = data.draw(st.sampled_from([*NOT_NUMBERS, -1.0]))
    assert_refused_at(doc, (f"{key}[{t}]", None, t + 1))


@FAST
@given(doc=small_instances(), data=st.data())
def test_too_few_demand_values_are_refused_naming_the_first_period_without_one(doc: Doc, data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(["demand", "reserves"]))
    kept = data.draw(st.integers(0, doc["time_periods"] - 1))
    doc[key] = doc[key][:kept]
    assert_refused_at(doc, (key, None, kept + 1))


@pytest.mark.parametrize("value", [0, -3, 6.0, "6", None, True])
def test_time_periods_must_be_a_positive_whole_number(value: Any) -> None:
    doc = copy.deepcopy(_rts())
    doc["time_periods"] = value
    assert_refused_at(doc, ("time_periods", None, None))


@FAST
@given(data=st.data())
def test_a_renewable_above_its_maximum_is_refused_naming_unit_and_period(data: st.DataObject) -> None:
    doc = copy.deepcopy(_rts())
    name = data.draw(st.sampled_from(sorted(doc["renewable_generators"])))
    unit = doc["renewable_generators"][name]
    t = data.draw(st.integers(0, doc["time_periods"] - 1))
    if data.draw(st.booleans()):
        unit["power_output_minimum"][t] = unit["power_output_maximum"][t] + 1.0
        field = f"renewable_generators.{name}.power_output_minimum[{t}]"
    else:
        unit["power_output_maximum"][t] = data.draw(st.sampled_from([-1.0, "NaN", None]))
        field = f"renewable_generators.{name}.power_output_maximum[{t}]"
    assert_refused_at(doc, (field, name, t + 1))


def test_a_renewable_with_too_few_values_is_refused_naming_the_first_missing_period() -> None:
    doc = copy.deepcopy(_rts())
    name = next(iter(doc["renewable_generators"]))
    doc["renewable_generators"][name]["power_output_maximum"] = [10.0] * 4
    assert_refused_at(doc, (f"renewable_generators.{name}.power_output_maximum", name, 5))


# --------------------------------------------------------------------------- desk format


def _desk_plant(draw: st.DrawFn, doc: Doc) -> Expected:
    i = draw(st.integers(0, len(doc["powerplants"]) - 1))
    plant = doc["powerplants"][i]
    kind = draw(st.sampled_from(["negative", "not a number", "missing", "pmin above pmax"]))
    if kind == "negative":
        key = draw(st.sampled_from(["pmin", "pmax", "efficiency", "startup_cost", "min_up_h", "ramp_up_mw_per_h"]))
        plant[key] = -1
    elif kind == "not a number":
        key = draw(st.sampled_from(["pmin", "pmax", "efficiency", "min_down_h"]))
        plant[key] = draw(st.sampled_from(["NaN", "100", True, None]))
    elif kind == "missing":
        key = draw(st.sampled_from(["type", "efficiency", "pmin", "pmax"]))
        del plant[key]
    else:
        key = "pmin"
        plant["pmin"] = plant["pmax"] + 1
    return f"powerplants[{i}].{key}", plant["name"], None


def _desk_period(draw: st.DrawFn, doc: Doc) -> Expected:
    t = draw(st.integers(0, len(doc["periods"]) - 1))
    key = draw(st.sampled_from(["load", "reserve"]))
    doc["periods"][t][key] = draw(st.sampled_from([-5, "NaN", None, [1]]))
    return f"periods[{t}].{key}", None, t + 1


def _desk_period_fuel(draw: st.DrawFn, doc: Doc) -> Expected:
    t = draw(st.integers(0, len(doc["periods"]) - 1))
    fuels = dict(doc["fuels"])
    fuels["wind(%)"] = draw(st.sampled_from([101, -1, "60"]))
    doc["periods"][t]["fuels"] = fuels
    return f"periods[{t}].fuels.wind(%)", None, t + 1


@FAST
@given(data=st.data())
def test_a_broken_desk_document_is_refused_naming_field_plant_and_period(data: st.DataObject) -> None:
    doc = desk_document()
    expected = data.draw(st.sampled_from([_desk_plant, _desk_period, _desk_period_fuel]))(data.draw, doc)
    assert_refused_at(doc, expected)


def test_desk_cross_field_errors_point_at_the_field_to_fix() -> None:
    doc = desk_document()
    doc["powerplants"][0]["initial"]["p"] = 999
    error = assert_refused_at(doc, ("powerplants[0].initial.p", "ccgt1", None))
    assert "999" in str(error)
    doc = desk_document()
    doc["powerplants"][2]["name"] = "ccgt2"
    assert_refused_at(doc, ("powerplants[2].name", "ccgt2", None))
    doc = desk_document()
    del doc["fuels"]
    assert_refused_at(doc, ("periods[0].fuels", None, 1))


# --------------------------------------------------------------------------- the caller's limits


def test_limits_are_the_callers_and_name_the_field() -> None:
    doc = copy.deepcopy(_rts())  # 12 thermal + 5 renewable units, 6 periods
    assert read_problem(doc, max_units=17, max_periods=6).periods == 6
    assert_refused_at(doc, ("thermal_generators", None, None), max_units=11)
    assert_refused_at(doc, ("renewable_generators", None, None), max_units=16)
    error = assert_refused_at(doc, ("time_periods", None, None), max_periods=5)
    assert "at most 5" in str(error)
    assert read_problem(doc, periods=5, max_periods=5).periods == 5  # the cut is what counts
    desk = desk_document()  # 4 plants, 8 periods
    assert read_problem(desk, max_units=4, max_periods=8).periods == 8
    assert "at most 3" in str(assert_refused_at(desk, ("powerplants", None, None), max_units=3))
    assert_refused_at(desk, ("periods", None, None), max_periods=7)


def test_asking_for_more_periods_than_the_document_has_is_refused() -> None:
    assert_refused_at(copy.deepcopy(_rts()), ("time_periods", None, None), periods=7)
    assert_refused_at(desk_document(), ("periods", None, None), periods=9)


# --------------------------------------------------------------------------- the error itself


def test_the_error_keeps_its_places_through_pickling_and_reads_as_one_line() -> None:
    doc = copy.deepcopy(_rts())
    doc["demand"][2] = -1
    error = assert_refused_at(doc, ("demand[2]", None, 3))
    again = pickle.loads(pickle.dumps(error))
    assert again.errors == error.errors and str(again) == str(error) and isinstance(again, ValueError)
    assert "\n" not in str(error)
    plain = ScheduleInputError("not a schedule instance")
    assert str(plain) == "not a schedule instance" and plain.errors[0]["field"] == ""


# --------------------------------------------------------------------------- valid documents still read

SHIPPED = sorted(str(path.relative_to(DATA_DIR)) for path in DATA_DIR.rglob("*.json"))


@pytest.mark.parametrize("relpath", SHIPPED)
def test_every_shipped_instance_reads_to_what_its_json_says(relpath: str) -> None:
    raw = json.loads((DATA_DIR / relpath).read_text(encoding="utf-8"))
    periods = min(24, raw["time_periods"])
    problem = read_problem(raw, periods=periods)
    assert problem.periods == periods
    assert np.array_equal(problem.demand, raw["demand"][:periods])
    assert np.array_equal(problem.reserve, raw["reserves"][:periods])
    assert [u.name for u in problem.thermal] == list(raw["thermal_generators"])
    for unit in problem.thermal:
        g = raw["thermal_generators"][unit.name]
        assert (unit.pmin, unit.pmax, unit.p_t0) == (g["power_output_minimum"], g["power_output_maximum"], g["power_output_t0"])
        assert unit.curve_mw == tuple(p["mw"] for p in g["piecewise_production"])
        assert unit.curve_cost == tuple(p["cost"] for p in g["piecewise_production"])
        assert [(c.lag, c.cost) for c in unit.startup] == [(c["lag"], c["cost"]) for c in g["startup"]]
        assert (unit.min_up, unit.min_down) == (max(1, g["time_up_minimum"]), max(1, g["time_down_minimum"]))
        assert (unit.ramp_up, unit.ramp_down) == (g["ramp_up_limit"], g["ramp_down_limit"])
        assert (unit.on_t0, unit.must_run) == (bool(g["unit_on_t0"]), bool(g["must_run"]))
        assert (unit.time_up_t0, unit.time_down_t0) == (g["time_up_t0"], g["time_down_t0"])
    for ren in problem.renewable:
        w = raw["renewable_generators"][ren.name]
        assert np.array_equal(ren.pmin, w["power_output_minimum"][:24])
        assert np.array_equal(ren.pmax, w["power_output_maximum"][:24])


def test_the_desk_example_reads_to_what_it_says() -> None:
    problem = read_problem(desk_document())
    assert list(problem.demand) == [380, 420, 520, 610, 700, 650, 540, 430]
    assert [u.name for u in problem.thermal] == ["ccgt1", "ccgt2", "tj1"]
    assert (problem.thermal[0].pmin, problem.thermal[0].pmax, problem.thermal[0].p_t0) == (150, 400, 300)
    assert list(problem.renewable[0].pmax) == [90.0] * 8


@settings(max_examples=profile_examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(instance=instances(free_first_lag=True))
def test_generated_fleets_all_read(instance: Doc) -> None:
    problem = read_problem(instance)
    assert problem.periods == instance["time_periods"]
    assert len(problem.thermal) == len(instance["thermal_generators"])

