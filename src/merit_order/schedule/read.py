"""Either input format, told apart by its shape: pglib-uc has `thermal_generators`, the
desk format has `powerplants` and `periods`."""

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


def read_problem(doc: Any, periods: int | None = None) -> Problem:
    """The instance in either format, cut to its first `periods` periods when asked."""
    if input_format(doc) == "pglib-uc":
        return problem_from_pglib(doc, periods)
    return read_desk(doc, periods)
