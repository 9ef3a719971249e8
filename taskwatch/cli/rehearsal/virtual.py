"""Virtual time for a whole process: an asyncio event loop whose clock jumps when it idles.

Why an event loop, not a driver that calls cycles: the rehearsal runs the daemon's own code, its
scheduler loops, jitter, skipped ticks, cycle timeouts, limiter waits, retry rounds and HTTP
timeouts included. Every one of them waits with ``asyncio``/``anyio`` sleeps and timeouts on loop
time, so a loop whose ``time()`` is virtual moves all of them at once, with no injection and no
second implementation of the scheduler to keep in step with the daemon's.

:class:`VirtualLoop` runs like a selector event loop until it has nothing to do: no callback
ready and no I/O ready on a poll. It then polls the selector a few more times (:data:`NOOP_POLLS`,
so a loopback answer already written by the in-process emulator is read before time moves) and
jumps its clock to the next timer. The emulator answers in the same process over loopback, so a
request is always in a socket buffer or a callback, never "in flight" in the outside world.

:class:`Calendar` is the wall clock of that world: ``start`` plus the loop time elapsed since the
loop began, so request signatures, task ages, journal times and the emulator's world all read one
virtual calendar.

Not guaranteed: work in a thread (``anyio.to_thread``, ``run_in_executor``) is waited for in real
time while no timer is due, but a timer due meanwhile fires first (the rehearsal's journal is a
local SQLite file, used on the loop, and its client resolves no host name, so none is used);
I/O with the outside world would see time jump.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

__all__ = ["Calendar", "VirtualLoop", "run_virtual"]

T = TypeVar("T")

NOOP_POLLS = 16
"""Empty polls before the clock jumps: loopback data written in this process is readable at once;
the margin covers a softirq that has not run yet."""


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time; see the module docstring."""

    _selector: selectors.BaseSelector  # set by SelectorEventLoop, not declared there

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        self._virtual = start
        self._idle_polls = 0
        self.jumps = 0
        """How many times the clock jumped (a figure for the report)."""
        self._real_select = self._selector.select
        self._selector.select = self._select  # type: ignore[method-assign]

    def time(self) -> float:
        return self._virtual

    def _select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real_select(0)
        if ready or timeout == 0:
            self._idle_polls = 0
            return ready
        if timeout is None:  # no timer at all: only the outside (a thread) can wake the loop
            return self._real_select(None)
        if self._idle_polls < NOOP_POLLS:
            self._idle_polls += 1
            return []
        self._idle_polls = 0
        self._virtual += timeout
        self.jumps += 1
        return []


class Calendar:
    """Wall time that moves with the running loop's time, from ``start``; a
    :class:`~taskwatch.clock.Clock`."""

    __slots__ = ("_origin", "start")

    def __init__(self, start: datetime, *, origin: float = 0.0) -> None:
        self.start = start
        self._origin = origin

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def now(self) -> datetime:
        try:
            elapsed = self.monotonic() - self._origin
        except RuntimeError:  # no loop (before or after the run): the start
            elapsed = 0.0
        return self.start + timedelta(seconds=elapsed)


def run_virtual(main: Callable[[], Awaitable[T]], *, debug: bool = False) -> tuple[T, int]:
    """Run ``main()`` to completion on a fresh :class:`VirtualLoop` (loop time starts at 0);
    its result and how many times the clock jumped."""
    loop = VirtualLoop()
    runner = asyncio.Runner(loop_factory=lambda: loop, debug=debug)
    with runner:
        result = runner.run(_call(main))
    return result, loop.jumps


async def _call(main: Callable[[], Awaitable[T]]) -> T:
    return await main()
