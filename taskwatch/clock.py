"""Time, injected.

Two clocks with two jobs: ``monotonic()`` is loop time, used for every duration, deadline and rate
(never goes backwards, unaffected by NTP steps); ``now()`` is UTC wall time, used for request
timestamps, task ages and audit records. Tests pass a :class:`ManualClock` or run under looptime,
so no test ever sleeps for real.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What taskwatch needs to know about time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (loop time)."""
        ...

    def now(self) -> datetime:
        """The current UTC wall time, timezone-aware."""
        ...


class SystemClock:
    """Loop time when a loop runs (so looptime can drive it), ``time.monotonic`` otherwise."""

    __slots__ = ()

    def monotonic(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; for tests and the emulator's virtual time."""

    __slots__ = ("_mono", "_wall")

    def __init__(self, *, wall: datetime | None = None, mono: float = 0.0) -> None:
        self._wall = wall or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = mono

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._wall

    def advance(self, seconds: float) -> None:
        """Move both clocks forward together."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._mono += seconds
        self._wall += timedelta(seconds=seconds)

    def set_wall(self, wall: datetime) -> None:
        """Step the wall clock only (as NTP would); loop time is untouched."""
        self._wall = wall


class SkewedClock:
    """Another clock's wall time shifted by ``skew`` seconds: simulates a badly set host clock."""

    __slots__ = ("_inner", "skew")

    def __init__(self, inner: Clock, skew: float) -> None:
        self._inner = inner
        self.skew = skew

    def monotonic(self) -> float:
        return self._inner.monotonic()

    def now(self) -> datetime:
        return self._inner.now() + timedelta(seconds=self.skew)
