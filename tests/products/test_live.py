"""The Live adapter: the whole pull-task list paged by 20, phases that follow each task's time
window, done tasks reported as finished (once, while young enough), run status as detail.

Against the emulator over real HTTP unless only a fake can show it (a pager that never moves).
Each test builds its own emulator, world and clock; time moves by ``clock.advance``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from taskwatch.clock import ManualClock
from taskwatch.emulator.world import LiveTask, World
from taskwatch.models import Phase, Result, SourceKey
from taskwatch.products.base import CallCounter, Caller, PagingError
from taskwatch.products.live import LiveAdapter, normalise, phase_at
from tests.emulator.harness import Running, fast_transport, running_emulator, taskwatch_client
from tests.products.fakes import ScriptedCaller

REGION = "ap-guangzhou"
SOURCE = SourceKey("main", "live", REGION)
HOUR = 3600.0
DAY = 86400.0


@asynccontextmanager
async def emulated() -> AsyncIterator[tuple[Running, Caller]]:
    async with running_emulator() as running, fast_transport() as transport:
        yield running, taskwatch_client(running, transport)


def adapter(client: Caller, clock: ManualClock | None = None, **kw: Any) -> LiveAdapter:
    return LiveAdapter(
        client=client, account="main", region=REGION, clock=clock or ManualClock(), **kw
    )


def add(
    world: World,
    *,
    starts_in: float = -HOUR,
    lasts: float = 2 * HOUR,
    created_ago: float = 2 * HOUR,
    **kw: Any,
) -> LiveTask:
    """A task whose window opens ``starts_in`` seconds from now and lasts ``lasts``."""
    now = world.now()
    return world.add_live(
        LiveTask(
            task_id=world.live_id(),
            created=now - created_ago,
            updated=now - created_ago,
            start_time=now + starts_in,
            end_time=now + starts_in + lasts,
            **kw,
        )
    )


# --- scanning against the emulator ----------------------------------------------------------


async def test_a_scan_pages_every_task_by_20_to_the_last_page() -> None:
    async with emulated() as (running, client):
        ids = {add(running.world, starts_in=-HOUR + i).task_id for i in range(45)}
        calls = CallCounter()

        scan = await adapter(client, running.clock).scan(sweep=False, calls=calls)

    assert set(scan.active) == ids
    assert {t.phase for t in scan.active.values()} == {Phase.RUNNING}
    assert calls.by_action == {"DescribeLivePullStreamTasks": 3}
    assert scan.swept is True


async def test_a_scan_asks_for_page_after_page_in_the_region() -> None:
    fake = ScriptedCaller(lambda action, params: {"TaskInfos": [], "TotalPage": 0})

    await adapter(fake, page_size=5).scan(sweep=True, calls=CallCounter())

    assert fake.log == [("DescribeLivePullStreamTasks", {"PageNum": 1, "PageSize": 5}, REGION)]


async def test_a_task_moves_from_pending_to_running_to_done_across_its_window() -> None:
    async with emulated() as (running, client):
        task = add(running.world, starts_in=60.0, lasts=120.0, created_ago=10.0)
        live = adapter(client, running.clock)

        before = (await live.scan(sweep=False, calls=CallCounter())).active[task.task_id]
        running.clock.advance(60)
        during = (await live.scan(sweep=False, calls=CallCounter())).active[task.task_id]
        running.clock.advance(120)
        scan = await live.scan(sweep=False, calls=CallCounter())

    after = scan.finished[task.task_id]
    assert task.task_id not in scan.active
    assert (before.phase, during.phase, after.phase) == (Phase.PENDING, Phase.RUNNING, Phase.DONE)
    assert (before.started, during.started) == (None, task.start_time)
    assert (during.finished, after.finished) == (None, task.end_time)
    assert (during.result, after.result) == (None, Result.SUCCESS)
    assert len({before.fingerprint, during.fingerprint, after.fingerprint}) == 3
    assert after.duration() == 120.0


async def test_a_paused_task_inside_its_window_is_pending() -> None:
    async with emulated() as (running, client):
        task = add(running.world, status="pause")

        scan = await adapter(client, running.clock).scan(sweep=False, calls=CallCounter())

    assert scan.active[task.task_id].phase is Phase.PENDING
    assert scan.active[task.task_id].status == "pause"


async def test_a_done_task_is_reported_finished_only_while_the_tracker_remembers_it() -> None:
    async with emulated() as (running, client):
        recent = add(running.world, starts_in=-3 * DAY, lasts=DAY, created_ago=3 * DAY)
        add(running.world, starts_in=-20 * DAY, lasts=DAY, created_ago=20 * DAY)
        live = adapter(client, running.clock)

        scan = await live.scan(sweep=False, calls=CallCounter())

    assert set(scan.finished) == {recent.task_id}
    assert scan.active == {}
    assert live.window == 14 * DAY


# --- refresh and describe -------------------------------------------------------------------


async def test_refresh_adds_the_run_status_and_leaves_out_deleted_tasks() -> None:
    async with emulated() as (running, client):
        world = running.world
        on_air = add(world, source_type="PullVodPushLive")
        upcoming = add(world, starts_in=HOUR)
        deleted = add(world)
        live = adapter(client, running.clock)
        scan = await live.scan(sweep=False, calls=CallCounter())
        world.delete_live(deleted.task_id)
        asked = [scan.active[t.task_id] for t in (on_air, deleted, upcoming)]
        calls = CallCounter()

        fresh = await live.refresh(asked, calls)

    assert [t.id for t in fresh] == [on_air.task_id, upcoming.task_id]
    assert fresh[0].detail is not None
    assert fresh[0].detail["RunStatus"] == "active"
    assert fresh[0].type == "PullVodPushLive"
    assert fresh[1].detail is not None
    assert fresh[1].detail["RunStatus"] == "inactive"
    assert calls.by_action == {"DescribeLivePullStreamTaskStatus": 3}


async def test_a_refresh_reads_the_phase_at_the_time_of_the_refresh() -> None:
    async with emulated() as (running, client):
        task = add(running.world, starts_in=-HOUR, lasts=2 * HOUR)
        live = adapter(client, running.clock)
        listed = (await live.scan(sweep=False, calls=CallCounter())).active[task.task_id]
        running.clock.advance(2 * HOUR)

        [fresh] = await live.refresh([listed], CallCounter())

    assert (listed.phase, fresh.phase) == (Phase.RUNNING, Phase.DONE)
    assert fresh.detail is not None
    assert fresh.detail["RunStatus"] == "inactive"


async def test_describe_reads_the_task_and_its_status_or_none_once_deleted() -> None:
    async with emulated() as (running, client):
        task = add(running.world)
        live = adapter(client, running.clock)
        calls = CallCounter()

        found = await live.describe(task.task_id, calls)
        running.world.delete_live(task.task_id)
        gone = await live.describe(task.task_id, calls)

    assert found is not None
    assert found.phase is Phase.RUNNING
    assert found.fields["RecentPullInfo"] is not None
    assert found.detail is not None
    assert found.detail["RunStatus"] == "active"
    assert gone is None
    assert calls.by_action == {
        "DescribeLivePullStreamTasks": 2,
        "DescribeLivePullStreamTaskStatus": 1,
    }


# --- the paging guard and the constructor ---------------------------------------------------


def infos(*ids: str) -> list[dict[str, Any]]:
    return [{"TaskId": i, "Status": "enable", "SourceType": "PullLivePushLive"} for i in ids]


async def test_a_pager_that_repeats_the_same_page_raises_a_paging_error() -> None:
    fake = ScriptedCaller(lambda action, params: {"TaskInfos": infos("1", "2"), "TotalPage": 9})

    with pytest.raises(PagingError, match=r"PageNum=2.*no progress"):
        await adapter(fake).scan(sweep=False, calls=CallCounter())


async def test_a_listing_longer_than_max_pages_raises_a_paging_error() -> None:
    fake = ScriptedCaller(
        lambda action, params: {"TaskInfos": infos(str(params["PageNum"])), "TotalPage": 10**6}
    )

    with pytest.raises(PagingError, match="after 3 pages"):
        await adapter(fake, max_pages=3).scan(sweep=False, calls=CallCounter())


def test_live_needs_a_region_and_at_most_20_per_page() -> None:
    fake = ScriptedCaller(lambda a, p: {})
    with pytest.raises(ValueError, match="region"):
        LiveAdapter(client=fake, account="main", region="", clock=ManualClock())
    with pytest.raises(ValueError, match="between 1 and 20"):
        adapter(fake, page_size=21)
    assert adapter(fake).source == SOURCE


# --- normalise ------------------------------------------------------------------------------


def record(**over: Any) -> dict[str, Any]:
    base = {
        "TaskId": "10054",
        "SourceType": "PullLivePushLive",
        "Status": "enable",
        "StartTime": "2026-03-01T12:00:00Z",
        "EndTime": "2026-03-01T14:00:00Z",
        "CreateTime": "2026-03-01T11:00:00Z",
        "UpdateTime": "2026-03-01T11:30:00Z",
    }
    return {**base, **over}


START = 1772366400.0  # 2026-03-01T12:00:00Z


@pytest.mark.parametrize(
    ("status", "at", "phase"),
    [
        ("enable", START - 1, Phase.PENDING),
        ("enable", START, Phase.RUNNING),
        ("enable", START + 2 * HOUR - 1, Phase.RUNNING),
        ("enable", START + 2 * HOUR, Phase.DONE),
        ("pause", START + 1, Phase.PENDING),
        ("pause", START + 3 * HOUR, Phase.DONE),
    ],
)
def test_the_phase_follows_status_and_window(status: str, at: float, phase: Phase) -> None:
    assert phase_at(record(Status=status), at) is phase


def test_normalise_reads_iso_times_and_fingerprints_status_update_and_phase() -> None:
    task = normalise(record(), source=SOURCE, now=START + 60)

    assert task.type == "PullLivePushLive"
    assert task.created == START - HOUR
    assert task.started == START
    assert task.finished is None
    assert task.fingerprint == ("enable", "2026-03-01T11:30:00Z", "running")
    assert task.fields == record()
