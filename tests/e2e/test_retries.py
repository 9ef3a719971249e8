"""An action that fails is tried again within the cycle, never blindly: each round re-describes
the task first. The emulator's log is the witness; the executor's waits are recorded, not slept,
except where a late-landing call needs real time to land."""

from __future__ import annotations

import sqlite3
from typing import Any

from taskwatch.emulator.faults import Fault
from taskwatch.supervisor import Supervisor
from tests.e2e.daemon import EMULATOR_LIMITS
from tests.e2e.test_policies import LONG_LIVE, acted, live, policy_daemon, results, sent
from tests.emulator.harness import Running, running_emulator


def abort_fault(kind: str, count: int, **extra: Any) -> Fault:
    return Fault(kind=kind, product="mps", action="ManageTask", count=count, **extra)  # type: ignore[arg-type]


def recorded_waits(d: Supervisor) -> list[float]:
    """Replace the executor's sleep with one that records the wait and returns at once."""
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    d.executor.sleep = no_wait
    return waits


def outcomes(d: Supervisor) -> list[tuple[str, str | None, str | None]]:
    """(result, code, message) of every enforce record, in order."""
    with sqlite3.connect(d.settings.state.path) as db:
        return list(
            db.execute(
                "SELECT o.result, o.code, o.message FROM intents i "
                "JOIN outcomes o ON o.intent_id = i.id WHERE i.mode = 'enforce' ORDER BY i.id"
            )
        )


def describes(emu: Running, task: str) -> int:
    return sum(
        1
        for e in emu.emulator.log
        if e.action == "DescribeTaskDetail" and e.params.get("TaskId") == task
    )


async def test_an_abort_refused_twice_is_done_on_the_third_round_of_the_same_cycle() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS, faults=[abort_fault("error", 2)]) as emu:
        target = live(emu.world, 8)
        d = policy_daemon(emu, LONG_LIVE)
        waits = recorded_waits(d)
        (report,) = await d.run_once()
        fences = describes(emu, target)
    assert report.ok
    assert sent(emu) == [target] * 3
    assert acted(emu) == [target]
    assert emu.world.mps[target].status == "FINISH"
    assert waits == [0.5, 1.0]  # refused outright: nothing in doubt, a short backoff
    assert [(r, c) for r, c, _ in outcomes(d)] == [
        ("failed", "InternalError"),  # a failed call keeps its code: it is history, not doubt
        ("failed", "InternalError"),
        ("done", None),
    ]
    assert results(d, "abort-long-live") == {"failed": 2, "done": 1}
    assert fences >= 3  # each round re-described the task before calling


async def test_an_abort_that_fails_three_cycles_worth_is_done_in_the_next_cycle() -> None:
    """Three failures in a row used to push a task past three cycles; now they fill one."""
    async with running_emulator(limits=EMULATOR_LIMITS, faults=[abort_fault("error", 3)]) as emu:
        target = live(emu.world, 8)
        d = policy_daemon(emu, LONG_LIVE)
        recorded_waits(d)
        await d.run_once()
        after_one = emu.world.mps[target].status
        await d.run_once()
    assert after_one == "PROCESSING"
    assert sent(emu) == [target] * 4
    assert acted(emu) == [target]
    assert emu.world.mps[target].status == "FINISH"


async def test_after_an_unknown_outcome_the_task_is_re_described_then_aborted_once() -> None:
    # The reset comes before the handler: the abort did not land, the fence sees PROCESSING.
    async with running_emulator(limits=EMULATOR_LIMITS, faults=[abort_fault("reset", 1)]) as emu:
        target = live(emu.world, 8)
        d = policy_daemon(emu, LONG_LIVE, actions={"retry_after": "3s"})
        waits = recorded_waits(d)
        await d.run_once()
    assert waits == [3.0]  # in doubt: retry_after, so a call still in flight can land
    assert acted(emu) == [target]
    ((first, code, message), second) = outcomes(d)
    assert (first, code) == ("failed", None)
    assert message is not None
    assert message.startswith("superseded by intent")
    assert second[0] == "done"


async def test_a_late_landing_abort_is_seen_by_the_fence_and_not_sent_again() -> None:
    """The abort is held past the client's timeout and lands afterwards: the next round waits
    ``retry_after`` (real time here: the call must land), re-describes, and finds it ended."""
    held = abort_fault("latency", 1, seconds=0.6)
    async with running_emulator(limits=EMULATOR_LIMITS, faults=[held]) as emu:
        target = live(emu.world, 8)
        d = policy_daemon(
            emu,
            LONG_LIVE,
            api={"budget": 1.0, "timeout": "0.3s", "connect_timeout": "0.3s"},
            actions={"retry_after": "0.6s"},
        )
        await d.run_once()
    assert sent(emu) == [target]
    assert acted(emu) == [target]
    assert [r for r, _, _ in outcomes(d)] == ["already_done"]  # the unknown, settled


async def test_a_permanent_error_is_not_tried_again_in_the_same_cycle() -> None:
    denied = abort_fault("error", 5, code="UnauthorizedOperation", message="not allowed")
    async with running_emulator(limits=EMULATOR_LIMITS, faults=[denied]) as emu:
        target = live(emu.world, 8)
        d = policy_daemon(emu, LONG_LIVE)
        waits = recorded_waits(d)
        await d.run_once()
        in_one = len(sent(emu))
        await d.run_once()
    assert in_one == 1
    assert waits == []
    assert sent(emu) == [target] * 2  # the next cycle decides again
    assert results(d, "abort-long-live") == {"failed": 2}


async def test_caps_count_tasks_not_attempts() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS, faults=[abort_fault("error", 2)]) as emu:
        targets = [live(emu.world, h) for h in (9, 8, 7)]
        d = policy_daemon(emu, {**LONG_LIVE, "max_actions": {"per_cycle": 2}})
        recorded_waits(d)
        await d.run_once()
    assert sorted(sent(emu)) == sorted(targets[:2] * 2)  # the two oldest, twice each
    assert sorted(acted(emu)) == sorted(targets[:2])
    assert emu.world.mps[targets[2]].status == "PROCESSING"


async def test_the_kill_switch_stops_the_later_rounds() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS, faults=[abort_fault("error", 1)]) as emu:
        target = live(emu.world, 8)
        d = policy_daemon(emu, LONG_LIVE)

        async def pause_while_waiting(seconds: float) -> None:
            d.executor.pause()

        d.executor.sleep = pause_while_waiting
        await d.run_once()
    assert sent(emu) == [target]
    assert acted(emu) == []
    assert results(d, "abort-long-live") == {"failed": 1, "skipped_cap": 1}


async def test_one_attempt_per_cycle_when_configured() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS, faults=[abort_fault("error", 1)]) as emu:
        target = live(emu.world, 8)
        d = policy_daemon(emu, LONG_LIVE, actions={"attempts": 1})
        waits = recorded_waits(d)
        await d.run_once()
        in_one = len(sent(emu))
        await d.run_once()
    assert (in_one, waits) == (1, [])
    assert acted(emu) == [target]
