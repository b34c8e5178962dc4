"""Errors of the schedule solver: one base, so a caller can catch them all.

    ScheduleError
     ├── ScheduleInputError   the input cannot be read as an instance (names the field)
     └── ScheduleInfeasible   no schedule meets demand and reserve (says where and why)
"""

from __future__ import annotations


class ScheduleError(Exception):
    """Base of every error the schedule solver raises on purpose."""


class ScheduleInputError(ScheduleError, ValueError):
    """The input is not a valid instance; the message names what to fix."""


class ScheduleInfeasible(ScheduleError):
    """No schedule can meet the demand and reserve; the message says which period and why."""
