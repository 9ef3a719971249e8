"""Rounds within a cycle: a call the API refused for now is tried again after a doubling backoff,
up to ``attempts`` calls, each round after re-describing; a permanent error waits for the next
cycle; the kill switch stops a later round."""

from __future__ import annotations

from taskwatch.tencent.errors import ApiError, ConnectError, ServerError, ThrottledError

from .bench import Build, old_queries, query

Q = query("q1")


def throttled(n: int) -> ThrottledError:
    return ThrottledError("RequestLimitExceeded", "slow down", f"r{n}")


async def test_a_throttled_call_is_tried_again_after_a_doubling_backoff_up_to_attempts(
    bench: Build,
) -> None:
    b = bench(old_queries(), attempts=3)
    b.adapter.answers = [throttled(1), throttled(2), throttled(3), throttled(4)]
    reports = await b.cycle(Q)
    assert reports == [("q1", "failed", "RequestLimitExceeded")] * 3
    assert b.waits == [0.5, 1.0]
    assert b.adapter.describes == b.adapter.acts == ["q1"] * 3
    assert [r.result for r in b.records()] == ["failed"] * 3


async def test_an_internal_error_is_done_in_a_later_round(bench: Build) -> None:
    b = bench(old_queries())
    b.adapter.answers = [ServerError("InternalError", "oops", "r1")]
    assert await b.cycle(Q) == [("q1", "failed", "InternalError"), ("q1", "done", "")]
    assert b.waits == [0.5]


async def test_a_call_that_never_reached_the_server_failed_and_is_tried_again(
    bench: Build,
) -> None:
    b = bench(old_queries())
    b.adapter.answers = [ConnectError("connection refused")]
    assert await b.cycle(Q) == [("q1", "failed", "ConnectError"), ("q1", "done", "")]
    assert b.waits == [0.5]  # nothing in doubt: a backoff, not retry_after


async def test_a_permanent_error_is_not_tried_again_within_the_cycle(bench: Build) -> None:
    b = bench(old_queries())
    b.adapter.answers = [ApiError("UnsupportedOperation", "no", "r1")]
    assert await b.cycle(Q) == [("q1", "failed", "UnsupportedOperation")]
    assert b.waits == []
    assert b.adapter.acts == ["q1"]
    b.clock.advance(60)
    assert await b.cycle(Q) == [("q1", "done", "")]  # a failed call is history, not doubt


async def test_the_kill_switch_stops_a_later_round(bench: Build) -> None:
    b = bench(old_queries())
    b.adapter.answers = [throttled(1)]

    async def pause_while_waiting(seconds: float) -> None:
        b.waits.append(seconds)
        b.executor.pause()

    b.executor.sleep = pause_while_waiting
    assert await b.cycle(Q) == [
        ("q1", "failed", "RequestLimitExceeded"),
        ("q1", "skipped_cap", "paused"),
    ]
    assert b.adapter.acts == ["q1"]


async def test_one_attempt_means_no_round_after_the_first(bench: Build) -> None:
    b = bench(old_queries(), attempts=1)
    b.adapter.answers = [throttled(1)]
    assert await b.cycle(Q) == [("q1", "failed", "RequestLimitExceeded")]
    assert b.waits == []
