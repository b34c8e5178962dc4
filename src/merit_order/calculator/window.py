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
    zs = np.arange(z_lo, z_hi + 1)
    h = nxt[z_lo - a1 : z_hi - a1 + 1] - cost * zs
    ys = np.arange(y_lo, y_hi + 1)
    mins = window_min(h, y_lo - hi - z_lo, y_hi - y_lo + 1, hi - lo + 1)
    return mins + cost * ys


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

    Windows as wide as h touch one of its ends, so prefix/suffix minima answer them; narrower
    ones use van Herk/Gil-Werman on h padded with +inf so that every window is whole. The
    windows are consecutive, so every lookup is a slice (no fancy indexing).
    """
    m = len(h)
    if w >= m:
        prefix = np.minimum.accumulate(h)
        out = np.empty(count)
        head = min(count, max(0, 1 - s0))  # windows starting at or before h[0]: prefix minima
        e0 = s0 + w - 1
        whole = min(head, max(0, m - e0))
        out[:whole] = prefix[e0 : e0 + whole]
        out[whole:head] = prefix[m - 1]
        if head < count:  # the rest start inside h and run past its end: suffix minima
            suffix = np.minimum.accumulate(h[::-1])[::-1]
            out[head:] = suffix[s0 + head : s0 + count]
        return out
    pad = w - 1
    blocks = -(-(m + 2 * pad) // w)
    padded = np.full(blocks * w, _INF)
    padded[pad : pad + m] = h
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
    j0 = s0 + pad  # window [j, j + w - 1] in padded coordinates
    return np.minimum(suf[j0 : j0 + count], pre[j0 + w - 1 : j0 + w - 1 + count])
