"""Reactions between cycles (a deadline timer, a hint): the executor on a few tasks alone. Only
their grace streaks may end, and the caps of one polling interval hold across every reaction
in it."""

from __future__ import annotations

from .bench import Build, old_queries, query

A, B, C = query("a", hours=9), query("b", hours=8), query("c", hours=7)


async def test_a_reaction_does_not_end_the_grace_streaks_of_the_tasks_it_was_not_about(
    bench: Build,
) -> None:
    b = bench(old_queries(grace="5m"))
    assert await b.cycle(A, B) == []  # both streaks begin
    b.clock.advance(300)
    reports = await b.executor.run(b.adapter, [A], scope={"a"})
    assert [(r.task_id, r.result.value) for r in reports] == [("a", "done")]
    assert await b.cycle(B) == [("b", "done", "")]  # b's grace was not reset by a's reaction


async def test_a_task_a_reaction_finds_ended_ends_its_streak(bench: Build) -> None:
    b = bench(old_queries(grace="5m"))
    await b.cycle(A)
    b.clock.advance(200)
    assert await b.executor.run(b.adapter, [], scope={"a"}) == []  # "a" has ended
    b.clock.advance(100)
    assert await b.cycle(A) == []  # listed again: its grace starts over


async def test_the_per_cycle_cap_holds_across_the_reactions_of_one_interval(bench: Build) -> None:
    b = bench(old_queries(max_actions={"per_cycle": 2}))
    assert await b.cycle(A) == [("a", "done", "")]
    b.adapter.listed = {t.id: t for t in (B, C)}  # they started after the cycle's listing
    first = await b.executor.run(b.adapter, [B], scope={"b"})
    second = await b.executor.run(b.adapter, [C], scope={"c"})
    assert [(r.task_id, r.result.value) for r in first + second] == [
        ("b", "done"),
        ("c", "skipped_cap"),
    ]
    assert await b.cycle(C) == [("c", "done", "")]  # the next interval's budget
