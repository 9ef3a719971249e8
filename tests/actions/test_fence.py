"""The fence and "never twice": right before acting the task is described again and the rule
re-evaluated; the journal's last record decides whether an action may be sent again."""

from __future__ import annotations

import pytest

from taskwatch.errors import StoreError
from taskwatch.tencent.errors import RequestTimeout, TaskNotActiveError

from .bench import Build, old_queries, query

Q = query("q1")


async def test_a_task_that_ended_before_the_fence_is_already_done_and_nothing_is_sent(
    bench: Build,
) -> None:
    b = bench(old_queries())
    b.adapter.fresh["q1"] = query("q1", status="succeeded")
    assert await b.cycle(Q) == [("q1", "already_done", "task ended")]
    assert b.adapter.describes == ["q1"]
    assert b.adapter.acts == []
    (record,) = b.records()
    assert (record.mode, record.result) == ("enforce", "already_done")
    assert record.message == "re-described before acting: task ended"


async def test_a_task_the_api_no_longer_knows_is_already_done_at_the_fence(bench: Build) -> None:
    b = bench(old_queries())
    b.adapter.fresh["q1"] = None
    assert await b.cycle(Q) == [("q1", "already_done", "task ended")]
    assert b.adapter.acts == []


async def test_a_task_that_changed_so_the_rule_no_longer_matches_is_fenced(bench: Build) -> None:
    b = bench(old_queries(filters=[{"status": "running"}]))
    b.adapter.fresh["q1"] = query("q1", status="writing")
    assert await b.cycle(Q) == [("q1", "fenced", "no longer matches")]
    assert b.adapter.acts == []
    assert b.results() == [("enforce", "q1", "fenced")]


async def test_a_fence_that_cannot_describe_sends_nothing_and_decides_again_next_cycle(
    bench: Build,
) -> None:
    b = bench(old_queries())
    b.adapter.fresh["q1"] = RequestTimeout("describe timed out")
    assert await b.cycle(Q) == []
    assert b.adapter.acts == []
    assert b.records() == []
    del b.adapter.fresh["q1"]
    assert await b.cycle(Q) == [("q1", "done", "")]


async def test_leadership_lost_during_the_fence_sends_nothing(bench: Build) -> None:
    answers = iter([True, False])
    b = bench(old_queries(), may_act=lambda source: next(answers))
    assert await b.cycle(Q) == []
    assert b.adapter.describes == ["q1"]
    assert b.adapter.acts == []
    assert b.records() == []


async def test_a_follower_does_not_even_describe(bench: Build) -> None:
    b = bench(old_queries(), may_act=lambda source: False)
    assert await b.cycle(Q) == []
    assert b.adapter.describes == b.adapter.acts == []


async def test_a_done_record_blocks_a_second_call_while_the_listing_lags(bench: Build) -> None:
    b = bench(old_queries())
    assert await b.cycle(Q) == [("q1", "done", "")]
    b.clock.advance(60)
    assert await b.cycle(Q) == []
    assert b.adapter.acts == ["q1"]
    assert b.adapter.describes == ["q1"]
    (record,) = b.records()
    assert (record.result, record.request_id) == ("done", "req-1")


async def test_an_already_done_answer_is_never_followed_by_a_second_call(bench: Build) -> None:
    b = bench(old_queries())
    b.adapter.answers = [TaskNotActiveError("InvalidParameter.TaskAlreadyFinished", "over", "r1")]
    assert await b.cycle(Q) == [("q1", "already_done", "InvalidParameter.TaskAlreadyFinished")]
    assert await b.cycle(Q) == []
    assert b.adapter.acts == ["q1"]


async def test_a_journal_that_cannot_be_read_sends_nothing_and_refuses_the_rest_of_the_cycle(
    bench: Build,
) -> None:
    b = bench(old_queries())
    b.journal.close()
    reports = await b.cycle(Q, query("q2", hours=3))
    assert reports == [("q2", "failed", "StoreError"), ("q1", "failed", "StoreError")]
    assert b.adapter.describes == b.adapter.acts == []
    assert b.executor.guard.view()["writable"] is False
    with pytest.raises(StoreError):
        b.journal.recent(0.0)


async def test_a_done_outcome_the_journal_refused_still_blocks_a_second_call(
    bench: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = bench(old_queries())

    def refuse(intent_id: int, **outcome: object) -> bool:
        raise StoreError("disk full", path=":memory:")

    monkeypatch.setattr(b.journal, "outcome", refuse)
    assert await b.cycle(Q) == [("q1", "done", "")]
    b.clock.advance(60)
    assert await b.cycle(Q) == []  # the journal still shows only the intent
    assert b.adapter.acts == ["q1"]
    assert b.executor.guard.view()["unwritten_outcomes"] == 1
    monkeypatch.undo()
    b.clock.advance(60)
    assert await b.cycle(Q) == []
    assert b.results() == [("enforce", "q1", "done")]
