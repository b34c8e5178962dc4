"""Errors the calculator raises for requests that are valid but cannot be met."""

from __future__ import annotations


class InfeasibleLoad(ValueError):
    """No plan meets the load: above the fleet's capacity, or inside a gap that Pmin leaves.

    Carries the nearest loads that can be met (in MW, on the 0.1 grid), so that a user can
    see at once how far off the request is; either may be None when there is none.
    """

    def __init__(self, load_mw: float, below_mw: float | None, above_mw: float | None) -> None:
        self.load_mw = load_mw
        self.below_mw = below_mw
        self.above_mw = above_mw
        nearest = []
        if below_mw is not None:
            nearest.append(f"{below_mw:.1f} MW below")
        if above_mw is not None:
            nearest.append(f"{above_mw:.1f} MW above")
        hint = f"; the nearest loads this fleet can meet are {' and '.join(nearest)}" if nearest else ""
        super().__init__(f"no production plan meets a load of {load_mw:.1f} MW{hint}")


class ProblemTooLarge(ValueError):
    """A solve would hold more table cells than a caller's budget allows (a server's admission budget).

    The calculator itself never raises it: every table of a valid request holds at most
    held_bound(plants, load) cells, checkpoint columns only past a few million (docs/algorithm.md,
    "Memory and work"). A server whose cell budget is configured below that bound raises it
    for a solve that alone holds more than the whole budget.
    """

    def __init__(self, cells: int, limit: int) -> None:
        self.cells = cells
        self.limit = limit
        super().__init__(
            f"this fleet and load would need to hold {cells:,} table cells to prove the cheapest plan, "
            f"above the limit of {limit:,}; split the fleet or lower the load"
        )


class SolveCancelled(Exception):
    """The caller asked the solve to stop (its SolveControl was cancelled or its deadline passed).

    Not a ValueError: nothing is wrong with the request, its answer was just no longer wanted
    (the server answered 503 already, or is shutting down). Raised from the solver's loops so
    that the thread stops within one table column and its tables are freed at once.
    """
