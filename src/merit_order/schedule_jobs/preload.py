"""Imported by the embedded executor's fork server only: load the solver and its compiled
kernels once, so that every solving process forked from the server starts warm.

Why a module with a side effect: the fork server runs what it preloads by importing it, and
numba loads each kernel from its cache on first call, not at import (about a second for
the solver's kernels). Solving the packaged examples here (and evaluating the compound
moves' bound once) makes those calls in the server; its children inherit them. Any failure is ignored: a cold child still works.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

from merit_order.schedule import read_problem
from merit_order.schedule.dispatch_bound import production_bound

from .runner import ScheduleOptions, solve_request


def warm() -> None:
    """Solve both packaged examples once (a few hundred milliseconds with numba's cache).

    Both, because they take different paths: the pglib-uc one ends in the Lagrangian phase,
    the desk one branches. With the pglib-uc one alone, a fresh install's first desk schedule
    compiled the branching kernels inside its own time limit (13.9 s of a 20 s limit idle; on a
    loaded machine the limit ran out first and it ended 18 % dearer).
    """
    # The limits cap a cold start's compiling (each solve ends on its gap in well under a second
    # once compiled); the desk example's default gap is what a first request asks for.
    for name, options in (("schedule_pglib.json", ScheduleOptions(gap=0.0, time_limit_s=5.0)),
                          ("schedule_desk.json", ScheduleOptions(gap=0.001, time_limit_s=60.0))):
        example = json.loads(resources.files("merit_order").joinpath("examples", name).read_text())
        solve_request(example, options)
    # The compound moves' dispatch bound runs only on fleets of more than 40 units, which
    # neither example is: its kernel is compiled here too (2.5 s on a cold cache, otherwise
    # spent inside the first large schedule's time limit).
    problem = read_problem(example)
    production_bound(problem, np.ones((len(problem.thermal), problem.periods), dtype=bool))


try:
    warm()
except Exception:  # noqa: BLE001 - warming is an optimisation; the first solve would simply start cold
    pass
