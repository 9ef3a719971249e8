"""Cost-aware policies end to end: the daemon against the emulator over real HTTP, on the
emulator's manual clock, with the prices set in the configuration (not the shipped table).

(a) a ``cost_over`` policy in dry-run records ``would`` for exactly the tasks whose estimate
exceeds the threshold, at the first cycle after they cross it and not before, with the estimate
in the journal; (b) an enforced action adds exactly rate x remaining hours to
``taskwatch_actions_saved_cost_total{policy}`` (the policy's ``assume_runs_for``, or a Live
task's EndTime), the same figures in its journal row; without a known end, the rate goes to the
per-hour counter and the row's saving stays NULL.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from taskwatch.emulator.world import LiveTask
from taskwatch.supervisor import Supervisor
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.e2e.test_policies import HOUR, ONLY_MPS, live, sent
from tests.emulator.harness import running_emulator

RATE = 10.0
"""LiveStreamProcessTask and Live pull-stream tasks: 10 CNY per running hour."""
PRICES: dict[str, Any] = {
    "shipped": False,
    "mps": {"LiveStreamProcessTask": {"per_hour": RATE}},
    "live": {"per_hour": RATE},
}
OVER_50: dict[str, Any] = {
    "name": "live-over-50",
    "product": "mps",
    "filters": [{"type": "LiveStreamProcessTask"}, {"status": "PROCESSING"}, {"cost_over": 50}],
    "action": "abort",
}
ONLY_LIVE = {"mps": {"enabled": False}, "dlc": {"enabled": False}, "live": {"interval": "5s"}}


def journal(d: Supervisor) -> list[tuple[Any, ...]]:
    """(task, mode, result, cost_so_far, cost_per_hour, cost_saved, currency) in id order."""
    with sqlite3.connect(d.settings.state.path) as db:
        return list(
            db.execute(
                "SELECT i.task_id, i.mode, o.result, i.cost_so_far, i.cost_per_hour,"
                " i.cost_saved, i.currency FROM intents i"
                " LEFT JOIN outcomes o ON o.intent_id = i.id ORDER BY i.id"
            )
        )


def saved(d: Supervisor, policy: str, *, per_hour: bool = False) -> float | None:
    name = (
        "taskwatch_actions_saved_cost_per_hour_total"
        if per_hour
        else "taskwatch_actions_saved_cost_total"
    )
    return d.metrics.registry.get_sample_value(name, {"policy": policy, "currency": "CNY"})


async def test_a_dry_run_cost_over_records_would_at_the_first_cycle_past_the_threshold() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        over = [live(emu.world, 6), live(emu.world, 7)]  # 60 and 70 spent
        crossing = live(emu.world, 4)  # 40 now; over 50 after 1 h
        below = live(emu.world, 3)  # 30 now; 41.67 at the end
        d = daemon(emu, products=ONLY_MPS, policies=[OVER_50], prices=PRICES)
        await d.run_once()
        first = journal(d)
        emu.clock.advance(50 * 60)  # crossing: 48.33, not yet
        await d.run_once()
        second = journal(d)
        emu.clock.advance(20 * 60)  # crossing: 51.67
        await d.run_once()
        third = journal(d)
    assert sent(emu) == []
    assert sorted(first) == sorted(
        (task, "dry-run", "would", RATE * hours, RATE, None, "CNY")
        for task, hours in zip(over, (6, 7), strict=True)
    )
    assert second == first  # none before it crosses; the others recorded once per streak
    (late,) = third[len(first) :]
    assert late[:3] == (crossing, "dry-run", "would")
    assert late[3] == pytest.approx(RATE * (4 + 70 / 60))
    assert late[4:] == (RATE, None, "CNY")
    assert below not in {row[0] for row in third}


async def test_an_enforced_abort_saves_rate_times_the_policys_assumed_remaining_time() -> None:
    policy = {**OVER_50, "name": "abort-live-over-50", "enforce": True, "assume_runs_for": "2h"}
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        targets = [live(emu.world, 6), live(emu.world, 8)]
        young = live(emu.world, 2)
        d = daemon(emu, products=ONLY_MPS, policies=[policy], prices=PRICES)
        assert saved(d, "abort-live-over-50") == 0.0  # exported before any action
        await d.run_once()
    assert sorted(sent(emu)) == sorted(targets)
    assert young not in sent(emu)
    assert saved(d, "abort-live-over-50") == pytest.approx(2 * RATE * 2)  # two tasks x 10/h x 2 h
    assert saved(d, "abort-live-over-50", per_hour=True) == 0.0
    rows = {row[0]: row[1:] for row in journal(d)}
    assert rows == {
        targets[0]: ("enforce", "done", 6 * RATE, RATE, 2 * RATE, "CNY"),
        targets[1]: ("enforce", "done", 8 * RATE, RATE, 2 * RATE, "CNY"),
    }


async def test_without_a_known_end_the_rate_is_counted_per_hour_avoided() -> None:
    policy = {**OVER_50, "name": "abort-live-open-ended", "enforce": True}
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = live(emu.world, 6)
        d = daemon(emu, products=ONLY_MPS, policies=[policy], prices=PRICES)
        await d.run_once()
    assert sent(emu) == [target]
    assert saved(d, "abort-live-open-ended") == 0.0
    assert saved(d, "abort-live-open-ended", per_hour=True) == RATE
    assert journal(d) == [(target, "enforce", "done", 6 * RATE, RATE, None, "CNY")]


async def test_a_live_pull_stream_deleted_before_its_end_time_saves_the_rest_of_its_window() -> (
    None
):
    policy = {
        "name": "delete-pulls-over-30",
        "product": "live",
        "filters": [{"cost_over": 30}],
        "action": "delete",
        "enforce": True,
        "assume_runs_for": "10h",  # the EndTime is known: it wins
    }
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        now = emu.world.now()
        target = emu.world.add_live(
            LiveTask(
                task_id=emu.world.live_id(),
                created=now - 5 * HOUR,
                updated=now - 5 * HOUR,
                start_time=now - 4 * HOUR,  # 40 spent
                end_time=now + 3 * HOUR,
            )
        ).task_id
        cheap = emu.world.add_live(
            LiveTask(
                task_id=emu.world.live_id(),
                created=now - HOUR,
                updated=now - HOUR,
                start_time=now - HOUR,
                end_time=now + 3 * HOUR,
            )
        ).task_id
        d = daemon(emu, products=ONLY_LIVE, policies=[policy], prices=PRICES)
        await d.run_once()
    deleted = [
        e.params["TaskId"] for e in emu.emulator.log if e.action == "DeleteLivePullStreamTask"
    ]
    assert deleted == [target]
    assert cheap not in deleted
    assert saved(d, "delete-pulls-over-30") == pytest.approx(3 * RATE)  # 10/h x 3 h to EndTime
    ((task, mode, result, so_far, per_hour, cost_saved, currency),) = journal(d)
    assert (task, mode, result, currency) == (target, "enforce", "done", "CNY")
    assert (so_far, per_hour, cost_saved) == pytest.approx((4 * RATE, RATE, 3 * RATE))
