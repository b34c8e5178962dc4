"""What `make run` installs is enough: nothing at run time reaches for the test stack.

`make run` (and the Docker image) install the package's own dependencies only; the tests run
with the test extras too (SciPy, HiGHS, ...). Compiled code can depend on them without any
import in our source: numba's matrix product in nopython mode calls BLAS through SciPy, and a
server without SciPy failed every schedule that reached the bundle method. Here a fresh
interpreter hides the test-only packages, compiles every kernel from scratch (an empty numba
cache) and solves one schedule down each path: the joint DP, the bundle with branching, the
dives and the exact dispatch, and an hourly plan.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: The start of every script below: a test-only package (named in argv[1]) cannot be imported.
HIDE_TEST_STACK = r"""
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{name} is a test-only package", name=name)
        return None

sys.meta_path.insert(0, Hide())
"""

SCRIPT = HIDE_TEST_STACK + r"""
import json
from importlib import resources
from merit_order.calculator import CostModel, ProductionPlanRequest, compute_plan
from merit_order.schedule import read_problem, solve_schedule

def example(name):
    return json.loads(resources.files("merit_order").joinpath("examples", name).read_text())

plan = compute_plan(ProductionPlanRequest.model_validate(example("payload3.json")), cost_model=CostModel())
answers = {"plan": sum(p["p"] for p in plan.as_challenge_list())}
data = sys.argv[2]
cases = {
    "desk": (example("schedule_desk.json"), None),
    "pglib": (example("schedule_pglib.json"), None),
    "5gen": (json.load(open(data + "/pwdemars/5gen/prof1.json")), 24),
    "rts": (json.load(open(data + "/pglib-uc/rts_gmlc/2020-09-20.json")), 24),
}
for name, (doc, periods) in cases.items():
    result = solve_schedule(read_problem(doc, periods=periods), gap=0.005, time_limit=60)
    answers[name] = [result.status, result.method, result.schedule.total]
print(json.dumps(answers))
"""


def _test_only_packages() -> list[str]:
    """Import names of the test extras that the runtime dependencies do not also bring."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {"scipy": "scipy", "highspy": "highspy", "hypothesis": "hypothesis", "playwright": "playwright",
             "schemathesis": "schemathesis"}
    extras = " ".join(project["optional-dependencies"]["test"])
    return [module for package, module in names.items() if package in extras]


BUNDLE_ONLY = HIDE_TEST_STACK + r"""
import numpy as np
from merit_order.schedule.bundle import _fista_simplex
grads = np.array([[1.0, -2.0, 0.5], [-1.0, 1.0, 2.0]])
alpha = _fista_simplex(grads, np.array([0.0, 1.0]), np.zeros(3), np.array([False, True, True]), 1.0,
                       np.array([0.5, 0.5]), 0.05, 300, 1e-12)
print(repr(float(alpha.sum())))
"""


def _run_hidden(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`script` in a fresh interpreter without the test-only packages, compiling from an empty numba cache."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", script, ",".join(_test_only_packages()), *args],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )


def test_the_bundle_master_compiles_without_scipy(tmp_path: Path) -> None:
    """The quick check (the one kernel that used a matrix product): compiled and run with no SciPy."""
    done = _run_hidden(BUNDLE_ONLY, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert abs(float(done.stdout.strip()) - 1.0) < 1e-9  # the cut weights stay on the simplex


@pytest.mark.slow
def test_schedules_and_plans_need_nothing_from_the_test_stack(tmp_path: Path) -> None:
    assert "scipy" in _test_only_packages()
    done = _run_hidden(SCRIPT, tmp_path, str(REPO / "tests" / "data" / "uc"))
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert answers["plan"] == 910.0  # payload 3's load
    assert answers["5gen"][:2] == ["optimal", "joint-dp"]
    assert {answers[name][1] for name in ("desk", "pglib", "5gen", "rts")} >= {"joint-dp", "branch-and-bound", "lagrangian"}
    for name in ("desk", "pglib", "5gen", "rts"):
        assert answers[name][0] in ("optimal", "feasible") and answers[name][2] > 0, (name, answers[name])
