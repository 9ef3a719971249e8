"""One source's cycle, the unit its loop runs: scan (read), then act on what the scan saw.

A :class:`Cycle` is what a :class:`~taskwatch.scheduler.Loop` calls on each tick: the watcher scans
the source (:meth:`taskwatch.watch.Watcher.cycle`: list, diff, refresh, commit, publish) and, only
after a successful scan and only when there are rules, the executor applies the policies to the
tasks the scan left actionable. A failed scan acts on nothing: the last good state is not fresh
enough to abort, cancel or delete on.

After every cycle (and after a cycle its loop cut at the timeout, when the scan was cut: that one
failed) the ``after`` hook is told how many actions the cycle took, so the daemon's one-line
status (systemd's ``STATUS=``) follows every cycle; see :class:`taskwatch.health.Health`.

The runtime builds one :class:`Cycle` per source and rebuilds them on a reload with the loops;
the executor is the daemon's one executor (its memory of grace and caps outlives reloads).

Between cycles the source reacts (:meth:`Cycle.react`, :meth:`Cycle.hint`): a deadline timer
fired (:mod:`taskwatch.timers`) or a task notification arrived (:mod:`taskwatch.hints`). A
reaction runs the same executor on those tasks alone (``scope``), under the same lock as the cycle
(the executor's memory is not shared between concurrent runs), and replans their timers. A hint's
describe runs outside the lock, so a long cycle does not delay what the hint observes (the
watcher keeps an observation made during a scan over the scan's older view).

Not guaranteed: the policies step has no deadline of its own; the loop's timeout bounds the
whole cycle (an action already sent finishes: the executor shields it). A reaction waits for a
cycle in progress (its retry rounds included) before it acts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

import anyio
import structlog

from taskwatch.actions.executor import ActionReport, Executor
from taskwatch.errors import TaskwatchError
from taskwatch.timers import Deadlines
from taskwatch.watch import CycleReport, Watcher

log = structlog.get_logger(__name__)

AfterCycle = Callable[[int], object]
"""Told the number of actions a cycle took, once it ended (0 for a failed one)."""


@dataclass(slots=True)
class Cycle:
    """Scan one source, then act on it; a loop calls it once per tick."""

    watcher: Watcher
    executor: Executor
    after: AfterCycle | None = None
    deadlines: Deadlines | None = None
    """The source's deadline timers (None: off)."""
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    """Held while the executor runs for this source (a cycle or a reaction); kept on reloads."""

    async def __call__(self) -> CycleReport:
        """Scan, then (only after a successful scan) apply the policies to what it saw."""
        async with self.lock:
            report = await self.watcher.cycle()
            acted = 0
            if report.ok and self.executor.rules:
                reports = await self.executor.run(self.watcher.adapter, self.watcher.actionable())
                self._settle(reports)
                acted = len(reports)
            if report.ok:
                self.plan()
        self._ended(acted)
        return report

    def plan(self, only: Collection[str] | None = None) -> None:
        """(Re)plan the timers from what the watcher holds: every task, or the ids ``only``."""
        if self.deadlines is None or not self.watcher.ready:
            return
        watcher = self.watcher
        tasks = (
            watcher.actionable()
            if only is None
            else [t for i in only if (t := watcher.tracked(i)) is not None]
        )
        source, grace = str(self.watcher.source), self.executor.grace
        try:
            self.deadlines.plan(
                tasks,
                self.executor.rules,
                lambda policy, task_id: grace.since((policy, source, task_id)),
                only=only,
            )
        except Exception:  # a prediction must never cost a scan its result: polling remains
            log.exception("timers.plan_failed", source=source)

    async def run_timers(self) -> None:
        """Until cancelled (the loop's life while leading): plan, then fire the timers."""
        if self.deadlines is None:
            return
        self.plan()
        await self.deadlines.run(self.react)

    async def react(self, ids: list[str]) -> int:
        """Deadline timers of ``ids`` fired: apply the policies to those tasks now (the fence
        re-describes before acting), then replan them. How many actions were taken."""
        src = self.watcher.source
        async with self.lock:
            held = {i: t for i in ids if (t := self.watcher.tracked(i)) is not None}
            tasks = list(held.values())
            reports = await self.executor.run(self.watcher.adapter, tasks, scope=set(ids))
            self._settle(reports)
            self.plan(only=set(ids))
        acted = {r.task_id for r in reports}
        metrics = self.watcher.metrics
        for task_id in ids:
            result = "stale" if task_id not in held else "acted" if task_id in acted else "nothing"
            metrics.timer_fired(src, result)
        if reports:
            log.info("timers.fired", source=str(src), tasks=len(ids), actions=len(reports))
        return len(reports)

    async def hint(self, task_id: str) -> str:
        """A notification said ``task_id`` may have changed: describe it now (under the
        account's limiter), merge what it says, apply the policies to it, replan its timer.
        ``described``, ``not_found`` (the API does not know it) or ``failed``."""
        try:
            fresh = await self.watcher.look(task_id)
        except TaskwatchError as exc:
            src = str(self.watcher.source)
            log.info("hint.describe_failed", source=src, error=type(exc).__name__)
            return "failed"
        if fresh is None:
            return "not_found"
        self.watcher.observe(fresh)
        if self.executor.rules:
            async with self.lock:
                tasks = [t for t in (self.watcher.tracked(task_id),) if t is not None]
                reports = await self.executor.run(self.watcher.adapter, tasks, scope={task_id})
                self._settle(reports)
                self.plan(only={task_id})
        return "described"

    def _settle(self, reports: Iterable[ActionReport]) -> None:
        self.watcher.acted((r.task_id, r.result) for r in reports)  # settles presumed tasks

    def timed_out(self, timeout: float) -> None:
        """The loop cancelled this cycle at ``timeout``: a failed cycle if its scan was cut (the
        watcher counts it); if the scan had ended, the scan stands and nothing is reported."""
        if self.watcher.timed_out(timeout) is not None:
            self._ended(0)

    def _ended(self, acted: int) -> None:
        if self.after is not None:
            self.after(acted)
