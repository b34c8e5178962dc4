"""Admission, cancellation and memory release for the solves that cost real time and memory.

Why (issue 14): a solve whose table runs to tens of millions of cells takes seconds and
hundreds of MB. Run in the shared thread pool and abandoned at SOLVE_TIMEOUT_SECONDS, such
solves went on after their 503, piled up behind each new wave of requests (threads 14 -> 54,
RSS 2.5 -> 11.8 GB) and glibc kept the freed tables (10.7 GB idle). So, for every request
whose plan needs a table (see calculator.solver):

* **Admission up front.** The table's size is known before it is built (`prepare_plan` on
  the event loop: ~1 ms for 300 plants, measured): its cells (work) and the most of them it
  holds at once (memory; a large table keeps checkpoint columns only, docs/algorithm.md). A
  *heavy* solve (at least HEAVY_SOLVE_CELLS cells of work) must fit in the process's budget:
  at most MAX_HEAVY_SOLVES of them at once (CPU) and at most MAX_SOLVE_CELLS_IN_FLIGHT held
  cells between them (memory, 8 bytes a cell). What does not fit is refused at once, 503 with
  Retry-After, without a thread or a byte of table: waiting would only lengthen every queue
  behind it. One solve holding more than the whole cell budget could never run, so it is a
  422 (ProblemTooLarge); under the default settings no valid request holds that much
  (`held_bound`, checked when the budget is made).
* **Cooperative cancellation.** Threads cannot be killed; the solver instead checks a
  SolveControl once per table column (tens of ms). Its deadline is the request's
  SOLVE_TIMEOUT_SECONDS, and the waiting request cancels it whenever it stops waiting (answer
  sent, or its task cancelled, e.g. at shutdown): the thread raises SolveCancelled, its tables
  are dropped, and its reservation is given back only then, so the budget never counts a solve
  as gone while it still runs.
* **One thread per heavy solve**, started for it and ended with it, rather than the shared
  pool: the number of solving threads is the number of admitted solves, and the process is
  back to its idle thread count as soon as they end (pool threads linger until reused).
  Light table solves (milliseconds) keep the pool, whose hand-off is cheaper than a new thread.
* **Memory back to the system.** glibc keeps freed heap in its per-thread arenas; measured
  on three concurrent 29.5 M-cell solves, RSS stayed at 405 MB after they ended (41 MB idle)
  and `malloc_trim(0)` took it to 62 MB, in about 7 ms. So each heavy solve's thread trims
  once its tables are gone (glibc only; elsewhere a no-op).

The budget is per process (uvicorn worker): it bounds what this process spends, which is
what its memory and its cores see. Requests that need no table (the challenge's fleets,
most real hours) never meet any of this.
"""

from __future__ import annotations

import asyncio
import ctypes
import math
import os
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import anyio
import anyio.to_thread
import structlog

from merit_order import metrics
from merit_order.calculator import Plan, PreparedPlan, ProblemTooLarge, SolveCancelled, SolveControl, held_bound

log = structlog.get_logger(__name__)

#: Table cells a heavy solve fills per second on one core (measured: 29.5 M cells in 2.7 s on
#: the reference machine). Only used to tell a refused client when to come back.
CELLS_PER_SECOND = 10_000_000

#: How long past its deadline a request still waits for a solve that has not noticed its
#: cancellation (a column is tens of ms; this is a safety net for a stalled thread).
CANCEL_GRACE_S = 1.0


class SolveRefused(Exception):
    """The heavy-solve budget is full: the request is answered 503 with Retry-After at once."""

    def __init__(self, cells: int, retry_after_s: int, reason: str) -> None:
        super().__init__(
            f"the server is busy with other large plans ({reason}); this one needs {cells:,} table cells: "
            f"retry after {retry_after_s} s"
        )
        self.cells = cells
        self.retry_after_s = retry_after_s


class Reservation:
    """One table solve's share of the budget: 0 cells (light) until it is announced heavy.

    `cells` are the cells it holds in memory (what the budget counts), `work` the cells it
    computes (what its duration is estimated from).
    """

    __slots__ = ("_budget", "cells", "heavy", "started", "work")

    def __init__(self, budget: WorkBudget) -> None:
        self._budget = budget
        self.cells = 0
        self.work = 0
        self.heavy = False
        self.started = time.monotonic()

    def grow(self, cells: int, held: int | None = None) -> None:
        """Compute `cells` cells holding `held` of them (default: all) from now on (SolveControl's
        admit hook); raises SolveRefused, ProblemTooLarge."""
        self._budget._grow(self, cells, cells if held is None else held)

    def release(self) -> None:
        """Give the share back; idempotent (called once the solving thread has let go of its tables)."""
        self._budget._release(self)


class WorkBudget:
    """What heavy solves may hold at once in this process: a count (CPU) and cells (memory)."""

    def __init__(self, *, heavy_cells: int, max_heavy: int, max_cells: int, max_retry_after_s: int) -> None:
        self.heavy_cells = heavy_cells
        self.max_heavy = max_heavy
        self.max_cells = max_cells
        self.max_retry_after_s = max(1, max_retry_after_s)
        self._lock = threading.Lock()
        self._held: set[Reservation] = set()
        self._cells = 0

    def is_heavy(self, cells: int) -> bool:
        return cells >= self.heavy_cells

    def reserve(self, cells: int, held: int | None = None) -> Reservation:
        """A reservation for `cells` of work holding `held` (default: all; counted only if heavy),
        or SolveRefused / ProblemTooLarge at once."""
        reservation = Reservation(self)
        reservation.grow(cells, held)
        return reservation

    def in_flight(self) -> tuple[int, int]:
        """(heavy solves, their cells) held right now."""
        with self._lock:
            return len(self._held), self._cells

    def _grow(self, reservation: Reservation, cells: int, held: int) -> None:
        if not self.is_heavy(cells):
            return  # light: never counted
        reservation.work = max(reservation.work, cells)
        if reservation.heavy and held <= reservation.cells:
            return  # already covered: a later pass never holds more than the largest
        if held > self.max_cells:  # could never fit, whatever else runs (see held_bound)
            raise ProblemTooLarge(held, self.max_cells)
        held = max(held, reservation.cells)
        with self._lock:
            count = len(self._held) + (0 if reservation.heavy else 1)
            total = self._cells - reservation.cells + held
            if count > self.max_heavy:
                reason = f"{self.max_heavy} heavy solve(s) running, MAX_HEAVY_SOLVES"
            elif total > self.max_cells:
                reason = f"{self._cells:,} cells held in flight, MAX_SOLVE_CELLS_IN_FLIGHT {self.max_cells:,}"
            else:
                self._cells = total
                reservation.cells = held
                reservation.heavy = True
                self._held.add(reservation)
                return
            retry_after = self._retry_after()
        metrics.solve_refused()
        log.warning("solve_refused", cells=cells, held=held, reason=reason, retry_after_s=retry_after)
        raise SolveRefused(cells, retry_after, reason)

    def _release(self, reservation: Reservation) -> None:
        with self._lock:
            if reservation in self._held:
                self._held.discard(reservation)
                self._cells -= reservation.cells
            reservation.cells = 0
            reservation.work = 0
            reservation.heavy = False

    def _retry_after(self) -> int:
        """Seconds until the first solve in flight should end (its size at CELLS_PER_SECOND), 1 at least."""
        now = time.monotonic()
        left = min(
            (r.work / CELLS_PER_SECOND - (now - r.started) for r in self._held),
            default=1.0,
        )
        return min(self.max_retry_after_s, max(1, math.ceil(left)))


def default_max_heavy() -> int:
    """Half the cores this process may run on, at least 1: the rest serve the light requests."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


_budgets: dict[tuple[int, int, int, int], WorkBudget] = {}
_budgets_lock = threading.Lock()


def budget_for(settings: Any) -> WorkBudget:
    """The process's budget for these settings: one per configuration, shared by the apps built with it.

    Per process rather than per app because what it protects (memory, cores) is the process's;
    apps with other figures (tests) get their own.
    """
    key = (
        settings.heavy_solve_cells,
        settings.max_heavy_solves or default_max_heavy(),
        settings.max_solve_cells_in_flight,
        math.ceil(settings.solve_timeout_seconds),
    )
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None:
            heavy_cells, max_heavy, max_cells, retry_cap = key
            budget = _budgets[key] = WorkBudget(
                heavy_cells=heavy_cells, max_heavy=max_heavy, max_cells=max_cells, max_retry_after_s=retry_cap
            )
            most = held_bound(settings.max_plants, round(settings.max_load_mw * 10))
            if most > max_cells:  # the defaults hold 23 M of 60 M: only a budget configured this low
                log.warning(
                    "solve_budget_below_held_bound",
                    max_solve_cells_in_flight=max_cells,
                    held_bound=most,
                    consequence="a valid request holding more than the budget is a 422 (ProblemTooLarge)",
                )
        return budget


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where there is no glibc (musl, macOS).

    Looked up among the symbols the interpreter already has loaded (CDLL(None)), not through
    ctypes.util.find_library, which runs `ldconfig -p` in a subprocess.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_memory() -> None:
    """Hand the heap that freed tables left in glibc's arenas back to the system (see the module doc)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class SolveTimedOut(Exception):
    """The solve passed its deadline (raised by the runners; planning turns it into its 503)."""


async def finish_heavy(prepared: PreparedPlan, budget: WorkBudget, timeout_s: float) -> Plan:
    """Admit (or refuse at once), then solve in a thread of its own, cancelled when nobody waits.

    Raises SolveRefused before any work when the budget is full, SolveTimedOut past
    `timeout_s`, and whatever the calculator raises.
    """
    reservation = budget.reserve(prepared.cells, prepared.held)
    control = SolveControl(deadline=time.monotonic() + timeout_s, admit=reservation.grow)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Plan] = loop.create_future()

    def work() -> None:
        plan: Plan | None = None
        error: BaseException | None = None
        try:
            with metrics.time_solve():
                plan = prepared.finish(control)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting request, which re-raises it
            if isinstance(exc, (SolveCancelled, SolveRefused)):
                exc.__traceback__ = None  # its frames hold the tables: let them go before trimming
            error = exc
        finally:
            reservation.release()
        release_memory()
        try:
            loop.call_soon_threadsafe(_settle, done, plan, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    threading.Thread(target=work, name="merit-order-heavy-solve", daemon=True).start()
    try:
        with anyio.fail_after(timeout_s + CANCEL_GRACE_S):
            return await done
    except (SolveCancelled, TimeoutError):
        raise SolveTimedOut() from None
    finally:
        control.cancel()  # whatever ended the wait (answer, deadline, the task cancelled)


async def finish_light(prepared: PreparedPlan, budget: WorkBudget, timeout_s: float) -> Plan:
    """A table solve below the heavy threshold, in the shared thread pool, cancelled when nobody waits.

    Its later passes (when the greedy found no bound) may grow it into a heavy one: the
    reservation then has to be granted like any heavy solve's.
    """
    reservation = Reservation(budget)
    control = SolveControl(deadline=time.monotonic() + timeout_s, admit=reservation.grow)

    def work() -> Plan:
        try:
            with metrics.time_solve():
                return prepared.finish(control)
        finally:
            reservation.release()

    try:
        with anyio.fail_after(timeout_s):
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except (SolveCancelled, TimeoutError):
        raise SolveTimedOut() from None
    finally:
        control.cancel()


def _settle(done: asyncio.Future[Plan], plan: Plan | None, error: BaseException | None) -> None:
    if done.done():  # the waiter gave up (cancelled): nothing to deliver
        return
    if error is not None:
        done.set_exception(error)
    else:
        assert plan is not None
        done.set_result(plan)
