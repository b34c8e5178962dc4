"""Either input format, told apart by its shape: pglib-uc has `thermal_generators`, the
desk format has `powerplants` and `periods`.

Every refusal is a ScheduleInputError whose `errors` name the field, the unit and the period
(see errors.py): the HTTP route turns them into its 422 as they are.
"""

from __future__ import annotations

from typing import Any

from .errors import ScheduleInputError
from .model import Problem
from .read_desk import read_desk
from .read_pglib import problem_from_pglib


def input_format(doc: Any) -> str:
    """"pglib-uc" or "desk"; ScheduleInputError when it is neither."""
    if isinstance(doc, dict):
        if "thermal_generators" in doc:
            return "pglib-uc"
        if "powerplants" in doc or "periods" in doc:
            return "desk"
    raise ScheduleInputError(
        "not a schedule instance: expected a pglib-uc object (with thermal_generators) "
        "or a desk object (with periods and powerplants)"
    )


def read_problem(
    doc: Any, periods: int | None = None, *, max_units: int | None = None, max_periods: int | None = None
) -> Problem:
    """The instance in either format, cut to its first `periods` periods when asked.

    `max_units` / `max_periods` are the caller's limits (the route passes its settings; None:
    no limit). Periods count as solved, i.e. after the cut; units count every unit of the
    document (pglib: thermal + renewable; desk: every plant).
    """
    if input_format(doc) == "pglib-uc":
        return problem_from_pglib(doc, periods, max_units=max_units, max_periods=max_periods)
    return read_desk(doc, periods, max_units=max_units, max_periods=max_periods)
