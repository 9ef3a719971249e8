"""One cycle of one source: scan → diff → refresh only what changed → commit → publish.

The cost model is the point of this module. Each cycle lists the active tasks (cheap: a few pages)
and asks for detail only for tasks that are new, whose fingerprint changed, or that left the
active listing (that is how their end is learnt); a task a detail said finished is not described
again while the active listing shows the same record (:mod:`taskwatch.tracker` says why and how
long finished ids are remembered). The finished list is swept rarely, on a jittered
schedule, to catch tasks that were born and died between two cycles; the first sweep is a baseline
(finished history is recorded, not counted as new finishes).

A task that leaves the active listing and whose detail is not found is gone, except where the
product says tasks outlive the API's windows (``ProductSpec.outlives``: MPS). There, one last seen
active that left the listing past its list window (within :data:`EDGE`) is *presumed* active
(:attr:`taskwatch.tracker.Tracker.presumed`): still counted by the gauges, still given to the
policies (the fence acts on its last observation, :mod:`taskwatch.actions.attempt`), until
:meth:`Watcher.acted` hears that an action settled it, a finished listing shows it, or
``outlives`` has passed. One that left the listing inside its window has ended (MPS tasks cannot be
deleted): the next sweep's finished listing observes it, from its list record if the detail has
forgotten it.

Detail is fetched in chunks: a chunk whose calls fail after the client's retries is deferred (those
tasks keep their last observation, or stay unseen if new, and are refreshed next cycle) rather than
failing the cycle, so at scale one unlucky call cannot stop every cycle (with 800 detail calls and
30 % faults, a cycle that needs all of them to succeed practically never does). A failed cycle
changes nothing: the tracker keeps the last good state, the task gauges keep the last
good values (a failed scan is never reported as zero tasks), and the failure is counted by reason
(``taskwatch_scan_errors_total``). A streak of failures is logged once
(:mod:`taskwatch.scanfailures`), so an outage of hours is a few clear lines, not thousands. One
canonical log line per cycle says what it cost and what it saw.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog

from taskwatch import catalog
from taskwatch.clock import Clock
from taskwatch.cost import Pricer
from taskwatch.errors import CycleTimeout, TaskwatchError
from taskwatch.metrics.costs import estimate_of
from taskwatch.metrics.registry import Metrics
from taskwatch.models import ACTIONABLE_WHEN_DONE, Outcome, Phase, SourceKey, Task
from taskwatch.products.base import Adapter, CallCounter
from taskwatch.scanfailures import FailureLog
from taskwatch.tracker import Tracker, diff

log = structlog.get_logger(__name__)

REFRESH_CHUNK = 50
"""Tasks per refresh call of the adapter (DLC looks up 50 ids per API call)."""
EDGE = 300.0
"""Seconds before the end of its list window from which a task that leaves the active listing is
taken to have aged out of it rather than ended: the API refuses requests signed more than five
minutes off its clock, so taskwatch's clock and the API's agree within that."""


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle did; ``error`` is the failure's class name when it failed."""

    source: SourceKey
    seconds: float
    calls: dict[str, int]
    active: int = 0
    """Tasks held after the cycle, as ``taskwatch_tasks`` counts them: the active ones, those
    presumed active past the API's windows and every listed ended Live task; a failed cycle keeps
    the last good count (it changed nothing)."""
    new: int = 0
    changed: int = 0
    gone: int = 0
    finished: int = 0
    swept: bool = False
    error: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


@dataclass(slots=True)
class Watcher:
    """Keeps one source's tracker current and its metrics published."""

    adapter: Adapter
    metrics: Metrics
    clock: Clock
    finish_sweep: float = 600.0
    """Seconds between sweeps of the finished list (jittered ±20 %)."""
    rng: random.Random = field(default_factory=random.Random)
    pricer: Pricer = field(default_factory=Pricer.off)
    """Prices the published and the finished tasks; the runtime sets each reload's."""
    tracker: Tracker = field(init=False)
    last_report: CycleReport | None = None
    last_success_wall: float | None = None
    listed_done: dict[str, Task] = field(default_factory=dict)
    """Ended tasks the last scan still listed (Live only: they remain until deleted)."""
    _next_sweep: float | None = None
    _baselined: bool = False
    _failures: FailureLog = field(init=False)
    _during: dict[str, Task] = field(default_factory=dict)
    """Tasks described by hints while a scan was in flight (merged after its commit)."""
    _scan: tuple[float, CallCounter] | None = None
    """The cycle in progress (its start and calls), left set if it is cancelled mid-scan."""
    _outlives: float | None = field(init=False, default=None)
    """The product's ``ProductSpec.outlives``: how long a task past the windows is presumed."""
    _ended_status: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.tracker = Tracker(window=self.adapter.window)
        self._failures = FailureLog(str(self.source))
        spec = catalog.PRODUCTS.get(self.source.product)
        self._outlives = None if spec is None else spec.outlives
        self._ended_status = spec.ended[0] if spec is not None and spec.ended else None

    @property
    def source(self) -> SourceKey:
        return self.adapter.source

    def actionable(self) -> list[Task]:
        """The tasks policies may act on after the last good scan: the active ones, the ones
        presumed active past the API's windows, and ended ones still listed where the product
        allows acting on them."""
        tracker = self.tracker
        return [*tracker.active.values(), *tracker.presumed.values(), *self.listed_done.values()]

    def tracked(self, task_id: str) -> Task | None:
        """One task of :meth:`actionable`, by id (a reaction's lookup, without the list)."""
        t = self.tracker
        return t.active.get(task_id) or t.presumed.get(task_id) or self.listed_done.get(task_id)

    def _outlived(self, task: Task, now: float) -> bool:
        """Whether ``task``, last seen active, is presumed active now that no call shows it: its
        product's tasks outlive the API's windows and it left the listing past its list window."""
        if self._outlives is None or task.phase is Phase.DONE or task.created is None:
            return False
        return task.created <= now - self.adapter.window + EDGE

    def acted(self, outcomes: Iterable[tuple[str, Outcome]]) -> int:
        """The executor's outcomes of a cycle, by task id: a presumed task whose action landed
        (``done``: aborted now) or found it over (``already_done``) has ended; it is observed
        finished once, no longer presumed, and the gauges are published again. How many."""
        now = self.clock.now().timestamp()
        settled, first_time = self.tracker.settle(outcomes, now, self._ended_status)
        for task in first_time:
            self.metrics.task_finished(task, estimate_of(self.pricer, task, now))
        if settled:
            log.info("task.presumption_settled", source=str(self.source), tasks=settled)
            self.metrics.publish(self.source, self.actionable(), self.pricer, now)
        return len(settled)

    async def look(self, task_id: str) -> Task | None:
        """Describe one task now (a hint said it may have changed), under the account's limiter:
        a tracked task keeps its list record; ``None`` if the API does not know it."""
        calls = CallCounter()
        known = self.tracker.active.get(task_id) or self.tracker.presumed.get(task_id)
        if known is None:
            return await self.adapter.describe(task_id, calls)
        found = await self.adapter.refresh([known], calls)
        return found[0] if found else None

    def observe(self, task: Task) -> None:
        """A task described between cycles (:meth:`look`): merged into the tracker at once (an
        end is observed now, once), the gauges published when its phase changed. During a scan
        it is also kept aside and merged again after the scan's commit: it is newer than what
        the scan listed."""
        now = self.clock.now().timestamp()
        tracker = self.tracker
        before = tracker.active.get(task.id) or tracker.presumed.get(task.id)
        for ended in tracker.observe(task):
            self.metrics.task_finished(ended, estimate_of(self.pricer, ended, now))
        if self._scan is not None:
            self._during[task.id] = task
        if self.source.product in ACTIONABLE_WHEN_DONE:
            if task.phase is Phase.DONE:
                self.listed_done[task.id] = task
            else:
                self.listed_done.pop(task.id, None)
        if before is None or before.phase is not task.phase or before.status != task.status:
            self.metrics.publish(self.source, self.actionable(), self.pricer, now)

    @property
    def ready(self) -> bool:
        """At least one cycle succeeded."""
        return self.last_success_wall is not None

    def _sweep_due(self) -> bool:
        now = self.clock.monotonic()
        return self._next_sweep is None or now >= self._next_sweep

    def _schedule_sweep(self) -> None:
        self._next_sweep = self.clock.monotonic() + self.finish_sweep * self.rng.uniform(0.8, 1.2)

    async def cycle(self) -> CycleReport:
        """Run one cycle; never raises for API trouble (it is reported instead)."""
        started = self.clock.monotonic()
        calls = CallCounter()
        self._scan = (started, calls)
        self._during = {}
        try:
            report = await self._cycle(calls, started)
        except TaskwatchError as exc:
            report = self._failed(started, calls, exc)
        self._scan = None
        return self._finished(report)

    def timed_out(self, timeout: float) -> CycleReport | None:
        """The loop cancelled this source's cycle at its ``timeout``. A scan cut short is a failed
        cycle like any other (reason ``CycleTimeout``: counted, in the failure streak's log, the
        last report); None if the scan had ended (the policies step overran: the scan stands)."""
        scan, self._scan = self._scan, None
        if scan is None:
            return None
        started, calls = scan
        return self._finished(self._failed(started, calls, CycleTimeout(timeout)))

    def _finished(self, report: CycleReport) -> CycleReport:
        self.last_report = report
        self.metrics.cycle_finished(
            self.source, seconds=report.seconds, calls=report.total_calls, error=report.error
        )
        return report

    def _failed(self, started: float, calls: CallCounter, exc: TaskwatchError) -> CycleReport:
        report = CycleReport(
            source=self.source,
            seconds=self.clock.monotonic() - started,
            calls=dict(calls.by_action),
            active=len(self.actionable()),  # the last good state, kept (and still exported)
            error=type(exc).__name__,
            message=str(exc),
        )
        fields = {
            "source": str(self.source),
            "error": report.error,
            "reason": report.message,
            "calls": report.total_calls,
            "seconds": round(report.seconds, 3),
            "last_success_age": (
                None
                if self.last_success_wall is None
                else round(self.clock.now().timestamp() - self.last_success_wall, 1)
            ),
        }
        reason = f"{report.error}:{getattr(exc, 'code', '')}"  # another API code is news too
        self._failures.failed(reason, fields, clock=self.clock)
        return report

    async def _refresh(self, tasks: list[Task], calls: CallCounter) -> tuple[list[Task], set[str]]:
        """Detail for ``tasks``, in chunks of ``REFRESH_CHUNK``: a chunk whose calls fail (after
        the client's retries) is deferred to the next cycle instead of failing the cycle, so one
        unlucky task among thousands cannot stop every other from being seen (and acted on).
        Returns the fresh observations and the ids deferred."""
        refreshed: list[Task] = []
        deferred: set[str] = set()
        last: TaskwatchError | None = None
        for i in range(0, len(tasks), REFRESH_CHUNK):
            chunk = tasks[i : i + REFRESH_CHUNK]
            try:
                refreshed += await self.adapter.refresh(chunk, calls)
            except TaskwatchError as exc:
                last = exc
                deferred.update(t.id for t in chunk)
                log.info("cycle.chunk_deferred", source=str(self.source), error=type(exc).__name__)
        if last is not None and len(deferred) == len(tasks):
            raise last  # nothing to show for this cycle: it failed, counted by that error
        return refreshed, deferred

    async def _cycle(self, calls: CallCounter, started: float) -> CycleReport:
        sweep = self._sweep_due()
        scan = await self.adapter.scan(sweep=sweep, calls=calls)
        tracker = self.tracker
        d = diff(tracker.fingerprints(), scan.active, tracker.stale)

        to_refresh: list[Task] = [scan.active[i] for i in d.to_refresh]
        to_refresh += [tracker.active[i] for i in d.gone]
        baseline: list[Task] = []
        newly_finished: list[Task] = []
        for task_id, task in scan.finished.items():
            if tracker.seen_finished(task_id) or task_id in tracker.active:
                continue
            (newly_finished if self._baselined else baseline).append(task)
        to_refresh += newly_finished

        refreshed, deferred = await self._refresh(to_refresh, calls)
        fresh = {t.id: t for t in refreshed}

        current = dict(scan.active)
        for task_id in deferred:  # no detail this time: as if this cycle had not seen them
            before = tracker.active.get(task_id)
            if before is not None:
                current[task_id] = before  # its old fingerprint gets it refreshed next cycle
            else:
                current.pop(task_id, None)  # new: it is new again next cycle
        ended: list[Task] = []
        outlived: list[Task] = []
        now_wall = self.clock.now().timestamp()
        for task_id in d.gone:  # left the active listing: the refresh says how it ended
            if task_id in deferred:
                continue
            seen = fresh.get(task_id)
            if seen is None:  # forgotten by the API (deleted, or past its detail window)
                if task_id in scan.finished:
                    ended.append(scan.finished[task_id])  # its end is listed: seen ended
                elif self._outlived(before := tracker.active[task_id], now_wall):
                    outlived.append(before)
                continue
            if seen.phase is Phase.DONE:
                ended.append(seen)
            else:
                current[task_id] = seen  # listed elsewhere mid-scan; still active
        # a finished listing is an observed end, even once the detail has forgotten the task
        ended += [fresh.get(t.id, t) for t in newly_finished if t.id not in deferred]
        if deferred:
            log.warning(
                "cycle.detail_deferred",
                source=str(self.source),
                tasks=len(deferred),
                reason="detail calls failed; those tasks are refreshed again next cycle",
            )
        active = tracker.merge(current, [t for t in refreshed if t.id in current])

        tracker.remember(baseline)  # history before taskwatch looked: recorded, not observed
        listed = {k: t for k, t in scan.active.items() if k not in deferred}
        first_time = tracker.commit(active, ended, listed=listed)
        during, self._during = self._during, {}
        for task in during.values():  # described by a hint while this scan ran: newer
            first_time += tracker.observe(task)
        for task in first_time:
            self.metrics.task_finished(task, estimate_of(self.pricer, task, now_wall))
        self._presume(outlived, now_wall)
        complete = {*scan.active, *scan.finished} if scan.swept else None
        tracker.evict(now_wall, listed=complete)  # what the API still lists is remembered
        if sweep:
            self._baselined = True
            self._schedule_sweep()
        if self.source.product in ACTIONABLE_WHEN_DONE:
            self.listed_done = {k: t for k, t in scan.finished.items() if k not in tracker.active}
        self.metrics.publish(self.source, self.actionable(), self.pricer, now_wall)
        self.last_success_wall = now_wall
        self._failures.recovered(clock=self.clock)
        report = CycleReport(
            source=self.source,
            seconds=self.clock.monotonic() - started,
            calls=dict(calls.by_action),
            active=len(self.actionable()),
            new=len(d.new),
            changed=len(d.changed),
            gone=len(d.gone),
            finished=len(first_time),
            swept=scan.swept,
        )
        log.info(
            "cycle",
            source=str(self.source),
            seconds=round(report.seconds, 3),
            calls=report.total_calls,
            by_action=report.calls,
            active=report.active,
            new=report.new,
            changed=report.changed,
            gone=report.gone,
            finished=report.finished,
            settled=len(d.settled),
            presumed=len(tracker.presumed),
            swept=report.swept,
        )
        return report

    def _presume(self, outlived: list[Task], now: float) -> None:
        """Keep the tasks that outlived the API's windows; forget those presumed too long."""
        for task in self.tracker.presume(outlived, now):
            log.warning(
                "task.presumed_active",
                source=str(self.source),
                task=task.id,
                type=task.type,
                status=task.status,
                age=task.age(now),
                reason="past the API's list and detail windows; kept in its last observed state",
            )
        if self._outlives is None:
            return
        for task in self.tracker.expire(now, self._outlives):
            log.warning(
                "task.presumption_expired",
                source=str(self.source),
                task=task.id,
                unobserved_for=now - (task.unobserved_since or now),
                reason="presumed active for longer than the product's bound; no longer shown",
            )
