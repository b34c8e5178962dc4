"""The bundle method's master problem, against an independent solution of the same QP.

The compiled master (`bundle._fista_simplex`) sorts coordinates into always-clipped, never-
clipped (a quadratic through a k x k matrix) and mixed ones, and stops on its own duality
gap. Both are shortcuts whose mistakes would not show in a bound (the oracle is exact at any
trial point) but would silently slow every solve: here the master's value is checked against
HiGHS's QP solver on the primal form (max_x min_i l_i(x) - ||x - c||^2 / 2t, x >= 0 where asked),
and the stopping rule against the duality gap recomputed in plain numpy.
"""

from __future__ import annotations

from collections.abc import Callable

import highspy
import numpy as np
import pytest

from merit_order.schedule.bundle import BundleMaximiser, OracleAnswer, _fista_simplex


def _random_master(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    k = int(rng.integers(1, 12))
    n = int(rng.integers(2, 14))
    grads = rng.normal(size=(k, n)) * rng.uniform(0.5, 20.0)
    consts = rng.normal(size=k) * 10.0
    centre = np.abs(rng.normal(size=n)) * rng.integers(0, 2, size=n)
    nonnegative = rng.random(n) < 0.6
    t = float(rng.uniform(0.01, 1.0))
    return grads, consts, centre, nonnegative, t


def _x_of(alpha: np.ndarray, grads: np.ndarray, centre: np.ndarray, nonnegative: np.ndarray, t: float) -> np.ndarray:
    x = centre + t * grads.T @ alpha
    return np.where(nonnegative, np.maximum(x, 0.0), x)


def _primal_value(x: np.ndarray, grads: np.ndarray, consts: np.ndarray, centre: np.ndarray, t: float) -> float:
    return float(np.min(consts + grads @ x) - ((x - centre) ** 2).sum() / (2 * t))


def _dual_value(alpha: np.ndarray, grads: np.ndarray, consts: np.ndarray, centre: np.ndarray, nonnegative: np.ndarray, t: float) -> float:
    x = _x_of(alpha, grads, centre, nonnegative, t)
    return float(alpha @ (consts + grads @ x) - ((x - centre) ** 2).sum() / (2 * t))


def _highs_optimum(grads: np.ndarray, consts: np.ndarray, centre: np.ndarray, nonnegative: np.ndarray, t: float) -> float:
    """max_{x, r} r - ||x - c||^2 / 2t  s.t.  r <= consts_i + g_i.x,  x_j >= 0 where asked,
    as HiGHS's convex QP (min -r + x.x / 2t - c.x / t, plus the constant c.c / 2t)."""
    k, n = grads.shape
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    highs.addVars(n + 1, np.r_[np.where(nonnegative, 0.0, -inf), -inf], np.full(n + 1, inf))
    highs.changeColsCost(n + 1, np.arange(n + 1, dtype=np.int32), np.r_[-centre / t, -1.0])
    for i in range(k):
        highs.addRow(-inf, float(consts[i]), n + 1, np.arange(n + 1, dtype=np.int32), np.r_[-grads[i], 1.0])
    start = np.r_[np.arange(n + 1), n].astype(np.int32)  # one diagonal entry per x, none for r
    highs.passHessian(n + 1, n, highspy.HessianFormat.kTriangular, start, np.arange(n, dtype=np.int32), np.full(n, 1.0 / t))
    highs.run()
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return -(float(highs.getInfo().objective_function_value) + float((centre**2).sum()) / (2 * t))


def test_the_master_reaches_the_qp_optimum() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        grads, consts, centre, nonnegative, t = _random_master(rng)
        k = grads.shape[0]
        step = 1.0 / (t * float((grads**2).sum()))
        alpha = _fista_simplex(grads, consts, centre, nonnegative, t, np.full(k, 1.0 / k), step, 20_000, 1e-15)
        assert alpha.min() >= 0.0 and abs(alpha.sum() - 1.0) < 1e-9
        optimum = _highs_optimum(grads, consts, centre, nonnegative, t)
        ours = _dual_value(alpha, grads, consts, centre, nonnegative, t)
        primal = _primal_value(_x_of(alpha, grads, centre, nonnegative, t), grads, consts, centre, t)
        scale = 1.0 + abs(optimum)
        # weak duality holds whatever alpha is; at the optimum both sides meet HiGHS's value
        assert primal <= optimum + 1e-6 * scale and optimum <= ours + 1e-6 * scale  # HiGHS QP: ~1e-7 accurate
        assert ours - primal <= 1e-5 * scale


@pytest.mark.parametrize("accuracy", [1e-3, 0.1, 1.0])
def test_the_master_stops_only_within_its_accuracy(accuracy: float) -> None:
    """Stopping on the master's own duality gap: when it stops early, the gap recomputed
    here is within `accuracy` of the increase it predicts over the floor."""
    rng = np.random.default_rng(11)
    early = 0
    for _ in range(300):
        grads, consts, centre, nonnegative, t = _random_master(rng)
        k = grads.shape[0]
        step = 1.0 / (t * float((grads**2).sum()))
        start = np.full(k, 1.0 / k)
        iterations = 5_000
        full = _fista_simplex(grads, consts, centre, nonnegative, t, start, step, iterations, 0.0)
        # a floor (the centre's value) just below the optimum: the rule must then be precise
        optimum = _primal_value(_x_of(full, grads, centre, nonnegative, t), grads, consts, centre, t)
        floor = optimum - rng.uniform(1e-4, 1e-1) * (1.0 + abs(optimum))
        alpha = _fista_simplex(grads, consts, centre, nonnegative, t, start, step, iterations, 0.0, floor, accuracy)
        dual = _dual_value(alpha, grads, consts, centre, nonnegative, t)
        primal = _primal_value(_x_of(alpha, grads, centre, nonnegative, t), grads, consts, centre, t)
        if not np.allclose(alpha, full):
            early += 1
            assert dual - primal <= accuracy * (dual - floor) * (1 + 1e-9) + 1e-9
    assert early > 0  # the rule did stop some of them early


def _pieces_oracle(offsets: np.ndarray, slopes: np.ndarray, box: np.ndarray) -> Callable[[np.ndarray], OracleAnswer[None]]:
    def oracle(x: np.ndarray) -> OracleAnswer[None]:
        x = np.clip(x, box, 50.0)
        values = offsets + slopes @ x
        i = int(np.argmin(values))
        return OracleAnswer(float(values[i]), slopes[i].copy(), None)

    return oracle


def test_the_bundle_method_finds_the_maximum_of_a_piecewise_linear_function() -> None:
    """f(x) = min_i a_i + b_i.x on x >= 0 where asked: its maximum by linear programming (SciPy) is what the method approaches."""
    from scipy.optimize import linprog

    rng = np.random.default_rng(3)
    judged = 0
    for _ in range(20):
        n = int(rng.integers(2, 6))
        pieces = int(rng.integers(n + 2, 3 * n + 4))
        slopes = rng.normal(size=(pieces, n))
        offsets = rng.normal(size=pieces)
        nonnegative = rng.random(n) < 0.5
        bounds = [(0.0, 50.0) if nonnegative[j] else (-50.0, 50.0) for j in range(n)] + [(None, None)]
        # max r s.t. r <= a_i + b_i.x (boxed so that it is bounded)
        lp = linprog(np.r_[np.zeros(n), -1.0], A_ub=np.c_[-slopes, np.ones(pieces)], b_ub=offsets, bounds=bounds, method="highs")
        assert lp.status == 0
        best = -float(lp.fun)
        box = np.where(nonnegative, 0.0, -50.0)

        method = BundleMaximiser(_pieces_oracle(offsets, slopes, box), np.zeros(n), nonnegative)
        for _ in range(300):
            method.step()
        # (never above `best`: the oracle evaluates f itself; what can fail is falling short)
        if np.all(np.abs(lp.x[:n]) < 49.0):  # an interior maximiser: the clip never matters
            judged += 1
            assert method.state.centre_value >= best - 1e-4 * (1 + abs(best))
    assert judged >= 10
