"""A source's failed scans, logged once per streak: clear lines for an outage of hours.

The first failed cycle of a streak (or one failing for another reason: another error class or API
code is news) is logged at error; repeats at debug, with a reminder at error every
:data:`FAILURE_REMINDER` seconds of loop time; ``cycle.recovered`` when a cycle works again. So an
outage of hours is a few lines, not thousands.

Not guaranteed: the streak lives in memory; a restart begins a new one (logged again at error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from taskwatch.clock import Clock

log = structlog.get_logger("taskwatch.watch")

FAILURE_REMINDER = 300.0
"""Seconds (loop time) between error lines while a source keeps failing for the same reason."""


@dataclass(slots=True)
class _Streak:
    """Consecutive failed cycles of one source."""

    reason: str
    """The error's class and API code."""
    since_wall: float
    cycles: int = 1
    reminded: float = 0.0


class FailureLog:
    """Logs one source's failed cycles, once per streak; see the module docstring."""

    __slots__ = ("_source", "_streak")

    def __init__(self, source: str) -> None:
        self._source = source
        self._streak: _Streak | None = None

    def failed(self, reason: str, fields: dict[str, Any], *, clock: Clock) -> None:
        """A cycle failed for ``reason`` (error class and API code); ``fields`` say the rest.
        ``clock``: the watcher's (loop time for reminders, wall time for the streak's start)."""
        now = clock.monotonic()
        streak = self._streak
        if streak is None or streak.reason != reason:
            self._streak = _Streak(reason, clock.now().timestamp(), reminded=now)
            log.error(
                "cycle.failed",
                **fields,
                note="repeats of this failure are logged at debug until a cycle succeeds",
            )
            return
        streak.cycles += 1
        if now - streak.reminded >= FAILURE_REMINDER:
            streak.reminded = now
            log.error("cycle.still_failing", failed_cycles=streak.cycles, **fields)
        else:
            log.debug("cycle.failed", failed_cycles=streak.cycles, **fields)

    def recovered(self, *, clock: Clock) -> None:
        """A cycle worked: a streak in progress ends (said once)."""
        streak, self._streak = self._streak, None
        if streak is not None:
            log.warning(
                "cycle.recovered",
                source=self._source,
                error=streak.reason,
                failed_cycles=streak.cycles,
                failing_for=round(clock.now().timestamp() - streak.since_wall, 1),
            )
