"""Times of a snapshot: offsets from the snapshot's moment, as scenarios write them, chosen so
that an emulator built from the snapshot at that moment answers with the same numbers.

Why more than subtraction: the APIs print times rounded (MPS and Live to the second, DLC to the
millisecond) and derive durations from unrounded ones (DLC's ``TotalTime``, ``UsedTime`` and
``QueueTime`` are whole milliseconds cut from exact differences, its ``Percentage`` and MPS's
transcode ``Progress`` whole percents of a run). A faithful replay needs times that reproduce
every printed number, so :func:`dlc_times` solves the few inequalities those numbers make (a
system of difference constraints, four variables at most) and :func:`run_for_progress` picks the
run time that shows the same percentage at the same moment. Offsets are written to the
microsecond (``-26h3m4.567125s``); whole seconds read as usual (``-5h50m``).

Not guaranteed: exactness when the clock moved while the snapshot was taken (each answer was
computed at its own moment; the solver then finds no exact solution and :func:`dlc_times` falls
back to the printed times), nor for two DLC tasks created within the same millisecond (their
order may swap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DlcTimes", "dlc_times", "offset", "run_for_progress"]

_INF = math.inf


def offset(seconds: float) -> str:
    """``seconds`` from the snapshot as a scenario writes it: ``-5h50m``, ``+2d``-style without
    the plus, ``-3m4.5s``; to the microsecond."""
    micros = round(seconds * 1_000_000)
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    if frac:
        parts.append(f"{secs}.{frac:06d}".rstrip("0") + "s")
    elif secs:
        parts.append(f"{secs}s")
    return sign + "".join(parts) if parts else "0s"


def run_for_progress(elapsed: float, percent: int) -> float | None:
    """A run time (seconds) that shows ``percent`` after ``elapsed`` seconds, as both the MPS
    transcode ``Progress`` and DLC ``Percentage`` compute it (``int(100 * elapsed / run)``, at
    most 99 while running): the middle of the percent, so rounding cannot move it. ``None``
    when nothing can be told (no time elapsed): the reader's default then applies."""
    if elapsed <= 0:
        return None
    return 100.0 * elapsed / (max(0, min(99, percent)) + 0.5)


@dataclass(frozen=True, slots=True)
class DlcTimes:
    """A DLC task's times as offsets in seconds from the snapshot (``None``: not set)."""

    created: float
    started: float | None
    finished: float | None
    exact: bool
    """Whether every printed number is reproduced (else the printed times, as they are)."""


@dataclass(frozen=True, slots=True)
class DlcRecord:
    """The numbers DLC prints of one task, in milliseconds relative to the snapshot."""

    created: int
    updated: int
    total: int
    used: int
    queued: int
    running: bool
    """Init, queued, running or writing: its durations run to now."""
    pending: bool
    """Queued or initialising: not started."""
    cancelled: bool


_X, _Y, _Z = 1, 2, 3  # created, started, updated; node 0 is the snapshot's moment


class _System:
    """Difference constraints ``v[a] - v[b] <= w`` over four nodes, tightened by Floyd-Warshall."""

    def __init__(self) -> None:
        self.d = [[0.0 if i == j else _INF for j in range(4)] for i in range(4)]

    def between(self, a: int, b: int, lo: float, hi: float) -> None:
        """``lo <= v[a] - v[b] <= hi``."""
        self.d[b][a] = min(self.d[b][a], hi)
        self.d[a][b] = min(self.d[a][b], -lo)

    def close(self) -> bool:
        d = self.d
        for k in range(4):
            for i in range(4):
                for j in range(4):
                    if d[i][k] + d[k][j] < d[i][j]:
                        d[i][j] = d[i][k] + d[k][j]
        return all(d[i][i] >= -1e-9 for i in range(4))

    def pick(self, node: int) -> float | None:
        """The middle of ``node``'s feasible range, fixed; ``None`` if there is none."""
        if not self.close():
            return None
        lo, hi = -self.d[node][0], self.d[0][node]
        if lo > hi + 1e-9 or math.isinf(lo) or math.isinf(hi):
            return None
        value = (lo + hi) / 2
        self.between(node, 0, value, value)
        return value


def dlc_times(r: DlcRecord) -> DlcTimes:
    """Times that reproduce ``r``'s printed numbers (see the module docstring)."""
    s = _System()
    s.between(_X, 0, r.created - 0.5, min(r.created + 0.5, 0.0))
    started = not r.pending and not (r.cancelled and r.used == 0 and r.queued == r.total)
    if r.running:
        s.between(_X, 0, -r.total - 1, -r.total)
        if started:
            s.between(_Y, 0, r.updated - 0.5, r.updated + 0.5)
            s.between(_Y, 0, -r.used - 1, min(-r.used, 0.0))
            s.between(_Y, _X, r.queued, r.queued + 1)
    else:
        s.between(_Z, 0, r.updated - 0.5, min(r.updated + 0.5, 0.0))
        s.between(_Z, _X, r.total, r.total + 1)
        if started:
            s.between(_Z, _Y, r.used, r.used + 1)
            s.between(_Y, _X, r.queued, r.queued + 1)
    nodes = (_X, *((_Y,) if started else ()), *(() if r.running else (_Z,)))
    values = {n: s.pick(n) for n in nodes}
    if any(v is None for v in values.values()):
        return _printed(r, started)
    x, y, z = (values.get(n) for n in (_X, _Y, _Z))
    return DlcTimes(
        created=_ms(x),
        started=None if y is None else _ms(y),
        finished=None if z is None else _ms(z),
        exact=True,
    )


def _ms(value: float | None) -> float:
    return 0.0 if value is None else value / 1000.0


def _printed(r: DlcRecord, started: bool) -> DlcTimes:
    """The printed times, ordered as a scenario requires (created <= started <= finished <= 0)."""
    created = min(r.created, 0) / 1000.0
    start = None
    if started:
        start = min(max(r.created + r.queued, r.created), 0) / 1000.0
        if r.running:
            start = max(start, created)
    finished = None
    if not r.running:
        finished = min(max(r.updated / 1000.0, start if start is not None else created), 0.0)
    return DlcTimes(created, start, finished, exact=False)
