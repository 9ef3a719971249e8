"""The status page of a daemon watching the emulator: its numbers agree with metrics and world.

Each test runs real cycles against the emulator (the demo world, or a world built for the case),
then renders the page from :meth:`Supervisor.status_snapshot` and reads it as text, and reads the
same source's ``taskwatch_tasks`` from the registry: the Sources row, the Tasks table and the
metric must say the same thing, and say it about what the world holds.
"""

from __future__ import annotations

import collections
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from taskwatch.cli.demo import summary_line as demo_line
from taskwatch.clock import ManualClock
from taskwatch.emulator.faults import Fault
from taskwatch.emulator.scenario import load_scenario
from taskwatch.emulator.world import MpsTask, Plan
from taskwatch.supervisor import Supervisor
from taskwatch.web.statuspage import StatusSnapshot, render
from tests.e2e.daemon import EMULATOR_LIMITS, LIFTED, daemon
from tests.emulator.harness import Running, running_emulator, start_time

DEMO = Path(__file__).resolve().parents[2] / "config" / "emulator" / "demo.yaml"
ONLY_LIVE = {"mps": {"enabled": False}, "dlc": {"enabled": False}, "live": {"interval": "5s"}}
ONLY_MPS = {"mps": {"interval": "5s"}, "dlc": {"enabled": False}, "live": {"enabled": False}}


@asynccontextmanager
async def demo_world() -> AsyncIterator[Running]:
    """The emulator running the `make demo` world (config/emulator/demo.yaml)."""
    clock = ManualClock(wall=start_time(), mono=1000.0)
    world = load_scenario(DEMO).build_world(clock)
    async with running_emulator(world=world, clock=clock, limits=EMULATOR_LIMITS) as emu:
        yield emu


def snapshot(d: Supervisor) -> StatusSnapshot:
    d.journal.open()
    try:
        return d.status_snapshot()
    finally:
        d.journal.close()


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def metric_total(d: Supervisor, product: str) -> float:
    return sum(
        sample.value
        for family in d.metrics.registry.collect()
        for sample in family.samples
        if sample.name == "taskwatch_tasks" and sample.labels["product"] == product
    )


async def test_the_demo_worlds_live_tasks_are_one_number_on_the_page_and_in_the_metric() -> None:
    async with demo_world() as emu:
        d = daemon(emu, products=ONLY_LIVE)
        (report,) = await d.run_once()
        listed = collections.Counter(t.status for t in emu.world.live.values())
    assert report.ok, report.message
    assert listed == {"enable": 6, "pause": 1}  # the demo world: 7 listed Live tasks

    snap = snapshot(d)
    (source,) = snap.sources
    table = {t.status: t.count for t in snap.tasks if t.product == "live"}
    assert table == dict(listed)
    assert source.active == 7
    assert metric_total(d, "live") == 7
    assert report.active == 7
    text = text_of(render(snap))
    assert re.search(r"main/live/ap-guangzhou ok [\d.]+ s \d+ 7 ", text), text
    # and `make demo`'s own summary line says the same (it said "4 enable")
    assert "main/live/ap-guangzhou: 6 enable, 1 pause;" in demo_line(d, d.metrics)


async def test_a_failing_source_shows_its_last_good_task_count_as_the_metric_does() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        now = emu.world.now()
        for i in range(50):
            emu.world.add_mps(
                MpsTask(
                    task_id=emu.world.mps_id("WorkflowTask"),
                    task_type="WorkflowTask",
                    status="PROCESSING" if i % 2 else "WAITING",
                    created=now - 600,
                    started=now - 300 if i % 2 else None,
                    plan=Plan(wait=None, run=None),
                )
            )
        d = daemon(
            emu, products=ONLY_MPS, api={"budget": 1.0, "limits": LIFTED, "retry_attempts": 1}
        )
        watcher = d.sources[0].watcher
        async with d.transport:
            ok = await watcher.cycle()
            emu.emulator.faults.faults.append(Fault(kind="error", code="InternalError"))
            failed = await watcher.cycle()
    assert ok.ok
    assert not failed.ok

    snap = snapshot(d)
    (source,) = snap.sources
    assert (source.cycled, source.ok, source.error) == (True, False, failed.error)
    assert metric_total(d, "mps") == 50
    assert sum(t.count for t in snap.tasks) == 50
    assert source.active == 50
    text = text_of(render(snap))
    assert re.search(r"main/mps/global failing [\d.]+ s \d+ 50 ", text), text


async def test_the_page_shows_the_demo_worlds_stuck_queue_oldest_first() -> None:
    async with demo_world() as emu:
        d = daemon(emu, products=ONLY_MPS)
        (report,) = await d.run_once()
        stuck = next(t for t in emu.world.mps.values() if t.session_id == "stuck-1")
    assert report.ok, report.message

    snap = snapshot(d)
    oldest = snap.oldest_waiting[0]
    assert (oldest.id, oldest.status) == (stuck.task_id, "WAITING")
    assert 26 * 3600 <= oldest.waiting_for < 26 * 3600 + 60
    page = render(snap)
    assert '<section id="waiting">' in page
    waiting = text_of(page.split('<section id="waiting">')[1].split("</section>")[0])
    assert f"mps main / global {stuck.task_id} WorkflowTask WAITING 1d 2h" in waiting
