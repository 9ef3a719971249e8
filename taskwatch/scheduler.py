"""Drift-free periodic loops that skip missed ticks, with a heartbeat the health probe reads.

Each source gets one loop. Ticks fall on ``first + k·interval`` (plus a small jitter per tick, so
many sources do not hit the API in lock-step), not "interval after the previous cycle ended": a
slow cycle does not push every later one back. When a cycle overruns one or more ticks, those ticks
are skipped and counted, never queued: cycles of one source never overlap, and the next cycle
starts on the next tick boundary.

The grid lives in a :class:`Schedule`, outside the loop's task, because loops are stopped and run
again (a reload rebuilds them, leadership comes and goes): a loop run again with the schedule of
the one it replaces resumes on the tick that was due, never at once, so a storm of reloads cannot
multiply the cycles. A reload retires a loop (:meth:`Loop.retire`): the cycle in flight finishes,
then the loop returns. A tick is spent when its cycle starts: a cycle cancelled all the same (a
stop, a lost leadership) is not run again before the next tick. Ticks that passed while no loop
ran are not "skipped" (nothing overran): the loop runs one cycle at once and goes on on the grid.
A new interval counts from the last cycle's start (never in the past).

Every cycle runs under a timeout, so a wedged call cannot stall a loop forever; a cycle cut at its
timeout is reported to ``on_timeout``, so its owner counts it as the failed cycle it is. The
heartbeat is refreshed when a cycle starts and when it ends, and :meth:`Heartbeat.alive` tells
whether the loop kept its rhythm.

Time is loop time (``Clock.monotonic``); sleeping is ``anyio.sleep``, which looptime fast-forwards
in tests.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import structlog

from taskwatch.clock import Clock

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Heartbeat:
    """When a loop last showed signs of life, and what it promised."""

    interval: float
    timeout: float
    last: float | None = None
    in_cycle_since: float | None = None
    cycles: int = 0
    skipped: int = 0

    def alive(self, now: float) -> bool:
        """True while the loop is on time: sleeping toward a tick, or inside a cycle that has
        not outlived its timeout. A loop that never beat is alive during its first interval."""
        if self.last is None:
            return True
        if self.in_cycle_since is not None:
            return now - self.in_cycle_since <= self.timeout + self.interval
        return now - self.last <= 2 * self.interval + self.timeout

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "alive": self.alive(now),
            "cycles": self.cycles,
            "skipped_ticks": self.skipped,
            "seconds_since_beat": None if self.last is None else round(now - self.last, 3),
        }


@dataclass(slots=True)
class Schedule:
    """Where a loop's ticks fall: tick ``k`` at ``origin + k·interval``, plus its jitter.

    Set up by the first :meth:`Loop.run` and kept across runs (and handed to the loop that
    replaces this one on a reload), so a loop run again resumes on the tick that was due.
    """

    interval: float = 0.0
    origin: float | None = None
    tick: int = 0
    """The next tick; spent (incremented) when its cycle starts."""
    due: float | None = None
    """When ``tick`` falls, jitter included: drawn once, so a restart does not draw it again."""
    spread: float = 0.0
    """The jitter bound in seconds (``jitter·interval``) ``due`` was drawn with."""
    last_start: float | None = None

    def resume(self, *, now: float, interval: float, spread: float, rng: random.Random) -> None:
        """Make the schedule fit a loop about to run with ``interval`` and ``spread``."""
        if self.origin is None:  # never ran: the first tick within the first jitter
            self.origin = now + rng.uniform(0, spread)
        elif interval != self.interval:  # one new interval after the last start, not in the past
            base = self.last_start if self.last_start is not None else self.origin
            self.origin = max(now, base + interval)
            self.tick = 0
            self.due = None
        elif self.origin + (self.tick + 1) * interval <= now:  # ticks passed while stopped
            self.tick = math.floor((now - self.origin) / interval)  # the latest one, once
            self.due = None
        if spread != self.spread:
            self.due = None
        self.interval, self.spread = interval, spread

    def next_due(self, rng: random.Random) -> float:
        if self.due is None:
            assert self.origin is not None
            jitter = rng.uniform(-1, 1) * self.spread
            self.due = self.origin + self.tick * self.interval + jitter
        return self.due

    def start(self, now: float) -> int:
        """Spend the current tick (its cycle starts now); returns its number."""
        tick = self.tick
        self.tick, self.due, self.last_start = tick + 1, None, now
        return tick


@dataclass(slots=True)
class Loop:
    """A named periodic job."""

    name: str
    interval: float
    job: Callable[[], Awaitable[object]]
    jitter: float = 0.1
    """Each tick moves by up to ±jitter·interval (the first by up to +jitter·interval)."""
    timeout: float | None = None
    """Seconds a cycle may take; default ``max(5·interval, 60)``."""
    on_skip: Callable[[int], None] | None = None
    on_timeout: Callable[[float], object] | None = None
    """Told the timeout after a cycle was cancelled at it."""
    schedule: Schedule = field(default_factory=Schedule)
    """Where the ticks fall; pass the replaced loop's to keep its rhythm."""
    heartbeat: Heartbeat = field(init=False)
    _retired: bool = field(default=False, init=False, repr=False)
    _idle: anyio.CancelScope | None = field(default=None, init=False, repr=False)
    _ended: anyio.Event | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError("interval must be positive")
        if not 0 <= self.jitter <= 0.5:
            raise ValueError("jitter must be within [0, 0.5]")
        if self.timeout is None:
            self.timeout = max(5 * self.interval, 60.0)
        self.heartbeat = Heartbeat(interval=self.interval, timeout=self.timeout)

    async def run(self, *, clock: Clock, rng: random.Random, cycles: int | None = None) -> None:
        """Run forever (or ``cycles`` times, or until :meth:`retire`), from the tick the schedule
        says is next. Exceptions of the job are the job's business: a job that raises is logged
        and the loop goes on."""
        s = self.schedule
        spread = self.jitter * self.interval
        s.resume(now=clock.monotonic(), interval=self.interval, spread=spread, rng=rng)
        self._ended = ended = anyio.Event()
        try:
            done = 0
            while not self._retired and (cycles is None or done < cycles):
                delay = s.next_due(rng) - clock.monotonic()
                if delay > 0:
                    with anyio.CancelScope() as self._idle:
                        await anyio.sleep(delay)
                    self._idle = None
                    if self._retired:
                        return
                await self._cycle(clock)
                done += 1
        finally:
            self._idle = None
            ended.set()

    async def retire(self) -> None:
        """Make :meth:`run` return at its next tick boundary: at once if it waits for a tick,
        after the cycle in flight otherwise (a reload must not cut a cycle short: it would be
        lost until the next tick). Returns once it has (at once if it does not run). For good:
        a retired loop does not run again; its replacement takes over its schedule."""
        self._retired = True
        if self._idle is not None:
            self._idle.cancel()
        if self._ended is not None:
            await self._ended.wait()

    async def _cycle(self, clock: Clock) -> None:
        s, hb = self.schedule, self.heartbeat
        hb.last = hb.in_cycle_since = clock.monotonic()
        tick = s.start(hb.last)
        with anyio.move_on_after(self.timeout) as deadline:
            try:
                await self.job()
            except Exception:  # the loop must outlive any bug in one cycle
                log.exception("loop.cycle_crashed", loop=self.name)
        if deadline.cancelled_caught:
            self._timed_out()
        hb.last = clock.monotonic()
        hb.in_cycle_since = None
        hb.cycles += 1
        # The next tick strictly in the future; ticks that passed during the cycle are skipped.
        assert s.origin is not None
        elapsed_ticks = (clock.monotonic() - s.origin) / self.interval
        following = max(tick + 1, math.floor(elapsed_ticks) + 1)
        skipped = following - tick - 1
        if skipped:
            hb.skipped += skipped
            log.warning("loop.ticks_skipped", loop=self.name, skipped=skipped)
            if self.on_skip is not None:
                self.on_skip(skipped)
        s.tick = following

    def _timed_out(self) -> None:
        assert self.timeout is not None
        log.error("loop.cycle_timeout", loop=self.name, timeout=self.timeout)
        if self.on_timeout is None:
            return
        try:
            self.on_timeout(self.timeout)
        except Exception:  # reporting must not end the loop either
            log.exception("loop.timeout_report_failed", loop=self.name)
