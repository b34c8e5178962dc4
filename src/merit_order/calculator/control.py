"""How a caller stops a solve that runs in another thread, and sees its size before it runs.

A Python thread cannot be killed, so stopping a solve is cooperative: the solver calls
`check()` once per table column (one unit of the dynamic program: at most ~1.5 million
array elements, tens of milliseconds) and once per unit when it reads the plan back. The
check is a flag read and a clock read, nothing against a column's numpy work, and it only
runs on the table path (fleets whose merit-order fill breaks a rule); the challenge's
fleets never reach it.

`admit(cells, held)` is called before each table is built with its size (cells of work,
and the most of them held in memory at once): the hook through which a server's admission
budget (merit_order.solve_budget) can refuse a later, larger pass of the same solve.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import SolveCancelled


class SolveControl:
    """A cancellation flag, an optional deadline (time.monotonic()) and an admission hook.

    `cancel()` may be called from any thread: setting a bool is atomic under the GIL, and
    the solving thread only ever reads it.
    """

    __slots__ = ("_admit", "_cancelled", "deadline")

    def __init__(self, deadline: float | None = None, admit: Callable[[int, int], None] | None = None) -> None:
        self.deadline = deadline
        self._admit = admit
        self._cancelled = False

    def cancel(self) -> None:
        """Ask the solve to stop at its next check."""
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        """True once cancel() was called or the deadline has passed."""
        return self._cancelled or (self.deadline is not None and time.monotonic() >= self.deadline)

    def check(self) -> None:
        """Raise SolveCancelled if the solve should stop."""
        if self.cancelled:
            raise SolveCancelled("the solve was cancelled")

    def admit(self, cells: int, held: int) -> None:
        """The solver is about to build a table of `cells` cells, `held` of them in memory at once; the hook may refuse (raise)."""
        if self._admit is not None:
            self._admit(cells, held)
