"""Sliding-window minima: the one array primitive of the solver's tables.

A unit that runs anywhere in [lo, hi] at a linear cost turns the next table G into
min over p in [lo, hi] of cost*p + G(y - p), which is cost*y plus a sliding-window minimum
of H(z) = G(z) - cost*z. Computing it in O(len + width) rather than O(len * width) is what
makes a table column cost about as much as a copy (docs/algorithm.md).
"""

from __future__ import annotations

import numpy as np

_INF = float("inf")

#: Up to this many jumps, on_points takes one shifted slice per jump.
_FEW_JUMPS = 8

#: _window_min accumulates row by row (releasing the GIL) up to this many rows of the block grid.
_ROWWISE_BLOCKS = 16


def on_range(nxt: np.ndarray, a1: int, b1: int, y_lo: int, y_hi: int, lo: int, hi: int, cost: float) -> np.ndarray:
    """min over p in [lo, hi] of cost*p + G(y - p), for y in [y_lo, y_hi].

    `nxt` holds G on [a1, b1]. cost*p = cost*y - cost*z, so this is cost*y plus a
    sliding-window minimum of H(z) = G(z) - cost*z over z in [y - hi, y - lo].
    """
    z_lo, z_hi = max(a1, y_lo - hi), min(b1, y_hi - lo)
    h = np.arange(z_lo, z_hi + 1, dtype=np.float64)  # in place: -cost*z + G(z), the same floats as G(z) - cost*z
    h *= -cost
    h += nxt[z_lo - a1 : z_hi - a1 + 1]
    mins = window_min(h, y_lo - hi - z_lo, y_hi - y_lo + 1, hi - lo + 1)
    out = np.arange(y_lo, y_hi + 1, dtype=np.float64)
    out *= cost
    out += mins
    return out


def on_points(
    nxt: np.ndarray, a1: int, b1: int, y_lo: int, y_hi: int, step: int, first: int, last: int, cost: float
) -> np.ndarray:
    """min over j in [first, last] of cost*j*step + G(y - j*step), for y in [y_lo, y_hi].

    Up to `last` all-or-nothing units of `step` tenths each, at least `first` of them on.
    cost*j*step = cost*y - cost*z, so along one residue class of z modulo `step` this is
    cost*y plus a sliding-window minimum of H(z) = G(z) - cost*z of width last - first + 1:
    all classes are laid out as rows of one array (each row padded with +inf so that no
    window runs into the next row) and answered by one call of window_min, in
    O(len + step * width) rather than O(len * width). Only the j that land inside G's
    window [a1, b1] are looked at.
    """
    first = max(first, -(-(y_lo - b1) // step))  # fewer jumps land above every state of G
    last = min(last, (y_hi - a1) // step)  # more land below every state of G
    if first > last:
        return np.full(y_hi - y_lo + 1, _INF)
    count = last - first + 1
    if count <= _FEW_JUMPS:  # a few shifted slices cost less than laying out the classes
        out = np.full(y_hi - y_lo + 1, _INF)
        for j in range(first, last + 1):
            lo_, hi_ = max(y_lo, a1 + j * step), min(y_hi, b1 + j * step)
            if lo_ <= hi_:
                seg = out[lo_ - y_lo : hi_ - y_lo + 1]
                np.minimum(seg, nxt[lo_ - j * step - a1 : hi_ - j * step - a1 + 1] + cost * (j * step), out=seg)
        return out
    z_lo = y_lo - last * step  # z of the widest jump from y_lo; indices are relative to it
    span = y_hi - first * step - z_lo + 1  # z runs over [z_lo, y_hi - first*step]
    rows = -(-span // step)
    h = np.full(rows * step, _INF)
    lo_, hi_ = max(a1, z_lo), min(b1, y_hi - first * step)
    if lo_ <= hi_:
        zs = np.arange(lo_, hi_ + 1)
        h[lo_ - z_lo : hi_ - z_lo + 1] = nxt[lo_ - a1 : hi_ - a1 + 1] - cost * zs
    # column r of h.reshape(rows, step) is the residue class r: transpose so that each class is a row
    width = rows + count - 1
    classes = np.full((step, width), _INF)
    classes[:, :rows] = h.reshape(rows, step).T
    flat = classes.ravel()
    mins = window_min(flat, 0, len(flat) - count + 1, count)  # mins[r * width + q]: min of class r over [q, q + count)
    # y = y_lo + i: the jumps j = last..first reach z = y - j*step, i.e. h[i + (last - j) * step]
    i = np.arange(y_hi - y_lo + 1)
    q, r = np.divmod(i, step)
    return mins[r * width + q] + cost * (y_lo + i)


def window_min(h: np.ndarray, s0: int, count: int, w: int) -> np.ndarray:
    """min(h[s..s + w - 1] clipped to h) for the `count` consecutive windows s = s0, s0 + 1, ...

    Windows as wide as h touch one of its ends, so prefix/suffix minima answer them. A narrower
    window sticks out of at most one end: those that stick out at the start are prefix minima,
    those at the end suffix minima (the common case in a table whose windows span the whole
    load: one pass each), and only the windows wholly inside h need a sliding minimum
    (_inside_min). Windows that miss h entirely are +inf. Every lookup is a slice.
    All minima, so the values are exactly h's: no rounding anywhere.
    """
    m = len(h)
    first = min(count, max(0, 1 - w - s0))  # windows [s0 + i, s0 + i + w - 1] with i < first end before h[0]
    last = max(first, min(count, m - s0))  # and those with i >= last start after h[m - 1]
    if first > 0 or last < count:
        out = np.full(count, _INF)
        if last > first:
            out[first:last] = window_min(h, s0 + first, last - first, w)
        return out
    if w >= m:
        out = np.empty(count)
        head = min(count, max(0, 1 - s0))  # windows starting at or before h[0]: prefix minima
        e0 = s0 + w - 1
        whole = min(head, max(0, m - e0))
        if whole:
            out[:whole] = prefix_min(h, e0, e0 + whole - 1)
        if head > whole:
            out[whole:head] = h.min()
        if head < count:  # the rest start inside h and run past its end: suffix minima
            out[head:] = suffix_min(h, s0 + head, s0 + count - 1)
        return out
    out = np.empty(count)
    # every window touches h, and w < m: none covers it whole, none sticks out of both ends
    head = min(count, max(0, 1 - s0))  # [0, head): start at or before h[0], end inside
    tail = max(head, min(count, m - w - s0))  # [tail, count): start after h[0], end at or past h[m - 1]
    if head > 0:  # prefix minima at their ends
        out[:head] = prefix_min(h, s0 + w - 1, s0 + head - 1 + w - 1)
    if count > tail:  # suffix minima at their starts
        out[tail:] = suffix_min(h, s0 + tail, s0 + count - 1)
    if tail > head:  # wholly inside h
        start = s0 + head
        out[head:tail] = _inside_min(h[start : start + (tail - head) + w - 1], tail - head, w)
    return out


def prefix_min(h: np.ndarray, a: int, b: int) -> np.ndarray:
    """min(h[0..j]) for j in [a, b]: one reduction up to a, then an accumulation over [a, b] only."""
    seg = h[a : b + 1].copy()
    if a > 0:
        seg[0] = min(seg[0], h[:a].min())
    return np.minimum.accumulate(seg, out=seg)


def suffix_min(h: np.ndarray, a: int, b: int) -> np.ndarray:
    """min(h[j..]) for j in [a, b]: one reduction past b, then an accumulation over [a, b] only."""
    seg = h[a : b + 1][::-1].copy()  # reversed, contiguous: accumulated from b down to a
    if b + 1 < len(h):
        seg[0] = min(seg[0], h[b + 1 :].min())
    np.minimum.accumulate(seg, out=seg)
    return seg[::-1]


def _inside_min(h: np.ndarray, count: int, w: int) -> np.ndarray:
    """min(h[j..j + w - 1]) for j in [0, count), len(h) == count + w - 1 (every window inside h).

    At most w windows share the point count - 1: each is the minimum of a suffix minimum before
    it and a prefix minimum after it, one pass over h each way. More windows: van Herk/Gil-Werman,
    blocks of w from h's start (the end padded with +inf), each window spanning two blocks.
    """
    if count <= w:
        c = count - 1
        before = suffix_min(h[: c + 1], 0, c)  # before[j] = min h[j..c]
        after = prefix_min(h[c:], w - count, w - 1)  # after[k] = min h[c..c + w - count + k]
        return np.minimum(before, after)
    blocks = -(-len(h) // w)
    padded = np.full(blocks * w, _INF)
    padded[: len(h)] = h
    grid = padded.reshape(blocks, w)
    if blocks <= _ROWWISE_BLOCKS:
        # Row by row: numpy releases the GIL during a 1-D accumulate but holds it through a 2-D
        # one along axis 1 (measured on rows of 500k: every other thread stalled ~10 ms per
        # call), and a heavy solve in a thread must not stall the server's event loop.
        pre_rows, suf_rows = np.empty_like(grid), np.empty_like(grid)
        for r in range(blocks):
            np.minimum.accumulate(grid[r], out=pre_rows[r])
            np.minimum.accumulate(grid[r, ::-1], out=suf_rows[r, ::-1])
        pre, suf = pre_rows.ravel(), suf_rows.ravel()
    else:  # many short rows: one call each way (a row-by-row loop would cost more than it frees)
        pre = np.minimum.accumulate(grid, axis=1).ravel()
        suf = np.minimum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(suf[:count], pre[w - 1 : w - 1 + count])
