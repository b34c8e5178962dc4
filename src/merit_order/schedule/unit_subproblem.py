"""The single-unit subproblem of the Lagrangian unit-commitment bound, solved exactly.

Relaxing the demand and reserve rows of pglib-uc's MODEL.tex with prices `price[t]` ($/MW per
period) and `reserve_price[t]` (>= 0) leaves one independent problem per thermal unit:

    min  sum_t [ u_t * cost_t(P_t) + startup_t - price_t * P_t - reserve_price_t * r_t ]

(cost_t = the unit's convex piecewise-linear curve times its `cost_scale[t]`, if any)

over every schedule of that unit satisfying MODEL.tex's single-unit rows. Its optimum enters a
lower bound that is *certified*, so it must be the true minimum: any approximation from above
(a power grid, a heuristic) would silently break the proof. This module solves it exactly.

How (all times 0-based here; MODEL.tex's t is t + 1):

* A schedule is a sequence of on-intervals [a, b]. The unit's rows split into rows that only see
  the on/off pattern (initial requirements, must-run, minimum up/down, start-up categories) and
  rows that only see the dispatch inside one interval (MaxOutput1/2, ramps, reserve: p is power
  above Pmin and 0 when off, so a start period may carry at most min(RU, SU - Pmin) of p + r, the
  last period before a shutdown at most SD - Pmin of p + r and at most RD of p). So the optimum
  is a dynamic programme over intervals (`_solve_kernel`): S[s] = best cost of the periods
  before a shutdown at s, pre[a] = best cost before a start at a (S[s] plus the start-up price
  from a table built with `ThermalUnit.startup_cost`, indexed by the off time since the
  shutdown, capped where the table stops changing, or "off since before the horizon"), and
  S[b + 1] = min_a pre[a] + E[a][b] with E the interval's optimal dispatch.
* Dispatch inside an interval, written with x = p above Pmin: reserve is always worth its
  largest value r_t = min(cap_t, RU + x_{t-1}) - x_t (reserve prices are >= 0), so the period
  objective is phi_t(x_t) - rho_t * min(cap_t, RU + x_{t-1}) with phi_t(x) = cost_t(Pmin + x)
  - price_t (Pmin + x) + rho_t x, convex piecewise linear. The forward value function
  F_t(x) = phi_t(x) + min_{x_t - RU <= y <= x_t + RD} [F_{t-1}(y) - rho_t min(cap_t, RU + y)]
  therefore stays convex piecewise linear and is propagated *exactly* as breakpoint arrays
  (`_step`; Frangioni & Gentile's interval DP with an exact convex dispatch: the window-min of
  a convex function is its left part shifted by -RD, a flat piece, its right part shifted by
  +RU). Rows from a start are cut short only when a proven lower bound on everything they can
  still reach is strictly worse than a schedule already found, so the result stays exact.
* When ramps cannot bind inside an interval (RU, RD >= Pmax - Pmin; "case a") the periods
  decouple and each period's best x is the projection of phi_t's minimiser on the period's
  range, a closed form; start-up/shut-down capabilities and the initial period still apply,
  period by period, and the interval minimum becomes a running minimum (O(T x lags)).

`FleetSubproblems` packs a fleet once and solves all its units in one compiled call (what a
dual iteration needs); `solve_unit` / `solve_units` are the per-call conveniences.

The kernels are numba-compiled (`cache=True`) when numba is importable; the same code runs as
plain Python otherwise (slowly, but with identical results).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .model import ThermalUnit

try:  # numba is what makes this fast enough for hundreds of dual iterations
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False

    def njit(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]  # the stand-in where numba is missing
        """Stand-in decorator: run the kernels as plain Python."""
        if args and callable(args[0]):
            return args[0]
        return lambda func: func


__all__ = ["HAVE_NUMBA", "FleetPlans", "FleetSubproblems", "UnitPlan", "solve_unit", "solve_units"]


@dataclass
class UnitPlan:
    """The optimal schedule of one unit for given prices, and its objective value."""

    value: float  # min over schedules of sum_t [u cost(P) + startup - price P - reserve_price r]
    on: np.ndarray  # (T,) int8 0/1
    p: np.ndarray  # (T,) total output MW (0 when off)
    r: np.ndarray  # (T,) spinning reserve MW (0 when off)
    startup_cost: np.ndarray  # (T,) price paid for a start in each period (0 where none)


# Indices into the per-unit float / int parameter vectors handed to the kernels.
_F_PMIN, _F_SPAN, _F_RU, _F_RD, _F_RUC, _F_RDC, _F_CS, _F_CE, _F_P0A = range(9)
_I_K, _I_UT, _I_DT, _I_ON0, _I_UT0, _I_DT0, _I_MUST, _I_DMAX, _I_CASEA, _I_SCNONNEG = range(10)


@dataclass(frozen=True, eq=False)
class _Compiled:
    """A unit turned into flat arrays for the kernels (built once per unit and horizon)."""

    fpar: np.ndarray  # float64 parameters (see _F_*)
    ipar: np.ndarray  # int64 parameters (see _I_*)
    bx: np.ndarray  # (K,) breakpoints of power above Pmin (lower convex hull of the curve)
    bc: np.ndarray  # (K,) cost per period at those breakpoints
    scale: np.ndarray  # (T,) per-period multiplier of bc (ThermalUnit.cost_scale; ones if none)
    sc: np.ndarray  # (T, Dmax + 1) start-up cost of a start at t after d periods off (d capped)
    sc_none: np.ndarray  # (T,) start-up cost at t when off since before the horizon


def _lower_hull(mw: Sequence[float], cost: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Lower convex hull of the cost points: what MODEL.tex's lambda formulation can reach.

    The curve is meant to be convex, in which case this is the curve itself (minus duplicate
    or collinear points, which changes nothing); a non-convex curve is priced by its hull by
    the MILP too, so the hull is what must be minimised over.
    """
    points = sorted(zip(mw, cost, strict=True))
    hull: list[tuple[float, float]] = []
    for x, c in points:
        if hull and x == hull[-1][0]:
            if c >= hull[-1][1]:
                continue
            hull.pop()
        while len(hull) >= 2:
            (x1, c1), (x2, c2) = hull[-2], hull[-1]
            if (c2 - c1) * (x - x1) >= (c - c1) * (x2 - x1):  # middle point on or above the chord
                hull.pop()
            else:
                break
        hull.append((x, c))
    return np.array([h[0] for h in hull], dtype=float), np.array([h[1] for h in hull], dtype=float)


@lru_cache(maxsize=8192)
def _compile(unit: ThermalUnit, periods: int) -> _Compiled:
    """Flatten `unit` for a horizon of `periods` periods (start-up tables depend on it)."""
    span = unit.pmax - unit.pmin
    if span < 0:
        raise ValueError(f"unit {unit.name!r}: pmax < pmin")
    tol = 1e-9 * max(1.0, abs(unit.pmax))
    if abs(unit.curve_mw[0] - unit.pmin) > tol or abs(unit.curve_mw[-1] - unit.pmax) > tol:
        raise ValueError(f"unit {unit.name!r}: the cost curve must run from pmin to pmax")
    mw, cost = _lower_hull(unit.curve_mw, unit.curve_cost)
    bx = np.clip(mw - unit.pmin, 0.0, span)
    bx[0], bx[-1] = 0.0, span
    if bx.shape[0] == 1 or span == 0.0:  # Pmin == Pmax: one operating point
        bx, cost = np.zeros(1), np.array([float(np.min(cost))])
    ru, rd = float(unit.ramp_up), float(unit.ramp_down)
    cs = span - max(unit.pmax - unit.startup_limit, 0.0)  # MaxOutput1 in a start period
    ce = span - max(unit.pmax - unit.shutdown_limit, 0.0)  # MaxOutput2 before a shutdown
    p0a = (unit.p_t0 - unit.pmin) if unit.on_t0 else 0.0
    fpar = np.array([unit.pmin, span, ru, rd, min(ru, span), min(rd, span), cs, ce, p0a], dtype=float)
    min_up, min_down = max(1, int(unit.min_up)), max(1, int(unit.min_down))
    last_lag = unit.startup[-1].lag if unit.startup else 1
    dmax = max(min_down, int(last_lag), 1)
    # Past the coldest lag (and past min down) the price of a start no longer depends on how
    # long the unit has been off, only on the period (STIInit): so d is capped at dmax.
    sc = np.zeros((periods, dmax + 1))
    sc_none = np.zeros(periods)
    for a in range(periods):
        sc_none[a] = unit.startup_cost(a + 1, None)
        for d in range(1, min(a, dmax) + 1):
            sc[a, d] = unit.startup_cost(a + 1, d)
    case_a = ru >= span and rd >= span
    ipar = np.array(
        [
            bx.shape[0],
            min_up,
            min_down,
            int(bool(unit.on_t0)),
            max(0, int(unit.time_up_t0)),
            max(0, int(unit.time_down_t0)),
            int(bool(unit.must_run)),
            dmax,
            int(case_a),
            int(bool(np.all(sc >= 0.0) and np.all(sc_none >= 0.0))),
        ],
        dtype=np.int64,
    )
    scale = np.ascontiguousarray(unit.scale(periods), dtype=float)
    if scale.shape != (periods,) or not np.all(scale >= 0.0):
        raise ValueError(f"unit {unit.name!r}: cost_scale needs {periods} values >= 0 (a convex cost)")
    return _Compiled(fpar=fpar, ipar=ipar, bx=bx, bc=np.asarray(cost, dtype=float), scale=scale, sc=sc, sc_none=sc_none)


# --------------------------------------------------------------------------------------------
# Convex piecewise-linear functions as breakpoint arrays (X strictly increasing, V values).
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _interp(x_arr: np.ndarray, v_arr: np.ndarray, n: int, x: float) -> float:
    """Value at x of the piecewise-linear function through n points (clamped to its domain)."""
    if n == 1 or x <= x_arr[0]:
        return v_arr[0]
    if x >= x_arr[n - 1]:
        return v_arr[n - 1]
    j = 1
    while x_arr[j] < x:
        j += 1
    w = x_arr[j] - x_arr[j - 1]
    if w <= 0.0:
        return v_arr[j]
    return v_arr[j - 1] + (v_arr[j] - v_arr[j - 1]) * ((x - x_arr[j - 1]) / w)


@njit(cache=True)
def _emit(ox: np.ndarray, ov: np.ndarray, n: int, x: float, v: float, gap: float, last: bool) -> int:
    """Append (x, v), dropping points closer than `gap` and exactly collinear middle points."""
    if n >= 1 and x - ox[n - 1] <= gap:
        if last and n >= 2:  # keep the domain's right end exact
            ox[n - 1] = x
            ov[n - 1] = v
        return n
    if n >= 2:
        s1 = (ov[n - 1] - ov[n - 2]) / (ox[n - 1] - ox[n - 2])
        s2 = (v - ov[n - 1]) / (x - ox[n - 1])
        if abs(s1 - s2) <= 1e-13 * (abs(s1) + abs(s2)):
            n -= 1
    ox[n] = x
    ov[n] = v
    return n + 1


@njit(cache=True)
def _merge_add(
    ax: np.ndarray,
    av: np.ndarray,
    na: int,
    bx: np.ndarray,
    bv: np.ndarray,
    nb: int,
    lo: float,
    hi: float,
    ox: np.ndarray,
    ov: np.ndarray,
    gap: float,
) -> int:
    """A + B on [lo, hi] (both defined there) as breakpoints: lo, both sets' inner points, hi."""
    n = _emit(ox, ov, 0, lo, _interp(ax, av, na, lo) + _interp(bx, bv, nb, lo), gap, False)
    if hi <= lo:
        return n
    # i, j: the first breakpoint of A, B beyond the current x (so x lies on segment i-1..i)
    i = 0
    while i < na and ax[i] <= lo:
        i += 1
    j = 0
    while j < nb and bx[j] <= lo:
        j += 1
    while True:
        xa = ax[i] if i < na else np.inf
        xb = bx[j] if j < nb else np.inf
        x = xa if xa < xb else xb
        if x >= hi:
            break
        if xa == x:
            va = av[i]
            i += 1
        elif 0 < i < na:  # inside A's segment i-1..i
            va = av[i - 1] + (av[i] - av[i - 1]) * ((x - ax[i - 1]) / (ax[i] - ax[i - 1]))
        else:
            va = _interp(ax, av, na, x)
        if xb == x:
            vb = bv[j]
            j += 1
        elif 0 < j < nb:
            vb = bv[j - 1] + (bv[j] - bv[j - 1]) * ((x - bx[j - 1]) / (bx[j] - bx[j - 1]))
        else:
            vb = _interp(bx, bv, nb, x)
        n = _emit(ox, ov, n, x, va + vb, gap, False)
    return _emit(ox, ov, n, hi, _interp(ax, av, na, hi) + _interp(bx, bv, nb, hi), gap, True)


@njit(cache=True)
def _step(
    fx: np.ndarray,
    fv: np.ndarray,
    n: int,
    cap: float,
    xmax: float,
    rho: float,
    ruc: float,
    rdc: float,
    bx: np.ndarray,
    phv: np.ndarray,
    k: int,
    gx: np.ndarray,
    gv: np.ndarray,
    hx: np.ndarray,
    hv: np.ndarray,
    ox: np.ndarray,
    ov: np.ndarray,
    gap: float,
    eps: float,
) -> tuple[int, float]:
    """One period of the exact dispatch DP: F_t from F_{t-1}; returns (points, window argmin).

    G(y) = F_{t-1}(y) - rho * min(cap, RU + y) (the reserve the move to x can still carry);
    H(x) = min of G over y in [x - RU, x + RD]; F_t = phi_t + H on [0, xmax]. 0 points: the
    interval cannot continue (no x reachable).
    """
    kink = cap - ruc
    m = 0
    for i in range(n):
        xi = fx[i]
        if i > 0 and fx[i - 1] < kink < xi:
            frac = (kink - fx[i - 1]) / (xi - fx[i - 1])
            gx[m] = kink
            gv[m] = fv[i - 1] + (fv[i] - fv[i - 1]) * frac - rho * cap
            m += 1
        ceil = ruc + xi
        if ceil > cap:
            ceil = cap
        gx[m] = xi
        gv[m] = fv[i] - rho * ceil
        m += 1
    im = 0
    for i in range(1, m):
        if gv[i] < gv[im]:
            im = i
    ystar = gx[im]
    h = 0
    for i in range(im + 1):
        hx[h] = gx[i] - rdc
        hv[h] = gv[i]
        h += 1
    for i in range(im, m):
        x = gx[i] + ruc
        if x > hx[h - 1]:
            hx[h] = x
            hv[h] = gv[i]
            h += 1
    lo = hx[0] if hx[0] > 0.0 else 0.0
    hi = hx[h - 1] if hx[h - 1] < xmax else xmax
    if lo > hi:
        if lo - hi > eps:
            return 0, ystar
        hi = lo
    return _merge_add(hx, hv, h, bx, phv, k, lo, hi, ox, ov, gap), ystar


@njit(cache=True)
def _argmin_pts(x_arr: np.ndarray, v_arr: np.ndarray, n: int) -> int:
    """Index of the smallest value (first one)."""
    best = 0
    for i in range(1, n):
        if v_arr[i] < v_arr[best]:
            best = i
    return best


@njit(cache=True)
def _clip(x: float, lo: float, hi: float) -> float:
    """x projected on [lo, hi]."""
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


@njit(cache=True)
def _first_period(
    is_init: bool, fpar: np.ndarray, closing: bool
) -> tuple[float, float, float, float, float]:
    """First period of an interval: (x lo, x hi, reserve ceiling, cap, y before) for x = p above Pmin.

    A start (y = 0): p + r <= min(RU, SU - Pmin) (RampUp from 0, MaxOutput1). The period after
    the initial state (is_init): RampUpInit / RampDownInit around P0 - Pmin. A shutdown right
    after (closing): also p + r <= SD - Pmin (MaxOutput2) and p <= RD (RampDown to 0).
    """
    span = fpar[_F_SPAN]
    ru = fpar[_F_RU]
    rd = fpar[_F_RD]
    if is_init:
        y0 = fpar[_F_P0A]
        cap = span
        lo = y0 - rd
        if lo < 0.0:
            lo = 0.0
    else:
        y0 = 0.0
        cap = fpar[_F_CS]
        lo = 0.0
    if closing and fpar[_F_CE] < cap:
        cap = fpar[_F_CE]
    ceil = ru + y0
    if ceil > cap:
        ceil = cap
    hi = ceil
    if closing and fpar[_F_RDC] < hi:
        hi = fpar[_F_RDC]
    return lo, hi, ceil, cap, y0


@njit(cache=True)
def _need_close(a: int, b: int, is_init: bool, t_len: int, min_up: int, allow_off: np.ndarray) -> bool:
    """Can the interval starting at a end at b with a shutdown at b + 1?"""
    if b >= t_len - 1 or not allow_off[b + 1]:
        return False
    return is_init or b - a + 1 >= min_up


@njit(cache=True)
def _row_general(
    a: int,
    is_init: bool,
    last_b: int,
    fpar: np.ndarray,
    ipar: np.ndarray,
    bx: np.ndarray,
    phi: np.ndarray,
    xstar: np.ndarray,
    rho: np.ndarray,
    allow_off: np.ndarray,
    erow: np.ndarray,
    target_b: int,
    ys: np.ndarray,
    bufs: np.ndarray,
    tail: np.ndarray,
    threshold: float,
) -> float:
    """Exact dispatch values E[a][b] for every b in a..last_b (case b: ramps may bind).

    Rows are cut short (E left at inf) once min F_{t-1} + tail[t] > threshold: tail[t] is a
    lower bound on everything from period t on and threshold = (best complete schedule so
    far) - (cost before a), so nothing this start could still reach can beat a known schedule
    strictly; values that could tie or win are always computed, which keeps the DP exact.
    With target_b >= 0 it instead propagates to target_b only, recording each period's window
    argmin in ys, and returns the optimal x at target_b (the caller backtracks).
    """
    t_len = phi.shape[0]
    k = ipar[_I_K]
    min_up = ipar[_I_UT]
    span = fpar[_F_SPAN]
    ruc = fpar[_F_RUC]
    rdc = fpar[_F_RDC]
    ce = fpar[_F_CE]
    gap = 1e-12 * (1.0 + span)
    eps = 1e-9 * (1.0 + span)
    fx, fv, ox, ov = bufs[0], bufs[1], bufs[2], bufs[3]
    gx, gv, hx, hv = bufs[4], bufs[5], bufs[6], bufs[7]
    cx, cv = bufs[8], bufs[9]
    record = target_b >= 0
    end_b = target_b if record else last_b
    # a single-period interval [a, a]
    if (record and target_b == a) or (not record and _need_close(a, a, is_init, t_len, min_up, allow_off)):
        closing = a < t_len - 1
        lo, hi, ceil, cap, y0 = _first_period(is_init, fpar, closing)
        if lo <= hi + eps:
            if hi < lo:
                hi = lo
            x = _clip(xstar[a], lo, hi)
            if record:
                return x
            erow[a] = _interp(bx, phi[a], k, x) - rho[a] * ceil
        elif record:
            return -1.0
    lo, hi, ceil, cap, y0 = _first_period(is_init, fpar, False)
    if lo > hi + eps:
        return -1.0
    if hi < lo:
        hi = lo
    if a == t_len - 1 and not record:
        erow[a] = _interp(bx, phi[a], k, _clip(xstar[a], lo, hi)) - rho[a] * ceil
        return 0.0
    # F_a = phi_a - rho_a * ceil on [lo, hi]
    gx[0] = lo
    gx[1] = hi
    gv[0] = -rho[a] * ceil
    gv[1] = gv[0]
    n = _merge_add(gx, gv, 2 if hi > lo else 1, bx, phi[a], k, lo, hi, fx, fv, gap)
    for t in range(a + 1, end_b + 1):
        if threshold < np.inf:
            low = fv[0]
            for i in range(1, n):
                if fv[i] < low:
                    low = fv[i]
            if low + tail[t] > threshold:
                return 0.0
        closes = _need_close(a, t, is_init, t_len, min_up, allow_off) if not record else (t == end_b and t < t_len - 1)
        if closes:
            nc, ystar = _step(fx, fv, n, ce, ce if ce < rdc else rdc, rho[t], ruc, rdc, bx, phi[t], k, gx, gv, hx, hv, cx, cv, gap, eps)
            if nc > 0:
                if record:
                    ys[t] = ystar
                    return cx[_argmin_pts(cx, cv, nc)]
                erow[t] = cv[_argmin_pts(cx, cv, nc)]
            elif record:
                return -1.0
        if t == end_b and t < t_len - 1:
            break
        n, ystar = _step(fx, fv, n, span, span, rho[t], ruc, rdc, bx, phi[t], k, gx, gv, hx, hv, ox, ov, gap, eps)
        if n == 0:
            return -1.0
        if record:
            ys[t] = ystar
        fx, ox = ox, fx
        fv, ov = ov, fv
        if t == t_len - 1:
            best = _argmin_pts(fx, fv, n)
            if record:
                return fx[best]
            erow[t] = fv[best]
    return 0.0


@njit(cache=True)
def _mode_value(phi_t: np.ndarray, bx: np.ndarray, k: int, xs: float, lo: float, hi: float, ceil: float, rho_t: float, eps: float) -> float:
    """Best phi_t - rho_t * ceil over x in [lo, hi] (inf if empty): phi_t at clip(argmin)."""
    if lo > hi + eps:
        return np.inf
    if hi < lo:
        hi = lo
    return _interp(bx, phi_t, k, _clip(xs, lo, hi)) - rho_t * ceil


@njit(cache=True)
def _solve_kernel(
    fpar: np.ndarray,
    ipar: np.ndarray,
    bx: np.ndarray,
    bc: np.ndarray,
    cscale: np.ndarray,
    sc: np.ndarray,
    sc_none: np.ndarray,
    price: np.ndarray,
    rho: np.ndarray,
    fixed: np.ndarray,
    force_general: bool,
    out_on: np.ndarray,
    out_x: np.ndarray,
    out_r: np.ndarray,
    out_su: np.ndarray,
) -> float:
    """The whole subproblem: returns its minimum (inf if infeasible) and fills the plan."""
    t_len = price.shape[0]
    k = ipar[_I_K]
    min_up = ipar[_I_UT]
    min_down = ipar[_I_DT]
    on0 = ipar[_I_ON0] == 1
    dmax = ipar[_I_DMAX]
    case_a = ipar[_I_CASEA] == 1 and not force_general
    pmin = fpar[_F_PMIN]
    span = fpar[_F_SPAN]
    ru = fpar[_F_RU]
    rd = fpar[_F_RD]
    ce = fpar[_F_CE]
    p0a = fpar[_F_P0A]
    eps = 1e-9 * (1.0 + span)
    for t in range(t_len):
        out_on[t] = 0
        out_x[t] = 0.0
        out_r[t] = 0.0
        out_su[t] = 0.0
    if on0 and p0a > span + eps:  # MaxOutput2Init with w = 0 already fails
        return np.inf
    # which states each period may take: fixed masks, must-run, initial up/down requirements
    allow_on = np.ones(t_len, dtype=np.bool_)
    allow_off = np.ones(t_len, dtype=np.bool_)
    init_up = min_up - ipar[_I_UT0] if on0 else 0
    init_down = min_down - ipar[_I_DT0] if not on0 else 0
    for t in range(t_len):
        if fixed[t] == 0:
            allow_on[t] = False
        elif fixed[t] == 1:
            allow_off[t] = False
        if ipar[_I_MUST] == 1 or t < init_up:
            allow_off[t] = False
        if t < init_down:
            allow_on[t] = False
    last_forced_on = np.empty(t_len, dtype=np.int64)
    prev = -1
    for t in range(t_len):
        if not allow_off[t]:
            prev = t
        last_forced_on[t] = prev
    # phi_t at the curve's breakpoints and its minimiser over [0, span]
    phi = np.empty((t_len, k))
    xstar = np.empty(t_len)
    for t in range(t_len):
        best = 0
        for j in range(k):
            phi[t, j] = cscale[t] * bc[j] - price[t] * (pmin + bx[j]) + rho[t] * bx[j]
            if phi[t, j] < phi[t, best]:
                best = j
        xstar[t] = bx[best]
    # case (a): per-period values of each kind of on period
    cum = np.zeros(t_len + 1)
    v_start = np.empty(t_len)
    v_end = np.empty(t_len)
    v_both = np.empty(t_len)
    v_last = np.empty(t_len)
    if case_a:
        lo_s, hi_s, ceil_s, cap_s, y_s = _first_period(False, fpar, False)
        lo_b, hi_b, ceil_b, cap_b, y_b = _first_period(False, fpar, True)
        ceil_e = ce if ce < span else span
        hi_e = ceil_e if ceil_e < fpar[_F_RDC] else fpar[_F_RDC]
        for t in range(t_len):
            v_normal = _mode_value(phi[t], bx, k, xstar[t], 0.0, span, span, rho[t], eps)
            cum[t + 1] = cum[t] + v_normal
            v_last[t] = v_normal
            v_start[t] = _mode_value(phi[t], bx, k, xstar[t], lo_s, hi_s, ceil_s, rho[t], eps)
            v_both[t] = _mode_value(phi[t], bx, k, xstar[t], lo_b, hi_b, ceil_b, rho[t], eps)
            v_end[t] = _mode_value(phi[t], bx, k, xstar[t], 0.0, hi_e, ceil_e, rho[t], eps)
        lo_i, hi_i, ceil_i, cap_i, y_i = _first_period(True, fpar, False)
        lo_ie, hi_ie, ceil_ie, cap_ie, y_ie = _first_period(True, fpar, True)
        v_init = _mode_value(phi[0], bx, k, xstar[0], lo_i, hi_i, ceil_i, rho[0], eps)
        v_init_end = _mode_value(phi[0], bx, k, xstar[0], lo_ie, hi_ie, ceil_ie, rho[0], eps)
    else:
        v_init = 0.0
        v_init_end = 0.0
    m_buf = 2 * t_len * (k + 4) + 16
    bufs = np.empty((10, m_buf))
    ys = np.zeros(t_len)
    erow = np.empty(t_len)
    # the interval DP
    s_val = np.full(t_len + 1, np.inf)  # s_val[s]: best cost of periods < s, shutdown at s
    s_arg = np.full(t_len + 1, -2, dtype=np.int64)  # the interval's start a (-1: shut at t=0)
    pre_arg = np.full(t_len, -3, dtype=np.int64)  # s of the shutdown before a start at a
    final = np.inf
    final_kind = -1
    final_arg = -1
    if on0 and allow_off[0] and p0a <= ce + eps and p0a <= rd + eps and ru + p0a >= -eps:
        s_val[0] = 0.0
        s_arg[0] = -1
    if not on0 and last_forced_on[t_len - 1] < 0:
        final = 0.0
        final_kind = 0
    # For pruning general rows: tail[t] <= the cost of periods t.. of any schedule (an on
    # period costs at least min phi_t - rho_t * span, an off period 0, a start >= 0), and
    # upper = the best complete schedule found so far.
    tail = np.zeros(t_len + 1)
    if ipar[_I_SCNONNEG] == 1 and not case_a:
        for t in range(t_len - 1, -1, -1):
            low = phi[t, 0]
            for j in range(1, k):
                if phi[t, j] < low:
                    low = phi[t, j]
            low -= rho[t] * span
            tail[t] = tail[t + 1] + (low if low < 0.0 else 0.0)
    else:
        tail[0] = -np.inf
    upper = final
    off_to_end_from = last_forced_on[t_len - 1] + 1  # a shutdown at s >= this may stay off
    # A start at a after a shutdown at s >= dmax periods back is priced sc[a, dmax] whatever s:
    # those shutdowns enter through a running minimum (reset when a forced-on period cuts it).
    cold_min = np.inf
    cold_arg = -1
    cold_next = 0
    cold_from = 0
    # case (a): S[b+1] = cum[b] + v_end[b] + min over starts a of key[a] (a running minimum too)
    key = np.full(t_len, np.inf)
    key_min = np.inf
    key_arg = -1
    key_next = 1 if on0 else 0
    init_ok = on0  # the interval continuing from the initial state is still possible
    for a in range(t_len):
        is_init = on0 and a == 0
        if not allow_on[a]:
            key_min = np.inf
            key_arg = -1
            key_next = a + 1
            init_ok = False
            continue
        pre = np.inf
        if is_init:
            pre = 0.0
            pre_arg[a] = -2
        else:
            if not on0 and (a == 0 or last_forced_on[a - 1] < 0) and a >= init_down:
                pre = sc_none[a]
                pre_arg[a] = -1
            if a >= 1:
                first_s = last_forced_on[a - 1] + 1
                if first_s != cold_from:
                    cold_from = first_s
                    cold_min = np.inf
                    cold_arg = -1
                    cold_next = first_s
                while cold_next <= a - dmax:
                    if s_val[cold_next] < cold_min:
                        cold_min = s_val[cold_next]
                        cold_arg = cold_next
                    cold_next += 1
                if cold_min < np.inf and cold_min + sc[a, dmax] < pre:
                    pre = cold_min + sc[a, dmax]
                    pre_arg[a] = cold_arg
                s_lo = a - dmax + 1
                if s_lo < first_s:
                    s_lo = first_s
                for s in range(s_lo, a - min_down + 1):
                    if s_val[s] < np.inf:
                        c = s_val[s] + sc[a, a - s]
                        if c < pre:
                            pre = c
                            pre_arg[a] = s
        if case_a:
            first = v_init if is_init else v_start[a]
            if pre < np.inf and first < np.inf:
                key[a] = pre + first - cum[a + 1]
            lim = a - min_up + 1
            if lim > a - 1:
                lim = a - 1
            if a == t_len - 1:
                lim = a - 1  # no minimum up time against the end of the horizon
            while key_next <= lim:
                if key[key_next] < key_min:
                    key_min = key[key_next]
                    key_arg = key_next
                key_next += 1
            closing = a < t_len - 1
            if closing and not allow_off[a + 1]:
                continue
            e = v_end[a] if closing else v_last[a]
            best = key_min + cum[a] + e
            arg = key_arg
            if init_ok and a >= 1 and key[0] + cum[a] + e < best:
                best = key[0] + cum[a] + e
                arg = 0
            if pre < np.inf and (is_init or min_up <= 1 or not closing):
                if is_init:
                    c = v_init_end if closing else v_init
                else:
                    c = pre + (v_both[a] if closing else v_start[a])
                if c < best:
                    best = c
                    arg = a
            if best == np.inf:
                continue
            if closing:
                s_val[a + 1] = best
                s_arg[a + 1] = arg
            elif best < final:
                final = best
                final_kind = 2
                final_arg = arg
            continue
        if pre == np.inf:
            continue
        last_b = a
        while last_b + 1 < t_len and allow_on[last_b + 1]:
            last_b += 1
        for b in range(a, last_b + 1):
            erow[b] = np.inf
        threshold = np.inf
        if upper < np.inf and tail[0] > -np.inf:
            threshold = upper - pre + 1e-9 * (1.0 + abs(upper) + abs(pre) + abs(tail[0]))
        _row_general(a, is_init, last_b, fpar, ipar, bx, phi, xstar, rho, allow_off, erow, -1, ys, bufs, tail, threshold)
        for b in range(a, last_b + 1):
            if erow[b] == np.inf:
                continue
            c = pre + erow[b]
            if b == t_len - 1:
                if c < final:
                    final = c
                    final_kind = 2
                    final_arg = a
            elif c < s_val[b + 1]:
                s_val[b + 1] = c
                s_arg[b + 1] = a
            if c < upper and (b == t_len - 1 or b + 1 >= off_to_end_from):
                upper = c
    for s in range(t_len):  # off from a shutdown at s to the end
        if s_val[s] < final and last_forced_on[t_len - 1] < s:
            final = s_val[s]
            final_kind = 1
            final_arg = s
    if final == np.inf:
        return np.inf
    # walk back through the intervals
    n_int = 0
    int_a = np.empty(t_len, dtype=np.int64)
    int_b = np.empty(t_len, dtype=np.int64)
    if final_kind == 2:
        a = final_arg
        b = t_len - 1
    elif final_kind == 1:
        s = final_arg
        a = s_arg[s]
        b = s - 1
    else:
        a = -1
        b = -1
    while a >= 0:
        int_a[n_int] = a
        int_b[n_int] = b
        n_int += 1
        s = pre_arg[a]
        if s == -2:  # continues from the initial state
            break
        if s == -1:
            out_su[a] = sc_none[a]
            break
        d = a - s
        if d > dmax:
            d = dmax
        out_su[a] = sc[a, d]
        b = s - 1
        a = s_arg[s]
    # dispatch of each chosen interval
    for q in range(n_int):
        a = int_a[q]
        b = int_b[q]
        is_init = on0 and a == 0
        closing_end = b < t_len - 1
        for t in range(a, b + 1):
            out_on[t] = 1
        if case_a:
            for t in range(a, b + 1):
                closes = closing_end and t == b
                if t == a:
                    lo, hi, ceil, cap, y0 = _first_period(is_init, fpar, closes)
                elif closes:
                    lo = 0.0
                    ceil = ce if ce < span else span
                    hi = ceil if ceil < fpar[_F_RDC] else fpar[_F_RDC]
                else:
                    lo = 0.0
                    hi = span
                if hi < lo:
                    hi = lo
                out_x[t] = _clip(xstar[t], lo, hi)
        else:
            x_b = _row_general(a, is_init, b, fpar, ipar, bx, phi, xstar, rho, allow_off, erow, b, ys, bufs, tail, np.inf)
            out_x[b] = x_b
            for t in range(b, a, -1):
                out_x[t - 1] = _clip(ys[t], out_x[t] - fpar[_F_RUC], out_x[t] + fpar[_F_RDC])
        # largest reserve each period can carry given the dispatch (reserve prices are >= 0)
        for t in range(a, b + 1):
            closes = closing_end and t == b
            if t == a:
                lo, hi, ceil, cap, y0 = _first_period(is_init, fpar, closes)
            else:
                cap = span
                if closes and ce < cap:
                    cap = ce
                ceil = ru + out_x[t - 1]
                if ceil > cap:
                    ceil = cap
            r = ceil - out_x[t]
            out_r[t] = r if r > 0.0 else 0.0
    return final


def _as_periods(values: np.ndarray | Sequence[float], name: str) -> np.ndarray:
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of per-period values")
    return array


def solve_unit(
    unit: ThermalUnit,
    price: np.ndarray,
    reserve_price: np.ndarray,
    fixed: np.ndarray | None = None,
    *,
    _force_general: bool = False,
) -> UnitPlan | None:
    """Exact minimum of the unit's Lagrangian subproblem; None when no schedule is feasible.

    `price[t]` is any real ($ per MW per period), `reserve_price[t]` >= 0, `fixed[t]` in
    {-1 free, 0 off, 1 on} restricts the commitment (branching). `_force_general` runs the
    ramp-aware dispatch even where the closed form applies (a cross-check for the tests).
    """
    price_arr = _as_periods(price, "price")
    rho = _as_periods(reserve_price, "reserve_price")
    t_len = price_arr.shape[0]
    if rho.shape[0] != t_len:
        raise ValueError("price and reserve_price must have the same length")
    if np.any(rho < 0):
        raise ValueError("reserve_price must be >= 0 (the relaxed reserve row is a >= row)")
    if fixed is None:
        fixed_arr = np.full(t_len, -1, dtype=np.int8)
    else:
        fixed_arr = np.ascontiguousarray(fixed, dtype=np.int8)
        if fixed_arr.shape != (t_len,):
            raise ValueError("fixed must have one entry per period")
    comp = _compile(unit, t_len)
    on = np.zeros(t_len, dtype=np.int8)
    x = np.zeros(t_len)
    r = np.zeros(t_len)
    su = np.zeros(t_len)
    value = _solve_kernel(
        comp.fpar, comp.ipar, comp.bx, comp.bc, comp.scale, comp.sc, comp.sc_none, price_arr, rho, fixed_arr, _force_general, on, x, r, su
    )
    if not math.isfinite(value):
        return None
    p = np.where(on == 1, x + unit.pmin, 0.0)
    return UnitPlan(value=float(value), on=on, p=p, r=r, startup_cost=su)


@njit(cache=True)
def _solve_batch(
    fpar: np.ndarray,
    ipar: np.ndarray,
    bx: np.ndarray,
    bc: np.ndarray,
    cscale: np.ndarray,
    sc: np.ndarray,
    sc_none: np.ndarray,
    price: np.ndarray,
    rho: np.ndarray,
    fixed: np.ndarray,
    out_on: np.ndarray,
    out_x: np.ndarray,
    out_r: np.ndarray,
    out_su: np.ndarray,
    values: np.ndarray,
) -> None:
    """`_solve_kernel` for every unit of a packed fleet (one call per dual iteration)."""
    for i in range(fpar.shape[0]):
        values[i] = _solve_kernel(
            fpar[i], ipar[i], bx[i], bc[i], cscale[i], sc[i], sc_none[i], price, rho, fixed[i], False, out_on[i], out_x[i], out_r[i], out_su[i]
        )


@dataclass
class FleetPlans:
    """Every unit's optimal plan as (units, T) arrays; value is inf where a unit is infeasible."""

    value: np.ndarray  # (N,)
    on: np.ndarray  # (N, T) int8
    p: np.ndarray  # (N, T) total output MW
    r: np.ndarray  # (N, T) reserve MW
    startup_cost: np.ndarray  # (N, T)

    def plan(self, i: int) -> UnitPlan | None:
        """Unit i's plan (views into the arrays), None if its subproblem is infeasible."""
        if not math.isfinite(self.value[i]):
            return None
        return UnitPlan(value=float(self.value[i]), on=self.on[i], p=self.p[i], r=self.r[i], startup_cost=self.startup_cost[i])


class FleetSubproblems:
    """All units' subproblems for one horizon, packed once, solved in one compiled call.

    The dual iterations call this with new prices hundreds of times; packing the fleet once
    (start-up tables, curves) leaves only the DPs themselves per call.
    """

    def __init__(self, units: Sequence[ThermalUnit], periods: int) -> None:
        self.units = tuple(units)
        self.periods = int(periods)
        comps = [_compile(unit, self.periods) for unit in self.units]
        n = len(comps)
        kmax = max((c.bx.shape[0] for c in comps), default=1)
        dmax = max((c.sc.shape[1] for c in comps), default=1)
        self._fpar = np.zeros((n, comps[0].fpar.shape[0] if comps else 9))
        self._ipar = np.zeros((n, comps[0].ipar.shape[0] if comps else 10), dtype=np.int64)
        self._bx = np.zeros((n, kmax))
        self._bc = np.zeros((n, kmax))
        self._scale = np.zeros((n, self.periods))
        self._sc = np.zeros((n, self.periods, dmax))
        self._sc_none = np.zeros((n, self.periods))
        for i, c in enumerate(comps):
            k = c.bx.shape[0]
            self._fpar[i] = c.fpar
            self._ipar[i] = c.ipar
            self._bx[i, :k] = c.bx
            self._bc[i, :k] = c.bc
            self._scale[i] = c.scale
            self._sc[i, :, : c.sc.shape[1]] = c.sc
            self._sc_none[i] = c.sc_none
        self._pmin = np.array([unit.pmin for unit in self.units])

    def solve_arrays(
        self, price: np.ndarray, reserve_price: np.ndarray, fixed: np.ndarray | None = None
    ) -> FleetPlans:
        """Every unit's plan; `fixed` is (N, T) in {-1, 0, 1} or None (all free)."""
        price_arr = _as_periods(price, "price")
        rho = _as_periods(reserve_price, "reserve_price")
        n, t_len = len(self.units), self.periods
        if price_arr.shape[0] != t_len or rho.shape[0] != t_len:
            raise ValueError(f"prices must have {t_len} periods")
        if np.any(rho < 0):
            raise ValueError("reserve_price must be >= 0 (the relaxed reserve row is a >= row)")
        if fixed is None:
            fixed_arr = np.full((n, t_len), -1, dtype=np.int8)
        else:
            fixed_arr = np.ascontiguousarray(fixed, dtype=np.int8)
            if fixed_arr.shape != (n, t_len):
                raise ValueError(f"fixed must be ({n}, {t_len})")
        on = np.zeros((n, t_len), dtype=np.int8)
        x = np.zeros((n, t_len))
        r = np.zeros((n, t_len))
        su = np.zeros((n, t_len))
        values = np.zeros(n)
        if n:
            _solve_batch(self._fpar, self._ipar, self._bx, self._bc, self._scale, self._sc, self._sc_none, price_arr, rho, fixed_arr, on, x, r, su, values)
        p = np.where(on == 1, x + self._pmin[:, None], 0.0)
        return FleetPlans(value=values, on=on, p=p, r=r, startup_cost=su)

    def solve(
        self,
        price: np.ndarray,
        reserve_price: np.ndarray,
        fixed_per_unit: Sequence[np.ndarray | None] | None = None,
    ) -> list[UnitPlan | None]:
        """Every unit's `UnitPlan` (None where infeasible), as `solve_unit` would give it."""
        fixed = None
        if fixed_per_unit is not None:
            if len(fixed_per_unit) != len(self.units):
                raise ValueError("fixed_per_unit must have one entry per unit")
            fixed = np.full((len(self.units), self.periods), -1, dtype=np.int8)
            for i, mask in enumerate(fixed_per_unit):
                if mask is not None:
                    fixed[i] = mask
        plans = self.solve_arrays(price, reserve_price, fixed)
        return [plans.plan(i) for i in range(len(self.units))]


_FLEETS: dict[tuple[int, tuple[int, ...]], FleetSubproblems] = {}


def solve_units(
    units: Sequence[ThermalUnit],
    price: np.ndarray,
    reserve_price: np.ndarray,
    fixed_per_unit: Sequence[np.ndarray | None] | None = None,
) -> list[UnitPlan | None]:
    """`solve_unit` for every unit of a fleet under the same prices (one dual iteration).

    The packed fleet is kept for the same units (by identity; the cache holds them, so an id
    cannot be reused while cached) and horizon; hold a `FleetSubproblems` to control that.
    """
    t_len = int(np.shape(price)[0])
    key = (t_len, tuple(id(unit) for unit in units))
    fleet = _FLEETS.get(key)
    if fleet is None:
        if len(_FLEETS) >= 8:
            _FLEETS.clear()
        fleet = _FLEETS[key] = FleetSubproblems(units, t_len)
    return fleet.solve(price, reserve_price, fixed_per_unit)
