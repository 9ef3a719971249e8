"""Task notifications end to end: the emulator sends MPS notifications on its tasks' real
transitions (with faults), the daemon verifies them and describes the task at once; a
notification is a hint, never a command, and polling catches what is lost.

The emulator's wall clock is virtual (the test moves it); its pump delivers in real time, and the
daemon's loops run in real loop time with a long interval unless polling is the point."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from taskwatch.emulator.notify_config import Notify, NotifyFaults
from taskwatch.emulator.world import MpsTask, Plan, World
from taskwatch.supervisor import Supervisor
from tests.e2e.daemon import EMULATOR_LIMITS, daemon, serving
from tests.e2e.waiting import eventually
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running, running_emulator

KEY = "notify-key-for-tests-0123456789"


def products(interval: str) -> dict[str, Any]:
    return {
        "mps": {"interval": interval, "jitter": 0.0, "finish_sweep": "1h"},
        "dlc": {"enabled": False},
        "live": {"enabled": False},
    }


@asynccontextmanager
async def listening(
    emu: Running, *, interval: str = "60s", per_second: int = 10, **extra: Any
) -> AsyncIterator[Supervisor]:
    account = {
        "name": "main",
        "credentials": {"from": "static", "secret_id": SECRET_ID, "secret_key": SECRET_KEY},
        "endpoint": emu.url,
        "regions": ["ap-guangzhou"],
        "events": {"mps_notify_keys": [KEY]},
    }
    d = daemon(emu, accounts=[account], products=products(interval),
               events={"enabled": True, "per_second": per_second}, **extra)  # fmt: skip
    async with serving(d):
        yield d


def workflow(world: World, url: str, *, runs_for: float, mode: str = "Finish") -> str:
    now = world.now()
    task = world.add_mps(
        MpsTask(
            task_id=world.mps_id("WorkflowTask"),
            task_type="WorkflowTask",
            status="PROCESSING",
            created=now - 30,
            started=now - 20,
            plan=Plan(wait=0, run=20 + runs_for),
            notify=Notify(url=f"{url}/events/mps/main", key=KEY, mode=mode),
        )
    )
    return task.task_id


def sample(d: Supervisor, name: str, labels: dict[str, str]) -> float:
    return d.metrics.registry.get_sample_value(name, labels) or 0.0


def finished(d: Supervisor) -> float:
    labels = {"product": "mps", "type": "WorkflowTask", "result": "success"}
    return sample(d, "taskwatch_tasks_finished_total", labels)


def events(d: Supervisor, result: str) -> float:
    labels = {"source": "mps", "type": "WorkflowTask", "result": result}
    return sample(d, "taskwatch_events_total", labels)


def listings(emu: Running) -> int:
    return sum(1 for e in emu.emulator.log if e.action == "DescribeTasks")


async def test_a_finished_task_is_observed_from_its_notification_within_a_second() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        async with listening(emu) as d:
            assert d.http is not None
            task_id = workflow(emu.world, d.http.url, runs_for=5)
            scans = listings(emu)
            emu.clock.advance(6)  # it finished 1 s ago; the pump notifies
            await eventually(lambda: finished(d) == 1, "the end seen from the notification")
            assert listings(emu) == scans  # no poll: the hint's describe observed it
            lag = {"source": "mps"}
            count = sample(d, "taskwatch_event_describe_lag_seconds_count", lag)
            lag_sum = sample(d, "taskwatch_event_describe_lag_seconds_sum", lag)
        described = [
            e for e in emu.emulator.log
            if e.action == "DescribeTaskDetail" and e.params.get("TaskId") == task_id
        ]  # fmt: skip
    assert events(d, "accepted") == 1
    assert count == 1
    assert lag_sum < 1.0
    assert len(described) == 1
    duration = sample(d, "taskwatch_task_duration_seconds_sum",
                      {"product": "mps", "type": "WorkflowTask"})  # fmt: skip
    assert duration == pytest.approx(25.0)


@pytest.mark.parametrize(
    ("fault", "result"),
    [("forge", "forged"), ("duplicate", "replayed"), ("replay_expired", "expired")],
)
async def test_forged_replayed_and_expired_notifications_are_refused_and_counted(
    fault: str, result: str
) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        emu.emulator.notify_faults = NotifyFaults(**{fault: 1.0})
        async with listening(emu) as d:
            assert d.http is not None
            task_id = workflow(emu.world, d.http.url, runs_for=5)
            emu.clock.advance(6)
            if fault == "replay_expired":  # the replay goes out once the Timestamp has passed
                await eventually(lambda: emu.emulator.notifications, "the first delivery")
                emu.clock.advance(601)
            await eventually(lambda: events(d, result) >= 1, f"a {result} notification")
        described = [
            e for e in emu.emulator.log
            if e.action == "DescribeTaskDetail" and e.params.get("TaskId") == task_id
        ]  # fmt: skip
    if fault == "forge":
        assert events(d, "accepted") == 0
        assert described == []  # a forged notification causes no call
    else:
        assert events(d, "accepted") == 1
        assert len(described) == 1  # the refused copy caused no second describe


async def test_with_30_percent_of_notifications_dropped_polling_still_sees_every_end() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        emu.emulator.notify_faults = NotifyFaults(drop=0.3, seed=5)
        async with listening(emu, interval="2s", per_second=100) as d:
            assert d.http is not None
            ids = [workflow(emu.world, d.http.url, runs_for=1 + i / 4) for i in range(20)]
            (source,) = d.sources
            await eventually(lambda: len(source.watcher.tracker.active) == 20, "a poll of all")
            emu.clock.advance(10)  # every one has finished
            await eventually(lambda: finished(d) >= 20, "every end", within=30)
            await asyncio.sleep(0)
        sent = list(emu.emulator.notifications)
    dropped = [s for s in sent if "drop" in s.fault.split("+")]
    assert dropped  # some were lost on the way
    assert events(d, "accepted") == 20 - len(dropped)
    assert finished(d) == 20  # each end observed once: by its notification or by polling
    assert all(emu.world.mps[i].status == "FINISH" for i in ids)
