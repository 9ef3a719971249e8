"""Deadline timers: act at the instant a time rule is crossed, not at the next poll.

Most rules are about time (``running_longer_than``, ``waiting_longer_than``, ``age``, a rule's
``grace``), and the tracker already knows each task's creation and start: the instant an unchanged
task will cross a threshold is predictable (:func:`taskwatch.policy.deadline.next_deadline`).
:class:`Deadlines` keeps, for one source, the next such instant of every tracked task (one timer
per task: the earliest of its rules) and, while this replica leads, sleeps until the earliest and
hands the tasks then due to ``fire`` (:meth:`taskwatch.cycle.Cycle.react`: the normal executor,
whose fence re-describes each task before any destructive call; caps, journal and leadership as
in a cycle).

Timers cost no API call until they fire. They are rebuilt from every good scan (a task that
finished or changed is rescheduled or dropped) and replanned for the tasks a reaction touched.
At most ``limit`` are pending per source (the earliest kept; the rest wait for polling, said
once per plan in the log). Deadlines are wall instants (the API's times are), converted to loop
time when planned: a wall-clock step after planning moves a firing by at most the step, and the
next plan (the next scan) corrects it.

Not guaranteed: a deadline beyond the planning horizon (two intervals and a minute by default) is
planned by a later scan; a rule on a figure that is not a function of time alone (a list field, a
cost that does not grow steadily) is caught by polling, not by a timer.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

import anyio
import structlog

from taskwatch.clock import Clock
from taskwatch.metrics.registry import Metrics
from taskwatch.models import SourceKey, Task
from taskwatch.policy.deadline import next_deadline
from taskwatch.policy.rules import Rule

log = structlog.get_logger(__name__)

LIMIT = 10_000
"""Timers pending per source at most (one per tracked task at most)."""
COALESCE = 0.05
"""Seconds: timers due this close together fire as one reaction (one journal read, one lock)."""
LATE = 0.002
"""Seconds a timer fires after its deadline, so the wall clock read by the reaction is past it."""
RETRY = 1.0
"""Seconds before a task fires again when its new deadline is no later than the one that just
fired (the wall clock has not moved past it: stepped back, or frozen in a test)."""

Since = Callable[[str, str], float | None]
"""(policy, task id) → when its grace streak began, or None."""
Fire = Callable[[list[str]], Awaitable[object]]


@dataclass(slots=True)
class Deadlines:
    """One source's timers; see the module docstring."""

    source: SourceKey
    clock: Clock
    metrics: Metrics
    horizon: float
    """Seconds ahead a plan looks (a later scan plans what lies beyond)."""
    limit: int = LIMIT
    _wall: dict[str, float] = field(default_factory=dict)
    """Task id → its deadline (UTC epoch seconds)."""
    _due: dict[str, float] = field(default_factory=dict)
    """Task id → when to fire (loop time)."""
    _heap: list[tuple[float, str]] = field(default_factory=list)
    _fired: dict[str, float] = field(default_factory=dict)
    """Task id → the deadline that last fired for it (against refiring in a loop)."""
    _wake: anyio.Event = field(default_factory=anyio.Event)

    def __len__(self) -> int:
        return len(self._due)

    def deadline(self, task_id: str) -> float | None:
        """The planned deadline of ``task_id`` (UTC epoch seconds), if any."""
        return self._wall.get(task_id)

    def plan(
        self,
        tasks: Iterable[Task],
        rules: Sequence[Rule],
        since: Since,
        *,
        only: Iterable[str] | None = None,
    ) -> int:
        """Plan the timers of ``tasks`` (every tracked task after a scan; or, with ``only``, the
        ids a reaction touched: theirs are replanned, the others kept). Returns how many are
        pending."""
        wall = self.clock.now().timestamp()
        mono = self.clock.monotonic()
        if only is None:
            self._wall.clear()
            self._due.clear()
            self._heap.clear()
        else:
            for task_id in only:
                self._wall.pop(task_id, None)
                self._due.pop(task_id, None)
        wanted = [r for r in rules if r.product == self.source.product]
        if wanted:
            for task in tasks:
                at = next_deadline(
                    wanted,
                    task,
                    now=wall,
                    since=_bound(since, task.id),
                    horizon=self.horizon,
                )
                if at is not None:
                    self._wall[task.id] = at
                    due = mono + (at - wall) + LATE
                    if at <= self._fired.get(task.id, -math.inf):
                        due = max(due, mono + RETRY)
                    self._due[task.id] = due
        if only is None:
            self._fired = {k: v for k, v in self._fired.items() if k in self._due}
        self._trim()
        if only is None:
            self._heap = [(due, task_id) for task_id, due in self._due.items()]
            heapq.heapify(self._heap)
        else:  # a reaction: push the replanned (older entries are skipped as stale)
            for task_id in only:
                if task_id in self._due:
                    heapq.heappush(self._heap, (self._due[task_id], task_id))
        self.metrics.timers_pending(self.source, len(self._due))
        self._wake.set()
        return len(self._due)

    def _trim(self) -> None:
        if len(self._due) <= self.limit:
            return
        kept = sorted(self._due, key=self._due.__getitem__)[: self.limit]
        dropped = len(self._due) - len(kept)
        self._due = {k: self._due[k] for k in kept}
        self._wall = {k: self._wall[k] for k in kept}
        log.warning(
            "timers.over_limit",
            source=str(self.source),
            limit=self.limit,
            dropped=dropped,
            reason="the latest deadlines are left to polling",
        )

    def _pop_due(self, now: float) -> list[str]:
        """Ids whose timer is due by ``now`` (+ :data:`COALESCE`), removed from the plan."""
        fired: list[str] = []
        while self._heap and self._heap[0][0] <= now + COALESCE:
            due, task_id = heapq.heappop(self._heap)
            if self._due.get(task_id) != due:
                continue  # replanned or dropped since
            del self._due[task_id]
            at = self._wall.pop(task_id)
            self._fired[task_id] = at
            fired.append(task_id)
            self.metrics.timer_lateness(max(0.0, self.clock.now().timestamp() - at))
        return fired

    def _next(self) -> float | None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # stale entries of replanned tasks
        return self._heap[0][0] if self._heap else None

    async def run(self, fire: Fire) -> None:
        """Until cancelled: sleep (loop time) until the earliest timer, fire the tasks due."""
        while True:
            self._wake = anyio.Event()
            nxt = self._next()
            if nxt is None:
                await self._wake.wait()
                continue
            delay = nxt - self.clock.monotonic()
            if delay > 0:
                with anyio.move_on_after(delay):
                    await self._wake.wait()  # a new plan may bring an earlier one
                continue
            fired = self._pop_due(self.clock.monotonic())
            if fired:
                self.metrics.timers_pending(self.source, len(self._due))
                await fire(fired)


def _bound(since: Since, task_id: str) -> Callable[[str], float | None]:
    def of(policy: str) -> float | None:
        return since(policy, task_id)

    return of
