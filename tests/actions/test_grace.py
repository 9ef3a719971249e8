"""Grace and dry-run in the executor: a decision is acted on only once its task has matched for
the rule's grace without a break; a dry-run decision records ``would`` once per match streak and
sends nothing; only what the engine decides is acted on."""

from __future__ import annotations

from taskwatch.actions.executor import Executor
from taskwatch.models import SourceKey

from .bench import SOURCE, Bench, Build, old_queries, query

Q = query("q1")


async def test_a_task_is_acted_on_only_once_it_has_matched_for_its_grace(bench: Build) -> None:
    b = bench(old_queries(grace="5m"))
    assert await b.cycle(Q) == []
    b.clock.advance(299)
    assert await b.cycle(Q) == []
    assert b.adapter.describes == b.adapter.acts == []
    assert b.records() == []
    b.clock.advance(1)
    assert await b.cycle(Q) == [("q1", "done", "")]
    assert b.adapter.acts == ["q1"]


async def test_a_task_that_stops_matching_waits_its_whole_grace_again(bench: Build) -> None:
    b = bench(old_queries(grace="5m"))
    await b.cycle(Q)
    b.clock.advance(240)
    await b.cycle()  # not listed this cycle: the streak ends
    b.clock.advance(120)
    assert await b.cycle(Q) == []  # six minutes since it first matched, two since it matches again
    b.clock.advance(299)
    assert await b.cycle(Q) == []
    b.clock.advance(1)
    assert await b.cycle(Q) == [("q1", "done", "")]


async def test_a_streak_of_another_source_does_not_end_a_streak_of_this_one(
    bench: Build,
) -> None:
    b = bench(old_queries(grace="5m"))
    await b.cycle(Q)
    b.clock.advance(300)
    b.adapter.source = SourceKey("main", "dlc", "ap-shanghai")
    assert await b.cycle() == []  # that source lists nothing
    b.adapter.source = SOURCE
    assert await b.cycle(Q) == [("q1", "done", "")]


async def test_each_match_streak_is_counted_once_in_the_match_metric(bench: Build) -> None:
    b = bench(old_queries(grace="1h"))
    for _ in range(3):
        await b.cycle(Q)
        b.clock.advance(60)
    assert b.matched() == 1
    await b.cycle()
    await b.cycle(Q)
    assert b.matched() == 2


async def test_a_task_the_engine_does_not_decide_on_is_left_alone(bench: Build) -> None:
    b = bench(old_queries(exclude=[{"key": "DataEngineName", "op": "glob", "value": "prod-*"}]))
    prod = query("prod", fields={"DataEngineName": "prod-1"})
    ended = query("ended", status="succeeded")
    young = query("young", hours=0.5)
    assert await b.cycle(prod, ended, young, Q) == [("q1", "done", "")]
    assert b.matched() == 1
    assert b.adapter.describes == b.adapter.acts == ["q1"]


async def test_a_dry_run_records_would_once_per_match_streak_and_sends_nothing(
    bench: Build,
) -> None:
    b = bench(old_queries(enforce=False))
    assert await b.cycle(Q) == [("q1", "would", "")]
    b.clock.advance(60)
    assert await b.cycle(Q) == []
    assert b.results() == [("dry-run", "q1", "would")]
    assert b.adapter.describes == b.adapter.acts == []
    await b.cycle()  # the streak ends
    assert await b.cycle(Q) == [("q1", "would", "")]
    assert b.results() == [("dry-run", "q1", "would")] * 2


async def test_a_dry_run_rule_and_an_enforcing_rule_decide_apart_on_one_task(
    bench: Build,
) -> None:
    b = bench(old_queries("rehearsal", enforce=False), old_queries("real"))
    assert await b.cycle(Q) == [("q1", "would", ""), ("q1", "done", "")]
    assert b.results() == [("dry-run", "q1", "would"), ("enforce", "q1", "done")]


def restarted(b: Bench) -> None:
    """A new executor on the same journal: what a restart or a failover to another replica
    starts with (its grace memory empty)."""
    old = b.executor
    b.executor = Executor(
        rules=old.rules, journal=b.journal, metrics=old.metrics, clock=b.clock, sleep=old.sleep
    )


async def test_a_restart_resumes_each_grace_where_it_stood_instead_of_starting_over(
    bench: Build,
) -> None:
    b = bench(old_queries(grace="5m"))
    assert await b.cycle(Q) == []
    b.clock.advance(240)
    restarted(b)
    assert await b.cycle(Q) == []  # four minutes: not yet
    b.clock.advance(60)
    assert await b.cycle(Q) == [("q1", "done", "")]  # five minutes since it first matched
    assert b.matched() == 1  # the resumed streak is not a new match


async def test_a_streak_that_ended_starts_over_after_a_restart_too(bench: Build) -> None:
    b = bench(old_queries(grace="5m"))
    await b.cycle(Q)
    b.clock.advance(240)
    await b.cycle()  # not listed: the streak ends, in the journal as in memory
    assert b.journal.grace_streaks(str(SOURCE)) == {}
    b.clock.advance(120)
    await b.cycle(Q)
    began = b.clock.now().timestamp()
    assert b.journal.grace_streaks(str(SOURCE)) == {("old-queries", "q1"): began}
    restarted(b)
    b.clock.advance(299)
    assert await b.cycle(Q) == []
    b.clock.advance(1)
    assert await b.cycle(Q) == [("q1", "done", "")]
