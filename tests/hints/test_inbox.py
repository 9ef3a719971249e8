"""The inbox: admission (leading, duplicates, rate, bound), and handing hints out four at a time,
one task never twice at once, with the lag observed. Driven by a ManualClock and anyio events:
nothing sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import pytest
import structlog
from prometheus_client import CollectorRegistry

from taskwatch.clock import ManualClock
from taskwatch.hints import CONCURRENCY, Hint, HintHandler, Inbox
from taskwatch.metrics.registry import Metrics
from taskwatch.settings.events import EventSettings


def make(**settings: object) -> tuple[Inbox, Metrics, ManualClock]:
    clock = ManualClock()
    metrics = Metrics(CollectorRegistry(), clock=clock)
    inbox = Inbox(settings=EventSettings.model_validate(settings), metrics=metrics, clock=clock)
    return inbox, metrics, clock


def hint(task: str, *, account: str = "prod", product: str = "mps", at: float = 0.0) -> Hint:
    return Hint(account, product, task, "WorkflowTask", at)


@dataclass
class Gate:
    """A handler that holds every hint until released, recording what ran concurrently."""

    release: anyio.Event = field(default_factory=anyio.Event)
    started: list[str] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    most: int = 0
    twice: list[str] = field(default_factory=list)
    result: str = "described"

    async def __call__(self, h: Hint) -> str:
        if h.task_id in self.running:
            self.twice.append(h.task_id)
        self.running.add(h.task_id)
        self.started.append(h.task_id)
        self.most = max(self.most, len(self.running))
        try:
            await self.release.wait()
        finally:
            self.running.discard(h.task_id)
        return self.result


@asynccontextmanager
async def running(inbox: Inbox, handler: HintHandler) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tg:
        tg.start_soon(inbox.run, handler)
        await anyio.wait_all_tasks_blocked()
        yield
        tg.cancel_scope.cancel()


def lag_count(metrics: Metrics, source: str) -> float | None:
    return metrics.registry.get_sample_value(
        "taskwatch_event_describe_lag_seconds_count", {"source": source}
    )


def test_a_hint_is_accepted_and_queued() -> None:
    inbox, _, _ = make()
    assert inbox.put(hint("t1")) == "accepted"
    assert inbox.queued == 1


def test_a_hint_for_a_task_already_queued_is_deduplicated() -> None:
    inbox, _, _ = make()
    assert inbox.put(hint("t1")) == "accepted"
    assert inbox.put(hint("t1")) == "deduplicated"
    assert inbox.put(hint("t1", product="live")) == "accepted"  # another product's task
    assert inbox.put(hint("t1", account="other")) == "accepted"
    assert inbox.queued == 3


def test_beyond_per_second_an_account_and_products_hints_are_rate_limited() -> None:
    inbox, _, clock = make(per_second=2, queue=100)
    assert [inbox.put(hint(f"t{i}")) for i in range(3)] == ["accepted"] * 2 + ["rate_limited"]
    assert inbox.put(hint("x", product="live")) == "accepted"  # its own bucket
    assert inbox.put(hint("x", account="other")) == "accepted"
    clock.advance(0.5)
    assert inbox.put(hint("t3")) == "accepted"  # one token back after half a second
    assert inbox.put(hint("t4")) == "rate_limited"


def test_a_rate_below_one_a_second_still_admits_one_hint() -> None:
    inbox, _, clock = make(per_second=0.1)
    assert inbox.put(hint("t1")) == "accepted"
    assert inbox.put(hint("t2")) == "rate_limited"
    clock.advance(10)
    assert inbox.put(hint("t2")) == "accepted"


def test_a_duplicate_costs_no_token() -> None:
    inbox, _, _ = make(per_second=1)
    assert inbox.put(hint("t1")) == "accepted"
    assert inbox.put(hint("t1")) == "deduplicated"  # not rate_limited


def test_beyond_the_queue_bound_hints_are_refused_as_queue_full() -> None:
    inbox, _, _ = make(queue=2, per_second=100)
    assert [inbox.put(hint(f"t{i}")) for i in range(3)] == ["accepted"] * 2 + ["queue_full"]
    assert inbox.queued == 2


def test_a_follower_refuses_every_hint_as_not_leading() -> None:
    inbox, _, _ = make()
    seen: list[Hint] = []

    def accepting(h: Hint) -> bool:
        seen.append(h)
        return False

    inbox.accepting = accepting
    assert inbox.put(hint("t1")) == "not_leading"
    assert inbox.queued == 0
    assert seen == [hint("t1")]


def test_a_reload_applies_the_new_rate_and_bound() -> None:
    inbox, _, _ = make(per_second=1, queue=1)
    assert inbox.put(hint("t1")) == "accepted"
    inbox.reconfigure(EventSettings(per_second=5, queue=3))
    assert [inbox.put(hint(f"u{i}")) for i in range(3)] == ["accepted"] * 2 + ["queue_full"]


async def test_queued_hints_are_handled_four_at_a_time_and_each_task_once() -> None:
    inbox, metrics, _ = make(per_second=100)
    gate = Gate()
    for i in range(6):
        inbox.put(hint(f"t{i}"))
    async with running(inbox, gate):
        assert gate.started == ["t0", "t1", "t2", "t3"]
        assert (inbox.in_flight, inbox.queued) == (CONCURRENCY, 2)
        gate.release.set()
        await anyio.wait_all_tasks_blocked()
        assert sorted(gate.started) == [f"t{i}" for i in range(6)]
        assert (inbox.in_flight, inbox.queued) == (0, 0)
    assert gate.most == CONCURRENCY
    assert gate.twice == []
    assert lag_count(metrics, "mps") == 6


async def test_hints_for_a_task_in_flight_bring_exactly_one_more_describe_after_it() -> None:
    inbox, _, _ = make(per_second=100)
    gate = Gate()
    inbox.put(hint("t1"))
    async with running(inbox, gate):
        assert gate.started == ["t1"]
        assert inbox.put(hint("t1")) == "deduplicated"  # it changed while being described
        assert inbox.put(hint("t1")) == "deduplicated"
        gate.release.set()
        await anyio.wait_all_tasks_blocked()
        assert gate.started == ["t1", "t1"]  # once more, not twice more
        assert (inbox.in_flight, inbox.queued) == (0, 0)
        assert inbox.put(hint("t1")) == "accepted"
        await anyio.wait_all_tasks_blocked()
        assert gate.started == ["t1", "t1", "t1"]
    assert gate.twice == []


async def test_a_hint_put_while_the_inbox_waits_is_handled_at_once() -> None:
    inbox, _, _ = make()
    handled: list[str] = []

    async def handler(h: Hint) -> str:
        handled.append(h.task_id)
        return "described"

    async with running(inbox, handler):
        inbox.put(hint("late"))
        await anyio.wait_all_tasks_blocked()
        assert handled == ["late"]


async def test_the_lag_from_receipt_to_the_handlers_return_is_observed_per_source() -> None:
    inbox, metrics, clock = make()

    async def slow(h: Hint) -> str:
        clock.advance(2.5)  # the describe took 2.5 s of loop time
        return "described"

    clock.advance(10)
    inbox.put(hint("t1", product="live", at=clock.monotonic() - 0.5))
    async with running(inbox, slow):
        pass
    labels = {"source": "live"}
    assert metrics.registry.get_sample_value(
        "taskwatch_event_describe_lag_seconds_sum", labels
    ) == pytest.approx(3.0)
    assert lag_count(metrics, "mps") is None


async def test_a_handler_that_raises_counts_as_failed_and_the_inbox_goes_on() -> None:
    inbox, metrics, _ = make()
    calls: list[str] = []

    async def flaky(h: Hint) -> str:
        calls.append(h.task_id)
        if h.task_id == "bad":
            raise RuntimeError("describe blew up")
        return "described"

    inbox.put(hint("bad"))
    inbox.put(hint("good"))
    with structlog.testing.capture_logs() as logs:
        async with running(inbox, flaky):
            pass
    assert calls == ["bad", "good"]
    failed = [e for e in logs if e["event"] == "hint.failed"]
    assert failed == [
        {
            "event": "hint.failed",
            "log_level": "warning",
            "account": "prod",
            "product": "mps",
            "task": "bad",
            "error": "RuntimeError",
        }
    ]
    assert lag_count(metrics, "mps") == 2
    assert inbox.put(hint("bad")) == "accepted"  # nothing left held


async def test_hints_in_flight_when_the_inbox_stops_are_released() -> None:
    inbox, _, _ = make()
    gate = Gate()
    inbox.put(hint("t1"))
    async with running(inbox, gate):
        assert inbox.in_flight == 1
    assert inbox.in_flight == 0
    assert inbox.put(hint("t1")) == "accepted"
