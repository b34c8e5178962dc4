"""Imported by the embedded executor's fork server only: load the solver and its compiled
kernels once, so that every solving process forked from the server starts warm.

Why a module with a side effect: the fork server runs what it preloads by importing it, and
numba loads each kernel from its cache on first call, not at import (about a second for
the solver's kernels). Solving the packaged 3-unit example here makes those calls once, in
the server; its children inherit them. Any failure is ignored: a cold child still works.
"""

from __future__ import annotations

import json
from importlib import resources

from .runner import ScheduleOptions, solve_request


def warm() -> None:
    """Solve the packaged pglib-uc example once (a few hundred milliseconds)."""
    example = json.loads(resources.files("merit_order").joinpath("examples", "schedule_pglib.json").read_text())
    solve_request(example, ScheduleOptions(gap=0.0, time_limit_s=5.0))


try:
    warm()
except Exception:  # noqa: BLE001 - warming is an optimisation; the first solve would simply start cold
    pass
