"""The unit-commitment model every part of the schedule solver works on.

Everything here is already in *periods*: a reader (pglib-uc or desk JSON) converts hours to
periods once, so that the algorithms never see a period length. Concretely:

- production cost curves are euro (or $) *per period* at each breakpoint of total output (MW),
  convex and piecewise linear, first point at Pmin (so it includes the no-load cost);
- ramp limits are MW per period (an hourly limit times the period length in hours);
- minimum up/down times and start-up lags are whole periods (rounded up: never shorter than asked);
- demand, reserve and every power are MW (average power over the period).

The constraints are those of pglib-uc's MODEL.tex (Morales-España's tight formulation with
Sridhar's piecewise costs); `docs/schedules.md` states them in our words. Times in this module
are 0-based periods unless a name says `t1` (1-based, as in MODEL.tex).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class StartupCategory:
    """A start after at least `lag` periods off costs `cost` (hottest category: smallest lag)."""

    lag: int
    cost: float


@dataclass(frozen=True)
class ThermalUnit:
    """One dispatchable unit: on/off, Pmin..Pmax when on, convex piecewise-linear cost."""

    name: str
    pmin: float
    pmax: float
    curve_mw: tuple[float, ...]  # breakpoints of total output; curve_mw[0] == pmin, [-1] == pmax
    curve_cost: tuple[float, ...]  # cost per period at each breakpoint (convex, first = no-load)
    startup: tuple[StartupCategory, ...]  # lags strictly increasing (hottest first)
    min_up: int = 1  # periods
    min_down: int = 1  # periods
    ramp_up: float = float("inf")  # MW per period, on power above Pmin
    ramp_down: float = float("inf")
    startup_limit: float = float("inf")  # MW: most total output (+ reserve) in a start period
    shutdown_limit: float = float("inf")  # MW: most total output (+ reserve) before a shutdown
    must_run: bool = False
    on_t0: bool = False
    time_up_t0: int = 0  # periods on before the first period (when on_t0)
    time_down_t0: int = 0  # periods off before the first period (when not on_t0)
    p_t0: float = 0.0  # total output (MW) in the period before the first
    # Per-period multiplier of curve_cost (None: 1 everywhere). A desk's fuel prices change
    # from period to period: its units carry a curve in MWh and the price as this scale.
    cost_scale: tuple[float, ...] | None = None

    @property
    def span(self) -> float:
        """Pmax - Pmin: the range of power above the minimum (MODEL.tex's p_g)."""
        return self.pmax - self.pmin

    @property
    def no_load_cost(self) -> float:
        """Cost per period of running at Pmin (CP^1 in MODEL.tex)."""
        return self.curve_cost[0]

    def segment_slopes(self) -> np.ndarray:
        """Marginal cost per MW of each segment of the curve (non-decreasing: convex)."""
        mw = np.asarray(self.curve_mw, dtype=float)
        cost = np.asarray(self.curve_cost, dtype=float)
        widths = np.diff(mw)
        return np.divide(np.diff(cost), widths, out=np.zeros_like(widths), where=widths > 0)

    def scale(self, periods: int) -> np.ndarray:
        """(T,) the multiplier of curve_cost in each period."""
        if self.cost_scale is None:
            return np.ones(periods)
        return np.asarray(self.cost_scale[:periods], dtype=float)

    def production_cost(self, p: float, t: int = 0) -> float:
        """Cost in period t (0-based) of running at total output p (Pmin <= p <= Pmax)."""
        factor = 1.0 if self.cost_scale is None else self.cost_scale[t]
        return factor * float(np.interp(p, self.curve_mw, self.curve_cost))

    def startup_cost(self, t1: int, off_in_horizon: int | None) -> float:
        """Cost of a start in period t1 (1-based), exactly as MODEL.tex prices it.

        `off_in_horizon` is the number of periods the unit has been off since a shutdown
        inside the horizon, or None when it has been off since before period 1. MODEL.tex
        lets category s be used when (constraint STISelect) t1 >= lag[s+1] and the shutdown
        was lag[s]..lag[s+1]-1 periods ago, or when t1 < lag[s+1] and (STIInit) the unit's
        off time counted from before the horizon, time_down_t0 + t1 - 1, is below lag[s+1].
        The coldest category is always allowed; the cheapest allowed one is paid.
        """
        cats = self.startup
        if not cats:
            return 0.0
        best = cats[-1].cost
        for s in range(len(cats) - 1):
            nxt = cats[s + 1].lag
            if t1 >= nxt:
                ok = off_in_horizon is not None and cats[s].lag <= off_in_horizon <= nxt - 1
            else:
                ok = self.time_down_t0 + t1 - 1 < nxt
            if ok:
                best = min(best, cats[s].cost)
        return best


@dataclass(frozen=True)
class RenewableUnit:
    """Output free to choose in [pmin[t], pmax[t]] at no cost (curtailment allowed)."""

    name: str
    pmin: np.ndarray  # (T,)
    pmax: np.ndarray  # (T,)


@dataclass(frozen=True, eq=False)
class Problem:
    """One unit-commitment instance: demand and reserve per period, the fleet."""

    demand: np.ndarray  # (T,) MW to meet exactly
    reserve: np.ndarray  # (T,) MW of spinning reserve to hold (zeros when none)
    thermal: tuple[ThermalUnit, ...]
    renewable: tuple[RenewableUnit, ...] = field(default_factory=tuple)
    period_hours: float = 1.0  # kept for the answer; the model is already in periods

    @property
    def periods(self) -> int:
        return int(self.demand.shape[0])
