"""What taskwatch knows about the tasks of one source, and what changed since the last cycle.

The decision of what to fetch is a pure function, :func:`diff`, over the fingerprints of *list
records*: a task whose list record is unchanged since the last cycle needs no detail call (a
tracked task keeps its list record's fingerprint even after a detail call, so a list and a detail
that disagree cannot trigger a call every cycle). :class:`Tracker` keeps, per source, the latest
full snapshot of every *active* task (policies need their fields) and only a compact record of
finished ones: enough to observe each finish exactly once.

The list can contradict the detail for ever (the API documentation's own example answers list a
task as PROCESSING whose detail says FINISH). Once a detail said a task finished, the task stays
finished: it is observed once, it is not watched as active, and while the active listing shows it
with the same record (:attr:`Tracker.stale`) it is not described again. A changed record is
described once more: if the detail still says finished, nothing is observed again; if it says the
task is active, it is watched again, and its next end is still not observed a second time.

How long a finished id is remembered (bounded memory): while the API's window since its creation
lasts, and after that for as long as the API still lists it (checked at each sweep, when the
listings are complete): the API cannot show it again once both are over. So memory is bounded by
the finished tasks of one window plus whatever the API lists.

Tasks that outlive the API's windows (:attr:`Tracker.presumed`). MPS lists a task for 7 days
after its creation and describes it for 3 to 7, but a live stream can run for weeks: once it is
past both, no Describe call shows it, although it still runs (and bills). A task last seen active
that leaves the active listing past its list window and whose detail is not found is *presumed*
in its last observed state (``Task.unobserved_since`` says since when): counted, aged from its
own times and evaluated by the policies like an active one, at no API cost. It stops being
presumed when an observation says otherwise (it is listed again, or listed finished), when an
action settles it (:meth:`Tracker.settle`: the abort landed, or the API said it had ended) or
after the product's bound (``ProductSpec.outlives``, :meth:`Tracker.expire`). Which tasks are
presumed is the watcher's decision (:mod:`taskwatch.watch`); this class only keeps them.

Not guaranteed: a task that is created and finishes between two cycles is seen only by the next
sweep of finished tasks; its queue wait and duration are still observed then, once. A finished id
the API stops listing and lists again after its window is new to taskwatch. Presumed tasks live
in memory only: a task past the windows when taskwatch starts (or restarts) is never seen.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from taskwatch.models import Outcome, Phase, Result, Task


@dataclass(frozen=True, slots=True)
class Diff:
    """Ids by what happened to them between two observations."""

    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    settled: tuple[str, ...] = ()
    """Listed as active, but a detail already said they finished and their list record has not
    changed since: no call, not active."""

    @property
    def to_refresh(self) -> tuple[str, ...]:
        return self.new + self.changed


def diff(
    previous: Mapping[str, Hashable],
    current: Mapping[str, Task],
    settled: Mapping[str, Hashable] | None = None,
) -> Diff:
    """Compare fingerprints by id. ``settled``: finished tasks the last listing still showed, by
    the fingerprint of that list record; such a task listed again with the same fingerprint is
    settled, with another one it is changed. Pure; order follows ``current`` then ``previous``."""
    done = settled or {}
    new: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    quiet: list[str] = []
    for task_id, task in current.items():
        before = previous.get(task_id, _MISSING)
        if before is _MISSING:
            ended = done.get(task_id, _MISSING)
            if ended is _MISSING:
                new.append(task_id)
            elif ended == task.fingerprint:
                quiet.append(task_id)
            else:
                changed.append(task_id)
        elif before != task.fingerprint:
            changed.append(task_id)
        else:
            unchanged.append(task_id)
    gone = [task_id for task_id in previous if task_id not in current]
    return Diff(tuple(new), tuple(changed), tuple(gone), tuple(unchanged), tuple(quiet))


_MISSING = object()


@dataclass(slots=True)
class Tracker:
    """The state of one source between cycles."""

    window: float
    """Seconds after creation during which the API may list a task (MPS: 7 days)."""
    active: dict[str, Task] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    """Finished task id → its creation time (for eviction); each finish is observed once."""
    stale: dict[str, Hashable] = field(default_factory=dict)
    """Finished tasks the last active listing still showed → that list record's fingerprint."""
    presumed: dict[str, Task] = field(default_factory=dict)
    """Tasks last seen active that the API shows no more (past its windows) → their last
    observation, with ``unobserved_since`` set: presumed still active (module docstring)."""

    def fingerprints(self) -> dict[str, Hashable]:
        return {task_id: task.fingerprint for task_id, task in self.active.items()}

    def merge(self, current: Mapping[str, Task], refreshed: Iterable[Task]) -> dict[str, Task]:
        """The new active map: fresh observations (keeping the fingerprint of their list record,
        which the next cycle compares), with the previous detail carried over for unchanged
        tasks (no detail call was made for them). A task known finished stays out unless a fresh
        detail says otherwise: the list alone does not revive it."""
        fresh = {t.id: t for t in refreshed}
        merged: dict[str, Task] = {}
        for task_id, task in current.items():
            seen = fresh.get(task_id)
            if seen is not None:
                same = seen.fingerprint == task.fingerprint
                merged[task_id] = seen if same else replace(seen, fingerprint=task.fingerprint)
                continue
            before = self.active.get(task_id)
            if before is None and task_id in self.finished:
                continue
            if before is not None and before.detail is not None and task.detail is None:
                task = task.with_detail(before.detail)
            merged[task_id] = task
        return merged

    def commit(
        self,
        active: Mapping[str, Task],
        ended: Iterable[Task],
        *,
        listed: Mapping[str, Task] | None = None,
    ) -> list[Task]:
        """Install the new active map and record ended tasks; returns the ones never seen ended
        before (observe those into histograms and counters exactly once). ``listed``: this
        cycle's active listing (without tasks whose detail call failed); the finished tasks it
        shows are remembered with their record's fingerprint (:attr:`stale`), the others'
        fingerprints forgotten."""
        first_time: list[Task] = []
        self.active = {k: v for k, v in active.items() if v.phase is not Phase.DONE}
        for task in (*ended, *(v for v in active.values() if v.phase is Phase.DONE)):
            if task.id in self.finished:
                continue
            self.finished[task.id] = task.created if task.created is not None else 0.0
            first_time.append(task)
        for task_id in [k for k in self.presumed if k in self.active or k in self.finished]:
            del self.presumed[task_id]  # observed again: active, or ended
        if listed is not None:
            self.stale = {
                k: t.fingerprint
                for k, t in listed.items()
                if k in self.finished and k not in self.active
            }
        return first_time

    def observe(self, task: Task) -> list[Task]:
        """One task described between cycles (a hint): merged as a cycle would merge it. Active,
        it replaces its entry: with the detail's fingerprint when its status moved (the listing
        will show the same record, so the next cycle describes it again only if list and detail
        disagree), else keeping the list record's, which the next cycle compares; a task not
        known yet, or known ended, is watched from now (a fresh detail revives, as in
        :meth:`merge`). Ended, it leaves the active and
        presumed maps and is recorded finished, with its last list fingerprint as :attr:`stale`
        (a listing that still shows the old record causes no call). Returns it when this is the
        first time it is seen ended (as :meth:`commit`), else nothing."""
        before = self.active.get(task.id) or self.presumed.get(task.id)
        if task.phase is not Phase.DONE:
            moved = before is None or before.status != task.status
            kept = (
                task if before is None or moved else replace(task, fingerprint=before.fingerprint)
            )
            self.active[task.id] = kept
            self.presumed.pop(task.id, None)
            return []
        self.active.pop(task.id, None)
        self.presumed.pop(task.id, None)
        if before is not None:
            self.stale[task.id] = before.fingerprint
        if task.id in self.finished:
            return []
        self.finished[task.id] = task.created if task.created is not None else 0.0
        return [task]

    def presume(self, tasks: Iterable[Task], now: float) -> list[Task]:
        """Keep ``tasks`` (last seen active, now shown by no API call) as presumed active since
        ``now``, out of :attr:`active`; returns them as kept."""
        kept: list[Task] = []
        for task in tasks:
            since = now if task.unobserved_since is None else task.unobserved_since
            kept.append(replace(task, unobserved_since=since))
            self.presumed[task.id] = kept[-1]
            self.active.pop(task.id, None)
        return kept

    def settle(
        self, outcomes: Iterable[tuple[str, Outcome]], now: float, status: str | None
    ) -> tuple[list[str], list[Task]]:
        """Presumed tasks an action settled, by (task id, outcome): ``done`` (aborted at ``now``)
        and ``already_done`` (ended, when unknown) end them, recorded finished with ``status``
        (the product's ended one); other outcomes, and ids not presumed, change nothing. Returns
        the ids settled and the tasks never seen ended before (as :meth:`commit`)."""
        ended: list[Task] = []
        for task_id, result in outcomes:
            task = self.presumed.get(task_id)
            if task is None or result not in (Outcome.DONE, Outcome.ALREADY_DONE):
                continue
            aborted = result is Outcome.DONE
            ended.append(
                replace(
                    task,
                    status=status or task.status,
                    phase=Phase.DONE,
                    finished=now if aborted else None,
                    result=Result.ABORTED if aborted else Result.UNKNOWN,
                )
            )
        return [t.id for t in ended], (self.commit(self.active, ended) if ended else [])

    def expire(self, now: float, bound: float) -> list[Task]:
        """Forget presumed tasks unobserved for longer than ``bound`` seconds; returns them.
        Their end was never seen: they are not recorded as finished."""
        old = [
            t
            for t in self.presumed.values()
            if t.unobserved_since is not None and t.unobserved_since < now - bound
        ]
        for task in old:
            del self.presumed[task.id]
        return old

    def remember(self, tasks: Iterable[Task]) -> None:
        """Record finished tasks as known without observing them (the first sweep's history)."""
        for task in tasks:
            self.finished.setdefault(task.id, task.created if task.created is not None else 0.0)

    def evict(self, now: float, *, listed: Collection[str] | None = None) -> int:
        """Forget finished tasks created before the API's window that ``listed`` (every id of a
        complete scan: active and finished listings) does not show; ``None`` (no complete scan
        this cycle) forgets nothing. Returns how many were forgotten."""
        if listed is None:
            return 0
        horizon = now - self.window
        old = [k for k, created in self.finished.items() if created < horizon and k not in listed]
        for k in old:
            del self.finished[k]
            self.stale.pop(k, None)
        return len(old)

    def seen_finished(self, task_id: str) -> bool:
        return task_id in self.finished
