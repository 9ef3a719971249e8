"""Deadline timers on virtual loop time (looptime): they fire at the predicted instant, are
replanned and dropped, bounded, coalesced, and a wall-clock step does not move them."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import anyio
import pytest
from prometheus_client import CollectorRegistry

from taskwatch.metrics.registry import Metrics
from taskwatch.models import SourceKey, Task
from taskwatch.timers import LATE, RETRY, Deadlines
from tests.policy.kit import LIVE, NOW, rule, task

pytestmark = pytest.mark.looptime

SOURCE = SourceKey("main", "mps", "global")


class LoopWall:
    """Wall time that follows loop time (as a real clock does), plus a step a test can make."""

    def __init__(self, wall: float = NOW) -> None:
        self._base = wall
        self._mono = asyncio.get_running_loop().time()
        self.step = 0.0

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall(), UTC)

    def wall(self) -> float:
        return self._base + (self.monotonic() - self._mono) + self.step


def running(id: str, seconds: float) -> Task:
    """A live stream processing task that has run ``seconds`` at NOW."""
    return task("mps", status="PROCESSING", type=LIVE, running=seconds, id=id)


RULE = rule([{"type": LIVE}, {"status": "PROCESSING"}, {"running_longer_than": "60s"}])


def deadlines(clock: LoopWall, **kw: object) -> tuple[Deadlines, Metrics]:
    metrics = Metrics(registry=CollectorRegistry(), clock=clock)
    return Deadlines(source=SOURCE, clock=clock, metrics=metrics, horizon=600.0, **kw), metrics


def no_streak(policy: str, task_id: str) -> float | None:
    return None


async def test_a_timer_fires_at_the_instant_its_task_crosses_the_threshold() -> None:
    clock = LoopWall()
    d, metrics = deadlines(clock)
    fired: list[tuple[float, list[str]]] = []

    async def fire(ids: list[str]) -> None:
        fired.append((clock.wall(), ids))

    d.plan([running("a", 50), running("b", 20)], [RULE], no_streak)
    assert d.deadline("a") == pytest.approx(NOW + 10, abs=0.01)
    assert (
        metrics.registry.get_sample_value(
            "taskwatch_timers_pending", {"account": "main", "product": "mps", "region": "global"}
        )
        == 2
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(d.run, fire)
        await asyncio.sleep(45)
        tg.cancel_scope.cancel()
    assert [ids for _, ids in fired] == [["a"], ["b"]]
    assert fired[0][0] == pytest.approx(NOW + 10 + LATE, abs=0.01)
    assert fired[1][0] == pytest.approx(NOW + 40 + LATE, abs=0.01)
    assert len(d) == 0


async def test_a_replan_moves_or_drops_a_timer_and_costs_no_firing() -> None:
    clock = LoopWall()
    d, _ = deadlines(clock)
    fired: list[list[str]] = []

    async def fire(ids: list[str]) -> None:
        fired.append(ids)

    d.plan([running("a", 50), running("b", 50)], [RULE], no_streak)
    async with anyio.create_task_group() as tg:
        tg.start_soon(d.run, fire)
        await asyncio.sleep(5)
        ended = task("mps", status="FINISH", type=LIVE, id="a")  # "a" ended: no deadline
        d.plan([ended, running("b", 50)], [RULE], no_streak, only={"a"})
        await asyncio.sleep(30)
        tg.cancel_scope.cancel()
    assert fired == [["b"]]


async def test_timers_due_together_fire_as_one_reaction() -> None:
    clock = LoopWall()
    d, _ = deadlines(clock)
    fired: list[list[str]] = []

    async def fire(ids: list[str]) -> None:
        fired.append(sorted(ids))

    d.plan([running("a", 50), running("b", 50.01), running("c", 30)], [RULE], no_streak)
    async with anyio.create_task_group() as tg:
        tg.start_soon(d.run, fire)
        await asyncio.sleep(60)
        tg.cancel_scope.cancel()
    assert fired == [["a", "b"], ["c"]]


async def test_at_most_the_limit_is_pending_and_the_earliest_are_kept() -> None:
    clock = LoopWall()
    d, _ = deadlines(clock, limit=2)
    d.plan([running("late", 1), running("soon", 59), running("mid", 30)], [RULE], no_streak)
    assert len(d) == 2
    assert d.deadline("late") is None
    assert d.deadline("soon") is not None
    assert d.deadline("mid") is not None


async def test_a_wall_clock_step_after_planning_does_not_move_the_firing() -> None:
    clock = LoopWall()
    d, _ = deadlines(clock)
    fired_at: list[float] = []

    async def fire(ids: list[str]) -> None:
        fired_at.append(clock.monotonic())

    start = clock.monotonic()
    d.plan([running("a", 40)], [RULE], no_streak)
    async with anyio.create_task_group() as tg:
        tg.start_soon(d.run, fire)
        await asyncio.sleep(1)
        clock.step = 3600.0  # the wall jumps an hour ahead
        await asyncio.sleep(30)
        tg.cancel_scope.cancel()
    assert fired_at == [pytest.approx(start + 20 + LATE, abs=0.01)]


async def test_a_deadline_the_wall_clock_has_not_passed_waits_before_firing_again() -> None:
    clock = LoopWall()
    d, _ = deadlines(clock)
    fired_at: list[float] = []

    async def fire(ids: list[str]) -> None:
        fired_at.append(clock.monotonic())
        clock.step -= 5.0  # the wall went back: the same deadline lies ahead again
        d.plan([running("a", 40)], [RULE], no_streak, only=set(ids))

    start = clock.monotonic()
    d.plan([running("a", 40)], [RULE], no_streak)
    async with anyio.create_task_group() as tg:
        tg.start_soon(d.run, fire)
        await asyncio.sleep(22.5)
        tg.cancel_scope.cancel()
    first = start + 20 + LATE
    assert fired_at[0] == pytest.approx(first, abs=0.01)
    assert all(b - a >= RETRY - 1e-6 for a, b in itertools.pairwise(fired_at))


async def test_a_rule_with_grace_plans_the_instant_its_grace_ends() -> None:
    clock = LoopWall()
    d, _ = deadlines(clock)
    graced = rule(
        [{"type": LIVE}, {"status": "PROCESSING"}, {"running_longer_than": "60s"}], grace="30s"
    )

    def since(policy: str, task_id: str) -> float | None:
        return NOW - 10 if task_id == "a" else None

    d.plan([running("a", 70)], [graced], since)
    assert d.deadline("a") == pytest.approx(NOW + 20, abs=0.01)


async def test_no_rules_of_the_product_plan_nothing() -> None:
    clock = LoopWall()
    d, _ = deadlines(clock)
    dlc_rule = rule([{"status": "running"}, {"running_longer_than": "1m"}], product="dlc")
    assert d.plan([running("a", 50)], [dlc_rule], no_streak) == 0
