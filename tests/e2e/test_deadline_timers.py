"""Deadline timers end to end: a running daemon acts at the instant a time rule is crossed, long
before its next poll (interval 60 s), through the normal executor: the fence re-describes first,
dry-run records, caps hold per interval. The emulator's log is the witness.

The emulator's wall clock is virtual (it moves when the test says); the daemon's timers sleep in
real loop time. Each test plans a crossing a few seconds ahead, moves the emulator's clock past it
at once, and the timer fires on its loop-time schedule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from taskwatch.emulator.world import MpsTask, Plan, World
from taskwatch.supervisor import Supervisor
from tests.e2e.daemon import EMULATOR_LIMITS, daemon, serving
from tests.e2e.test_policies import journal_rows, results, sent
from tests.e2e.waiting import eventually
from tests.emulator.harness import Running, running_emulator

THRESHOLD = 600.0
SLOW = {"mps": {"interval": "60s", "jitter": 0.0}, "dlc": {"enabled": False},
        "live": {"enabled": False}}  # fmt: skip
RULE: dict[str, Any] = {
    "name": "abort-long-live",
    "product": "mps",
    "filters": [
        {"type": "LiveStreamProcessTask"},
        {"status": "PROCESSING"},
        {"running_longer_than": f"{THRESHOLD:g}s"},
    ],
    "action": "abort",
    "enforce": True,
}


def crossing_in(world: World, seconds: float, *, run: float | None = None) -> str:
    """A live stream processing task that crosses the threshold ``seconds`` from now."""
    now = world.now()
    started = now - THRESHOLD + seconds
    task = world.add_mps(
        MpsTask(
            task_id=world.mps_id("LiveStreamProcessTask"),
            task_type="LiveStreamProcessTask",
            status="PROCESSING",
            created=started - 5,
            started=started,
            plan=Plan(wait=0, run=run),
            url="rtmp://a/live/s",
        )
    )
    return task.task_id


def listings(emu: Running) -> int:
    return sum(1 for e in emu.emulator.log if e.action == "DescribeTasks")


@asynccontextmanager
async def running(
    emu: Running, *policies: dict[str, Any], **extra: Any
) -> AsyncIterator[Supervisor]:
    async with serving(daemon(emu, products=SLOW, policies=list(policies), **extra)) as d:
        yield d


def timer_results(d: Supervisor) -> dict[str, float]:
    out = {}
    for result in ("acted", "nothing", "stale"):
        value = d.metrics.registry.get_sample_value(
            "taskwatch_timers_fired_total",
            {"account": "main", "product": "mps", "region": "global", "result": result},
        )
        if value:
            out[result] = value
    return out


async def test_a_task_is_aborted_by_its_timer_long_before_the_next_poll() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = crossing_in(emu.world, 2.0)
        young = crossing_in(emu.world, 3600.0)
        async with running(emu, RULE) as d:
            scans = listings(emu)
            emu.clock.advance(3.0)  # past the crossing; the timer fires 2 s after the scan
            await eventually(lambda: target in sent(emu), "the timer's abort", within=10)
            assert listings(emu) == scans  # no poll happened: the timer acted
        log = [(e.action, e.params.get("TaskId")) for e in emu.emulator.log]
    assert sent(emu) == [target]
    assert young not in sent(emu)
    abort = log.index(("ManageTask", target))
    assert log[abort - 1] == ("DescribeTaskDetail", target)  # the fence re-described first
    assert results(d, "abort-long-live") == {"done": 1}
    assert timer_results(d).get("acted") == 1


async def test_a_task_that_ended_before_its_deadline_is_fenced_not_aborted() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = crossing_in(emu.world, 2.0, run=THRESHOLD - 2.0 + 0.5)  # ends 0.5 s later
        async with running(emu, RULE) as d:
            emu.clock.advance(3.0)  # it ended at +0.5 s; the daemon has not seen it end
            await eventually(lambda: timer_results(d), "the timer to fire", within=10)
            await eventually(
                lambda: any(
                    e.action == "DescribeTaskDetail" and e.params.get("TaskId") == target
                    for e in emu.emulator.log
                ),
                "the fence's describe",
            )
    assert sent(emu) == []
    assert "done" not in results(d, "abort-long-live")


async def test_a_dry_run_timer_records_what_it_would_do_at_the_instant() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = crossing_in(emu.world, 2.0)
        async with running(emu, {**RULE, "enforce": False}) as d:
            emu.clock.advance(3.0)
            await eventually(
                lambda: results(d, "abort-long-live").get("would") == 1, "the would record"
            )
    assert sent(emu) == []
    assert [(t, m, r) for t, m, r in journal_rows(d)] == [(target, "dry-run", "would")]


async def test_per_cycle_caps_hold_across_the_timers_of_one_interval() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        first = crossing_in(emu.world, 1.0)
        second = crossing_in(emu.world, 2.5)
        capped = {**RULE, "max_actions": {"per_cycle": 1}}
        async with running(emu, capped) as d:
            emu.clock.advance(4.0)
            await eventually(lambda: len(timer_results(d)) and sum(timer_results(d).values())
                             >= 2, "both timers")  # fmt: skip
    assert sent(emu) == [first]
    assert second not in sent(emu)
    assert results(d, "abort-long-live").get("skipped_cap") == 1
