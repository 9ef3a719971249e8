"""What the executor does when the journal refuses an intent: another writer paused the shared
switch, reached the shared ``per_hour`` cap or holds a live intent for the task, or began a newer
leadership term. Nothing is sent in any case, and the decision is recorded for what it was.

Every test runs on SQLite (a file, with a second non-exclusive writer as ``taskwatch pause``
opens it) and on PostgreSQL (two journal objects on one fresh database: two replicas). The other
writer acts at the fence (the bench's ``described`` hook): after the executor read the switch,
the count and the last action at the start of the cycle, before its intent, which is exactly the
race only the journal's own transaction can close.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from taskwatch.actions.journal import Journal
from taskwatch.actions.opening import journal_for
from taskwatch.actions.sqlite import SqliteJournal
from taskwatch.clock import Clock, ManualClock
from taskwatch.metrics.registry import Metrics
from taskwatch.models import Outcome
from taskwatch.settings import State, parse_settings
from taskwatch.supervisor import Supervisor
from taskwatch.tencent.errors import RequestTimeout
from taskwatch.tenure import Tenure
from tests.policy.kit import HOUR
from tests.postgres import postgres_fixture, postgres_url_fixture

from .bench import SOURCE, Bench, Build, old_queries, query

__all__ = ["postgres_fixture", "postgres_url_fixture"]

Q = query("q1")
Opener = Callable[..., Journal]


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> State:
    """One journal database per test: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return State(path=tmp_path / "state" / "journal.db")
    return State(url=str(request.getfixturevalue("postgres_url")))


@pytest.fixture
def opener(state: State) -> Iterator[Opener]:
    """``opener(clock, other=False)``: a journal on the test's database, closed after the test.
    ``other``: a second writer beside the executor's (on SQLite, without the process lock, as
    ``taskwatch pause`` writes beside a running daemon)."""
    opened: list[Journal] = []

    def make(clock: Clock, *, other: bool = False) -> Journal:
        if state.url is None and other:
            journal: Journal = SqliteJournal(state.path, clock=clock, exclusive=False)
        else:
            journal = journal_for(state, clock=clock)
        journal.open()
        opened.append(journal)
        return journal

    yield make
    for journal in opened:
        journal.close()


def on_shared(bench: Build, opener: Opener, *policies: dict[str, Any], **options: Any) -> Bench:
    return bench(*policies, journal=opener, **options)


def abort_by_another(journal: Journal, task_id: str, **changes: Any) -> int:
    """Another writer's intent for ``task_id`` under the bench's policy and source."""
    fields: dict[str, Any] = {
        "policy": "old-queries",
        "product": SOURCE.product,
        "account": SOURCE.account,
        "region": SOURCE.region,
        "task_id": task_id,
        "action": "cancel",
        "params": {"TaskId": task_id},
    }
    return journal.intent(**{**fields, **changes})


def refused_records(b: Bench) -> list[tuple[str, str | None, str | None]]:
    """(task, result, message) of the executor's records saying the journal refused."""
    return [
        (r.task_id, r.result, r.message)
        for r in b.records()
        if (r.message or "").startswith("the journal refused the intent")
    ]


def paused_gauge(b: Bench) -> float | None:
    return b.registry.get_sample_value("taskwatch_actions_paused")


async def test_a_pause_by_another_writer_after_the_cycle_began_is_a_cap_and_nothing_is_sent(
    bench: Build, opener: Opener
) -> None:
    b = on_shared(bench, opener, old_queries())
    other = opener(b.clock, other=True)
    b.adapter.described = lambda _: other.set_switch(paused=True, actor="ops", reason="incident")
    [(task, result, reason)] = await b.cycle(Q)
    assert (task, result) == ("q1", "skipped_cap")
    assert "actions are paused (by ops: incident)" in reason
    assert b.adapter.acts == []
    [(_, recorded, message)] = refused_records(b)
    assert recorded == Outcome.SKIPPED_CAP.value
    assert "by ops: incident" in (message or "")
    assert b.journal.unresolved() == []  # no intent was written


async def test_a_per_hour_cap_reached_by_another_writer_meanwhile_is_a_cap_and_nothing_is_sent(
    bench: Build, opener: Opener
) -> None:
    b = on_shared(bench, opener, old_queries(max_actions={"per_hour": 2}))
    other = opener(b.clock, other=True)

    def two_elsewhere(_: str) -> None:
        for task_id in ("elsewhere-1", "elsewhere-2"):
            other.outcome(abort_by_another(other, task_id), result=Outcome.DONE)

    b.adapter.described = two_elsewhere
    [(task, result, reason)] = await b.cycle(Q)
    assert (task, result) == ("q1", "skipped_cap")
    assert "per_hour 2 of old-queries reached" in reason
    assert b.adapter.acts == []
    assert [r[:2] for r in refused_records(b)] == [("q1", "skipped_cap")]
    assert b.journal.count_since("old-queries", 0.0, include_dry_run=False) == 2


async def test_another_writer_s_actions_this_hour_count_toward_the_cap_before_any_fence(
    bench: Build, opener: Opener
) -> None:
    b = on_shared(bench, opener, old_queries(max_actions={"per_hour": 2}))
    other = opener(b.clock, other=True)
    for task_id in ("elsewhere-1", "elsewhere-2"):
        other.outcome(abort_by_another(other, task_id), result=Outcome.DONE)
    assert await b.cycle(Q) == [("q1", "skipped_cap", "per_hour 2")]
    assert b.adapter.describes == b.adapter.acts == []
    b.clock.advance(HOUR + 1)  # the other writer's actions leave the sliding hour
    assert await b.cycle(Q) == [("q1", "done", "")]


@pytest.mark.parametrize("outcome", [None, Outcome.DONE])
async def test_another_writer_s_live_intent_for_the_task_is_a_fence_and_nothing_is_sent(
    bench: Build, opener: Opener, outcome: Outcome | None
) -> None:
    b = on_shared(bench, opener, old_queries())
    other = opener(b.clock, other=True)

    def races(task_id: str) -> None:
        intent = abort_by_another(other, task_id)
        if outcome is not None:
            other.outcome(intent, result=outcome)

    b.adapter.described = races
    [(task, result, reason)] = await b.cycle(Q)
    assert (task, result) == ("q1", "fenced")
    expected = "is still open" if outcome is None else "already did the cancel of q1"
    assert expected in reason
    assert b.adapter.acts == []
    assert [r[:2] for r in refused_records(b)] == [("q1", "fenced")]
    if outcome is None and not b.journal.shared:
        return  # one SQLite writer takes an open intent for a crash's leftover: the fence decides
    b.adapter.described = None
    b.clock.advance(60)
    await b.cycle(Q)  # while the listing lags, nothing is sent
    assert b.adapter.acts == []


async def test_a_live_intent_younger_than_in_flight_in_a_shared_journal_is_not_superseded(
    bench: Build, postgres_url: str
) -> None:
    state = State(url=postgres_url)
    b = bench(old_queries(), journal=lambda clock: journal_for(state, clock=clock))
    with journal_for(state, clock=b.clock) as other:
        abort_by_another(other, "q1")  # in flight at the other replica, no outcome yet
        [(task, result, reason)] = await b.cycle(Q)
    assert (task, result) == ("q1", "fenced")
    assert "may be in flight" in reason
    assert b.adapter.acts == []


async def test_another_replica_s_call_that_ended_the_task_keeps_its_done_while_in_flight(
    bench: Build, postgres_url: str
) -> None:
    """The split-brain race: the other replica's abort has landed (the task ended) but its answer
    is not back. The fence must not settle that intent as ``already_done``: the ``done`` its
    writer records a moment later is the truth."""
    state = State(url=postgres_url)
    b = bench(old_queries(), journal=lambda clock: journal_for(state, clock=clock))
    with journal_for(state, clock=b.clock) as other:
        intent = abort_by_another(other, "q1")  # its call is in flight and has already landed
        b.adapter.fresh["q1"] = None  # ended, though this replica's listing still shows it
        [(task, result, reason)] = await b.cycle(Q)
        assert (task, result) == ("q1", "fenced")
        assert "may be in flight" in reason
        assert b.adapter.describes == b.adapter.acts == []  # another replica's call: not ours
        assert other.outcome(intent, result=Outcome.DONE)  # its answer arrives: it is taken
        record = other.get(intent)
    assert record is not None
    assert record.result == "done"


async def test_an_intent_left_by_a_writer_that_died_is_superseded_once_past_in_flight(
    bench: Build, postgres_url: str
) -> None:
    state = State(url=postgres_url)
    b = bench(old_queries(), journal=lambda clock: journal_for(state, clock=clock))
    with journal_for(state, clock=b.clock) as other:
        abort_by_another(other, "q1")  # then the other replica dies before its call
    assert [r for _, r, _ in await b.cycle(Q)] == ["fenced"]  # it may still be in flight
    b.clock.advance(b.journal.in_flight + 1)  # no longer: the fence decides
    assert await b.cycle(Q) == [("q1", "done", "")]
    assert b.adapter.acts == ["q1"]


async def test_an_unknown_outcome_fenced_once_is_still_in_doubt_when_the_task_matches_again(
    bench: Build, opener: Opener
) -> None:
    b = on_shared(bench, opener, old_queries(filters=[{"status": "running"}]), attempts=1)
    b.adapter.answers = [RequestTimeout("no answer within 30s")]
    assert await b.cycle(Q) == [("q1", "unknown", "RequestTimeout")]
    b.adapter.fresh["q1"] = query("q1", status="writing")  # for a while it no longer matches
    assert await b.cycle(Q) == [("q1", "fenced", "no longer matches")]
    del b.adapter.fresh["q1"]  # it matches again, still running: the unknown call did nothing
    assert await b.cycle(Q) == [("q1", "done", "")]
    assert b.adapter.acts == ["q1", "q1"]


async def test_an_intent_of_a_term_that_is_over_decides_nothing_and_sends_nothing(
    bench: Build, opener: Opener
) -> None:
    tenures: list[Tenure] = []
    b = on_shared(bench, opener, old_queries(), term=lambda source: tenures[0].current())
    tenure = Tenure(b.journal, "replica-a", fenced=True, leading=lambda: True)
    tenures.append(tenure)
    assert tenure.current() == 1
    other = opener(b.clock, other=True)
    assert other.begin_term("replica-b") == 2  # a successor began while replica-a stalled
    assert await b.cycle(Q) == []
    assert b.adapter.describes == ["q1"]
    assert b.adapter.acts == []
    assert b.records() == []
    tenure.reset()  # replica-a leads again: a new term, and the task is decided again
    assert await b.cycle(Q) == [("q1", "done", "")]
    assert b.journal.term() == (3, "replica-a")
    assert [r.task_id for r in b.records()] == ["q1"]


async def test_held_and_the_paused_gauge_follow_the_journal_switch_at_the_next_cycle(
    bench: Build, opener: Opener
) -> None:
    b = on_shared(bench, opener, old_queries())
    other = opener(b.clock, other=True)
    other.set_switch(paused=True, actor="ops", reason="incident")
    assert not b.executor.held  # not read yet: the next cycle reads it
    assert await b.cycle(Q) == [("q1", "skipped_cap", "paused")]
    assert (b.executor.held, b.executor.paused) == (True, False)  # the shared switch holds
    assert paused_gauge(b) == 1.0
    assert b.executor.switch.actor == "ops"
    other.set_switch(paused=False, actor="ops", reason="over")
    b.clock.advance(60)
    assert await b.cycle(Q) == [("q1", "done", "")]
    assert not b.executor.held
    assert paused_gauge(b) == 0.0
    assert b.adapter.acts == ["q1"]


def supervisor(state: State, clock: ManualClock, registry: CollectorRegistry) -> Supervisor:
    raw: dict[str, Any] = {
        "accounts": [
            {
                "name": "main",
                "credentials": {"from": "static", "secret_id": "AKIDtest", "secret_key": "x"},
                "endpoint": "http://127.0.0.1:9",  # never called
                "products": ["dlc"],
            }
        ],
        "state": {"path": str(state.path)} if state.url is None else {"url": state.url},
    }
    settings = parse_settings(raw, source="t.yaml", environ={})
    return Supervisor(
        settings, clock=clock, metrics=Metrics(registry, clock=clock), rng=random.Random(1)
    )


def test_the_supervisor_s_pause_and_resume_keep_who_and_why_in_the_journal_across_reopening(
    state: State,
) -> None:
    clock = ManualClock()
    first_registry = CollectorRegistry()
    first = supervisor(state, clock, first_registry)
    view = first.pause(actor="alice", reason="incident 42")
    assert (view["actions_paused"], view["by"], view["reason"]) == (True, "alice", "incident 42")
    assert first_registry.get_sample_value("taskwatch_actions_paused") == 1.0
    assert not first.journal.is_open  # opened for the flip only, and closed again

    clock.advance(5)
    second_registry = CollectorRegistry()
    second = supervisor(state, clock, second_registry)  # a restart, or another replica
    with second.journal:
        switch = second.journal.switch()
    assert (switch.paused, switch.actor, switch.reason) == (True, "alice", "incident 42")
    resumed = second.resume(actor="bob", reason="fixed")
    assert (resumed["actions_paused"], resumed["by"]) == (False, "bob")
    assert second_registry.get_sample_value("taskwatch_actions_paused") == 0.0

    third = supervisor(state, clock, CollectorRegistry())
    with third.journal:
        history = third.journal.switch_history()
    assert [(s.paused, s.actor, s.reason) for s in history] == [
        (False, "bob", "fixed"),
        (True, "alice", "incident 42"),
    ]
    assert history[0].time == history[1].time + 5


async def test_an_intent_a_dead_writer_left_is_settled_once_past_in_flight_when_its_task_ended(
    bench: Build, postgres_url: str
) -> None:
    state = State(url=postgres_url)
    b = bench(old_queries(), journal=lambda clock: journal_for(state, clock=clock))
    with journal_for(state, clock=b.clock) as other:
        orphan = abort_by_another(other, "q1")  # then the other replica dies mid-call
    b.adapter.fresh["q1"] = None  # the call landed: the task is gone from the listing
    assert await b.cycle() == []
    assert b.adapter.describes == []  # it may still be in flight at its writer: left alone
    b.clock.advance(b.journal.in_flight + 1)
    assert await b.cycle() == []
    assert b.adapter.describes == ["q1"]
    record = b.journal.get(orphan)
    assert record is not None
    assert (record.result, record.message) == (
        "already_done",
        "re-described after an intent without outcome: task ended",
    )
    assert b.adapter.acts == []


async def test_a_restarted_executor_acts_at_once_on_a_streak_the_journal_kept(
    bench: Build, opener: Opener, state: State
) -> None:
    """Grace 0: due at the first cycle after a restart or a failover, as before it. The streak's
    start comes back from the journal as it was written (a start read back later than it was
    would hold the task back; PostgreSQL's ``real`` is 4 bytes: ±64 s at today's epoch)."""
    first = on_shared(bench, opener, old_queries())
    first.clock.advance(70)  # an epoch second that 4-byte floats cannot hold
    first.executor.pause()
    assert await first.cycle(Q) == [("q1", "skipped_cap", "paused")]  # the streak began
    first.journal.close()  # the process ends
    second = on_shared(bench, opener, old_queries())  # a restart, or another replica
    second.clock.advance(71)
    assert await second.cycle(Q) == [("q1", "done", "")]
