"""Drift-free periodic loops that skip missed ticks, with a heartbeat the health probe reads.

Each source gets one loop. Ticks fall on ``first + k·interval`` (plus a small jitter per tick, so
many sources do not hit the API in lock-step), not "interval after the previous cycle ended": a
slow cycle does not push every later one back. When a cycle overruns one or more ticks, those ticks
are skipped and counted, never queued: cycles of one source never overlap, and the next cycle
starts on the next tick boundary.

Every cycle runs under a timeout, so a wedged call cannot stall a loop forever; the heartbeat is
refreshed when a cycle starts and when it ends, and :meth:`Heartbeat.alive` tells whether the loop
kept its rhythm.

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
    heartbeat: Heartbeat = field(init=False)

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError("interval must be positive")
        if not 0 <= self.jitter <= 0.5:
            raise ValueError("jitter must be within [0, 0.5]")
        if self.timeout is None:
            self.timeout = max(5 * self.interval, 60.0)
        self.heartbeat = Heartbeat(interval=self.interval, timeout=self.timeout)

    async def run(self, *, clock: Clock, rng: random.Random, cycles: int | None = None) -> None:
        """Run forever (or ``cycles`` times). Exceptions of the job are the job's business: a
        job that raises is logged and the loop goes on."""
        assert self.timeout is not None
        first = clock.monotonic() + rng.uniform(0, self.jitter * self.interval)
        tick = 0
        done = 0
        while cycles is None or done < cycles:
            due = first + tick * self.interval + rng.uniform(-1, 1) * self.jitter * self.interval
            delay = due - clock.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
            hb = self.heartbeat
            hb.last = hb.in_cycle_since = clock.monotonic()
            try:
                with anyio.fail_after(self.timeout):
                    await self.job()
            except TimeoutError:
                log.error("loop.cycle_timeout", loop=self.name, timeout=self.timeout)
            except Exception:  # the loop must outlive any bug in one cycle
                log.exception("loop.cycle_crashed", loop=self.name)
            hb.last = clock.monotonic()
            hb.in_cycle_since = None
            hb.cycles += 1
            done += 1
            # The next tick strictly in the future; ticks that passed during the cycle are skipped.
            elapsed_ticks = (clock.monotonic() - first) / self.interval
            following = max(tick + 1, math.floor(elapsed_ticks) + 1)
            skipped = following - tick - 1
            if skipped:
                hb.skipped += skipped
                log.warning("loop.ticks_skipped", loop=self.name, skipped=skipped)
                if self.on_skip is not None:
                    self.on_skip(skipped)
            tick = following
