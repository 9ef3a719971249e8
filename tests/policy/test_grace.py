"""The grace memory on its own: which of a cycle's decisions are due, which streaks began, which
ended, one source at a time."""

from __future__ import annotations

from taskwatch.models import Decision
from taskwatch.policy import evaluate
from taskwatch.policy.grace import GraceMemory

from .kit import NOW, policy, rules, task

SOURCE = "main/dlc/ap-guangzhou"
OTHER = "main/dlc/ap-shanghai"
SLOW, FAST = rules(
    policy([{"age": "1h"}], "dlc", name="slow", grace="10m"),
    policy([{"age": "1h"}], "dlc", name="fast"),
)


def decide(*ids: str) -> list[Decision]:
    return [d for i in ids for d in evaluate([SLOW, FAST], task("dlc", id=i), now=NOW)]


def test_a_decision_without_grace_is_due_at_once_and_one_with_grace_when_it_has_lasted() -> None:
    memory = GraceMemory()
    first = memory.observe(SOURCE, decide("a"), NOW)
    assert [d.policy for d in first.due] == ["fast"]
    assert [d.policy for d in first.started] == ["slow", "fast"]
    assert memory.since(("slow", SOURCE, "a")) == NOW
    assert [d.policy for d in memory.observe(SOURCE, decide("a"), NOW + 599).due] == ["fast"]
    later = memory.observe(SOURCE, decide("a"), NOW + 600)
    assert [d.policy for d in later.due] == ["slow", "fast"]
    assert later.started == []
    assert later.ended == []


def test_a_streak_without_a_decision_ends_and_its_grace_starts_over() -> None:
    memory = GraceMemory()
    memory.observe(SOURCE, decide("a", "b"), NOW)
    step = memory.observe(SOURCE, decide("b"), NOW + 300)
    assert sorted(step.ended) == [("fast", SOURCE, "a"), ("slow", SOURCE, "a")]
    assert memory.since(("slow", SOURCE, "a")) is None
    again = memory.observe(SOURCE, decide("a", "b"), NOW + 600)
    assert [(d.policy, d.task.id) for d in again.due] == [
        ("fast", "a"),
        ("slow", "b"),
        ("fast", "b"),
    ]
    assert memory.since(("slow", SOURCE, "a")) == NOW + 600


def test_a_cycle_of_one_source_leaves_the_streaks_of_another_alone() -> None:
    memory = GraceMemory()
    memory.observe(SOURCE, decide("a"), NOW)
    assert memory.observe(OTHER, [], NOW + 60).ended == []
    assert len(memory) == 2
    assert [d.policy for d in memory.observe(SOURCE, decide("a"), NOW + 600).due] == [
        "slow",
        "fast",
    ]
