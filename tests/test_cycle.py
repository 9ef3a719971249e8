"""One source's cycle: scan, then act only on a successful scan, and say how many actions it took.

A scripted adapter and a recording executor stand in for the wire and the journal (both have their
own tests); the watcher is the real one, on a manual clock with its own registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import anyio

from taskwatch.actions.attempt import ActionReport
from taskwatch.actions.executor import Executor
from taskwatch.clock import ManualClock
from taskwatch.cycle import Cycle
from taskwatch.metrics.registry import Metrics
from taskwatch.models import Outcome, Phase, SourceKey, Task
from taskwatch.products.base import Adapter, CallCounter, PagingError, ScanResult
from taskwatch.watch import Watcher

SOURCE = SourceKey("main", "dlc", "ap-guangzhou")


def running(task_id: str) -> Task:
    return Task(
        product="dlc",
        account="main",
        region="ap-guangzhou",
        id=task_id,
        type="SQL",
        status="1",
        phase=Phase.RUNNING,
        fingerprint=(task_id,),
    )


@dataclass
class Scripted:
    """An adapter whose scan lists ``active``, fails with ``error``, or waits on ``hold``."""

    active: list[Task] = field(default_factory=list)
    error: Exception | None = None
    hold: anyio.Event | None = None
    scanning: anyio.Event = field(default_factory=anyio.Event)
    source: SourceKey = SOURCE
    window: float = 86400.0

    async def scan(self, *, sweep: bool, calls: CallCounter) -> ScanResult:
        calls.add("DescribeTasks")
        self.scanning.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.error is not None:
            raise self.error
        return ScanResult(active={t.id: t for t in self.active}, swept=sweep)

    async def refresh(self, tasks: Sequence[Task], calls: CallCounter) -> list[Task]:
        return list(tasks)


@dataclass
class Recording:
    """An executor that records what it was asked to act on and reports ``acted`` actions."""

    rules: list[Any] = field(default_factory=lambda: ["a rule"])
    acted: int = 0
    asked: list[list[str]] = field(default_factory=list)

    async def run(self, adapter: Adapter, tasks: Iterable[Task]) -> list[ActionReport]:
        self.asked.append(sorted(t.id for t in tasks))
        return [ActionReport("p", "t", "abort", Outcome.DONE)] * self.acted


def cycle_of(adapter: Scripted, executor: Recording) -> tuple[Cycle, list[int]]:
    clock = ManualClock()
    watcher = Watcher(adapter=cast(Adapter, adapter), metrics=Metrics(clock=clock), clock=clock)
    told: list[int] = []
    return Cycle(watcher, cast(Executor, executor), after=told.append), told


async def test_a_successful_scan_hands_its_actionable_tasks_to_the_executor() -> None:
    executor = Recording(acted=2)
    cycle, told = cycle_of(Scripted(active=[running("t1"), running("t2")]), executor)
    report = await cycle()
    assert report.ok
    assert executor.asked == [["t1", "t2"]]
    assert told == [2]


async def test_a_failed_scan_acts_on_nothing_and_tells_zero_actions() -> None:
    executor = Recording(acted=5)
    adapter = Scripted(active=[running("t1")])
    cycle, told = cycle_of(adapter, executor)
    await cycle()
    adapter.error = PagingError("the listing never ended")
    report = await cycle()
    assert report.error == "PagingError"
    assert executor.asked == [["t1"]]  # the first, good, scan only
    assert told == [5, 0]


async def test_without_rules_the_executor_is_not_asked() -> None:
    executor = Recording(rules=[], acted=3)
    cycle, told = cycle_of(Scripted(active=[running("t1")]), executor)
    await cycle()
    assert executor.asked == []
    assert told == [0]


async def test_a_cycle_cut_mid_scan_is_a_failed_cycle_and_one_cut_after_it_is_not() -> None:
    adapter = Scripted(active=[running("t1")], hold=anyio.Event())
    executor = Recording()
    cycle, told = cycle_of(adapter, executor)
    async with anyio.create_task_group() as tg:
        tg.start_soon(cycle)
        await adapter.scanning.wait()
        tg.cancel_scope.cancel()  # what the loop's timeout does
    cycle.timed_out(60.0)
    assert cycle.watcher.last_report is not None
    assert cycle.watcher.last_report.error == "CycleTimeout"
    assert told == [0]
    cycle.timed_out(60.0)  # nothing was in flight any more: the last report stands
    assert told == [0]
    assert executor.asked == []
