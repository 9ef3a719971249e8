"""Estimates by running time: MPS types billed per hour (``LiveStreamProcessTask``) and Live
pull-stream tasks.

``so_far`` = hours run x the hourly price; ``per_hour`` = the price while running, 0 otherwise.

- MPS: from ``Task.started`` (``BeginProcessTime``) to ``now``, or to ``Task.finished`` once
  ended. No remaining time: a live stream processing task runs until stopped.
- Live: from ``StartTime`` (``Task.started`` once reached) to ``now``, at most ``EndTime``;
  ``remaining_hours`` = (``EndTime`` - now) while running. A paused task (``Status`` ``pause``)
  costs nothing per hour (paused tasks are not billed); what it ran before is counted up to its
  ``UpdateTime`` [inferred: pausing updates the task], or to ``now`` when that is unreadable.

Not guaranteed: the time of a task paused and resumed inside its window, which the API does not
keep (the estimate counts it as running from ``StartTime``).
"""

from __future__ import annotations

from taskwatch.cost.figures import HOUR, Estimate
from taskwatch.models import Phase, Task
from taskwatch.timefmt import parse_iso

__all__ = ["live_pull", "mps_hourly"]


def mps_hourly(task: Task, now: float, rate: float, currency: str) -> Estimate:
    """An MPS task billed per running hour."""
    if task.started is None:
        return Estimate(0.0, 0.0, currency, "not started")
    end = task.finished if task.finished is not None else now
    return _ran(task.started, end, rate, currency, running=task.phase is Phase.RUNNING)


def live_pull(task: Task, now: float, rate: float, currency: str) -> Estimate:
    """A Live pull-stream task billed per running hour inside its window."""
    start = task.started
    if start is None:
        return Estimate(0.0, 0.0, currency, "not started")
    end = parse_iso(task.fields.get("EndTime"))
    if task.phase is Phase.RUNNING:
        stop = now if end is None else min(now, end)
        estimate = _ran(start, stop, rate, currency, running=True)
        if end is None:
            return estimate
        left = max(0.0, end - now) / HOUR
        return Estimate(estimate.so_far, estimate.per_hour, currency, estimate.basis, left)
    if task.phase is Phase.DONE:
        stop = task.finished if task.finished is not None else (end if end is not None else now)
        return _ran(start, stop, rate, currency, running=False)
    updated = parse_iso(task.fields.get("UpdateTime"))
    stops = [t for t in (updated, now, end) if t is not None]
    estimate = _ran(start, min(stops), rate, currency, running=False)
    return Estimate(estimate.so_far, 0.0, currency, f"paused; {estimate.basis}")


def _ran(start: float, stop: float, rate: float, currency: str, *, running: bool) -> Estimate:
    hours = max(0.0, stop - start) / HOUR
    return Estimate(
        so_far=hours * rate,
        per_hour=rate if running else 0.0,
        currency=currency,
        basis=f"ran {hours:.2f} h x {rate:g}/h",
    )
