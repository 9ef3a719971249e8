"""A bench for the executor: a scripted adapter, a real in-memory journal, a manual clock.

The adapter is what the executor sees of a product: ``describe`` answers with the last listing
(or what a test put in :attr:`ScriptedAdapter.fresh`: a changed task, ``None`` for one the API no
longer knows, an exception), ``act`` answers with the next scripted answer (a response, or an
error to raise) and records every call. The executor's waits between rounds are recorded, not
slept. Everything else is real: rules compiled from settings, the SQLite journal (in memory, or
any journal a test opens on the bench's clock: ``bench(..., journal=lambda clock: ...)``), the
metrics registry, the grace memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from taskwatch.actions.executor import ActionReport, Executor
from taskwatch.actions.journal import Journal as AnyJournal
from taskwatch.actions.sqlite import MEMORY
from taskwatch.actions.sqlite import SqliteJournal as Journal
from taskwatch.clock import ManualClock
from taskwatch.metrics.registry import Metrics
from taskwatch.models import AuditRecord, SourceKey, Task
from taskwatch.products.base import CallCounter, ScanResult
from tests.policy.kit import HOUR, NOW, policy, rules, task

SOURCE = SourceKey("main", "dlc", "ap-guangzhou")
Answer = Mapping[str, Any] | Exception


def query(id: str, *, hours: float = 2.0, status: str = "running", **changes: Any) -> Task:
    """A DLC task of :data:`SOURCE` created ``hours`` before :data:`NOW`."""
    return task("dlc", id=id, status=status, age=hours * HOUR, **changes)


def old_queries(
    name: str = "old-queries", filters: list[Any] | None = None, **keys: Any
) -> dict[str, Any]:
    """A DLC policy (by default on tasks older than an hour), enforced unless
    ``enforce=False``."""
    keys.setdefault("enforce", True)
    return policy(filters or [{"age": "1h"}], "dlc", name=name, **keys)


@dataclass
class ScriptedAdapter:
    """See the module docstring."""

    source: SourceKey = SOURCE
    window: float = 7 * 24 * HOUR
    listed: dict[str, Task] = field(default_factory=dict)
    fresh: dict[str, Task | Exception | None] = field(default_factory=dict)
    """What ``describe`` answers instead of the listing, by task id."""
    answers: list[Answer] = field(default_factory=list)
    """What the next calls of ``act`` answer, in order; then ``{"RequestId": "req-<n>"}``."""
    landed: Callable[[str], None] | None = None
    """Run after each ``act`` (whatever it answered): the world changing under the call."""
    described: Callable[[str], None] | None = None
    """Run at each ``describe`` (the fence), before it answers: another writer acting meanwhile."""
    describes: list[str] = field(default_factory=list)
    acts: list[str] = field(default_factory=list)

    async def scan(self, *, sweep: bool, calls: CallCounter) -> ScanResult:
        raise AssertionError("the executor never scans")

    async def refresh(self, tasks: Sequence[Task], calls: CallCounter) -> list[Task]:
        raise AssertionError("the executor never refreshes")

    async def describe(self, task_id: str, calls: CallCounter) -> Task | None:
        calls.add("DescribeTask")
        self.describes.append(task_id)
        if self.described is not None:
            self.described(task_id)
        answer = self.fresh[task_id] if task_id in self.fresh else self.listed.get(task_id)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def action_params(self, task_id: str, *, operator: str) -> dict[str, Any]:
        return {"TaskId": task_id}

    async def act(self, task_id: str, *, operator: str, calls: CallCounter) -> dict[str, Any]:
        calls.add("CancelTask")
        self.acts.append(task_id)
        answer = self.answers.pop(0) if self.answers else {"RequestId": f"req-{len(self.acts)}"}
        if self.landed is not None:
            self.landed(task_id)
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)


@dataclass
class Bench:
    """One executor on one source, and what it did."""

    clock: ManualClock
    registry: CollectorRegistry
    journal: AnyJournal
    adapter: ScriptedAdapter
    executor: Executor
    waits: list[float]

    async def cycle(self, *tasks: Task) -> list[tuple[str, str, str]]:
        """One cycle over ``tasks`` as listed: (task id, result, reason) of each report."""
        self.adapter.listed = {t.id: t for t in tasks}
        reports: list[ActionReport] = await self.executor.run(self.adapter, tasks)
        return [(r.task_id, r.result.value, r.reason) for r in reports]

    def records(self) -> list[AuditRecord]:
        """Every journal record, oldest first."""
        return self.journal.recent(0.0)

    def results(self) -> list[tuple[str, str, str | None]]:
        """(mode, task id, result) of every journal record, oldest first."""
        return [(r.mode, r.task_id, r.result) for r in self.records()]

    def matched(self, policy: str = "old-queries") -> float:
        value = self.registry.get_sample_value("taskwatch_policy_matches_total", {"policy": policy})
        return value or 0.0


Build = Callable[..., Bench]


@pytest.fixture
def bench() -> Iterator[Build]:
    """``bench(*policies, journal=None, **executor_options)``: a fresh bench; its journal (by
    default SQLite in memory; ``journal(clock)`` opens another) is closed after."""
    journals: list[AnyJournal] = []

    def build(
        *policies: dict[str, Any],
        journal: Callable[[ManualClock], AnyJournal] | None = None,
        **options: Any,
    ) -> Bench:
        clock = ManualClock(wall=datetime.fromtimestamp(NOW, UTC))
        registry = CollectorRegistry()
        journal_ = Journal(MEMORY, clock=clock) if journal is None else journal(clock)
        journal_.open()
        journals.append(journal_)
        waits: list[float] = []

        async def wait(seconds: float) -> None:
            waits.append(seconds)

        executor = Executor(
            rules=rules(*policies),
            journal=journal_,
            metrics=Metrics(registry, clock=clock),
            clock=clock,
            sleep=wait,
            **options,
        )
        return Bench(clock, registry, journal_, ScriptedAdapter(), executor, waits)

    yield build
    for journal in journals:
        journal.close()
