"""Errors of the schedule solver: one base, so a caller can catch them all.

    ScheduleError
     ├── ScheduleInputError   the input cannot be read as an instance (names the field)
     └── ScheduleInfeasible   no schedule meets demand and reserve (says where and why)

`ScheduleInputError` carries its places as data (`errors`), not only as text, because the
HTTP route answers a 422 whose body must name the field, the unit and the period, and
parsing them back out of a sentence would be fragile. The message stays one line (the CLI
prints it as is): the first error's "field: message".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict


class InputProblem(TypedDict):
    """One thing to fix in the input, located as the user wrote it.

    field:   dotted path into the document ("thermal_generators.G1.power_output_minimum",
             "powerplants[3].pmin", "periods[5].load", "demand[17]"); "" for the whole document
    unit:    the unit's (plant's) name when the place is inside one, else None
    period:  1-based period number when the place is one period's value, else None
    message: what is wrong and what to send instead
    """

    field: str
    unit: str | None
    period: int | None
    message: str


def input_problem(field: str, message: str, unit: str | None = None, period: int | None = None) -> InputProblem:
    """An `InputProblem` (keyword order as a sentence reads: where, what, whose, when)."""
    return {"field": field, "unit": unit, "period": period, "message": message}


def field_path(loc: Sequence[str | int]) -> str:
    """A location as the user would write it: ("powerplants", 0, "pmin") -> "powerplants[0].pmin"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class ScheduleError(Exception):
    """Base of every error the schedule solver raises on purpose."""


class ScheduleInputError(ScheduleError, ValueError):
    """The input is not a valid instance; `errors` lists what to fix, the message the first.

    Accepts either a list of `InputProblem`s or a plain message (a problem of the whole
    document, field ""), so that a caller that only has a sentence can still raise it.
    """

    errors: list[InputProblem]

    def __init__(self, errors: Sequence[InputProblem] | str) -> None:
        if isinstance(errors, str):
            errors = [input_problem("", errors)]
        if not errors:
            raise ValueError("ScheduleInputError needs at least one problem")
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(f"{first['field']}: {first['message']}" if first["field"] else first["message"])

    @classmethod
    def at(cls, field: str, message: str, unit: str | None = None, period: int | None = None) -> ScheduleInputError:
        """The error of one place (the common case)."""
        return cls([input_problem(field, message, unit, period)])

    def __reduce__(self) -> tuple[type, tuple[list[InputProblem]]]:
        # Job workers pickle exceptions; the default would rebuild from the message and lose the places.
        return (type(self), (self.errors,))


class ScheduleInfeasible(ScheduleError):
    """No schedule can meet the demand and reserve; the message says which period and why.

    `period` (1-based) is set when one period alone is impossible, so that the HTTP route can
    name it as data in its 422, as it names the places of an input error."""

    def __init__(self, message: str, period: int | None = None) -> None:
        super().__init__(message)
        self.period = period

    def __reduce__(self) -> tuple[type, tuple[str, int | None]]:
        return (type(self), (str(self), self.period))
