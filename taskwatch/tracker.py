"""What taskwatch knows about the tasks of one source, and what changed since the last cycle.

The decision of what to fetch is a pure function, :func:`diff`, over fingerprints: a task whose
fingerprint is unchanged needs no detail call. :class:`Tracker` keeps, per source, the latest full
snapshot of every *active* task (policies need their fields) and only a compact record of finished
ones (enough to observe each finish exactly once and to forget it when it leaves the API's window).

Not guaranteed: a task that is created and finishes between two cycles is seen only by the next
sweep of finished tasks; its queue wait and duration are still observed then, once.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from taskwatch.models import Phase, Task


@dataclass(frozen=True, slots=True)
class Diff:
    """Ids by what happened to them between two observations."""

    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def to_refresh(self) -> tuple[str, ...]:
        return self.new + self.changed


def diff(previous: Mapping[str, Hashable], current: Mapping[str, Task]) -> Diff:
    """Compare fingerprints by id. Pure; order follows ``current`` then ``previous``."""
    new: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    for task_id, task in current.items():
        before = previous.get(task_id, _MISSING)
        if before is _MISSING:
            new.append(task_id)
        elif before != task.fingerprint:
            changed.append(task_id)
        else:
            unchanged.append(task_id)
    gone = [task_id for task_id in previous if task_id not in current]
    return Diff(tuple(new), tuple(changed), tuple(gone), tuple(unchanged))


_MISSING = object()


@dataclass(slots=True)
class Tracker:
    """The state of one source between cycles."""

    window: float
    """Seconds after creation past which the API forgets a task (MPS: 7 days)."""
    active: dict[str, Task] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    """Finished task id → its creation time (for eviction); each finish is observed once."""

    def fingerprints(self) -> dict[str, Hashable]:
        return {task_id: task.fingerprint for task_id, task in self.active.items()}

    def merge(self, current: Mapping[str, Task], refreshed: Iterable[Task]) -> dict[str, Task]:
        """The new active map: fresh observations, with the previous detail carried over for
        unchanged tasks (no detail call was made for them)."""
        fresh = {t.id: t for t in refreshed}
        merged: dict[str, Task] = {}
        for task_id, task in current.items():
            if task_id in fresh:
                merged[task_id] = fresh[task_id]
                continue
            before = self.active.get(task_id)
            if before is not None and before.detail is not None and task.detail is None:
                task = task.with_detail(before.detail)
            merged[task_id] = task
        return merged

    def commit(self, active: Mapping[str, Task], ended: Iterable[Task]) -> list[Task]:
        """Install the new active map and record ended tasks; returns the ones never seen ended
        before (observe those into histograms and counters exactly once)."""
        first_time: list[Task] = []
        self.active = {k: v for k, v in active.items() if v.phase is not Phase.DONE}
        for task in (*ended, *(v for v in active.values() if v.phase is Phase.DONE)):
            if task.id in self.finished:
                continue
            self.finished[task.id] = task.created if task.created is not None else 0.0
            first_time.append(task)
        return first_time

    def remember(self, tasks: Iterable[Task]) -> None:
        """Record finished tasks as known without observing them (the first sweep's history)."""
        for task in tasks:
            self.finished.setdefault(task.id, task.created if task.created is not None else 0.0)

    def evict(self, now: float) -> int:
        """Forget finished tasks created before the API's window; returns how many."""
        horizon = now - self.window
        old = [k for k, created in self.finished.items() if created < horizon]
        for k in old:
            del self.finished[k]
        return len(old)

    def seen_finished(self, task_id: str) -> bool:
        return task_id in self.finished
