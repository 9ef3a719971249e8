"""Tasks that outlive the API's windows, end to end on the emulator's virtual clock.

An MPS live stream task runs for days: DescribeTasks stops listing it after 7 days and
DescribeTaskDetail forgets it after 3 (the emulator's ``mps_detail_retention`` set to the
reference's 3 days). The daemon must keep it on the gauges, the status page and ``/metrics``,
give it to the policies, and abort it by id (the emulator's log shows the one ManageTask); a task
that really ended out of sight is dropped when an abort's answer says so, or after the product's
bound (``catalog.mps.PRESUMED_FOR``). Days pass by advancing the emulator's clock between cycles.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest

from taskwatch.catalog.mps import PRESUMED_FOR
from taskwatch.emulator.actions import Options
from taskwatch.emulator.world import MpsTask, Plan, World
from taskwatch.supervisor import Supervisor
from taskwatch.web.statuspage import render
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.e2e.test_statuspage_daemon import snapshot
from tests.emulator.harness import Running, running_emulator

HOUR, DAY = 3600.0, 86400.0
ONLY_MPS = {"mps": {"interval": "5s"}, "dlc": {"enabled": False}, "live": {"enabled": False}}
THREE_DAYS = Options(mps_detail_retention=3 * DAY)
OLD_LIVE: dict[str, Any] = {
    "name": "abort-old-live",
    "product": "mps",
    "filters": [
        {"type": "LiveStreamProcessTask"},
        {"status": "PROCESSING"},
        {"running_longer_than": "8d"},
    ],
    "action": "abort",
    "enforce": True,
}


def live(world: World, *, runs_for: float | None = None) -> str:
    """A live stream task that began an hour ago and runs ``runs_for`` seconds (None: for ever)."""
    now = world.now()
    task = world.add_mps(
        MpsTask(
            task_id=world.mps_id("LiveStreamProcessTask"),
            task_type="LiveStreamProcessTask",
            status="PROCESSING",
            created=now - HOUR - 60,
            started=now - HOUR,
            plan=Plan(wait=0, run=None if runs_for is None else HOUR + runs_for),
        )
    )
    return task.task_id


def watching(emu: Running, *policies: dict[str, Any]) -> Supervisor:
    return daemon(emu, products=ONLY_MPS, policies=list(policies))


def gauge(d: Supervisor, name: str = "taskwatch_tasks") -> float | None:
    labels = {
        "product": "mps",
        "account": "main",
        "region": "global",
        "type": "LiveStreamProcessTask",
        "status": "PROCESSING",
    }
    return d.metrics.registry.get_sample_value(name, labels)


def finished(d: Supervisor, result: str) -> float:
    labels = {"product": "mps", "type": "LiveStreamProcessTask", "result": result}
    return d.metrics.registry.get_sample_value("taskwatch_tasks_finished_total", labels) or 0.0


def manage_calls(emu: Running) -> list[tuple[str, str]]:
    return [(e.params["TaskId"], e.code) for e in emu.emulator.log if e.action == "ManageTask"]


async def after(emu: Running, d: Supervisor, seconds: float) -> None:
    """Let ``seconds`` pass on the emulator's clock, then run one cycle (which must work)."""
    emu.clock.advance(seconds)
    reports = await d.run_once()
    assert reports
    assert all(r.ok for r in reports), reports


async def test_a_live_task_older_than_both_windows_stays_visible_and_is_aborted_once() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS, options=THREE_DAYS) as emu:
        task_id = live(emu.world)
        d = watching(emu, OLD_LIVE)
        await after(emu, d, 0)
        assert gauge(d) == 1
        await after(emu, d, 4 * DAY)  # past the detail window, still listed
        await after(emu, d, 3 * DAY + HOUR)  # past the list window too: no call shows it
        assert emu.world.mps[task_id].status == "PROCESSING"
        asked = [e.code for e in emu.emulator.log if e.params.get("TaskId") == task_id]
        assert asked == ["Success", "ResourceNotFound"]  # described when new, then forgotten
        assert gauge(d) == 1
        age = gauge(d, "taskwatch_task_oldest_age_seconds")
        assert age is not None
        assert age >= 7 * DAY + 2 * HOUR - 1
        page = snapshot(d)
        assert [(r.id, r.running_for) for r in page.oldest_running] == [(task_id, age)]
        assert task_id in render(page)
        exposed = generate_latest(d.metrics.registry).decode()
        assert 'status="PROCESSING",type="LiveStreamProcessTask"} 1.0' in exposed
        assert manage_calls(emu) == []  # 7 days running: the 8-day policy does not match yet

        await after(emu, d, DAY)  # 8 days running: the policy aborts it by id
        assert manage_calls(emu) == [(task_id, "Success")]
        assert emu.world.mps[task_id].status == "FINISH"
        assert gauge(d) is None
        assert finished(d, "aborted") == 1
        assert snapshot(d).oldest_running == []
        await after(emu, d, HOUR)
        assert manage_calls(emu) == [(task_id, "Success")]  # once
        described = [e for e in emu.emulator.log if e.action == "DescribeTaskDetail"]
        # new, then gone from the listing, then the fence's try: no call per cycle while presumed
        assert [e.code for e in described] == ["Success", "ResourceNotFound", "ResourceNotFound"]


async def test_a_task_that_ended_out_of_sight_is_dropped_after_the_bound() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS, options=THREE_DAYS) as emu:
        task_id = live(emu.world, runs_for=7.5 * DAY)
        d = watching(emu)  # no policy: nothing will ever ask the API about it again
        await after(emu, d, 0)
        await after(emu, d, 7 * DAY + HOUR)
        assert gauge(d) == 1
        await after(emu, d, DAY)
        assert emu.world.mps[task_id].status == "FINISH"  # ended, and no call can tell
        assert gauge(d) == 1
        await after(emu, d, PRESUMED_FOR - DAY - HOUR)
        assert gauge(d) == 1  # presumed for less than the bound
        await after(emu, d, 2 * HOUR)
        assert gauge(d) is None
        assert snapshot(d).oldest_running == []
        assert finished(d, "unknown") == 0  # its end was never seen: not counted as one


async def test_an_abort_that_finds_a_presumed_task_over_settles_it_without_a_second_call() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS, options=THREE_DAYS) as emu:
        task_id = live(emu.world, runs_for=7.5 * DAY)
        d = watching(emu, OLD_LIVE)
        await after(emu, d, 0)
        await after(emu, d, 7 * DAY + HOUR)
        assert gauge(d) == 1
        await after(emu, d, DAY)  # it ended at 7.5 days; the policy matches its last observation
        assert manage_calls(emu) == [(task_id, "InvalidParameterValue.TaskId")]
        assert gauge(d) is None
        assert finished(d, "unknown") == 1
        await after(emu, d, HOUR)
        assert len(manage_calls(emu)) == 1
