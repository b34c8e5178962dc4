"""Day-ahead schedules: unit commitment over many periods, with a proven lower bound.

Pure: no web, no I/O (docs/schedules.md).

    from merit_order.schedule import read_problem, solve_schedule, schedule_document
    problem = read_problem(json_document, periods=24)     # pglib-uc or desk format
    result = solve_schedule(problem, gap=0.001, time_limit=60, progress=print)
    schedule_document(problem, result)                    # the documented answer

Folders by stage of the model: reading (`read*.py`), the model (`model.py`), the bound
(`lagrangian.py`, `unit_subproblem.py`, `bundle.py`), schedules (`dispatch.py`, `primal.py`,
`dive.py`; `dispatch_bound.py` and `exchange.py` for the compound moves), exactness (`branch.py`, `joint_dp.py`), the driver (`solve.py`) and the answer
(`solution.py`).
"""

from .errors import ScheduleError, ScheduleInfeasible, ScheduleInputError
from .model import Problem, RenewableUnit, StartupCategory, ThermalUnit
from .read import input_format, read_problem
from .solution import infeasible_document, schedule_document
from .solve import Progress, ScheduleResult, solve_schedule

__all__ = [
    "Problem",
    "Progress",
    "RenewableUnit",
    "ScheduleError",
    "ScheduleInfeasible",
    "ScheduleInputError",
    "ScheduleResult",
    "StartupCategory",
    "ThermalUnit",
    "infeasible_document",
    "input_format",
    "read_problem",
    "schedule_document",
    "solve_schedule",
]
