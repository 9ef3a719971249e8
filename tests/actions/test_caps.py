"""The executor's caps: the kill switch, ``actions.max_per_cycle``, a rule's ``per_cycle``,
``percent`` and ``per_hour``; oldest offenders first; caps hold in dry-run; caps count tasks, not
attempts."""

from __future__ import annotations

from taskwatch.tencent.errors import ThrottledError

from .bench import Build, old_queries, query

THREE = (query("young", hours=2), query("oldest", hours=9), query("middle", hours=5))


async def test_the_global_cap_holds_every_rule_of_the_source_together(bench: Build) -> None:
    b = bench(
        old_queries("older", [{"age": "4h"}]),
        old_queries("younger", [{"age": {"lt": "4h"}}]),
        max_per_cycle=2,
    )
    assert await b.cycle(*THREE) == [
        ("oldest", "done", ""),
        ("middle", "done", ""),
        ("young", "skipped_cap", "global cap of 2 per cycle"),
    ]
    assert b.adapter.acts == ["oldest", "middle"]


async def test_a_rules_per_cycle_cap_leaves_the_youngest_tasks_for_the_next_cycle(
    bench: Build,
) -> None:
    b = bench(old_queries(max_actions={"per_cycle": 2}))
    assert await b.cycle(*THREE) == [
        ("oldest", "done", ""),
        ("middle", "done", ""),
        ("young", "skipped_cap", "per_cycle 2"),
    ]
    assert b.adapter.acts == ["oldest", "middle"]
    assert await b.cycle(THREE[0]) == [("young", "done", "")]


async def test_percent_caps_a_share_of_the_active_tasks_and_allows_at_least_one(
    bench: Build,
) -> None:
    b = bench(old_queries(max_actions={"percent": 20}))
    assert await b.cycle(*THREE) == [
        ("oldest", "done", ""),
        ("middle", "skipped_cap", "percent 20% of 3 active = 1"),
        ("young", "skipped_cap", "percent 20% of 3 active = 1"),
    ]
    many = [query(f"q{i}", hours=2 + i) for i in range(10)]
    reports = await b.cycle(*many)
    assert [r[1] for r in reports].count("done") == 2
    assert reports[2][2] == "percent 20% of 10 active = 2"


async def test_per_hour_counts_the_journal_across_cycles(bench: Build) -> None:
    b = bench(old_queries(max_actions={"per_hour": 2}))
    assert [r[1] for r in await b.cycle(*THREE)] == ["done", "done", "skipped_cap"]
    b.clock.advance(30 * 60)
    assert await b.cycle(THREE[0]) == [("young", "skipped_cap", "per_hour 2")]
    b.clock.advance(31 * 60)
    assert await b.cycle(THREE[0]) == [("young", "done", "")]
    assert b.adapter.acts == ["oldest", "middle", "young"]


async def test_the_kill_switch_holds_every_decision_and_sends_and_records_nothing(
    bench: Build,
) -> None:
    b = bench(old_queries(), old_queries("dry", enforce=False), paused=True)
    reports = await b.cycle(*THREE)
    assert {(r[1], r[2]) for r in reports} == {("skipped_cap", "paused")}
    assert len(reports) == 6
    assert b.adapter.describes == b.adapter.acts == []
    assert b.records() == []
    b.executor.resume()
    assert {r[1] for r in await b.cycle(*THREE)} == {"done", "would"}


async def test_caps_hold_in_dry_run_as_if_enforcing(bench: Build) -> None:
    b = bench(old_queries(enforce=False, max_actions={"per_cycle": 1}))
    assert await b.cycle(*THREE) == [
        ("oldest", "would", ""),
        ("middle", "skipped_cap", "per_cycle 1"),
        ("young", "skipped_cap", "per_cycle 1"),
    ]
    assert b.results() == [("dry-run", "oldest", "would")]


async def test_later_rounds_do_not_use_up_a_cap_again(bench: Build) -> None:
    b = bench(old_queries(max_actions={"per_cycle": 2}))
    b.adapter.answers = [ThrottledError("RequestLimitExceeded", "slow down", "r1")]
    assert await b.cycle(*THREE) == [
        ("oldest", "failed", "RequestLimitExceeded"),
        ("middle", "done", ""),
        ("young", "skipped_cap", "per_cycle 2"),
        ("oldest", "done", ""),
    ]
    assert b.adapter.acts == ["oldest", "middle", "oldest"]
