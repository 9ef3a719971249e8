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

Not guaranteed: the policies step has no deadline of its own; the loop's timeout bounds the
whole cycle (an action already sent finishes: the executor shields it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from taskwatch.actions.executor import Executor
from taskwatch.watch import CycleReport, Watcher

AfterCycle = Callable[[int], object]
"""Told the number of actions a cycle took, once it ended (0 for a failed one)."""


@dataclass(slots=True)
class Cycle:
    """Scan one source, then act on it; a loop calls it once per tick."""

    watcher: Watcher
    executor: Executor
    after: AfterCycle | None = None

    async def __call__(self) -> CycleReport:
        """Scan, then (only after a successful scan) apply the policies to what it saw."""
        report = await self.watcher.cycle()
        acted = 0
        if report.ok and self.executor.rules:
            reports = await self.executor.run(self.watcher.adapter, self.watcher.actionable())
            self.watcher.acted((r.task_id, r.result) for r in reports)  # settles presumed tasks
            acted = len(reports)
        self._ended(acted)
        return report

    def timed_out(self, timeout: float) -> None:
        """The loop cancelled this cycle at ``timeout``: a failed cycle if its scan was cut (the
        watcher counts it); if the scan had ended, the scan stands and nothing is reported."""
        if self.watcher.timed_out(timeout) is not None:
            self._ended(0)

    def _ended(self, acted: int) -> None:
        if self.after is not None:
            self.after(acted)
