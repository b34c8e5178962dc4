"""Identical units as one group: what a group can produce, its table column, its share-out.

Units that cannot be told apart (same cost per MWh, same lo and hi on the grid, so the same
all-or-nothing rule) and that sit next to each other in merit order form a *block*. The
dynamic program then keeps one table column per block instead of one per unit: for a group
of `count` units it only asks how much the group produces, T. With j of them running, T is
anything in [j*lo, j*hi], so the group can produce the union over j of those intervals,
which merge into a few (usually two: {0} and [lo, count*hi]); an all-or-nothing group
(lo == hi) produces the points j*lo, answered in one pass by window.on_points.

Reading the plan back, the tie rule still holds unit by unit (docs/algorithm.md): among the
group totals that keep the plan optimal, the one whose best split is lexicographically
greatest wins, and for j units running and a total T that split is units at hi, then one
in between, then units at lo, then the units off.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .classes import Intervals, class_share, on_intervals, runs, suffix_sets
from .fleet import Unit
from .window import on_points, on_range


class Block(NamedTuple):
    """`count` units of one cost, fleet[first : first + count], in merit order.

    Identical units (same lo and hi) when `sets` is None; otherwise an equal-cost class of
    units that differ (classes.py): `ranges` holds each unit's (lo, hi) and `sets` the
    totals each suffix of the class can produce, and lo/hi are the least lo and greatest hi.
    """

    first: int
    count: int  # type: ignore[assignment]  # shadows tuple.count on purpose (units in the block); nothing calls tuple.count on a Block
    lo: int
    hi: int
    cost: float
    ranges: tuple[tuple[int, int], ...] = ()
    sets: tuple[Intervals, ...] | None = None


def group_blocks(fleet: Sequence[Unit]) -> list[Block]:
    """The fleet as maximal runs of identical neighbours (a unit unlike its neighbours is a block of one).

    Only exact equality groups: units whose costs merely tie (within the tie tolerance) may
    still differ in Pmin or Pmax, and the tie rule orders them by their position, so they
    stay units of their own, solved as before.
    """
    keys = [(u.cost, u.lo, u.hi) for u in fleet]  # runs found on plain tuples: one Block per run
    out: list[Block] = []
    n = len(keys)
    k = 0
    while k < n:
        key = keys[k]
        end = k + 1
        while end < n and keys[end] == key:
            end += 1
        out.append(Block(k, end - k, key[1], key[2], key[0]))
        k = end
    return out


#: A class replaces its blocks only when that saves at least this many cells per unit of the
#: class: its share-out walks the class unit by unit in Python (about as dear as a column a
#: few thousand cells wide), so on narrow windows the blocks are faster (fleet 300 of the bench).
CLASS_MIN_SAVING = 2_000


def with_classes(
    fleet: Sequence[Unit],
    load: int,
    blocks: list[Block],
    width: np.ndarray,
    min_saving: int = CLASS_MIN_SAVING,
    split: bool = False,
) -> list[Block]:
    """`blocks`, with each run of exactly equal cost merged into one class where that pays.

    `width[k]` is the admissible window's width at unit boundary k. A class replaces its
    blocks when its reachable totals (up to the load) are a few intervals, no more than the
    window passes of the blocks it replaces (so it never costs more cells: the work bound of
    docs/algorithm.md holds), and it saves at least `min_saving` cells per unit. Hundreds of
    plants of one efficiency with their own Pmins then become one column instead of hundreds.
    With `split`, a group of identical units that does not save as much goes unit by unit
    (its share-out costs more than a few narrow columns: fleet 300 of the bench).
    """
    widths = width.tolist()
    if split:
        blocks = _split_narrow_groups(fleet, blocks, widths, load, min_saving)
    costs = [b.cost for b in blocks]
    if all(a != b for a, b in itertools.pairwise(costs)):  # no two neighbours of one cost: nothing to merge
        return blocks
    out: list[Block] = []
    k = 0
    while k < len(blocks):
        end = k + 1
        while end < len(blocks) and costs[end] == costs[k]:
            end += 1
        run = blocks[k:end]
        k = end
        first, count = run[0].first, run[-1].first + run[-1].count - run[0].first
        if len(run) == 1 or sum(widths[b.first] + 1 for b in run) < min_saving * count:
            out.extend(run)  # one block, or too narrow to pay (cheap test first)
            continue
        ranges = tuple((u.lo, u.hi) for u in fleet[first : first + count])
        sets = suffix_sets(ranges, load)
        if sets is None:
            out.extend(run)
            continue
        by_blocks = sum((widths[b.first] + 1) * passes(b, load) for b in run)
        windows = len(on_intervals(sets[0], load))
        if windows > sum(passes(b, load) for b in run) or by_blocks - (widths[first] + 1) * windows < min_saving * count:
            out.extend(run)
            continue
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        out.append(Block(first, count, lo, hi, run[0].cost, ranges, tuple(sets)))
    return out


def _split_narrow_groups(
    fleet: Sequence[Unit], blocks: list[Block], widths: list[int], load: int, min_saving: int
) -> list[Block]:
    """`blocks` with every group that saves fewer than `min_saving` cells per unit split into its units."""
    out: list[Block] = []
    for b in blocks:
        if b.count == 1:
            out.append(b)
            continue
        by_units = sum(widths[b.first : b.first + b.count]) + b.count
        if by_units - (widths[b.first] + 1) * passes(b, load) >= min_saving * b.count:
            out.append(b)
        else:
            out.extend(Block(k, 1, b.lo, b.hi, b.cost) for k in range(b.first, b.first + b.count))
    return out


def single_blocks(fleet: Sequence[Unit]) -> list[Block]:
    """Every unit a block of its own: the dynamic program unit by unit."""
    return [Block(k, 1, u.lo, u.hi, u.cost) for k, u in enumerate(fleet)]


def intervals(block: Block, top: int) -> list[tuple[int, int]]:
    """The totals the block can produce with some unit on, as merged intervals [j*lo, j*hi], up to `top`.

    Intervals starting above `top` are left out: a column never looks that far.
    """
    out: list[tuple[int, int]] = []
    for j in range(1, block.count + 1):
        lo, hi = j * block.lo, j * block.hi
        if lo > top:
            break
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def passes(block: Block, top: int) -> int:
    """How many windows of work the block's column costs (1 for a unit or an all-or-nothing group)."""
    if block.sets is not None:
        return max(1, len(on_intervals(block.sets[0], top)))
    if block.count == 1 or block.lo == block.hi:
        return 1
    return max(1, len(intervals(block, top)))


def group_column(
    block: Block, out: np.ndarray, nxt: np.ndarray, a0: int, b0: int, a1: int, b1: int
) -> None:
    """Lower `out` (the block's column on [a0, b0], already holding "all off") by every way to run it."""
    cost = block.cost
    if block.sets is not None:
        for lo, hi in on_intervals(block.sets[0], b0 - a1):
            y_lo, y_hi = max(a0, a1 + lo), min(b0, b1 + hi)
            if y_lo <= y_hi:
                on = on_range(nxt, a1, b1, y_lo, y_hi, lo, hi, cost)
                np.minimum(out[y_lo - a0 : y_hi - a0 + 1], on, out=out[y_lo - a0 : y_hi - a0 + 1])
        return
    if block.lo == block.hi:
        y_lo, y_hi = max(a0, a1 + block.lo), min(b0, b1 + block.count * block.lo)
        if y_lo <= y_hi:
            on = on_points(nxt, a1, b1, y_lo, y_hi, block.lo, 1, block.count, cost)
            np.minimum(out[y_lo - a0 : y_hi - a0 + 1], on, out=out[y_lo - a0 : y_hi - a0 + 1])
        return
    for lo, hi in intervals(block, b0 - a1):
        y_lo, y_hi = max(a0, a1 + lo), min(b0, b1 + hi)
        if y_lo <= y_hi:
            on = on_range(nxt, a1, b1, y_lo, y_hi, lo, hi, cost)
            np.minimum(out[y_lo - a0 : y_hi - a0 + 1], on, out=out[y_lo - a0 : y_hi - a0 + 1])


def split(block: Block, running: int, total: int) -> list[int]:
    """The lexicographically greatest way for `running` units of the block to produce `total`.

    As much as possible to the first unit, then the second...: units at hi, one unit in
    between, the rest at lo (each running unit needs its lo), then the units off.
    """
    count, lo, hi = block.count, block.lo, block.hi
    if running == 0:
        return [0] * count
    extra = total - running * lo
    if hi == lo:
        at_hi, rest = running, 0
    else:
        at_hi, rest = divmod(extra, hi - lo)
    if at_hi >= running:
        return [hi] * running + [0] * (count - running)
    return [hi] * at_hi + [lo + rest] + [lo] * (running - at_hi - 1) + [0] * (count - running)


def group_share(
    block: Block, nxt: np.ndarray, a1: int, left: int, spent: float, limit: float
) -> tuple[list[int], int]:
    """The block's units' outputs in the tie rule's plan, and their total.

    `nxt` holds G (the least cost of the blocks after this one) on [a1, a1 + len - 1]; a
    total T keeps the plan optimal iff spent + cost*T + G(left - T) <= limit. All the units
    cost the same, so only T decides what is left to the others: the answer is the greatest
    split(j, T) over the admissible T, and for each j the greatest admissible T in
    [j*lo, j*hi] gives j's greatest split. At most count + 1 candidates.
    """
    b1 = a1 + len(nxt) - 1
    most = block.count * block.hi if block.sets is None else block.sets[0][-1][1]
    t_lo, t_hi = max(0, left - b1), min(most, left - a1)
    if t_lo > t_hi:  # pragma: no cover - the walk only reaches states on an optimal path
        raise AssertionError("tie walk lost the optimal plan")
    totals = np.arange(t_lo, t_hi + 1)
    fits = spent + block.cost * totals + nxt[left - totals - a1] <= limit
    if block.sets is not None:
        shares = class_share(block.ranges, block.sets, runs(fits, t_lo))
        return shares, sum(shares)
    # last[i]: the greatest admissible total <= t_lo + i (t_lo - 1 if none)
    last = np.maximum.accumulate(np.where(fits, totals, t_lo - 1))
    best: list[int] | None = None
    best_total = -1
    if t_lo == 0 and fits[0]:
        best, best_total = [0] * block.count, 0
    # only the j whose [j*lo, j*hi] meets [t_lo, t_hi]; without a Pmin, j = count covers them all
    j_first = max(1, -(-t_lo // block.hi)) if block.lo > 0 else block.count
    j_last = min(block.count, t_hi // block.lo) if block.lo > 0 else block.count
    for j in range(j_first, j_last + 1):
        low = j * block.lo
        if low > t_hi:
            break
        high = min(j * block.hi, t_hi)
        if high < t_lo:
            continue
        total = int(last[high - t_lo])
        if total < max(low, t_lo):
            continue
        candidate = split(block, j, total)
        if best is None or candidate > best:
            best, best_total = candidate, total
    if best is None:  # pragma: no cover - the walk only reaches states on an optimal path
        raise AssertionError("tie walk lost the optimal plan")
    return best, best_total
