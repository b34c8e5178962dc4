"""When a search must stop: at a time, or as soon as its caller says so.

Why an object and not a float: a desk cancels a running schedule (the service's
`DELETE /schedules/{id}`), and every loop of the search that watches the clock (the dual
steps, the repairs, the dives, the local search, the branching) must then stop at its next
check and hand back the best schedule found so far. A float cannot be brought forward once
it has been passed down; this can, through the `stop` callable it carries to every phase
(for a phase's own, earlier end, see `before`).

`stop` is called at every check, so it must be cheap (e.g. `threading.Event.is_set`);
whoever watches a remote flag (Redis) does it in a thread of its own and sets the event.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Deadline:
    """A time on `time.monotonic()`'s clock, and an optional stop request."""

    __slots__ = ("_stop", "at")

    def __init__(self, at: float = math.inf, stop: Callable[[], bool] | None = None) -> None:
        self.at = at
        self._stop = stop

    @classmethod
    def of(cls, value: Deadline | float) -> Deadline:
        """`value` as a Deadline (plain floats are times on the monotonic clock)."""
        return value if isinstance(value, Deadline) else cls(float(value))

    def stopped(self) -> bool:
        """True once the caller asked the search to stop."""
        return self._stop is not None and bool(self._stop())

    def left(self) -> float:
        """Seconds left; 0 once stopped."""
        if self.stopped():
            return 0.0
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0

    def before(self, at: float) -> Deadline:
        """The earlier of this deadline and `at`, with the same stop request (a phase's end)."""
        return Deadline(min(self.at, at), self._stop)
