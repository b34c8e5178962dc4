"""Units of exactly equal cost as one class: the totals it can produce, and its share-out.

Units with exactly the same cost per MWh are neighbours in merit order (sorted by cost, then
position). Whatever their Pmin and Pmax, a class costs cost * (its total), so the units after
it only see its total T, and the dynamic program needs one column for the whole class: the
least cost over the totals it can produce. Those totals are the union, over the subsets R of
its units that run, of [sum of R's lo, sum of R's hi]; kept as sorted disjoint intervals,
adding a unit is S | (S + [lo, hi]), and with real ranges they merge fast (500 plants of
10-59.9 MW Pmin: {0} and one interval). Sets that stay fragmented (all-or-nothing units of
many sizes: a subset-sum) are refused past `MAX_INTERVALS` and the class is left to the
blocks of groups.py, which never cost more cells.

Reading the plan back, the tie rule holds unit by unit (docs/algorithm.md): A is the set of
class totals that keep the plan optimal; each unit in turn gets the most p in {0} u [lo, hi]
such that the units after it in the class can still bring the total into A (p in A - S_rest),
and A becomes (A - p) & S_rest. That is the lexicographically greatest split among all the
optimal plans, as the unit-by-unit walk would give, without a table column per unit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Interval = tuple[int, int]
Intervals = tuple[Interval, ...]

#: Most disjoint intervals a class's reachable set (or any suffix's) may have. Beyond it the
#: set is subset-sum-like (points), a column would cost one window pass per interval, and the
#: identical-neighbour blocks are cheaper.
MAX_INTERVALS = 32

_ZERO: Intervals = ((0, 0),)


def merged(pieces: list[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-adjacent intervals covering the same integers."""
    pieces.sort()
    out: list[Interval] = []
    for lo, hi in pieces:
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def add_unit(reach: Sequence[Interval], lo: int, hi: int, top: int) -> list[Interval]:
    """reach | (reach + [lo, hi]): the totals once a unit that is off or in [lo, hi] joins; clipped to `top`."""
    shifted = [(a + lo, min(b + hi, top)) for a, b in reach if a + lo <= top]
    return merged([*reach, *shifted])


def suffix_sets(ranges: Sequence[Interval], top: int) -> list[Intervals] | None:
    """sets[i]: the totals units i.. of the class can produce together, up to `top` (sets[m] = {0}).

    None when any of them has more than MAX_INTERVALS intervals (see the module docstring).
    """
    sets: list[Intervals] = [_ZERO]
    reach: list[Interval] = list(_ZERO)
    for lo, hi in reversed(ranges):
        reach = add_unit(reach, lo, hi, top)
        if len(reach) > MAX_INTERVALS:
            return None
        sets.append(tuple(reach))
    sets.reverse()
    return sets


def on_intervals(reach: Intervals, top: int) -> list[Interval]:
    """The intervals of totals with some unit on (0 left out), those starting at or below `top`."""
    out = []
    for lo, hi in reach:
        if lo > top:
            break
        if hi > 0:  # [0, hi] (a unit without Pmin) keeps 0: the window then also covers "all off"
            out.append((lo, hi))
    return out


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """The integers in both sorted interval lists."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def runs(mask: np.ndarray, offset: int) -> list[Interval]:
    """The runs of True in `mask`, as intervals of offset + index."""
    if not mask.any():
        return []
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(offset + int(s), offset + int(e) - 1) for s, e in zip(edges[::2], edges[1::2])]


def best_output(admissible: Sequence[Interval], rest: Sequence[Interval], lo: int, hi: int) -> int | None:
    """The most p in {0} u [lo, hi] with p = t - s for some t in `admissible`, s in `rest`; None if none.

    t - s over two intervals [t0, t1] and [s0, s1] is every integer of [t0 - s1, t1 - s0].
    """
    best = -1
    for t0, t1 in admissible:
        for s0, s1 in rest:
            d_lo, d_hi = t0 - s1, t1 - s0
            p = min(hi, d_hi)
            if p >= max(lo, d_lo):
                best = max(best, p)
            elif d_lo <= 0 <= d_hi:
                best = max(best, 0)
    return None if best < 0 else best


def class_share(
    ranges: Sequence[Interval], sets: Sequence[Intervals], admissible: list[Interval]
) -> list[int]:
    """Each unit's output in the tie rule's plan, given the class totals that keep the plan optimal.

    `ranges` are the units' (lo, hi) in merit order, `sets` their suffix_sets, `admissible`
    sorted intervals of totals (any of them reachable by the class).
    """
    target = intersect(admissible, sets[0])
    shares: list[int] = []
    for i, (lo, hi) in enumerate(ranges):
        rest = sets[i + 1]
        p = best_output(target, rest, lo, hi)
        if p is None:  # pragma: no cover - `target` holds only totals the class can produce
            raise AssertionError("class share-out lost the optimal plan")
        shares.append(p)
        target = intersect([(a - p, b - p) for a, b in target], rest)
    return shares
