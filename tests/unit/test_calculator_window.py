"""The solver's sliding-window minima against the obvious loops they replace.

window_min answers `count` consecutive windows of width `w` starting at s0 (windows may
stick out of h at either end: only their part inside h counts), by prefix/suffix minima
when a window is as wide as h and by van Herk/Gil-Werman blocks otherwise; on_range and
on_points are the two table steps built on it (a unit on anywhere in [lo, hi]; `count`
all-or-nothing units of `step` tenths).
"""

from __future__ import annotations

import math

import numpy as np
from common import profile_examples
from hypothesis import given, settings
from hypothesis import strategies as st

from merit_order.calculator.window import on_points, on_range, window_min

_VALUES = st.one_of(st.integers(-50, 50).map(float), st.just(math.inf))


def naive_window_min(h: list[float], s0: int, count: int, w: int) -> list[float]:
    out = []
    for s in range(s0, s0 + count):
        inside = [h[i] for i in range(max(0, s), min(len(h), s + w))]
        out.append(min(inside) if inside else math.inf)
    return out


@st.composite
def windows(draw: st.DrawFn) -> tuple[list[float], int, int, int]:
    h = draw(st.lists(_VALUES, min_size=1, max_size=80))
    w = draw(st.integers(1, len(h) + 5))
    s0 = draw(st.integers(-(w - 1), len(h) - 1))  # every window touches h
    count = draw(st.integers(1, len(h) - s0))
    return h, s0, count, w


@settings(max_examples=profile_examples(1500), deadline=None, derandomize=True, database=None)
@given(case=windows())
def test_window_min_matches_the_naive_loop(case: tuple[list[float], int, int, int]) -> None:
    h, s0, count, w = case
    got = window_min(np.array(h), s0, count, w)
    assert got.tolist() == naive_window_min(h, s0, count, w)


@settings(max_examples=profile_examples(500), deadline=None, derandomize=True, database=None)
@given(h=st.lists(_VALUES, min_size=1, max_size=40), w=st.integers(1, 45), s0=st.integers(-50, 45), count=st.integers(1, 90))
def test_window_min_of_windows_that_miss_h_is_inf(h: list[float], w: int, s0: int, count: int) -> None:
    """Windows may also miss h entirely, before or after it: their minimum is +inf."""
    assert window_min(np.array(h), s0, count, w).tolist() == naive_window_min(h, s0, count, w)


def test_window_min_on_many_blocks_takes_the_two_dimensional_branch() -> None:
    """More than 16 blocks of the grid: the one-call accumulate branch."""
    rng = np.random.default_rng(7)
    h = rng.integers(-1000, 1000, 500).astype(float)
    assert window_min(h, -2, 400, 5).tolist() == naive_window_min(h.tolist(), -2, 400, 5)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[float], int]:
    values = draw(st.lists(_VALUES, min_size=1, max_size=40))
    return values, draw(st.integers(0, 30))


def naive_step(g: list[float], a1: int, y: int, totals: list[int], cost: float) -> float:
    """min over the unit's (or group's) totals p of cost*p + G(y - p), G on [a1, a1 + len(g))."""
    best = math.inf
    for p in totals:
        z = y - p
        if a1 <= z < a1 + len(g):
            best = min(best, cost * p + g[z - a1])
    return best


@settings(max_examples=profile_examples(800), deadline=None, derandomize=True, database=None)
@given(table=tables(), lo=st.integers(0, 12), extra=st.integers(0, 12), cost=st.sampled_from([0.0, 1.5, 7.0]), span=st.integers(0, 30))
def test_on_range_matches_the_naive_step(table: tuple[list[float], int], lo: int, extra: int, cost: float, span: int) -> None:
    g, a1 = table
    hi = lo + extra
    b1 = a1 + len(g) - 1
    y_lo = a1 + lo
    y_hi = min(y_lo + span, b1 + hi)
    got = on_range(np.array(g), a1, b1, y_lo, y_hi, lo, hi, cost)
    expected = [naive_step(g, a1, y, list(range(lo, hi + 1)), cost) for y in range(y_lo, y_hi + 1)]
    assert np.allclose(got, expected, rtol=0, atol=1e-9, equal_nan=False), (got.tolist(), expected)


@settings(max_examples=profile_examples(800), deadline=None, derandomize=True, database=None)
@given(
    table=tables(),
    step=st.integers(1, 9),
    first=st.integers(1, 5),
    count=st.integers(0, 12),
    cost=st.sampled_from([0.0, 1.5, 7.0]),
    start=st.integers(0, 40),
    span=st.integers(0, 60),
)
def test_on_points_matches_the_naive_step(
    table: tuple[list[float], int], step: int, first: int, count: int, cost: float, start: int, span: int
) -> None:
    g, a1 = table
    b1 = a1 + len(g) - 1
    last = first + count
    y_lo = a1 + start
    y_hi = y_lo + span
    got = on_points(np.array(g), a1, b1, y_lo, y_hi, step, first, last, cost)
    expected = [naive_step(g, a1, y, [j * step for j in range(first, last + 1)], cost) for y in range(y_lo, y_hi + 1)]
    assert np.allclose(got, expected, rtol=0, atol=1e-9), (got.tolist(), expected)
