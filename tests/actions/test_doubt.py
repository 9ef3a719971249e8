"""Unknown outcomes: a call that may have worked (a timeout, a crash between intent and outcome)
is never sent again blindly. Its task is re-described: ended means the call worked
(``already_done``), still running and matching means it is acted on again and the doubtful record
is closed as superseded."""

from __future__ import annotations

from taskwatch.tencent.errors import RequestTimeout

from .bench import SOURCE, Build, old_queries, query

Q = query("q1")
TIMEOUT = RequestTimeout("no answer within 30s")


async def test_an_unknown_outcome_is_tried_again_after_retry_after_once_the_fence_says_it_runs(
    bench: Build,
) -> None:
    b = bench(old_queries(), retry_after=7.0)
    b.adapter.answers = [TIMEOUT]
    assert await b.cycle(Q) == [("q1", "unknown", "RequestTimeout"), ("q1", "done", "")]
    assert b.waits == [7.0]
    assert b.adapter.describes == b.adapter.acts == ["q1", "q1"]
    first, second = b.records()
    assert (first.result, second.result) == ("failed", "done")
    assert first.message == f"superseded by intent {second.id}: task was still running"


async def test_an_unknown_outcome_whose_call_landed_is_settled_as_already_done(
    bench: Build,
) -> None:
    b = bench(old_queries())
    b.adapter.answers = [TIMEOUT]
    b.adapter.landed = lambda task_id: b.adapter.fresh.update({task_id: None})
    assert await b.cycle(Q) == [
        ("q1", "unknown", "RequestTimeout"),
        ("q1", "already_done", "task ended"),
    ]
    assert b.adapter.acts == ["q1"]
    (record,) = b.records()
    assert record.result == "already_done"
    assert record.message == "re-described after an unknown outcome: task ended"


async def test_an_unknown_outcome_of_a_task_that_left_the_listing_is_settled_next_cycle(
    bench: Build,
) -> None:
    b = bench(old_queries(), attempts=1)
    b.adapter.answers = [TIMEOUT]
    assert await b.cycle(Q) == [("q1", "unknown", "RequestTimeout")]
    assert b.waits == []
    b.adapter.fresh["q1"] = query("q1", status="cancelled")
    assert await b.cycle() == []
    (record,) = b.records()
    assert record.result == "already_done"
    assert b.adapter.describes == ["q1", "q1"]


async def test_an_unknown_outcome_of_an_unlisted_task_still_running_stays_in_doubt(
    bench: Build,
) -> None:
    b = bench(old_queries(), attempts=1)
    b.adapter.answers = [TIMEOUT]
    await b.cycle(Q)
    b.adapter.fresh["q1"] = Q  # not listed (a lagging listing), yet still running
    assert await b.cycle() == []
    (record,) = b.records()
    assert record.result == "unknown"
    assert b.adapter.describes == ["q1", "q1"]
    assert b.adapter.acts == ["q1"]


async def test_an_intent_a_crash_left_is_reconciled_and_the_fence_decides(bench: Build) -> None:
    b = bench(old_queries())
    b.journal.intent(
        policy="old-queries", product="dlc", account=SOURCE.account, region=SOURCE.region,
        task_id="q1", action="cancel", params={"TaskId": "q1"},
    )  # fmt: skip
    assert b.executor.reconcile() == 1
    assert b.results() == [("enforce", "q1", "unknown")]
    assert await b.cycle(Q) == [("q1", "done", "")]
    assert [r.result for r in b.records()] == ["failed", "done"]
    assert b.adapter.acts == ["q1"]


async def test_an_intent_a_crash_left_on_a_task_that_ended_sends_nothing(bench: Build) -> None:
    b = bench(old_queries())
    b.journal.intent(
        policy="old-queries", product="dlc", account=SOURCE.account, region=SOURCE.region,
        task_id="q1", action="cancel", params={"TaskId": "q1"},
    )  # fmt: skip
    b.executor.reconcile()
    b.adapter.fresh["q1"] = query("q1", status="succeeded")
    assert await b.cycle(Q) == [("q1", "already_done", "task ended")]
    assert b.adapter.acts == []
    assert b.results() == [("enforce", "q1", "already_done")]
