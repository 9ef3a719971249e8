"""The watcher at the edges of MPS's windows, against the emulator on one manual clock.

DescribeTaskDetail forgets a task after 3 days here (the reference's guaranteed minimum) while
DescribeTasks lists it for 7. A task that leaves the active listing inside its list window has
ended (MPS tasks cannot be deleted), even when its detail is gone: it must not be presumed active;
one that leaves it at the end of its list window is.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from taskwatch.emulator.actions import Options
from taskwatch.emulator.world import MpsTask, Plan
from taskwatch.metrics.registry import Metrics
from taskwatch.products.mps import MpsAdapter
from taskwatch.watch import Watcher
from tests.emulator.harness import Running, fast_transport, running_emulator, taskwatch_client

HOUR, DAY = 3600.0, 86400.0


@asynccontextmanager
async def watched(finish_sweep: float) -> AsyncIterator[tuple[Running, Watcher]]:
    options = Options(mps_detail_retention=3 * DAY)
    async with running_emulator(options=options) as emu, fast_transport() as transport:
        clock = emu.clock
        adapter = MpsAdapter(client=taskwatch_client(emu, transport), account="main", clock=clock)
        metrics = Metrics(clock=clock)
        yield emu, Watcher(adapter, metrics, clock, finish_sweep=finish_sweep, rng=random.Random(1))


def live(emu: Running, runs_for: float | None) -> str:
    now = emu.world.now()
    return emu.world.add_mps(
        MpsTask(
            task_id=emu.world.mps_id("LiveStreamProcessTask"),
            task_type="LiveStreamProcessTask",
            status="PROCESSING",
            created=now - 60,
            started=now,
            plan=Plan(wait=0, run=runs_for),
        )
    ).task_id


def ended(watcher: Watcher, result: str) -> float:
    labels = {"product": "mps", "type": "LiveStreamProcessTask", "result": result}
    value = watcher.metrics.registry.get_sample_value("taskwatch_tasks_finished_total", labels)
    return value or 0.0


async def cycle_after(emu: Running, watcher: Watcher, seconds: float) -> None:
    emu.clock.advance(seconds)
    report = await watcher.cycle()
    assert report.ok, report


async def test_an_end_inside_the_list_window_is_observed_from_the_finished_listing() -> None:
    async with watched(finish_sweep=60.0) as (emu, watcher):
        task_id = live(emu, runs_for=5 * DAY)
        await cycle_after(emu, watcher, 0)
        await cycle_after(emu, watcher, 4 * DAY)  # the detail is forgotten; still listed
        assert [t.id for t in watcher.actionable()] == [task_id]
        await cycle_after(emu, watcher, DAY + HOUR)  # it ended; the sweep lists it FINISH
        assert watcher.actionable() == []
        assert watcher.tracker.presumed == {}
        assert ended(watcher, "unknown") == 1  # its end seen once, how it ended unknown
        await cycle_after(emu, watcher, HOUR)
        assert ended(watcher, "unknown") == 1


async def test_an_end_inside_the_list_window_is_not_presumed_between_sweeps() -> None:
    async with watched(finish_sweep=30 * DAY) as (emu, watcher):
        task_id = live(emu, runs_for=5 * DAY)
        await cycle_after(emu, watcher, 0)
        await cycle_after(emu, watcher, 4 * DAY)
        await cycle_after(emu, watcher, DAY + HOUR)  # gone, detail forgotten, no sweep
        assert emu.world.mps[task_id].status == "FINISH"
        assert watcher.actionable() == []
        assert watcher.tracker.presumed == {}


async def test_leaving_the_listing_at_the_end_of_the_list_window_is_presumed_active() -> None:
    async with watched(finish_sweep=30 * DAY) as (emu, watcher):
        task_id = live(emu, runs_for=None)
        await cycle_after(emu, watcher, 0)
        await cycle_after(emu, watcher, 7 * DAY)  # 7 days and 60 s after its creation
        (presumed,) = watcher.actionable()
        assert presumed.id == task_id
        assert presumed.status == "PROCESSING"
        assert presumed.unobserved_since == emu.world.now()
        assert watcher.last_report is not None
        assert watcher.last_report.active == 1
