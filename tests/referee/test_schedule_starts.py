"""Local search from the relaxation's other repaired schedules (`solve._polish_starts`, which
runs `solve._local_search` from each kept start).

The local search from the best repaired schedule ends in that schedule's basin; a dearer
start can end lower. On rts_gmlc 2020-03-05 (24 periods) the relaxation's own commitment,
rounded (1,154,919.1, 1.1 % above the dives' best), is such a start: the local search must
get below 1,141,100 from it (the dives' best alone led to 1,141,915.0;
HiGHS's 60 s incumbent is 1,140,054.0), and what it keeps must pass the independent checker.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from uc_checker import check_schedule, recompute_cost
from uc_instances import load_instance

from merit_order.schedule.deadline import Deadline
from merit_order.schedule.dispatch import dispatch
from merit_order.schedule.lagrangian import evaluate
from merit_order.schedule.primal import Schedule
from merit_order.schedule.read import read_problem
from merit_order.schedule.solution import schedule_document
from merit_order.schedule.solve import ScheduleResult, _local_search, _Search

SAVED = Path(__file__).resolve().parents[1] / "data" / "uc_schedules"


@pytest.mark.slow
def test_a_dearer_start_from_the_relaxation_polishes_below_the_best() -> None:
    saved = json.loads((SAVED / "relaxation-rounded-2020-03-05.json").read_text())
    instance = load_instance(saved["instance"], saved["periods"])
    problem = read_problem(instance)
    on = np.array([[c == "1" for c in saved["on"][u.name]] for u in problem.thermal])
    start = Schedule.priced(problem, on, dispatch(problem, on))
    assert math.isclose(start.total, saved["objective"], rel_tol=1e-7)

    search = _Search(problem, time_limit=600.0, progress=None)
    # a dual point for the block-dropping move's ordering: the start's own marginal prices
    point = evaluate(problem, start.dispatch.marginal_price, np.maximum(start.dispatch.reserve_price, 0.0))
    assert point is not None
    search.offer_dual(point)
    search.offer_start(start)
    end = _local_search(problem, search, start, 1e-6, True, Deadline(time.monotonic() + 300))

    best = search.best
    assert best is not None and best.total <= end.total
    assert best is not None and best.total < 1_141_100.0, f"{best.total if best else None:,.1f}"
    answer = schedule_document(problem, ScheduleResult("feasible", best, 0.0, 1.0, 0, 0.0, "lagrangian"))
    assert check_schedule(instance, answer) == []
    assert math.isclose(recompute_cost(instance, answer)["total"], best.total, rel_tol=1e-7)
