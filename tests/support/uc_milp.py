"""pglib-uc MODEL.tex as a MILP for HiGHS (highspy): the schedule solver's optimality referee.

The model is MODEL.tex row for row (tests/data/uc/pglib-uc/MODEL.tex; the comments name its
equation labels), built with numpy as sparse triplets and handed to HiGHS in one
`passModel`, so that even the 610-unit, 48-period CAISO case builds in about a second.
Nothing is imported from `merit_order`: the referee must not share the solver's code.

Variables per thermal unit g and period t: u, v, w (binary), delta^s (binary, one per
start-up category), p (power above minimum, [0, Pmax - Pmin]), r (reserve, >= 0) and
lambda^l ([0, 1], one per cost-curve point); per renewable unit: p_w in [Pmin_w(t), Pmax_w(t)]
(WindLimit as bounds). c_g(t) is substituted into the objective by PiecewisePartsCost
(it appears nowhere else), MustRun is a lower bound of 1 on u; every other constraint is
a row.

`solve_milp(instance)` returns a `MilpResult` whose `schedule` is in the solver's answer
format (see tests/support/uc_checker.py), so the checker judges the referee's own answer too;
`solve_lp_relaxation(instance)` the bound of the LP relaxation; `schedule_cost(instance,
answer)` MODEL.tex's verdict on a given answer (None if infeasible, else its cost). HiGHS
runs with a fixed random seed, one thread by default, no output and, like tests/support/referee.py,
presolve OFF unless asked: HiGHS 1.16's presolve was caught returning a wrong "optimal" on a
single-unit UC model (tests/referee/test_unit_subproblem.py), and without it HiGHS did no worse
here (rts_gmlc 2020-01-27, 24 periods, 60 s: gap 0.33 % off vs 0.6-0.7 % on; the pwdemars
5-unit cases solve in about the same time either way). test_uc_referees.py checks that both
settings agree where both prove optimality.

Run as a script for measurements, e.g.
    .venv/bin/python tests/support/uc_milp.py pwdemars/5gen/prof1.json --periods 24
    .venv/bin/python tests/support/uc_milp.py pglib-uc/rts_gmlc/2020-01-27.json --periods 24 --time-limit 60
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
from scipy import sparse

#: HiGHS's random_seed for every solve: the referee's runs are reproducible.
RANDOM_SEED = 12345


class MilpInconclusive(RuntimeError):
    """HiGHS ended with a status the referee cannot use (error, unbounded, ...)."""


@dataclass
class MilpResult:
    """What HiGHS found: status "optimal" / "time_limit" / "infeasible"; objective = incumbent.

    `schedule` is the incumbent in the solver's answer format (None without incumbent);
    `bound` is HiGHS's dual bound, `gap` HiGHS's relative gap, `seconds` the solve time and
    `build_seconds` the time to build the model.
    """

    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    schedule: dict[str, Any] | None
    seconds: float
    build_seconds: float
    highs_status: str = ""
    size: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- model building


class _Columns:
    """Variables in blocks: bounds, costs and integrality grow as arrays."""

    def __init__(self) -> None:
        self.count = 0
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.cost: list[np.ndarray] = []
        self.integer: list[np.ndarray] = []

    def add(
        self, n: int, lower: Any = 0.0, upper: Any = math.inf, cost: Any = 0.0, integer: bool = False
    ) -> np.ndarray:
        index = np.arange(self.count, self.count + n)
        self.count += n
        self.lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy())
        self.upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy())
        self.cost.append(np.broadcast_to(np.asarray(cost, dtype=float), (n,)).copy())
        self.integer.append(np.full(n, integer, dtype=bool))
        return index


class _Rows:
    """Constraints in blocks: `add(lower, upper, terms)` with terms (row_in_block, column, coefficient)."""

    def __init__(self) -> None:
        self.count = 0
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.labels: list[tuple[str, int, int]] = []  # (label, first row, count)

    def add(self, label: str, lower: Any, upper: Any, terms: list[tuple[Any, Any, Any]]) -> None:
        """Rows 0..n-1 of a block (n: the largest row index in `terms` + 1, or the bounds' size)."""
        blocks = []
        n = 0
        for rows, cols, vals in terms:
            rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
            cols = np.atleast_1d(np.asarray(cols, dtype=np.int64))
            if rows.shape != cols.shape:
                raise ValueError(f"{label}: {rows.shape} rows for {cols.shape} columns")
            vals = np.broadcast_to(np.asarray(vals, dtype=float), rows.shape).copy()
            blocks.append((rows, cols, vals))
            if rows.size:
                n = max(n, int(rows.max()) + 1)
        lower = np.atleast_1d(np.asarray(lower, dtype=float))
        upper = np.atleast_1d(np.asarray(upper, dtype=float))
        n = max(n, lower.size if lower.size > 1 else 0, upper.size if upper.size > 1 else 0)
        if n == 0:
            return
        for rows, cols, vals in blocks:
            self.r.append(rows + self.count)
            self.c.append(cols)
            self.v.append(vals)
        self.lower.append(np.broadcast_to(lower, (n,)).copy())
        self.upper.append(np.broadcast_to(upper, (n,)).copy())
        self.labels.append((label, self.count, n))
        self.count += n


@dataclass
class _UnitVars:
    name: str
    pmin: float
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    delta: list[np.ndarray]  # one (T,) block per category
    p: np.ndarray
    r: np.ndarray
    lam: list[np.ndarray]  # one (T,) block per curve point
    start_costs: list[float]
    curve_cost: list[float]


@dataclass
class _Model:
    lp: highspy.HighsLp
    T: int
    units: list[_UnitVars]
    renewable: dict[str, np.ndarray]
    demand_rows: np.ndarray
    integer_columns: np.ndarray


def build_model(instance: Mapping[str, Any], relax: bool = False) -> _Model:
    """MODEL.tex for `instance` as a HighsLp (integrality dropped when `relax`)."""
    T = int(instance["time_periods"])
    t_all = np.arange(T)
    demand = np.asarray(instance["demand"], dtype=float)
    reserves = np.asarray(instance.get("reserves", [0.0] * T), dtype=float)
    cols, rows = _Columns(), _Rows()
    units: list[_UnitVars] = []
    inf = math.inf

    for name, g in instance["thermal_generators"].items():
        pmin, pmax = float(g["power_output_minimum"]), float(g["power_output_maximum"])
        span = pmax - pmin
        ru, rd = float(g["ramp_up_limit"]), float(g["ramp_down_limit"])
        su, sd = float(g["ramp_startup_limit"]), float(g["ramp_shutdown_limit"])
        ut, dt = int(g["time_up_minimum"]), int(g["time_down_minimum"])
        ut0, dt0 = int(g["time_up_t0"]), int(g["time_down_t0"])
        u0, p0 = int(g["unit_on_t0"]), float(g["power_output_t0"])
        lags = [int(s["lag"]) for s in g["startup"]]
        cs = [float(s["cost"]) for s in g["startup"]]
        mw = [float(x["mw"]) for x in g["piecewise_production"]]
        cp = [float(x["cost"]) for x in g["piecewise_production"]]
        S = len(lags)

        must_run = 1.0 if int(g.get("must_run", 0)) else 0.0
        u = cols.add(T, must_run, 1.0, cp[0], integer=True)  # MustRun as u's lower bound; CP^1 u
        v = cols.add(T, 0.0, 1.0, 0.0, integer=True)
        w = cols.add(T, 0.0, 1.0, 0.0, integer=True)
        delta = [cols.add(T, 0.0, 1.0, cs[s], integer=True) for s in range(S)]
        p = cols.add(T, 0.0, span)  # p <= Pmax - Pmin is implied by the piecewise rows; as a bound it helps
        r = cols.add(T, 0.0, inf)
        # PiecewisePartsCost substituted: c_g(t) = sum_l (CP^l - CP^1) lambda^l.
        lam = [cols.add(T, 0.0, 1.0, cp[l] - cp[0]) for l in range(len(mw))]
        units.append(_UnitVars(name, pmin, u, v, w, delta, p, r, lam, cs, cp))

        # initialUpRequirement / initialDownRequirement: sum_{t=1}^{min(UT-UT0,T)} (u - 1) = 0, ...
        if u0 == 1:
            k = min(ut - ut0, T)
            if k > 0:
                rows.add("initialUpRequirement", k, k, [(np.zeros(k), u[:k], 1.0)])
        else:
            k = min(dt - dt0, T)
            if k > 0:
                rows.add("initialDownRequirement", 0.0, 0.0, [(np.zeros(k), u[:k], 1.0)])
        # LogicalInitial: u(1) - v(1) + w(1) = U0.
        rows.add("LogicalInitial", u0, u0, [(0, u[0], 1.0), (0, v[0], -1.0), (0, w[0], 1.0)])
        # STIInit: sum_{s<S} sum_{t=max(1, TS^{s+1}-DT0+1)}^{min(TS^{s+1}-1, T)} delta^s(t) = 0.
        sti_cols = []
        for s in range(S - 1):
            first, last = max(1, lags[s + 1] - dt0 + 1), min(lags[s + 1] - 1, T)
            if first <= last:
                sti_cols.append(delta[s][first - 1 : last])
        if sti_cols:
            c = np.concatenate(sti_cols)
            rows.add("STIInit", 0.0, 0.0, [(np.zeros(c.size), c, 1.0)])
        p0_above = u0 * (p0 - pmin)
        # RampUpInit: p(1) + r(1) - U0 (P0 - Pmin) <= RU.
        rows.add("RampUpInit", -inf, ru + p0_above, [(0, p[0], 1.0), (0, r[0], 1.0)])
        # RampDownInit: U0 (P0 - Pmin) - p(1) <= RD.
        rows.add("RampDownInit", p0_above - rd, inf, [(0, p[0], 1.0)])
        # MaxOutput2Init: U0 (P0 - Pmin) <= (Pmax - Pmin) U0 - max(Pmax - SD, 0) w(1).
        rows.add("MaxOutput2Init", -inf, span * u0 - p0_above, [(0, w[0], max(pmax - sd, 0.0))])
        # Logical, t >= 2: u(t) - u(t-1) - v(t) + w(t) = 0.
        k = np.arange(T - 1)
        rows.add(
            "Logical", 0.0, 0.0, [(k, u[1:], 1.0), (k, u[:-1], -1.0), (k, v[1:], -1.0), (k, w[1:], 1.0)]
        )
        # Startup: sum_{i=t-min(UT,T)+1}^t v(i) <= u(t), t = min(UT,T)..T.
        windows = (("Startup", min(ut, T), v, -1.0, 0.0), ("Shutdown", min(dt, T), w, 1.0, 1.0))
        for label, window, var, sign, rhs in windows:
            if window < 1:
                continue  # UT or DT of 0: the rows are empty sums, 0 <= u(t) or 0 <= 1 - u(t)
            ts = np.arange(window - 1, T)  # 0-based t
            n = ts.size
            terms = [(np.arange(n), u[ts], sign)]
            for lag in range(window):
                terms.append((np.arange(n), var[ts - lag], 1.0))
            # Startup: sum v - u <= 0; Shutdown: sum w + u <= 1.
            rows.add(label, -inf, rhs, terms)
        # STISelect: delta^s(t) <= sum_{i=TS^s}^{TS^{s+1}-1} w(t-i), t = TS^{s+1}..T, s < S.
        for s in range(S - 1):
            ts = np.arange(lags[s + 1] - 1, T)  # 0-based t
            n = ts.size
            if n == 0:
                continue
            terms = [(np.arange(n), delta[s][ts], 1.0)]
            for i in range(lags[s], lags[s + 1]):
                terms.append((np.arange(n), w[ts - i], -1.0))
            rows.add("STISelect", -inf, 0.0, terms)
        # STILink: v(t) = sum_s delta^s(t).
        rows.add("STILink", 0.0, 0.0, [(t_all, v, 1.0)] + [(t_all, d, -1.0) for d in delta])
        # MaxOutput1: p + r - (Pmax - Pmin) u + max(Pmax - SU, 0) v <= 0.
        rows.add(
            "MaxOutput1",
            -inf,
            0.0,
            [(t_all, p, 1.0), (t_all, r, 1.0), (t_all, u, -span), (t_all, v, max(pmax - su, 0.0))],
        )
        # MaxOutput2, t < T: p(t) + r(t) - (Pmax - Pmin) u(t) + max(Pmax - SD, 0) w(t+1) <= 0.
        k = np.arange(T - 1)
        rows.add(
            "MaxOutput2",
            -inf,
            0.0,
            [(k, p[:-1], 1.0), (k, r[:-1], 1.0), (k, u[:-1], -span), (k, w[1:], max(pmax - sd, 0.0))],
        )
        # RampUp, t >= 2: p(t) + r(t) - p(t-1) <= RU;  RampDown: p(t-1) - p(t) <= RD.
        rows.add("RampUp", -inf, ru, [(k, p[1:], 1.0), (k, r[1:], 1.0), (k, p[:-1], -1.0)])
        rows.add("RampDown", -inf, rd, [(k, p[:-1], 1.0), (k, p[1:], -1.0)])
        # PiecewiseParts: p - sum_l (P^l - P^1) lambda^l = 0;  PiecewiseLimits: u - sum_l lambda^l = 0.
        parts = [(t_all, lam[l], -(mw[l] - mw[0])) for l in range(len(mw))]
        rows.add("PiecewiseParts", 0.0, 0.0, [(t_all, p, 1.0)] + parts)
        rows.add("PiecewiseLimits", 0.0, 0.0, [(t_all, u, 1.0)] + [(t_all, lam[l], -1.0) for l in range(len(mw))])

    renewable: dict[str, np.ndarray] = {}
    for name, wg in instance.get("renewable_generators", {}).items():
        lo = np.asarray(wg["power_output_minimum"], dtype=float)
        hi = np.asarray(wg["power_output_maximum"], dtype=float)
        renewable[name] = cols.add(T, lo, hi)  # WindLimit

    # Demand: sum_g (p_g + Pmin_g u_g) + sum_w p_w = D(t);  Reserves: sum_g r_g >= R(t).
    demand_first = rows.count
    terms = []
    for uv in units:
        terms += [(t_all, uv.p, 1.0), (t_all, uv.u, uv.pmin)]
    terms += [(t_all, pw, 1.0) for pw in renewable.values()]
    rows.add("Demand", demand, demand, terms)
    rows.add("Reserves", reserves, inf, [(t_all, uv.r, 1.0) for uv in units])

    integer = np.concatenate(cols.integer)
    matrix = sparse.csr_matrix(
        (np.concatenate(rows.v), (np.concatenate(rows.r), np.concatenate(rows.c))),
        shape=(rows.count, cols.count),
    )
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    lp = highspy.HighsLp()
    lp.num_col_ = cols.count
    lp.num_row_ = rows.count
    lp.col_cost_ = np.concatenate(cols.cost)
    lp.col_lower_ = np.concatenate(cols.lower)
    lp.col_upper_ = np.concatenate(cols.upper)
    lp.row_lower_ = np.concatenate(rows.lower)
    lp.row_upper_ = np.concatenate(rows.upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = cols.count
    lp.a_matrix_.num_row_ = rows.count
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data
    if not relax:
        lp.integrality_ = [highspy.HighsVarType.kInteger if x else highspy.HighsVarType.kContinuous for x in integer]
    return _Model(lp, T, units, renewable, np.arange(demand_first, demand_first + T), np.flatnonzero(integer))


def quiet_highs() -> highspy.Highs:
    """A `highspy.Highs()` that prints nothing. HiGHS prints its banner ("Running HiGHS ...
    Copyright ...") through C's stdout when the process's first instance is built, before any
    option (output_flag) can be set. C's buffer is flushed when the process exits, after pytest
    has stopped capturing, so the lines land at the end of `make test`. The first construction
    therefore runs with fd 1 on /dev/null, and C's buffer is flushed there before fd 1 is put
    back. Later instances print nothing by themselves."""
    global _banner_swallowed
    if _banner_swallowed:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
            h = highspy.Highs()
            ctypes.CDLL(None).fflush(None)  # C's stdout buffer, into /dev/null
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _banner_swallowed = True
    return h


_banner_swallowed = False


def _highs(time_limit: float, mip_rel_gap: float, threads: int, presolve: bool) -> highspy.Highs:
    h = quiet_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("threads", int(threads))
    h.setOptionValue("random_seed", RANDOM_SEED)
    h.setOptionValue("presolve", "on" if presolve else "off")
    return h


# --------------------------------------------------------------------------- solving


def solve_milp(
    instance: Mapping[str, Any],
    time_limit: float = 60.0,
    mip_rel_gap: float = 1e-9,
    threads: int = 1,
    *,
    prices: bool = True,
    presolve: bool = False,
) -> MilpResult:
    """Solve MODEL.tex for `instance` with HiGHS; the schedule in the solver's answer format.

    status: "optimal" (HiGHS proved it to `mip_rel_gap`), "time_limit" (objective/schedule
    = the incumbent if there is one, else None), "infeasible". Other HiGHS outcomes raise
    MilpInconclusive. With `prices`, the answer's marginal_price is the dual of each Demand
    row in the LP with the commitment (u, v, w, delta) fixed at the incumbent (one extra LP
    solve); otherwise zeros.

    The schedule's costs are the MILP's own: production from its lambdas, each start at the
    category its delta chose. At the optimum that is the cheapest allowed category; a
    time-limited incumbent may pay a dearer one (seen on the 610-unit CAISO case after 60 s),
    which the checker then reports as a wrong startup_cost: a sign of a poor incumbent, not
    of an infeasible one.
    """
    started = time.perf_counter()
    model = build_model(instance)
    build_seconds = time.perf_counter() - started
    h = _highs(time_limit, mip_rel_gap, threads, presolve)
    h.passModel(model.lp)
    started = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - started
    status = h.getModelStatus()
    info = h.getInfo()
    size = {"columns": model.lp.num_col_, "rows": model.lp.num_row_, "integers": int(model.integer_columns.size)}
    label = h.modelStatusToString(status)
    # kUnboundedOrInfeasible (presolve may stop there) is infeasible here: every cost term is
    # on a bounded variable (r, the only unbounded one, costs nothing), so MODEL.tex is never unbounded.
    if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        return MilpResult("infeasible", None, None, None, None, seconds, build_seconds, label, size)
    if status == highspy.HighsModelStatus.kOptimal:
        kind = "optimal"
    elif status == highspy.HighsModelStatus.kTimeLimit:
        kind = "time_limit"
    else:
        raise MilpInconclusive(f"HiGHS ended with {label!r}")
    has_incumbent = info.primal_solution_status == 2  # kSolutionStatusFeasible
    bound = float(info.mip_dual_bound)
    if not has_incumbent:
        return MilpResult(kind, None, bound, None, None, seconds, build_seconds, label, size)
    objective = float(info.objective_function_value)
    gap = float(info.mip_gap)
    x = np.asarray(h.getSolution().col_value)
    price = _marginal_prices(model, x) if prices else np.zeros(model.T)
    schedule = _schedule(
        model,
        x,
        objective=objective,
        bound=bound,
        gap=gap,
        status="optimal" if kind == "optimal" else "feasible",
        seconds=seconds,
        price=price,
    )
    return MilpResult(kind, objective, bound, gap, schedule, seconds, build_seconds, label, size)


def _schedule(
    model: _Model,
    x: np.ndarray,
    *,
    objective: float,
    bound: float,
    gap: float,
    status: str,
    seconds: float,
    price: np.ndarray,
) -> dict[str, Any]:
    """HiGHS's incumbent in the answer format; costs from the MILP's own lambda and delta values."""
    thermal: dict[str, Any] = {}
    production: list[float] = []
    startup: list[float] = []
    for uv in model.units:
        on = np.rint(x[uv.u]).astype(int)
        p_above = np.where(on == 1, np.clip(x[uv.p], 0.0, None), 0.0)
        reserve = np.where(on == 1, np.clip(x[uv.r], 0.0, None), 0.0)
        start_cost = np.zeros(model.T)
        for cost, d in zip(uv.start_costs, uv.delta, strict=True):
            start_cost += cost * np.rint(x[d])
        curve = np.full(model.T, uv.curve_cost[0]) * on
        for l, lam in enumerate(uv.lam):
            curve += (uv.curve_cost[l] - uv.curve_cost[0]) * x[lam] * on
        production.extend(curve.tolist())
        startup.extend(start_cost.tolist())
        thermal[uv.name] = {
            "on": on.tolist(),
            "p": (uv.pmin * on + p_above).tolist(),
            "reserve": reserve.tolist(),
            "startup_cost": start_cost.tolist(),
        }
    renewable = {name: {"p": x[cols].tolist()} for name, cols in model.renewable.items()}
    prod, start = math.fsum(production), math.fsum(startup)
    return {
        "status": status,
        "objective": objective,
        "lower_bound": bound,
        "gap": gap,
        "time_periods": model.T,
        "thermal": thermal,
        "renewable": renewable,
        "marginal_price": price.tolist(),
        "cost": {"production": prod, "startup": start, "total": math.fsum([prod, start])},
        "solve_seconds": seconds,
    }


def _marginal_prices(model: _Model, x: np.ndarray) -> np.ndarray:
    """Duals of the Demand rows with the binaries fixed at `x` ($/MW per period), or NaNs."""
    lp = model.lp
    fixed = highspy.HighsLp()
    for attr in ("num_col_", "num_row_", "col_cost_", "row_lower_", "row_upper_"):
        setattr(fixed, attr, getattr(lp, attr))
    lower, upper = np.asarray(lp.col_lower_).copy(), np.asarray(lp.col_upper_).copy()
    values = np.rint(x[model.integer_columns])
    lower[model.integer_columns] = values
    upper[model.integer_columns] = values
    fixed.col_lower_, fixed.col_upper_ = lower, upper
    fixed.a_matrix_ = lp.a_matrix_
    h = _highs(60.0, 0.0, 1, presolve=True)  # an LP
    h.passModel(fixed)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return np.full(model.T, math.nan)
    return np.asarray(h.getSolution().row_dual)[model.demand_rows]


def schedule_cost(instance: Mapping[str, Any], schedule: Mapping[str, Any], time_limit: float = 60.0) -> float | None:
    """MODEL.tex's cost of a given answer, or None when MODEL.tex does not allow it.

    The MILP with u, p, r and each renewable p fixed at the answer's values (p: its total
    output minus Pmin * on); HiGHS is left to choose v, w, delta and lambda, i.e. to price the
    starts (cheapest category the rows allow) and the outputs (cheapest lambda). A value
    outside its variable's domain (u binary with MustRun's lower bound, 0 <= p <= Pmax - Pmin,
    r >= 0, renewable bounds) by more than 1e-9 gives None without solving. This is the
    checker's verdict and cost computed the other way round, by the model itself.
    """
    model = build_model(instance)
    lower = np.asarray(model.lp.col_lower_).copy()
    upper = np.asarray(model.lp.col_upper_).copy()
    fixes: list[tuple[np.ndarray, np.ndarray]] = []
    for uv in model.units:
        entry = schedule["thermal"][uv.name]
        on = np.asarray(entry["on"], dtype=float)
        fixes += [
            (uv.u, on),
            (uv.p, np.asarray(entry["p"], dtype=float) - uv.pmin * on),
            (uv.r, np.asarray(entry["reserve"], dtype=float)),
        ]
    for name, columns in model.renewable.items():
        fixes.append((columns, np.asarray(schedule["renewable"][name]["p"], dtype=float)))
    for columns, values in fixes:
        if np.any(values < lower[columns] - 1e-9) or np.any(values > upper[columns] + 1e-9):
            return None
        values = np.clip(values, lower[columns], upper[columns])
        lower[columns] = values
        upper[columns] = values
    model.lp.col_lower_ = lower
    model.lp.col_upper_ = upper
    # Presolve on here: with u, p, r fixed it just removes them (ten times faster), and
    # every use of this function compares its answer with the checker's.
    h = _highs(time_limit, 0.0, 1, presolve=True)
    h.passModel(model.lp)
    h.run()
    status = h.getModelStatus()
    if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        return None
    if status != highspy.HighsModelStatus.kOptimal:
        raise MilpInconclusive(f"fixed schedule: HiGHS ended with {h.modelStatusToString(status)!r}")
    return float(h.getInfo().objective_function_value)


def solve_lp_relaxation(instance: Mapping[str, Any], time_limit: float = 600.0, threads: int = 1) -> float:
    """The optimum of MODEL.tex's LP relaxation (every binary in [0, 1]): a lower bound."""
    model = build_model(instance, relax=True)
    h = _highs(time_limit, 0.0, threads, presolve=True)  # an LP
    h.passModel(model.lp)
    h.run()
    status = h.getModelStatus()
    if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        return math.inf
    if status != highspy.HighsModelStatus.kOptimal:
        raise MilpInconclusive(f"LP relaxation: HiGHS ended with {h.modelStatusToString(status)!r}")
    return float(h.getInfo().objective_function_value)


# --------------------------------------------------------------------------- measurements


def _main() -> None:
    import argparse

    from uc_checker import check_schedule, recompute_cost
    from uc_instances import load_instance

    parser = argparse.ArgumentParser(description="Solve a stored UC instance with the MILP referee.")
    parser.add_argument("path", help="relative to tests/data/uc/, e.g. pwdemars/5gen/prof1.json")
    parser.add_argument("--periods", type=int, default=None)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--gap", type=float, default=1e-9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--presolve", action="store_true", help="turn HiGHS's presolve on (off by default)")
    args = parser.parse_args()
    instance = load_instance(args.path, args.periods)
    lp_started = time.perf_counter()
    lp_bound = solve_lp_relaxation(instance)
    lp_seconds = time.perf_counter() - lp_started
    result = solve_milp(instance, args.time_limit, args.gap, args.threads, presolve=args.presolve)
    line = (
        f"{args.path} T={instance['time_periods']}: {result.status} objective={result.objective} "
        f"bound={result.bound} gap={result.gap} solve={result.seconds:.2f}s build={result.build_seconds:.2f}s "
        f"lp_bound={lp_bound} ({lp_seconds:.2f}s) size={result.size}"
    )
    print(line)
    if result.schedule is not None:
        problems = check_schedule(instance, result.schedule)
        recomputed = recompute_cost(instance, result.schedule)
        print(f"checker: {len(problems)} problem(s) {problems[:5]}; recomputed {recomputed}")


if __name__ == "__main__":
    _main()
