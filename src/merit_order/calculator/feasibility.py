"""Which loads a fleet can meet at all, for telling a user the nearest ones to ask for.

Only the infeasible path needs this, so it favours simplicity: the set of reachable
totals is a bitset in a Python int (bit v set = v tenths of a MW can be produced), and
adding a unit that runs in [lo, hi] is a shift by lo followed by a dilation of width
hi - lo, done by doubling in O(log(hi - lo)) big-int operations.
"""

from __future__ import annotations

from collections.abc import Sequence

from .fleet import Unit


def reachable_bitset(units: Sequence[Unit], limit: int) -> int:
    """Bit v is set iff some plan produces exactly v tenths, for every v <= limit."""
    mask = (1 << (limit + 1)) - 1
    reach = 1  # producing nothing is always possible
    for unit in units:
        if unit.hi <= 0:
            continue
        shifted = (reach << unit.lo) & mask
        width = unit.hi - unit.lo + 1  # the unit adds any amount in [lo, hi]
        covered = 1
        while covered < width:
            step = min(covered, width - covered)
            shifted = (shifted | (shifted << step)) & mask
            covered += step
        reach |= shifted
    return reach


def nearest_feasible(units: Sequence[Unit], load: int) -> tuple[int | None, int | None]:
    """The largest feasible total <= load and the smallest >= load, in tenths (None if none).

    Bits above load + max(hi) are never needed: from any plan producing more than the load,
    switching its units off one by one steps down by at most max(hi) at a time, so some plan
    lands in (load, load + max(hi)].
    """
    biggest = max((u.hi for u in units), default=0)
    reach = reachable_bitset(units, load + biggest)
    below_bits = reach & ((1 << (load + 1)) - 1)
    below = below_bits.bit_length() - 1 if below_bits else None
    above_bits = reach >> load
    above = load + (above_bits & -above_bits).bit_length() - 1 if above_bits else None
    return below, above
