"""Economic dispatch with ramps for a fixed commitment: the LP left once u_g(t) is chosen.

With the commitment fixed (and so the starts v and shutdowns w), pglib-uc's MODEL.tex is a
linear program in the power above minimum p_g(t), the reserve r_g(t) and the renewable
output p_w(t): demand met exactly, reserve held, MaxOutput1/2 (start-up / shut-down
capability), ramp up (with reserve) and ramp down including the initial period, and the
convex piecewise-linear production costs. The unit-commitment search calls this many times,
so it is solved here by our own algorithm, exactly and without an LP library:

1. *Per-unit presolve* (exact): the on periods of a unit form runs; the rows that cross a
   start or a shutdown (p_g = 0 when off) become caps and bounds, the constant rows of the
   initial period are checked, and the ramp chain is propagated forward and backward (interval
   propagation is exact on a chain), which proves a unit unable to follow its commitment and
   gives tight bounds. Variables whose range closes (Pmin = Pmax, a start-up capability equal
   to Pmin, ...) are fixed and rows that cannot bind are dropped.
2. *Primal-dual interior point* (Mehrotra predictor-corrector, infeasible start) on the rest.
   Every row of a unit touches only that unit's variables, so the Newton system is one
   banded block per run (the cost epigraph variable eliminated, (p, r) interleaved:
   bandwidth 3) plus the 2T coupling rows (demand, reserve). A compiled kernel (numba)
   factors each block, inverts it into the dense 2T x 2T Schur complement, which a compiled
   Gauss-Jordan inverts (a threaded BLAS is slower at this size).
   Elastic variables at a large price on the demand and reserve rows make every instance
   feasible (and keep the Schur complement regular).
3. *Exact finish*: the interior point's active set (slack below its dual) is read, the
   nearest point keeping it active and meeting the coupling rows is computed (augmented
   Lagrangian, same linear algebra; a few repair rounds for a misread bound or row), and so
   is the nearest dual point with zero reduced cost off the bounds. Primal feasible, dual
   feasible and complementary on one active set: the answer is *proven* optimal, to
   rounding. Near the optimum an interior point may break down numerically (degenerate
   faces: reserve that can move between units, demand and reserve rows tied by an active
   cap); it is then rerun with other settings (`_ATTEMPTS`: step factor, refinement, Schur
   regularization, a tiny cost perturbation) until one is finished and proven.
4. *Verdict*: an optimum proven to use the elastics, with the price raised step by step,
   means the commitment is infeasible (`ScheduleInfeasible`, naming the period). A
   commitment on which no attempt can prove anything (in practice: infeasible by a
   rounding's width) is reported infeasible too, and the message says so.
5. *Polish*: the last 1e-12 of demand and reserve residual is put where the rows have room.

Periods in messages are 1-based, as in MODEL.tex and the pglib-uc files.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from dataclasses import dataclass

import numba as nb
import numpy as np

from .errors import ScheduleInfeasible
from .model import Problem

__all__ = ["Dispatch", "dispatch"]

#: Two bounds closer than this (MW) make a fixed variable; rows within it of redundancy drop.
_FIX_TOL = 1e-9
#: Elastic MW (demand or reserve) above this after the price was raised: infeasible.
_ELASTIC_TOL = 1e-6
#: Elastic MW an unfinished interior point may use before a search takes it as infeasible
#: (`prove_infeasible=False`): far above the interior point's accuracy near its optimum.
_QUICK_ELASTIC = 1e-3
#: Interior-point iterations per attempt.
_MAX_ITER = 200
#: The interior point's answer must be this accurate (relative residuals and gap) to be used.
_ACCURACY = 1e-9
#: Elastic price, times the dearest slope over the typical one (scaled costs).
_PENALTY = 1e3
#: Gondzio centrality correctors per interior-point iteration (each one more solve; measured
#: no fewer iterations on ca, so off).
_CORRECTORS = 0
#: Least initial row slack (scaled units).
_S0 = 1.0
#: The least accurate interior point whose active set is read (its answer checked against it).
_FINISH_FROM = 1e-4
_DEBUG = False  # developer switch: print the iterations and why a finish is refused
#: The interior point's settings, tried in turn when one breaks down numerically (step
#: length factor, iterative refinement steps per solve, relative dual regularization of the
#: Schur complement: it turns singular when rows become dependent at the optimum, e.g. an
#: active cap row tying a period's demand and reserve rows; relative random perturbation of
#: the costs, which breaks ties between equally cheap dispatches: the answer is still
#: finished and proven optimal on the unperturbed LP; the accuracy at which to stop and try
#: the exact finish, 0 for the full 1e-10: stopping the first attempt at 1e-8 was measured
#: slower, its finish failing often enough to cost a second run).
_ATTEMPTS = (
    (0.995, 0, 0.0, 0.0, 0.0), (0.99, 1, 0.0, 0.0, 0.0), (0.9, 3, 0.0, 0.0, 0.0),
    (0.99, 1, 1e-10, 0.0, 0.0), (0.99, 1, 0.0, 1e-7, 0.0), (0.9, 2, 1e-8, 1e-6, 0.0), (0.95, 1, 1e-10, 1e-5, 0.0),
    (0.9, 3, 0.0, 1e-4, 0.0),
)
#: Primal regularization added to K's diagonal (scaled units).
_REG = 1e-8


@dataclass
class Dispatch:
    """The optimal dispatch of a fixed commitment, with the prices of its coupling rows."""

    p: np.ndarray  # (G, T) total output MW of each thermal unit (0 when off)
    r: np.ndarray  # (G, T) reserve MW (0 when off)
    renewable: np.ndarray  # (W, T) MW
    production_cost: float  # sum over on periods of the unit's curve at p (no-load included)
    marginal_price: np.ndarray  # (T,) dual of the demand row: cost of one more MW in each period
    reserve_price: np.ndarray  # (T,) dual of the reserve row (>= 0)


# --------------------------------------------------------------------------------------------
# Fleet data that does not depend on the commitment: computed once per Problem.


@dataclass(frozen=True)
class _Fleet:
    """The thermal units as arrays (MW, cost per period), and their cost curves as lines."""

    pmin: np.ndarray
    pmax: np.ndarray
    span: np.ndarray
    ru: np.ndarray
    rd: np.ndarray
    su_cap: np.ndarray  # SU - Pmin: most p + r in a start period (MaxOutput1)
    sd_cap: np.ndarray  # SD - Pmin: most p + r before a shutdown (MaxOutput2)
    on_t0: np.ndarray
    p0_above: np.ndarray  # P0 - Pmin
    p0: np.ndarray
    no_load: np.ndarray
    scale: np.ndarray  # (G, T) each period's multiplier of the unit's curve (ThermalUnit.cost_scale)
    seg_ptr: np.ndarray  # (G+1,) each unit's lines in seg_m / seg_h
    seg_m: np.ndarray  # slope of each line (cost per MW)
    seg_h: np.ndarray  # line j: c >= m_j p - seg_h_j  (p above Pmin, c cost above no-load)
    seg_start: np.ndarray  # where segment j begins, MW above Pmin
    seg_width: np.ndarray  # its width, MW
    max_slope: float
    typical_slope: float  # mean slope weighted by segment width: the cost scale
    w_lo: np.ndarray  # (T,) renewable minimum in total
    w_hi: np.ndarray  # (T,) renewable maximum in total
    names: tuple[str, ...]


_FLEETS: weakref.WeakKeyDictionary[Problem, _Fleet] = weakref.WeakKeyDictionary()
#: The _Fleet fields _unit_bounds reads per unit (what a subset of units keeps).
_PER_UNIT = ("span", "ru", "rd", "su_cap", "sd_cap", "on_t0", "p0_above", "p0", "pmin")


def _fleet(problem: Problem) -> _Fleet:
    """The commitment-independent arrays of `problem` (cached: dispatch is called many times)."""
    cached = _FLEETS.get(problem)
    if cached is not None:
        return cached
    units = problem.thermal
    pmin = np.array([u.pmin for u in units], dtype=float)
    pmax = np.array([u.pmax for u in units], dtype=float)
    ptr = [0]
    ms: list[float] = []
    widths: list[float] = []
    hs: list[float] = []
    starts: list[float] = []
    for u in units:
        mw = np.asarray(u.curve_mw, dtype=float)
        cost = np.asarray(u.curve_cost, dtype=float)
        for j in range(len(mw) - 1):
            width = mw[j + 1] - mw[j]
            if width <= 1e-12:
                continue
            m = (cost[j + 1] - cost[j]) / width
            # c >= (cost_j - cost_0) + m (p - (mw_j - pmin))  <=>  m p - c <= m (mw_j - pmin) - (cost_j - cost_0)
            ms.append(m)
            widths.append(width)
            starts.append(mw[j] - u.pmin)
            hs.append(m * (mw[j] - u.pmin) - (cost[j] - cost[0]))
        ptr.append(len(ms))
    T = problem.periods
    w_lo = np.zeros(T)
    w_hi = np.zeros(T)
    for w in problem.renewable:
        w_lo += np.asarray(w.pmin, dtype=float)[:T]
        w_hi += np.asarray(w.pmax, dtype=float)[:T]
    seg_m = np.array(ms, dtype=float)
    scale = np.array([u.scale(T) for u in units], dtype=float).reshape(len(units), T)
    mean_scale = float(scale.mean()) if scale.size and scale.mean() > 0 else 1.0
    fleet = _Fleet(
        pmin=pmin,
        pmax=pmax,
        span=np.maximum(pmax - pmin, 0.0),
        ru=np.array([u.ramp_up for u in units], dtype=float),
        rd=np.array([u.ramp_down for u in units], dtype=float),
        su_cap=np.array([u.startup_limit for u in units], dtype=float) - pmin,
        sd_cap=np.array([u.shutdown_limit for u in units], dtype=float) - pmin,
        on_t0=np.array([u.on_t0 for u in units], dtype=bool),
        p0_above=np.array([u.p_t0 - u.pmin for u in units], dtype=float),
        p0=np.array([u.p_t0 for u in units], dtype=float),
        no_load=np.array([u.curve_cost[0] for u in units], dtype=float),
        scale=scale,
        seg_ptr=np.array(ptr, dtype=np.int64),
        seg_m=seg_m,
        seg_h=np.array(hs, dtype=float),
        seg_start=np.array(starts, dtype=float),
        seg_width=np.array(widths, dtype=float),
        max_slope=float(np.max(np.abs(seg_m)) * scale.max(initial=1.0)) if seg_m.size else 0.0,
        typical_slope=float(np.average(np.abs(seg_m), weights=np.array(widths)) * mean_scale)
        if seg_m.size and sum(widths) > 0
        else 0.0,
        w_lo=w_lo,
        w_hi=w_hi,
        names=tuple(u.name for u in units),
    )
    _FLEETS[problem] = fleet
    return fleet


def _mw(x: float) -> str:
    return f"{x:,.1f}" if abs(x) >= 0.05 or x == 0 else f"{x:.3g}"


# --------------------------------------------------------------------------------------------
# Per-unit presolve.


@dataclass
class _Units:
    """Bounds of every (unit, period) after the per-unit presolve, in MW above Pmin."""

    cap: np.ndarray  # (G, T) most p + r (MaxOutput1/2, ramp-up from off or from P0)
    lo: np.ndarray  # (G, T) least p (propagated)
    hi: np.ndarray  # (G, T) most p (propagated)


def _unit_bounds(problem: Problem, fleet: _Fleet, on: np.ndarray, subset: np.ndarray | None = None) -> _Units:
    """Caps and propagated bounds of each unit; ScheduleInfeasible if a unit cannot follow `on`.

    `subset` (unit indices): `on` holds only these units' rows, in that order (the
    dispatch bound re-derives the rows of the few units a local-search move changes)."""
    if subset is not None:
        fleet = dataclasses.replace(
            fleet, **{name: getattr(fleet, name)[subset] for name in _PER_UNIT}, names=tuple(fleet.names[g] for g in subset)
        )
    G, T = on.shape
    prev_on = np.empty_like(on)
    prev_on[:, 0] = fleet.on_t0
    prev_on[:, 1:] = on[:, :-1]
    next_on = np.ones_like(on)  # after the horizon: no shutdown row
    next_on[:, :-1] = on[:, 1:]
    start = on & ~prev_on
    shut = on & ~next_on
    span = fleet.span[:, None]
    cap = np.broadcast_to(span, (G, T)).copy()
    # A start (t>1: RampUp with p(t-1) = 0; t=1: RampUpInit with U0 = 0) and MaxOutput1.
    cap = np.where(start, np.minimum(cap, np.minimum(fleet.su_cap, fleet.ru)[:, None]), cap)
    # RampUpInit for a unit on before the horizon and in period 1.
    init_on = fleet.on_t0 & on[:, 0]
    cap[:, 0] = np.where(init_on, np.minimum(cap[:, 0], fleet.ru + fleet.p0_above), cap[:, 0])
    # MaxOutput2: the period before a shutdown.
    cap = np.where(shut, np.minimum(cap, fleet.sd_cap[:, None]), cap)
    hi = np.minimum(cap, span)
    # RampDown into an off period: p(t) - 0 <= RD.
    hi = np.where(shut, np.minimum(hi, fleet.rd[:, None]), hi)
    lo = np.zeros((G, T))
    # RampDownInit: P0 - Pmin - p(1) <= RD.
    lo[:, 0] = np.where(init_on, np.maximum(0.0, fleet.p0_above - fleet.rd), 0.0)
    # The constant rows of the initial period (unit on before, off in period 1).
    init_off = fleet.on_t0 & ~on[:, 0]
    for g in np.flatnonzero(init_off & (fleet.p0_above > fleet.rd + _FIX_TOL)).tolist():
        raise ScheduleInfeasible(
            f"period 1: unit {fleet.names[g]} is shut down but cannot ramp down from "
            f"{_mw(fleet.p0[g])} MW (ramp-down limit {_mw(fleet.rd[g])} MW above Pmin {_mw(fleet.pmin[g])})"
        )
    for g in np.flatnonzero(init_off & (fleet.p0_above > np.minimum(fleet.span, fleet.sd_cap) + _FIX_TOL)).tolist():
        raise ScheduleInfeasible(
            f"period 1: unit {fleet.names[g]} is shut down from {_mw(fleet.p0[g])} MW, above its "
            f"shut-down capability {_mw(fleet.sd_cap[g] + fleet.pmin[g])} MW"
        )
    lo = np.where(on, lo, 0.0)
    hi = np.where(on, hi, 0.0)
    raw_hi = hi.copy()
    both = on[:, 1:] & on[:, :-1]
    for t in range(1, T):
        b = both[:, t - 1]
        lo[:, t] = np.where(b, np.maximum(lo[:, t], lo[:, t - 1] - fleet.rd), lo[:, t])
        hi[:, t] = np.where(b, np.minimum(hi[:, t], hi[:, t - 1] + fleet.ru), hi[:, t])
    for t in range(T - 2, -1, -1):
        b = both[:, t]
        hi[:, t] = np.where(b, np.minimum(hi[:, t], hi[:, t + 1] + fleet.rd), hi[:, t])
        lo[:, t] = np.where(b, np.maximum(lo[:, t], lo[:, t + 1] - fleet.ru), lo[:, t])
    bad = on & (lo > hi + _FIX_TOL)
    if bad.any():
        g, t = (int(i) for i in np.argwhere(bad)[0])
        why = "its start-up capability" if raw_hi[g, t] < 0 else "its ramp limits from the initial output or towards a shutdown"
        raise ScheduleInfeasible(
            f"period {t + 1}: unit {fleet.names[g]} cannot follow its commitment: "
            f"its output would have to be at least {_mw(lo[g, t] + fleet.pmin[g])} MW and at most "
            f"{_mw(hi[g, t] + fleet.pmin[g])} MW ({why})"
        )
    hi = np.maximum(hi, lo)
    return _Units(cap=cap, lo=lo, hi=hi)


# --------------------------------------------------------------------------------------------
# The compiled kernels: banded Cholesky of each run's (p, r) block, its inverse into the
# Schur complement, and banded solves.


@nb.njit(cache=True, error_model="numpy")
def _factor_and_schur(band: np.ndarray, run_ptr: np.ndarray, row_of: np.ndarray, coef: np.ndarray, S: np.ndarray) -> None:
    """Factor each run's banded block in place (band[i, d] = L[i, i-d]) and add A K^-1 A^T to S.

    Position i of the interleaved (p, r) vector sits on coupling row row_of[i] with coefficient
    coef[i] (0 for a fixed variable). Runs are independent diagonal blocks of K.
    """
    nruns = run_ptr.shape[0] - 1
    maxn = 0
    for q in range(nruns):
        maxn = max(maxn, 2 * (run_ptr[q + 1] - run_ptr[q]))
    X = np.empty((maxn, maxn))
    y = np.empty(maxn)
    dinv = np.empty(maxn)
    l1 = np.empty(maxn)
    l2 = np.empty(maxn)
    l3 = np.empty(maxn)
    for q in range(nruns):
        lo = 2 * run_ptr[q]
        hi = 2 * run_ptr[q + 1]
        n = hi - lo
        for i in range(lo, hi):
            for d in range(min(3, i - lo), 0, -1):
                j = i - d
                v = band[i, d]
                for k in range(max(lo, i - 3), j):
                    v -= band[i, i - k] * band[j, j - k]
                band[i, d] = v / band[j, 0]
            d0 = band[i, 0]
            v = d0
            for k in range(max(lo, i - 3), i):
                v -= band[i, i - k] * band[i, i - k]
            if v <= 1e-15 * d0:
                v = 1e-15 * d0 + 1e-300  # cancelled to rounding: a tiny pivot, not a negative one
            band[i, 0] = math.sqrt(v)
        # Columns of the inverse (lower triangle): L y = e_c, then L^T x = y. The band is
        # copied to locals (d = 1/diagonal, l1..l3 = sub-diagonals) for tight inner loops.
        for i in range(n):
            dinv[i] = 1.0 / band[lo + i, 0]
            l1[i] = band[lo + i, 1] if i >= 1 else 0.0
            l2[i] = band[lo + i, 2] if i >= 2 else 0.0
            l3[i] = band[lo + i, 3] if i >= 3 else 0.0
        for c in range(n):
            y[c] = dinv[c]
            if c + 1 < n:
                y[c + 1] = -l1[c + 1] * y[c] * dinv[c + 1]
            if c + 2 < n:
                y[c + 2] = -(l1[c + 2] * y[c + 1] + l2[c + 2] * y[c]) * dinv[c + 2]
            for i in range(c + 3, n):
                y[i] = -(l1[i] * y[i - 1] + l2[i] * y[i - 2] + l3[i] * y[i - 3]) * dinv[i]
            for i in range(n - 1, c - 1, -1):
                v = y[i]
                if i + 1 < n:
                    v -= l1[i + 1] * X[i + 1, c]
                if i + 2 < n:
                    v -= l2[i + 2] * X[i + 2, c]
                if i + 3 < n:
                    v -= l3[i + 3] * X[i + 3, c]
                X[i, c] = v * dinv[i]
        for a in range(n):
            ca = coef[lo + a]
            if ca == 0.0:
                continue
            ra = row_of[lo + a]
            for b in range(a + 1):
                cb = coef[lo + b]
                if cb == 0.0:
                    continue
                v = ca * cb * X[a, b]
                rb = row_of[lo + b]
                S[ra, rb] += v
                if a != b:
                    S[rb, ra] += v


@nb.njit(cache=True)
def _dense_inverse(A: np.ndarray) -> np.ndarray:
    """Inverse by Gauss-Jordan with partial pivoting (the 2T x 2T Schur complement).

    Compiled rather than LAPACK: at this size a threaded BLAS spends more time waking its
    threads than computing. Raises ZeroDivisionError on an exactly singular matrix.
    """
    n = A.shape[0]
    M = A.copy()
    inv = np.eye(n)
    for c in range(n):
        piv = c
        best = abs(M[c, c])
        for i in range(c + 1, n):
            if abs(M[i, c]) > best:
                best = abs(M[i, c])
                piv = i
        if best == 0.0 or not math.isfinite(best):
            raise ZeroDivisionError("singular")
        if piv != c:
            for j in range(n):
                M[c, j], M[piv, j] = M[piv, j], M[c, j]
                inv[c, j], inv[piv, j] = inv[piv, j], inv[c, j]
        d = 1.0 / M[c, c]
        for j in range(n):
            M[c, j] *= d
            inv[c, j] *= d
        for i in range(n):
            if i != c:
                f = M[i, c]
                if f != 0.0:
                    for j in range(n):
                        M[i, j] -= f * M[c, j]
                        inv[i, j] -= f * inv[c, j]
    return inv


@nb.njit(cache=True)
def _matvec(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A v without BLAS (small matrices, see `_dense_inverse`)."""
    n, m = A.shape
    out = np.zeros(n)
    for i in range(n):
        acc = 0.0
        for j in range(m):
            acc += A[i, j] * v[j]
        out[i] = acc
    return out


@nb.njit(cache=True)
def _rows_times(rv: np.ndarray, rc: np.ndarray, x: np.ndarray) -> np.ndarray:
    """G x for rows of up to 3 entries (rv = len(x): no entry)."""
    m = rv.shape[0]
    n = x.shape[0]
    out = np.zeros(m)
    for i in range(m):
        acc = 0.0
        for k in range(3):
            j = rv[i, k]
            if j < n:
                acc += rc[i, k] * x[j]
        out[i] = acc
    return out


@nb.njit(cache=True)
def _rows_transposed_times(rv: np.ndarray, rc: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """G^T y for rows of up to 3 entries (rv = n: no entry)."""
    out = np.zeros(n)
    for i in range(rv.shape[0]):
        for k in range(3):
            j = rv[i, k]
            if j < n:
                out[j] += rc[i, k] * y[i]
    return out


@nb.njit(cache=True, error_model="numpy")
def _ipm_state(x: np.ndarray, lb: np.ndarray, ub: np.ndarray, hasl: np.ndarray, hasu: np.ndarray, rv: np.ndarray,
               rc: np.ndarray, h: np.ndarray, s: np.ndarray, y: np.ndarray, zl: np.ndarray, zu: np.ndarray,
               lam: np.ndarray, cost: np.ndarray, ff: np.ndarray, b: np.ndarray, a_idx: np.ndarray,
               acoef: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                           float, float, float, float, float]:
    """One pass over an iterate: bound gaps, residuals (coupling, rows, dual), complementarity,
    objective and the residuals' max norms (inf when anything is not finite)."""
    n = x.shape[0]
    m = h.shape[0]
    T2 = b.shape[0]
    xl = np.ones(n)
    xu = np.ones(n)
    rd = np.empty(n)
    ax = np.zeros(T2 + 1)
    comp = 0.0
    pobj = 0.0
    for j in range(n):
        if hasl[j]:
            xl[j] = x[j] - lb[j]
            comp += zl[j] * xl[j]
        if hasu[j]:
            xu[j] = ub[j] - x[j]
            comp += zu[j] * xu[j]
        a = a_idx[j]
        ax[a] += acoef[j] * x[j]
        lam_j = lam[a] if a < T2 else 0.0
        rd[j] = cost[j] - acoef[j] * lam_j - zl[j] + zu[j]
        pobj += cost[j] * x[j]
    rg = np.empty(m)
    rg_max = 0.0
    finite = True
    for i in range(m):
        g = 0.0
        for k in range(3):
            j = rv[i, k]
            if j < n:
                g += rc[i, k] * x[j]
                rd[j] += rc[i, k] * y[i]
        rg[i] = h[i] - g - s[i]
        comp += y[i] * s[i]
        v = abs(rg[i])
        finite &= math.isfinite(v)
        rg_max = max(rg_max, v)
    rd_max = 0.0
    for j in range(n):
        rd[j] *= ff[j]
        v = abs(rd[j])
        finite &= math.isfinite(v)
        rd_max = max(rd_max, v)
    rp = np.empty(T2)
    rp_max = 0.0
    for t in range(T2):
        rp[t] = b[t] - ax[t]
        v = abs(rp[t])
        finite &= math.isfinite(v)
        rp_max = max(rp_max, v)
    if not finite:
        rp_max = math.inf
    return xl, xu, rp, rg, rd, comp, pobj, rp_max, rg_max, rd_max


@nb.njit(cache=True, error_model="numpy")
def _ipm_step(x: np.ndarray, s: np.ndarray, y: np.ndarray, zl: np.ndarray, zu: np.ndarray, dx: np.ndarray,
              ds: np.ndarray, dy: np.ndarray, dzl: np.ndarray, dzu: np.ndarray, ap: float, ad: float,
              hasl: np.ndarray, hasu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The next iterate (new arrays: the best one so far is kept by reference)."""
    n = x.shape[0]
    m = s.shape[0]
    x2 = x + ap * dx
    s2 = np.empty(m)
    y2 = np.empty(m)
    for i in range(m):
        s2[i] = _floor(s[i] + ap * ds[i])
        y2[i] = _floor(y[i] + ad * dy[i])
    zl2 = np.zeros(n)
    zu2 = np.zeros(n)
    for j in range(n):
        if hasl[j]:
            zl2[j] = _floor(zl[j] + ad * dzl[j])
        if hasu[j]:
            zu2[j] = _floor(zu[j] + ad * dzu[j])
    return x2, s2, y2, zl2, zu2


@nb.njit(cache=True, inline="always")
def _floor(v: float) -> float:
    """max(v, 1e-300), letting a nan through (it is a breakdown to be seen)."""
    return 1e-300 if v < 1e-300 else v


@nb.njit(cache=True, error_model="numpy")
def _affine_complementarity(y: np.ndarray, s: np.ndarray, zl: np.ndarray, xl: np.ndarray, zu: np.ndarray,
                            xu: np.ndarray, hasl: np.ndarray, hasu: np.ndarray, dy: np.ndarray, ds: np.ndarray,
                            dzl: np.ndarray, dzu: np.ndarray, dx: np.ndarray, ap: float, ad: float) -> float:
    """Total complementarity after the affine (predictor) step (Mehrotra's sigma)."""
    total = 0.0
    for i in range(s.shape[0]):
        total += (y[i] + ad * dy[i]) * (s[i] + ap * ds[i])
    for j in range(dx.shape[0]):
        if hasl[j]:
            total += (zl[j] + ad * dzl[j]) * (xl[j] + ap * dx[j])
        if hasu[j]:
            total += (zu[j] + ad * dzu[j]) * (xu[j] - ap * dx[j])
    return total


@nb.njit(cache=True, error_model="numpy")
def _corrector_rhs(y: np.ndarray, s: np.ndarray, zl: np.ndarray, xl: np.ndarray, zu: np.ndarray, xu: np.ndarray,
                   hasl: np.ndarray, hasu: np.ndarray, dy: np.ndarray, ds: np.ndarray, dzl: np.ndarray,
                   dzu: np.ndarray, dx: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Complementarity right-hand sides of the corrector: target - product - affine second order."""
    m = s.shape[0]
    n = dx.shape[0]
    rcs = np.empty(m)
    for i in range(m):
        rcs[i] = target - y[i] * s[i] - ds[i] * dy[i]
    rcl = np.zeros(n)
    rcu = np.zeros(n)
    for j in range(n):
        if hasl[j]:
            rcl[j] = target - zl[j] * xl[j] - dx[j] * dzl[j]
        if hasu[j]:
            rcu[j] = target - zu[j] * xu[j] + dx[j] * dzu[j]
    return rcs, rcl, rcu


@nb.njit(cache=True, error_model="numpy")  # x/0 gives inf/nan, caught as a breakdown
def _newton_rhs(rd: np.ndarray, rv: np.ndarray, rc: np.ndarray, rcs: np.ndarray, y: np.ndarray, rg: np.ndarray,
                s: np.ndarray, rcl: np.ndarray, xl: np.ndarray, hasl: np.ndarray, rcu: np.ndarray, xu: np.ndarray,
                hasu: np.ndarray, ff: np.ndarray) -> np.ndarray:
    """f = -rd - G^T((rcs - y rg) / s) + rcl / xl - rcu / xu on the free variables (one pass)."""
    n = rd.shape[0]
    f = np.empty(n)
    for j in range(n):
        v = -rd[j]
        if hasl[j]:
            v += rcl[j] / xl[j]
        if hasu[j]:
            v -= rcu[j] / xu[j]
        f[j] = v
    for i in range(rv.shape[0]):
        q = (rcs[i] - y[i] * rg[i]) / s[i]
        for k in range(3):
            j = rv[i, k]
            if j < n:
                f[j] -= rc[i, k] * q
    for j in range(n):
        f[j] *= ff[j]
    return f


@nb.njit(cache=True, error_model="numpy")  # x/0 gives inf/nan, caught as a breakdown
def _newton_tail(rv: np.ndarray, rc: np.ndarray, dx: np.ndarray, rg: np.ndarray, rcs: np.ndarray, y: np.ndarray,
                 s: np.ndarray, rcl: np.ndarray, zl: np.ndarray, xl: np.ndarray, hasl: np.ndarray, rcu: np.ndarray,
                 zu: np.ndarray, xu: np.ndarray, hasu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The slack and dual steps from dx: ds = rg - G dx, dy, dzl, dzu from complementarity."""
    m = rv.shape[0]
    n = dx.shape[0]
    ds = np.empty(m)
    dy = np.empty(m)
    for i in range(m):
        g = 0.0
        for k in range(3):
            j = rv[i, k]
            if j < n:
                g += rc[i, k] * dx[j]
        ds[i] = rg[i] - g
        dy[i] = (rcs[i] - y[i] * ds[i]) / s[i]
    dzl = np.zeros(n)
    dzu = np.zeros(n)
    for j in range(n):
        if hasl[j]:
            dzl[j] = (rcl[j] - zl[j] * dx[j]) / xl[j]
        if hasu[j]:
            dzu[j] = (rcu[j] + zu[j] * dx[j]) / xu[j]
    return ds, dy, dzl, dzu


@nb.njit(cache=True, error_model="numpy")
def _band_solve(band: np.ndarray, run_ptr: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """K^-1 rhs for the factored block-banded K (runs independent)."""
    out = np.empty_like(rhs)
    nruns = run_ptr.shape[0] - 1
    for q in range(nruns):
        lo = 2 * run_ptr[q]
        hi = 2 * run_ptr[q + 1]
        for i in range(lo, hi):
            v = rhs[i]
            for k in range(max(lo, i - 3), i):
                v -= band[i, i - k] * out[k]
            out[i] = v / band[i, 0]
        for i in range(hi - 1, lo - 1, -1):
            v = out[i]
            for k in range(i + 1, min(hi, i + 4)):
                v -= band[k, k - i] * out[k]
            out[i] = v / band[i, 0]
    return out


# --------------------------------------------------------------------------------------------
# The LP handed to the interior point (scaled), and the interior point itself.


@dataclass
class _LP:
    """min cost.x  s.t.  A x = b (2T coupling rows), G x <= h, lb <= x <= ub, x[fixed] given.

    Variables: p (N cells), r (N), c (N: cost above no-load), then per period the renewable
    total w, demand elastics e+ and e-, reserve surplus s_R and reserve elastic e_R.
    Rows: one cap row per cell, ramp-up rows, ramp-down rows, cost lines (epigraph).
    """

    N: int
    T: int
    cell_t: np.ndarray
    run_ptr: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    x0: np.ndarray  # values of the fixed variables (and a start for the others)
    free: np.ndarray  # bool
    cost: np.ndarray
    arow: np.ndarray  # coupling row of each variable (-1: none)
    acoef: np.ndarray
    b: np.ndarray
    rv: np.ndarray  # (m, 3) variable of each row entry (nx: none)
    rc: np.ndarray  # (m, 3)
    h: np.ndarray
    cscale: np.ndarray  # MW per unit of each cell's p and r
    cap_cell: np.ndarray
    ru_cell: np.ndarray
    rd_cell: np.ndarray
    epi_cell: np.ndarray
    epi_m: np.ndarray


def _build_lp(problem: Problem, fleet: _Fleet, on: np.ndarray, units: _Units, sp: float, sc: float,
              penalty: float) -> tuple[_LP, np.ndarray, np.ndarray]:
    """The scaled LP of the free part; returns it with the cells' (g, t) and the fixed-run output."""
    T = on.shape[1]
    gg, tt = np.nonzero(on)  # row-major: each unit's on periods in time order
    lo_all = units.lo[gg, tt]
    hi_all = units.hi[gg, tt]
    cap_all = units.cap[gg, tt]
    prev_all = np.zeros(gg.shape[0], dtype=bool)
    prev_all[1:] = (gg[1:] == gg[:-1]) & (tt[1:] == tt[:-1] + 1)
    fixed_p = hi_all - lo_all <= _FIX_TOL
    # r <= cap - lo, and r <= RU + hi(t-1) - lo(t) after an on period.
    rhi_all = cap_all - lo_all
    ru_g = fleet.ru[gg]
    prev_hi = np.zeros_like(hi_all)
    prev_hi[1:] = hi_all[:-1]
    rhi_all = np.where(prev_all, np.minimum(rhi_all, ru_g + prev_hi - lo_all), rhi_all)
    rhi_all = np.maximum(rhi_all, 0.0)
    fixed_r = rhi_all <= _FIX_TOL
    # Runs; a run whose p and r are all fixed is a constant.
    run_id = np.cumsum(~prev_all) - 1
    nruns_all = int(run_id[-1]) + 1 if gg.size else 0
    run_free = np.zeros(nruns_all, dtype=bool)
    np.logical_or.at(run_free, run_id, ~(fixed_p & fixed_r))
    keep = run_free[run_id] if gg.size else np.zeros(0, dtype=bool)
    const_p = np.zeros(T)
    np.add.at(const_p, tt[~keep], lo_all[~keep])
    gk, tk = gg[keep], tt[keep]
    # One MW scale for every cell (a per-unit scale, each unit's range, was tried: no fewer
    # iterations and a less reliable finish).
    us = np.full(int(keep.sum()), sp)
    lo, hi, cap, rhi = lo_all[keep] / us, hi_all[keep] / us, cap_all[keep] / us, rhi_all[keep] / us
    has_prev = prev_all[keep]
    fp_fixed, fr_fixed = fixed_p[keep], fixed_r[keep]
    N = gk.shape[0]

    nx = 3 * N + 5 * T
    lb = np.full(nx, -np.inf)
    ub = np.full(nx, np.inf)
    x0 = np.zeros(nx)
    free = np.ones(nx, dtype=bool)
    cost = np.zeros(nx)
    P, R, C = 0, N, 2 * N
    W, EP, EM, SR, ER = 3 * N, 3 * N + T, 3 * N + 2 * T, 3 * N + 3 * T, 3 * N + 4 * T
    lb[P:R], ub[P:R] = lo, np.maximum(hi, lo)
    lb[R:C], ub[R:C] = 0.0, rhi
    free[P:R] = ~fp_fixed
    free[R:C] = ~fr_fixed
    x0[P:R] = np.where(fp_fixed, lo, 0.5 * (lo + hi))
    x0[R:C] = np.where(fr_fixed, 0.0, 0.5 * rhi)
    cost[C:W] = 1.0
    # Cost lines of each cell.
    nseg = np.diff(fleet.seg_ptr)[gk]
    epi_cell_all = np.repeat(np.arange(N), nseg)
    first = np.repeat(fleet.seg_ptr[gk], nseg)
    within = np.arange(epi_cell_all.shape[0]) - np.repeat(np.cumsum(nseg) - nseg, nseg)
    seg = first + within
    # A unit's curve in period t is its lines times cost_scale[t] (a desk's fuel price).
    cell_scale = fleet.scale[gk, tk][epi_cell_all]
    epi_m_all = fleet.seg_m[seg] * cell_scale * us[epi_cell_all] / sc
    epi_h_all = fleet.seg_h[seg] * cell_scale / sc
    # c of a fixed-p cell (or a unit without segments) is fixed at its curve value.
    pvals = x0[P:R]
    line_val = epi_m_all * pvals[epi_cell_all] - epi_h_all
    cval = np.full(N, -np.inf)
    np.maximum.at(cval, epi_cell_all, line_val)
    fixed_c = fp_fixed | (nseg == 0)
    cval = np.where(np.isfinite(cval), cval, 0.0)
    free[C:W] = ~fixed_c
    x0[C:W] = np.where(fixed_c, cval, cval + 1.0)
    keep_epi = ~fixed_c[epi_cell_all]
    epi_cell, epi_m, epi_h = epi_cell_all[keep_epi], epi_m_all[keep_epi], epi_h_all[keep_epi]
    # System variables.
    wlo, whi = fleet.w_lo / sp, fleet.w_hi / sp
    lb[W:EP], ub[W:EP] = wlo, np.maximum(whi, wlo)
    wfix = whi - wlo <= _FIX_TOL / sp
    free[W:EP] = ~wfix
    x0[W:EP] = np.where(wfix, wlo, 0.5 * (wlo + whi))
    lb[EP:] = 0.0
    x0[EP:] = 1.0
    cost[EP:SR] = penalty
    cost[ER:] = penalty
    # Coupling rows.
    arow = np.full(nx + 1, -1, dtype=np.int64)
    acoef = np.zeros(nx + 1)
    arow[P:R], acoef[P:R] = tk, us / sp
    arow[R:C], acoef[R:C] = T + tk, us / sp
    arow[W:EP], acoef[W:EP] = np.arange(T), 1.0
    arow[EP:EM], acoef[EP:EM] = np.arange(T), 1.0
    arow[EM:SR], acoef[EM:SR] = np.arange(T), -1.0
    arow[SR:ER], acoef[SR:ER] = T + np.arange(T), -1.0
    arow[ER:nx], acoef[ER:nx] = T + np.arange(T), 1.0
    dem = (problem.demand - (fleet.pmin[:, None] * on).sum(axis=0) - const_p) / sp
    res = problem.reserve / sp
    b = np.concatenate([dem, res])
    # Rows. Cap rows: drop when they cannot bind.
    cells = np.arange(N)
    cap_keep = hi + rhi > cap + _FIX_TOL / us
    cap_cells = cells[cap_keep]
    ru_rows = has_prev & np.isfinite(fleet.ru[gk])
    ru_rows[1:] &= hi[1:] + rhi[1:] - lo[:-1] > (fleet.ru[gk[1:]] + _FIX_TOL) / us[1:]
    ru_cell = cells[ru_rows]
    rd_rows = has_prev & np.isfinite(fleet.rd[gk])
    rd_rows[1:] &= hi[:-1] - lo[1:] > (fleet.rd[gk[1:]] + _FIX_TOL) / us[1:]
    rd_cell = cells[rd_rows]
    # Two consecutive periods of a unit are coupled in the Newton system only by a ramp row:
    # the blocks are the chains of ramp rows that can bind, not whole runs of on periods.
    linked = np.zeros(N, dtype=bool)
    linked[ru_cell] = True
    linked[rd_cell] = True
    run_ptr = np.append(np.flatnonzero(~linked), N).astype(np.int64)
    none = nx
    rows_v = [
        np.stack([P + cap_cells, R + cap_cells, np.full_like(cap_cells, none)], axis=1),
        np.stack([P + ru_cell, R + ru_cell, P + ru_cell - 1], axis=1),
        np.stack([P + rd_cell - 1, P + rd_cell, np.full_like(rd_cell, none)], axis=1),
        np.stack([P + epi_cell, C + epi_cell, np.full_like(epi_cell, none)], axis=1),
    ]
    ones_cap = np.ones(cap_cells.shape[0])
    rows_c = [
        np.stack([ones_cap, ones_cap, 0 * ones_cap], axis=1),
        np.stack([np.ones(ru_cell.shape[0]), np.ones(ru_cell.shape[0]), -np.ones(ru_cell.shape[0])], axis=1),
        np.stack([np.ones(rd_cell.shape[0]), -np.ones(rd_cell.shape[0]), np.zeros(rd_cell.shape[0])], axis=1),
        np.stack([epi_m, -np.ones(epi_m.shape[0]), np.zeros(epi_m.shape[0])], axis=1),
    ]
    h = np.concatenate([cap[cap_cells], fleet.ru[gk[ru_cell]] / us[ru_cell], fleet.rd[gk[rd_cell]] / us[rd_cell], epi_h])
    lp = _LP(
        N=N, T=T, cell_t=tk.astype(np.int64), run_ptr=run_ptr, lb=lb, ub=ub, x0=x0, free=free, cost=cost,
        arow=arow, acoef=acoef, b=b, rv=np.concatenate(rows_v).astype(np.int64), rc=np.concatenate(rows_c),
        h=h, cscale=us, cap_cell=cap_cells, ru_cell=ru_cell, rd_cell=rd_cell, epi_cell=epi_cell, epi_m=epi_m,
    )
    return lp, np.stack([gk, tk]), np.stack([gg[~keep], tt[~keep], (lo_all[~keep])])


class _Breakdown(ArithmeticError):
    """The Newton system went numerically wrong (not finite): the interior point stops."""


def _newton_static(lp: _LP) -> tuple[np.ndarray, np.ndarray]:
    """Coupling row and coefficient of each position of the interleaved (p, r) vector (cached)."""
    cached = getattr(lp, "_static", None)
    if cached is None:
        N, T = lp.N, lp.T
        row_of = np.empty(2 * N, dtype=np.int64)
        row_of[0::2] = lp.cell_t
        row_of[1::2] = T + lp.cell_t
        coef = np.empty(2 * N)
        coef[0::2] = lp.free[:N] * lp.acoef[:N]
        coef[1::2] = lp.free[N:2 * N] * lp.acoef[N:2 * N]
        cached = (row_of, coef)
        lp._static = cached  # type: ignore[attr-defined]  # a cache hung on the LP, read back with getattr above
    return cached


@nb.njit(cache=True, error_model="numpy")
def _assemble_band(sig_x: np.ndarray, sig_row: np.ndarray, N: int, cap_cell: np.ndarray, ru_cell: np.ndarray,
                   rd_cell: np.ndarray, epi_cell: np.ndarray, epi_m: np.ndarray, free: np.ndarray,
                   reg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K = Sigma_x + G^T Sigma_s G per cell, c eliminated, as the lower band of (p, r) interleaved.

    band[i, d] = K[i, i-d]; positions 2k (p_k) and 2k+1 (r_k). Eliminating c from its cost
    lines leaves sum_j s_j (m_j - mbar)^2 on p (mbar the s-weighted mean slope), computed in
    that form, not as a difference of huge terms. A fixed variable gets a unit diagonal and
    no coupling; `reg` is a small primal regularization (degenerate faces leave K nearly
    singular near the optimum). Returns band, kcc (c's pivot) and mbar.
    """
    P, R, C = 0, N, 2 * N
    dpp = sig_x[P:R].copy()
    drr = sig_x[R:C].copy()
    opr = np.zeros(N)
    opp = np.zeros(N)
    orp = np.zeros(N)
    nc = cap_cell.shape[0]
    nu = ru_cell.shape[0]
    nd = rd_cell.shape[0]
    for i in range(nc):
        k = cap_cell[i]
        v = sig_row[i]
        dpp[k] += v
        drr[k] += v
        opr[k] += v
    for i in range(nu):
        k = ru_cell[i]
        v = sig_row[nc + i]
        dpp[k] += v
        drr[k] += v
        opr[k] += v
        dpp[k - 1] += v
        opp[k] -= v
        orp[k] -= v
    for i in range(nd):
        k = rd_cell[i]
        v = sig_row[nc + nu + i]
        dpp[k - 1] += v
        dpp[k] += v
        opp[k] -= v
    base = nc + nu + nd
    kcc = np.zeros(N)
    msum = np.zeros(N)
    for i in range(epi_cell.shape[0]):
        k = epi_cell[i]
        kcc[k] += sig_row[base + i]
        msum[k] += sig_row[base + i] * epi_m[i]
    mbar = np.zeros(N)
    for k in range(N):
        if free[C + k]:
            kcc[k] += sig_x[C + k]
            if free[P + k]:
                mbar[k] = msum[k] / kcc[k]
        else:
            kcc[k] = 1.0
    for i in range(epi_cell.shape[0]):
        k = epi_cell[i]
        if free[P + k]:
            d = epi_m[i] - mbar[k]
            dpp[k] += sig_row[base + i] * d * d
    band = np.zeros((2 * N, 4))
    for k in range(N):
        fp = free[P + k]
        fr = free[R + k]
        band[2 * k, 0] = dpp[k] + reg if fp else 1.0
        band[2 * k + 1, 0] = drr[k] + reg if fr else 1.0
        if fp and fr:
            band[2 * k + 1, 1] = opr[k]
        if k > 0 and free[P + k - 1]:
            if fp:
                band[2 * k, 2] = opp[k]
            if fr:
                band[2 * k + 1, 3] = orp[k]
    return band, kcc, mbar


class _Newton:
    """The factored Newton system of one interior-point iteration (K block-banded, S dense)."""

    def __init__(self, lp: _LP, sig_row: np.ndarray, sig_x: np.ndarray, s_reg: float = 0.0, s_rel: float = 0.0) -> None:
        N, T = lp.N, lp.T
        W = 3 * N  # the column blocks: P at 0, R at N, C at 2N, W at 3N (only W is needed here)
        self.lp = lp
        static = _newton_static(lp)
        band, kcc, mbar = _assemble_band(
            sig_x, sig_row, N, lp.cap_cell, lp.ru_cell, lp.rd_cell, lp.epi_cell, lp.epi_m, lp.free, _REG
        )
        row_of, coef = static
        S = np.zeros((2 * T, 2 * T))
        _factor_and_schur(band, lp.run_ptr, row_of, coef, S)
        ksys = np.where(lp.free[W:], sig_x[W:], 1.0)
        fsys = lp.free[W:].astype(float)
        S[np.diag_indices(2 * T)] += np.bincount(lp.arow[W:-1], fsys / ksys, 2 * T) + s_reg
        scale = np.sqrt(np.maximum(np.diag(S), 1e-300))
        Ss = S / scale[:, None] / scale[None, :]
        # Relative dual regularization: when an active cap row ties a period's demand and
        # reserve rows (or any rows become dependent at the optimum), S turns singular.
        Ss[np.diag_indices(2 * T)] += s_rel
        if not np.all(np.isfinite(Ss)):
            raise _Breakdown
        try:
            inv = _dense_inverse(Ss)
        except ZeroDivisionError:
            try:
                inv = np.linalg.pinv(Ss)  # a coupling row without a free variable (dependent rows)
            except np.linalg.LinAlgError as exc:
                raise _Breakdown from exc
        self.S_inv = inv / scale[:, None] / scale[None, :]
        self.band, self.kcc, self.mbar, self.ksys = band, kcc, mbar, ksys

    def solve(self, f: np.ndarray, rp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(dx, dlam) of  K dx - A^T dlam = f,  A dx = rp."""
        lp = self.lp
        N = lp.N
        P, R, C, W = 0, N, 2 * N, 3 * N
        fpr = np.empty(2 * N)
        fpr[0::2] = f[P:R] + self.mbar * f[C:W]
        fpr[1::2] = f[R:C]
        u = _band_solve(self.band, lp.run_ptr, fpr)
        au = np.zeros(2 * lp.T)
        au += np.bincount(lp.cell_t, u[0::2] * lp.free[P:R] * lp.acoef[P:R], 2 * lp.T)
        au += np.bincount(lp.cell_t + lp.T, u[1::2] * lp.free[R:C] * lp.acoef[R:C], 2 * lp.T)
        usys = f[W:] / self.ksys
        au += np.bincount(lp.arow[W:-1], usys * lp.acoef[W:-1], 2 * lp.T)
        dlam = _matvec(self.S_inv, rp - au)
        at = lp.acoef[:-1] * np.append(dlam, 0.0)[lp.arow[:-1]] * lp.free
        fpr[0::2] += at[P:R]
        fpr[1::2] += at[R:C]
        v = _band_solve(self.band, lp.run_ptr, fpr)
        dx = np.empty(f.shape[0])
        dx[P:R] = v[0::2]
        dx[R:C] = v[1::2]
        dx[C:W] = f[C:W] / self.kcc + self.mbar * dx[P:R]
        dx[W:] = (f[W:] + at[W:]) / self.ksys
        dx *= lp.free
        return dx, dlam


@nb.njit(cache=True, error_model="numpy")  # x/0 gives inf/nan, caught as a breakdown
def _steps(xl: np.ndarray, xu: np.ndarray, hasl: np.ndarray, hasu: np.ndarray, s: np.ndarray, y: np.ndarray,
           zl: np.ndarray, zu: np.ndarray, dx: np.ndarray, ds: np.ndarray, dy: np.ndarray, dzl: np.ndarray,
           dzu: np.ndarray) -> tuple[float, float]:
    """Largest primal and dual steps in (0, 1] keeping every gap, slack and dual >= 0."""
    ap = 1.0
    ad = 1.0
    for j in range(dx.shape[0]):
        if hasl[j]:
            if dx[j] < 0.0:
                ap = min(ap, -xl[j] / dx[j])
            if dzl[j] < 0.0:
                ad = min(ad, -zl[j] / dzl[j])
        if hasu[j]:
            if dx[j] > 0.0:
                ap = min(ap, xu[j] / dx[j])
            if dzu[j] < 0.0:
                ad = min(ad, -zu[j] / dzu[j])
    for i in range(s.shape[0]):
        if ds[i] < 0.0:
            ap = min(ap, -s[i] / ds[i])
        if dy[i] < 0.0:
            ad = min(ad, -y[i] / dy[i])
    return ap, ad


@dataclass
class _Solution:
    x: np.ndarray
    lam: np.ndarray
    iterations: int
    merit: float  # max of the relative primal and dual residuals and the relative gap
    s: np.ndarray  # row slacks and duals, bound gaps and duals (to tell the active set)
    y: np.ndarray
    xl: np.ndarray
    zl: np.ndarray
    xu: np.ndarray
    zu: np.ndarray


def _ipm(lp: _LP, eta: float = 0.99, refine: int = 1, s_rel: float = 0.0, stop: float = 0.0) -> _Solution:
    """Mehrotra predictor-corrector on the scaled LP (infeasible start, separate step lengths)."""
    nx = lp.lb.shape[0]
    T2 = 2 * lp.T
    free = lp.free
    ff = free.astype(float)
    hasl = free & np.isfinite(lp.lb)
    hasu = free & np.isfinite(lp.ub)
    lb = np.where(hasl, lp.lb, 0.0)
    ub = np.where(hasu, lp.ub, 0.0)
    x = lp.x0.copy()
    rv, rc, h = lp.rv, lp.rc, lp.h
    m = h.shape[0]
    arow = lp.arow[:-1]
    acoef = lp.acoef[:-1]
    amask = arow >= 0
    a_idx = np.where(amask, arow, T2)

    def gmul(xv: np.ndarray) -> np.ndarray:
        return _rows_times(rv, rc, xv)

    def gtmul(yv: np.ndarray) -> np.ndarray:
        return _rows_transposed_times(rv, rc, yv, nx)

    def amul(xv: np.ndarray) -> np.ndarray:
        return np.bincount(a_idx, acoef * xv, T2 + 1)[:T2]

    def atmul(lv: np.ndarray) -> np.ndarray:
        return acoef * np.append(lv, 0.0)[a_idx]

    # Start: slacks at least 1; row duals 1 except the cost lines (1/L each, so that c's
    # stationarity holds); bound duals take the rest of each reduced cost, plus 1.
    s = np.maximum(h - gmul(x), _S0)
    y = np.ones(m)
    n_lines = np.bincount(lp.epi_cell, minlength=lp.N).astype(float)
    m_other = m - lp.epi_cell.shape[0]
    y[m_other:] = 1.0 / n_lines[lp.epi_cell]
    lam = np.zeros(T2)
    red = (lp.cost + gtmul(y)) * ff
    zl = np.where(hasl, np.maximum(red, 0.0) + 1.0, 0.0)
    zu = np.where(hasu, np.maximum(-red, 0.0) + 1.0, 0.0)
    ncomp = m + int(hasl.sum()) + int(hasu.sum())
    bnorm = 1.0 + float(np.max(np.abs(lp.b), initial=0.0))
    hnorm = 1.0 + float(np.max(np.abs(h), initial=0.0))
    best_merit = math.inf
    best = (x, lam, s, y, zl, zu)
    since_best = 0
    # The elastic price is left out: it would hide dual residuals the size of a real cost.
    cnorm = 1.0 + float(np.max(np.abs(lp.cost[:3 * lp.N]), initial=0.0))
    it = 0
    for it in range(1, _MAX_ITER + 1):
        xl, xu, rp, rg, rd, comp, pobj, rp_max, rg_max, rd_max = _ipm_state(
            x, lb, ub, hasl, hasu, rv, rc, h, s, y, zl, zu, lam, lp.cost, ff, lp.b, a_idx, acoef
        )
        mu = comp / max(ncomp, 1)
        pres_b = rp_max / bnorm
        pres_h = rg_max / hnorm
        dres = rd_max / cnorm
        gap = comp / (1.0 + abs(pobj))
        merit = max(pres_b, pres_h, dres, gap)
        if _DEBUG:
            print(f"it {it:3d} pobj {pobj:.10e} pres {pres_b:.2e} {pres_h:.2e} dres {dres:.2e} gap {gap:.2e}")
        if not math.isfinite(merit) or merit > 1e6 * best_merit:
            break  # numerical breakdown: the best iterate stands
        if merit < best_merit:
            if merit < 0.5 * best_merit:
                since_best = 0
            best_merit, best = merit, (x, lam, s, y, zl, zu)
        since_best += 1
        if (pres_b < 1e-11 and pres_h < 1e-11 and dres < 1e-10 and gap < 1e-10) or (since_best > 5 and best_merit < 1e-6):
            break
        if merit < stop:  # accurate enough for the exact finish to be tried
            break
        sig_row = y / s
        sig_x = (zl / xl) * hasl + (zu / xu) * hasu
        try:
            newton = _Newton(lp, sig_row, sig_x, s_rel=s_rel)
        except _Breakdown:
            break

        def direction(rcs: np.ndarray, rcl: np.ndarray, rcu: np.ndarray) -> tuple[np.ndarray, ...]:
            f = _newton_rhs(rd, rv, rc, rcs, y, rg, s, rcl, xl, hasl, rcu, xu, hasu, ff)
            dx, dlam = newton.solve(f, rp)
            # Iterative refinement: the dual equation is what a solve error breaks near the end
            # (K holds z/x ~ 1e12), so its residual is solved for again with the same factors.
            for _ in range(refine):
                e1 = (f - (gtmul(sig_row * gmul(dx)) + sig_x * dx - atmul(dlam))) * ff
                e2 = rp - amul(dx)
                ddx, ddl = newton.solve(e1, e2)
                dx += ddx
                dlam += ddl
            ds, dy, dzl, dzu = _newton_tail(rv, rc, dx, rg, rcs, y, s, rcl, zl, xl, hasl, rcu, zu, xu, hasu)
            return dx, dlam, ds, dy, dzl, dzu

        def steps(dx: np.ndarray, ds: np.ndarray, dy: np.ndarray, dzl: np.ndarray, dzu: np.ndarray) -> tuple[float, float]:
            return _steps(xl, xu, hasl, hasu, s, y, zl, zu, dx, ds, dy, dzl, dzu)

        # Predictor (affine scaling).
        dx, dlam, ds, dy, dzl, dzu = direction(-y * s, -zl * xl * hasl, -zu * xu * hasu)
        ap, ad = steps(dx, ds, dy, dzl, dzu)
        comp_aff = _affine_complementarity(y, s, zl, xl, zu, xu, hasl, hasu, dy, ds, dzl, dzu, dx, ap, ad)
        sigma = min(1.0, (comp_aff / comp) ** 3) if comp > 0 else 0.0
        target = sigma * mu
        # Corrector.
        rcs, rcl, rcu = _corrector_rhs(y, s, zl, xl, zu, xu, hasl, hasu, dy, ds, dzl, dzu, dx, target)
        dx, dlam, ds, dy, dzl, dzu = direction(rcs, rcl, rcu)
        ap, ad = steps(dx, ds, dy, dzl, dzu)
        # Gondzio's centrality correctors: push the products that the step would leave far
        # from the target back into [0.1, 10] x target, while that lengthens the step.
        for _ in range(_CORRECTORS):
            if min(ap, ad) >= 0.999:
                break
            at_p, at_d = min(1.0, 1.5 * ap + 0.1), min(1.0, 1.5 * ad + 0.1)
            vs = (s + at_p * ds) * (y + at_d * dy)
            vl = (xl + at_p * dx) * (zl + at_d * dzl) * hasl
            vu = (xu - at_p * dx) * (zu + at_d * dzu) * hasu
            lo_t, hi_t = 0.1 * target, 10.0 * target

            def pull(v: np.ndarray) -> np.ndarray:
                return np.where(v < lo_t, lo_t - v, np.where(v > hi_t, np.maximum(hi_t - v, -hi_t), 0.0))

            cand = direction(rcs + pull(vs), rcl + pull(vl) * hasl, rcu + pull(vu) * hasu)
            cp, cd = steps(cand[0], cand[2], cand[3], cand[4], cand[5])
            if min(cp, cd) < 1.01 * min(ap, ad):
                break
            dx, dlam, ds, dy, dzl, dzu = cand
            ap, ad = cp, cd
        ap, ad = min(1.0, eta * ap), min(1.0, eta * ad)
        x, s, y, zl, zu = _ipm_step(x, s, y, zl, zu, dx, ds, dy, dzl, dzu, ap, ad, hasl, hasu)
        lam = lam + ad * dlam
    x, lam, s, y, zl, zu = best
    return _Solution(
        x=x, lam=lam, iterations=it, merit=best_merit, s=s, y=y,
        xl=np.where(hasl, x - lb, np.inf), zl=zl, xu=np.where(hasu, ub - x, np.inf), zu=zu,
    )


@dataclass
class _ActiveSet:
    """Rows kept as equalities and variables fixed at a bound, read from an interior point."""

    rows: np.ndarray
    at_lo: np.ndarray
    at_up: np.ndarray

    @classmethod
    def read(cls, lp: _LP, sol: _Solution, tau: float) -> _ActiveSet:
        """Active where the slack (gap) is below tau times its dual."""
        at_lo = lp.free & (sol.xl < tau * sol.zl)
        at_up = lp.free & (sol.xu < tau * sol.zu) & ~at_lo
        return cls(rows=sol.s < tau * sol.y, at_lo=at_lo, at_up=at_up)


def _active_lp(lp: _LP, act: _ActiveSet, x_start: np.ndarray) -> _LP:
    """The LP restricted to an active set: its active rows only, the variables at an active
    bound fixed there (x0 holds the start point with those bounds applied)."""
    free = lp.free & ~act.at_lo & ~act.at_up
    x = x_start.copy()
    x[act.at_lo] = lp.lb[act.at_lo]
    x[act.at_up] = lp.ub[act.at_up]
    active = act.rows
    nc, nu, nd = lp.cap_cell.shape[0], lp.ru_cell.shape[0], lp.rd_cell.shape[0]
    a_cap, a_ru, a_rd, a_epi = active[:nc], active[nc:nc + nu], active[nc + nu:nc + nu + nd], active[nc + nu + nd:]
    return _LP(
        N=lp.N, T=lp.T, cell_t=lp.cell_t, run_ptr=lp.run_ptr, lb=lp.lb, ub=lp.ub, x0=x, free=free,
        cost=lp.cost, arow=lp.arow, acoef=lp.acoef, b=lp.b, rv=lp.rv[active], rc=lp.rc[active], h=lp.h[active],
        cscale=lp.cscale,
        cap_cell=lp.cap_cell[a_cap], ru_cell=lp.ru_cell[a_ru], rd_cell=lp.rd_cell[a_rd],
        epi_cell=lp.epi_cell[a_epi], epi_m=lp.epi_m[a_epi],
    )


def _finish_dual(lp: _LP, sol: _Solution, act: _ActiveSet) -> np.ndarray | None:
    """Demand/reserve duals made exact on the interior point's active set, or None.

    The nearest (in the active rows' duals) dual point with zero reduced cost on every variable
    off its bounds: one solve of  (G_A^T G_A) v - A^T dlam = -d,  A v = 0,  dy = G_A v, with
    the same block-banded + Schur machinery. Accepted when the active rows' duals stay >= 0
    and the variables at a bound keep reduced costs of the right sign.
    """
    nx = sol.x.shape[0]
    sub = _active_lp(lp, act, sol.x)
    active, at_lo, at_up = act.rows, act.at_lo, act.at_up
    free = sub.free
    ff = free.astype(float)
    rv, rc = sub.rv, sub.rc
    a_idx = np.where(lp.arow[:-1] >= 0, lp.arow[:-1], 2 * lp.T)
    acoef = lp.acoef[:-1]
    y = np.maximum(sol.y[active], 0.0)
    lam = sol.lam.copy()

    def reduced(yv: np.ndarray, lv: np.ndarray) -> np.ndarray:
        gty = np.bincount(rv.ravel(), (rc * yv[:, None]).ravel(), nx + 1)[:nx]
        return lp.cost - acoef * np.append(lv, 0.0)[a_idx] + gty

    try:
        # s_reg keeps the price of a row without a free variable where it was.
        newton = _Newton(sub, np.ones(y.shape[0]), np.full(nx, 1e-10) * ff, s_reg=1e-8)
    except _Breakdown:
        return None
    zero = np.zeros(2 * lp.T)
    for _ in range(6):
        d = reduced(y, lam) * ff
        if float(np.max(np.abs(d), initial=0.0)) < 1e-14:
            break
        v, dlam = newton.solve(-d, zero)
        y = y + (rc * np.append(v, 0.0)[rv]).sum(axis=1)
        lam = lam + dlam
    d = reduced(y, lam)
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(lam))):
        return None
    scale = 1e-11 * (1.0 + float(np.max(np.abs(lam), initial=0.0)) + float(np.max(np.abs(y), initial=0.0)))
    if _DEBUG:
        print("dual: free", np.max(np.abs(d[free]), initial=0), "y", np.min(y, initial=0), "lo", np.min(d[at_lo], initial=0),
              "up", np.max(d[at_up], initial=0), "scale", scale)
    if np.any(np.abs(d[free]) > scale) or np.any(y < -scale):
        return None
    if np.any(d[at_lo] < -scale) or np.any(d[at_up] > scale):
        return None
    return lam


def _project(lp: _LP, act: _ActiveSet, x0: np.ndarray) -> np.ndarray | None:
    """The point nearest x0 with the active rows and the coupling rows met exactly.

    An augmented Lagrangian on the active rows (the bounds are fixed outright), each step one
    solve of the same block-banded + Schur system.
    """
    nx = x0.shape[0]
    sub = _active_lp(lp, act, x0)
    x = sub.x0
    rv, rc, h = sub.rv, sub.rc, sub.h
    ff = sub.free.astype(float)
    a_idx = np.where(lp.arow[:-1] >= 0, lp.arow[:-1], 2 * lp.T)
    acoef = lp.acoef[:-1]
    penalty = 1e6
    try:
        newton = _Newton(sub, np.full(h.shape[0], penalty), ff.copy(), s_reg=1e-10)
    except _Breakdown:
        return None
    nu_mult = np.zeros(h.shape[0])
    for _ in range(8):
        ga = (rc * np.append(x, 0.0)[rv]).sum(axis=1) - h
        rb = lp.b - np.bincount(a_idx, acoef * x, 2 * lp.T + 1)[:-1]
        if max(float(np.max(np.abs(ga), initial=0.0)), float(np.max(np.abs(rb), initial=0.0))) < 1e-15:
            break
        grad = (x - x0) + np.bincount(rv.ravel(), (rc * (nu_mult + penalty * ga)[:, None]).ravel(), nx + 1)[:nx]
        dx, _ = newton.solve(-grad * ff, rb)
        x = x + dx
        nu_mult = nu_mult + penalty * ((rc * np.append(x, 0.0)[rv]).sum(axis=1) - h)
    return x if np.all(np.isfinite(x)) else None


def _finish(lp: _LP, sol: _Solution, tau: float = 1.0, rounds: int = 4) -> tuple[np.ndarray, _ActiveSet] | None:
    """The interior point's answer moved onto its optimal face exactly, or None.

    Rows and bounds whose slack is below tau times their dual are taken as active and the
    nearest point keeping them active (and meeting the coupling rows) is computed. A few
    repair rounds follow: an inactive row or a bound that the point breaks is made active, and
    a coupling row left unmet because every variable in it was fixed at a bound gets those
    variables back (a small output misread as zero). Returns the point with its active set;
    the caller proves it optimal with `_finish_dual`.
    """
    act = _ActiveSet.read(lp, sol, tau)
    tol = 1e-12
    a_idx = np.where(lp.arow[:-1] >= 0, lp.arow[:-1], 2 * lp.T)
    acoef = lp.acoef[:-1]
    W, T = 3 * lp.N, lp.T
    elastic = np.zeros(lp.lb.shape[0], dtype=bool)
    elastic[W + T:W + 3 * T] = True
    elastic[W + 4 * T:] = True
    for _ in range(rounds):
        x = _project(lp, act, sol.x)
        if x is None:
            return None
        gx = (lp.rc * np.append(x, 0.0)[lp.rv]).sum(axis=1)
        rb = lp.b - np.bincount(a_idx, acoef * x, 2 * lp.T + 1)[:-1]
        if _DEBUG:
            print("finish: rows", np.max(gx - lp.h, initial=0), "lb", np.max(lp.lb - x), "ub", np.max(x - lp.ub), "rb", np.max(np.abs(rb)))
        bad_rows = gx > lp.h + tol * (1.0 + np.abs(lp.h))
        below = x < lp.lb - tol * (1.0 + np.abs(lp.lb))
        above = x > lp.ub + tol * (1.0 + np.abs(lp.ub))
        unmet = np.abs(rb) > tol * (1.0 + np.max(np.abs(lp.b), initial=0.0))
        if not (bad_rows.any() or below.any() or above.any() or unmet.any()):
            return np.clip(x, lp.lb, lp.ub), act
        release = np.append(unmet, False)[a_idx] & (act.at_lo | act.at_up) & ~elastic
        # A row made active gets its variables back from their bounds (else it may be one
        # equation too many), unless that bound is the one just broken.
        in_bad = np.zeros(lp.lb.shape[0] + 1, dtype=bool)
        in_bad[lp.rv[bad_rows].ravel()] = True
        release |= in_bad[:-1] & (act.at_lo | act.at_up) & ~elastic & ~below & ~above
        act = _ActiveSet(rows=act.rows | bad_rows, at_lo=(act.at_lo | below) & ~release,
                         at_up=(act.at_up | above) & ~release)
    return None


# --------------------------------------------------------------------------------------------
# The entry point.


def dispatch(problem: Problem, on: np.ndarray, *, prove_infeasible: bool = True) -> Dispatch:
    """The least-cost dispatch of commitment `on` ((G, T) bool), or ScheduleInfeasible.

    Solves MODEL.tex's LP with u fixed to `on` (starts and shutdowns follow from `on` and
    `unit_on_t0`); minimum up/down times and start-up costs are the commitment's business and
    are not checked here. The answer meets every row to ~1e-9 MW. Its cost is the LP optimum,
    normally *proven* (primal and dual feasible and complementary, to rounding); in the rare
    case where no attempt proves it (about 1 in 2,000 random fleets) the exactly feasible
    answer kept is within the interior point's accuracy, ~1e-7 relative. `marginal_price` /
    `reserve_price` are optimal LP duals of the demand and reserve rows (cost per MW per
    period); where the dual is not unique, they are one optimal choice.

    Raises ScheduleInfeasible (naming the period, 1-based) when no dispatch exists, and also
    when a commitment sits so exactly on the edge of feasibility that nothing can be proven
    (the message says so); ValueError when `on` has the wrong shape.

    `prove_infeasible=False` is for a search asking "is this commitment worth pricing?": the
    first interior point near its optimum that uses more than 1e-3 MW of the elastics at their
    starting price (1e3 x the dearest slope), or the first proven optimum that uses them at
    all, is the verdict, without the price raised step by step to prove it. Proving costs
    10-30 interior points (2-7 s on rts_gmlc at 48 periods against 0.1-0.2 s for a feasible
    commitment), and the repair meets such commitments at every step. A commitment called
    infeasible this way could only have a dispatch in which each MW of shortfall avoided
    costs more than that price; a dispatch returned is the same proven optimum either way.
    """
    G, T = len(problem.thermal), problem.periods
    on = np.asarray(on, dtype=bool)
    if on.shape != (G, T):
        raise ValueError(f"on: expected shape {(G, T)}, got {on.shape}")
    fleet = _fleet(problem)
    units = _unit_bounds(problem, fleet, on)
    span_on = float(np.max(units.hi, initial=0.0))
    sp = max(1.0, span_on, float(np.max(fleet.w_hi - fleet.w_lo, initial=0.0)))
    # Costs scaled by the typical slope (the objective is then of the order of the MW served);
    # the elastic price starts 1e3 above the dearest slope.
    typical = fleet.typical_slope if fleet.typical_slope > 0 else max(1.0, fleet.max_slope)
    sc = sp * typical
    base_penalty = _PENALTY * max(1.0, fleet.max_slope / typical)
    with np.errstate(all="ignore"):  # a breakdown shows as inf/nan and is handled as such
        lp, cells, const, x, lam = _solve(problem, fleet, on, units, sp, sc, base_penalty, prove_infeasible)
    N = lp.N
    W = 3 * N
    # Back to MW, the fixed runs included.
    p = np.zeros((G, T))
    r = np.zeros((G, T))
    gk, tk = cells
    p[gk, tk] = np.clip(x[:N] * lp.cscale, units.lo[gk, tk], units.hi[gk, tk])
    r[gk, tk] = np.maximum(x[N:2 * N] * lp.cscale, 0.0)
    p[const[0].astype(int), const[1].astype(int)] = const[2]
    w = np.clip(x[W:W + T] * sp, fleet.w_lo, fleet.w_hi)
    free_cell = np.zeros((G, T), dtype=bool)
    free_cell[gk, tk] = lp.free[:N]
    free_r = np.zeros((G, T), dtype=bool)
    free_r[gk, tk] = lp.free[N:2 * N]
    _polish(problem, fleet, on, units, p, r, w, free_cell, free_r)
    total = np.where(on, p + fleet.pmin[:, None], 0.0)
    cost = 0.0
    for g, u in enumerate(problem.thermal):
        if on[g].any():
            cost += float((np.interp(total[g, on[g]], u.curve_mw, u.curve_cost) * fleet.scale[g, on[g]]).sum())
    renewable = np.zeros((len(problem.renewable), T))
    if problem.renewable:
        spread = fleet.w_hi - fleet.w_lo
        frac = np.divide(w - fleet.w_lo, spread, out=np.zeros(T), where=spread > 0)
        for i, unit in enumerate(problem.renewable):
            lo_w = np.asarray(unit.pmin, dtype=float)[:T]
            hi_w = np.asarray(unit.pmax, dtype=float)[:T]
            renewable[i] = lo_w + frac * (hi_w - lo_w)
    price = lam * (sc / sp)
    return Dispatch(
        p=total,
        r=np.where(on, r, 0.0),
        renewable=renewable,
        production_cost=cost,
        marginal_price=price[:T].copy(),
        reserve_price=np.maximum(price[T:], 0.0),
    )


def _solve(problem: Problem, fleet: _Fleet, on: np.ndarray, units: _Units, sp: float,
           sc: float, base_penalty: float, prove_infeasible: bool = True) -> tuple[_LP, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The scaled LP and its exact optimum (x, demand/reserve duals), or ScheduleInfeasible.

    The elastic price starts at 1e3 times the dearest slope (scaled) and is raised (x 30, up
    to x 2e4) while a proven optimum still uses the elastics; then, or when a higher price
    leaves the interior point unable to prove anything, the commitment is infeasible. Each LP is tried with
    the interior-point settings of `_ATTEMPTS` until one ends on an exact optimal vertex/face.
    """
    T = problem.periods
    penalty = base_penalty
    evidence: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    while True:
        lp, cells, const = _build_lp(problem, fleet, on, units, sp, sc, penalty)
        W = 3 * lp.N
        best: _Solution | None = None
        # An exactly feasible point whose optimality could not be proven (dual finish failed),
        # used only when no attempt proves one: its cost is the interior point's to ~1e-6.
        fallback: tuple[np.ndarray, np.ndarray] | None = None
        finished: np.ndarray | None = None
        lam: np.ndarray | None = None
        for eta, refine, s_rel, perturb, stop in _ATTEMPTS:
            sol = _ipm(_perturbed(lp, perturb), eta, refine, s_rel, stop)
            if best is None or sol.merit < best.merit:
                best = sol
            if not prove_infeasible and sol.merit <= _FINISH_FROM:
                # A search's question: an interior point near its optimum that leans on the
                # elastics by far more than its accuracy is verdict enough.
                elastic = (sol.x[W + T:W + 2 * T] * sp, sol.x[W + 2 * T:W + 3 * T] * sp, sol.x[W + 4 * T:W + 5 * T] * sp)
                if max(float(e.max(initial=0.0)) for e in elastic) > _QUICK_ELASTIC:
                    raise ScheduleInfeasible(_why_infeasible(problem, fleet, on, units, *elastic))
            if sol.merit <= _FINISH_FROM:
                # The active set is read with slack < tau * dual; a degenerate pair (both tiny)
                # is read either way by the other thresholds.
                # An already accurate interior point gets one cheap try (it is used as it is
                # otherwise); a broken-down one gets every threshold and more repair rounds.
                accurate = sol.merit <= _ACCURACY
                for tau in (1.0, 1e-3) if accurate else (1.0, 1e-3, 1e3):
                    got = _finish(lp, sol, tau, rounds=2 if accurate else 4)
                    x_f = None if got is None else got[0]
                    lam_f = None if got is None else _finish_dual(lp, sol, got[1])
                    if x_f is not None and lam_f is not None:
                        # Primal and dual feasible and complementary on one active set: optimal.
                        finished, lam = x_f, lam_f
                        break
                    if x_f is not None and fallback is None and sol.merit <= 1e-6:
                        cost_ipm = float((lp.cost * sol.x).sum())
                        if float((lp.cost * x_f).sum()) <= cost_ipm + 10.0 * sol.merit * (1.0 + abs(cost_ipm)):
                            fallback = (x_f, sol.lam)
                if finished is not None:
                    break
            if sol.merit <= _ACCURACY and perturb == 0.0:
                finished, lam = sol.x, sol.lam  # accurate as it is; the polish takes the residual
                break
        if finished is None and fallback is not None:
            finished, lam = fallback
        assert best is not None  # _ATTEMPTS is not empty: at least one interior point was run
        sol = best
        x = finished if finished is not None else sol.x
        short = x[W + T:W + 2 * T] * sp
        excess = x[W + 2 * T:W + 3 * T] * sp
        res_short = x[W + 4 * T:W + 5 * T] * sp
        worst = float(max(short.max(initial=0.0), excess.max(initial=0.0), res_short.max(initial=0.0)))
        if worst > _ELASTIC_TOL or (finished is None and evidence is not None):
            if finished is not None and worst > _ELASTIC_TOL:
                evidence = (short, excess, res_short)  # an optimum proven to need the elastics
            if penalty >= 2e4 * base_penalty or (finished is None and evidence is not None) or not prove_infeasible:
                short, excess, res_short = evidence if evidence is not None else (short, excess, res_short)
                raise ScheduleInfeasible(_why_infeasible(problem, fleet, on, units, short, excess, res_short))
            penalty *= 30.0
            continue
        if finished is None:
            # Every attempt broke down short of a proof. In practice this is a commitment on
            # the very edge of feasibility (infeasible by a rounding's width); report it as
            # infeasible, saying why, rather than hand out a dispatch we cannot vouch for.
            rp = lp.b - np.bincount(np.where(lp.arow[:-1] >= 0, lp.arow[:-1], 2 * T), lp.acoef[:-1] * sol.x, 2 * T + 1)[:-1]
            t = int(np.argmax(np.abs(rp[:T]) + short + excess)) if T else 0
            raise ScheduleInfeasible(
                f"period {t + 1}: no dispatch could be proven to meet demand {_mw(float(problem.demand[t]))} MW "
                f"and reserve {_mw(float(problem.reserve[t]))} MW (the commitment is at the edge of feasibility; "
                f"the interior point stopped at relative accuracy {sol.merit:.1e})"
            )
        assert lam is not None
        return lp, cells, const, finished, lam


def _perturbed(lp: _LP, amount: float) -> _LP:
    """`lp` with every cost moved by a relative random `amount` (a fixed seed: reproducible)."""
    if amount == 0.0:
        return lp
    rng = np.random.default_rng(12345)
    cost = lp.cost * (1.0 + amount * rng.uniform(-1.0, 1.0, lp.cost.shape[0]))
    cost[2 * lp.N:3 * lp.N] = lp.cost[2 * lp.N:3 * lp.N]  # c carries the curve: kept
    return dataclasses.replace(lp, cost=cost + amount * rng.uniform(0.0, 1.0, lp.cost.shape[0]) * lp.free)


def _rooms(fleet: _Fleet, on: np.ndarray, units: _Units, p: np.ndarray, r: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How far each unit's p (up, down) and r (up) can move in period t with every row held."""
    T = on.shape[1]
    up = np.minimum(units.hi[:, t] - p[:, t], units.cap[:, t] - p[:, t] - r[:, t])
    down = p[:, t] - units.lo[:, t]
    rup = units.cap[:, t] - p[:, t] - r[:, t]
    if t > 0:
        both = on[:, t] & on[:, t - 1]
        ramp_up_slack = np.where(both, fleet.ru - (p[:, t] + r[:, t] - p[:, t - 1]), np.inf)
        up = np.minimum(up, ramp_up_slack)
        rup = np.minimum(rup, ramp_up_slack)
        down = np.minimum(down, np.where(both, fleet.rd - (p[:, t - 1] - p[:, t]), np.inf))
    if t < T - 1:
        both = on[:, t] & on[:, t + 1]
        up = np.minimum(up, np.where(both, fleet.rd - (p[:, t] - p[:, t + 1]), np.inf))
        down = np.minimum(down, np.where(both, fleet.ru - (p[:, t + 1] + r[:, t + 1] - p[:, t]), np.inf))
    return up, down, rup


def _polish(problem: Problem, fleet: _Fleet, on: np.ndarray, units: _Units, p: np.ndarray, r: np.ndarray,
            w: np.ndarray, free_p: np.ndarray, free_r: np.ndarray) -> None:
    """Put the interior point's last residual of demand and reserve where the rows have room.

    The residuals are ~1e-10 of the demand, the moves as small, so the cost changes by about
    a marginal price times 1e-10 MW; afterwards demand and reserve hold to rounding.
    """
    T = on.shape[1]
    pmin_on = (fleet.pmin[:, None] * on).sum(axis=0)
    for t in range(T):
        for _ in range(3):
            gap = float(problem.demand[t] - pmin_on[t] - p[:, t].sum() - w[t])
            if gap == 0.0:
                break
            up, down, _rup = _rooms(fleet, on, units, p, r, t)
            room = np.where(free_p[:, t], up if gap > 0 else down, 0.0)
            wroom = fleet.w_hi[t] - w[t] if gap > 0 else w[t] - fleet.w_lo[t]
            g = int(np.argmax(room)) if room.size else -1
            if wroom >= (room[g] if g >= 0 else 0.0) and wroom > 0:
                step = min(abs(gap), wroom)
                w[t] += step if gap > 0 else -step
            elif g >= 0 and room[g] > 0:
                step = min(abs(gap), float(room[g]))
                p[g, t] += step if gap > 0 else -step
            else:
                break
        for _ in range(3):
            short = float(problem.reserve[t] - r[:, t].sum())
            if short <= 0.0:
                break
            _up, _down, rup = _rooms(fleet, on, units, p, r, t)
            rroom = np.where(free_r[:, t], rup, 0.0)
            g = int(np.argmax(rroom)) if rroom.size else -1
            if g < 0 or rroom[g] <= 0:
                break
            r[g, t] += min(short, float(rroom[g]))


def _why_infeasible(problem: Problem, fleet: _Fleet, on: np.ndarray, units: _Units, short: np.ndarray,
                    excess: np.ndarray, res_short: np.ndarray) -> str:
    """A sentence naming the period where the commitment fails, and why."""
    pmin_on = (fleet.pmin[:, None] * on).sum(axis=0)
    most = pmin_on + np.where(on, units.hi, 0.0).sum(axis=0) + fleet.w_hi
    least = pmin_on + np.where(on, units.lo, 0.0).sum(axis=0) + fleet.w_lo
    kind = int(np.argmax([short.max(initial=0.0), excess.max(initial=0.0), res_short.max(initial=0.0)]))
    if kind == 0:
        t = int(np.argmax(short))
        d = float(problem.demand[t])
        if d > most[t] + _ELASTIC_TOL:
            return f"period {t + 1}: the committed units can reach at most {_mw(most[t])} MW (renewables included) but demand is {_mw(d)} MW"
        return (f"period {t + 1}: demand {_mw(d)} MW cannot be met within the committed units' ramp, "
                f"start-up and shut-down limits ({_mw(short[t])} MW short)")
    if kind == 1:
        t = int(np.argmax(excess))
        d = float(problem.demand[t])
        if d < least[t] - _ELASTIC_TOL:
            return f"period {t + 1}: the committed units produce at least {_mw(least[t])} MW (renewables included) but demand is only {_mw(d)} MW"
        return (f"period {t + 1}: the committed units cannot come down to demand {_mw(d)} MW within their "
                f"ramp and shut-down limits ({_mw(excess[t])} MW too much)")
    t = int(np.argmax(res_short))
    most_r = np.where(on, units.cap - units.lo, 0.0).sum(axis=0)
    reserve = float(problem.reserve[t])
    if reserve > most_r[t] + _ELASTIC_TOL:
        return f"period {t + 1}: the committed units can hold at most {_mw(most_r[t])} MW of reserve but {_mw(reserve)} MW is required"
    return (f"period {t + 1}: the committed units cannot hold {_mw(reserve)} MW of reserve while meeting demand "
            f"{_mw(float(problem.demand[t]))} MW ({_mw(res_short[t])} MW short)")
