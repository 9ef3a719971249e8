"""``taskwatch snapshot`` round trips: an emulator's world, snapshotted and loaded into a second
emulator at the same clock reading, answers every list and detail call the same way (RequestIds
aside); a snapshot of that second world is the same file; and taking one calls nothing but list
and detail actions."""

from __future__ import annotations

import time

import pytest

from taskwatch.cli.snapshot import take_snapshot
from taskwatch.emulator.scenario import loads_scenario
from taskwatch.tencent.transport import Transport
from tests.e2e.daemon import FollowClock
from tests.emulator.harness import Running, fast_transport, taskwatch_client
from tests.snapshot.worlds import (
    DEMO,
    LARGE,
    REGION,
    answers,
    from_file,
    from_text,
    snapshot_settings,
)

READS = {
    ("mps", "DescribeTasks"),
    ("mps", "DescribeTaskDetail"),
    ("dlc", "DescribeTasks"),
    ("live", "DescribeLivePullStreamTasks"),
}


async def snapshot_text(running: Running) -> str:
    snap = await take_snapshot(
        snapshot_settings(running), clock=FollowClock(running.clock), config_name="taskwatch.yaml"
    )
    return snap.text()


async def moved_on(running: Running, transport: Transport) -> None:
    """The demo world 37 minutes on, with an abort, a cancel and a delete behind it: generated
    tasks, finished ones, aborted ones (waiting and processing), a cancelled query."""
    running.clock.advance(37 * 60)
    client = taskwatch_client(running, transport)
    world = running.world
    waiting = next(t for t in world.mps.values() if t.status == "WAITING")
    live = next(t for t in world.mps.values() if t.task_type == "LiveStreamProcessTask"
                and t.status == "PROCESSING")  # fmt: skip
    for task in (waiting, live):
        await client.call("mps", "ManageTask", {"OperationType": "Abort", "TaskId": task.task_id})
    query = next(d for d in world.dlc.values() if d.state == 1)
    await client.call("dlc", "CancelTask", {"TaskId": query.task_id}, region=REGION)
    relay = next(iter(world.live))
    params = {"TaskId": relay, "Operator": "test"}
    await client.call("live", "DeleteLivePullStreamTask", params, region=REGION)
    running.clock.advance(90)


def assert_same(got: dict[object, object], expected: dict[object, object]) -> None:
    assert sorted(map(str, got)) == sorted(map(str, expected))
    for key, value in expected.items():
        assert got[key] == value, key


async def test_a_snapshot_of_the_demo_world_answers_every_list_and_detail_call_as_it_did() -> None:
    async with from_file(DEMO) as a, fast_transport() as transport:
        await moved_on(a, transport)
        text = await snapshot_text(a)
        expected = await answers(a, transport)
        async with from_text(text, a.clock.now()) as b:
            assert_same(await answers(b, transport), expected)
    scenario = loads_scenario(text)
    assert {t.product for t in scenario.tasks} == {"mps", "dlc", "live"}
    assert sum(1 for t in scenario.tasks if t.aborted) >= 4  # the demo's three, and ours
    assert len(expected) > 300  # pages and details of every task, compared one by one


async def test_a_snapshot_of_a_snapshot_is_the_same_file() -> None:
    async with from_file(DEMO) as a, fast_transport() as transport:
        await moved_on(a, transport)
        text = await snapshot_text(a)
        async with from_text(text, a.clock.now()) as b:
            assert await snapshot_text(b) == text


async def test_taking_a_snapshot_calls_only_list_and_detail_actions() -> None:
    async with from_file(DEMO) as a, fast_transport() as transport:
        await moved_on(a, transport)
        before = a.emulator.log[-1].seq
        await snapshot_text(a)
        calls = [e for e in a.emulator.log if e.seq > before]
    assert calls, "the snapshot made no call at all"
    assert {(e.product, e.action) for e in calls} <= READS
    assert {(e.product, e.action) for e in calls} == READS  # every source was read


async def test_a_snapshot_of_the_large_world_lists_every_task_and_sampled_details_alike() -> None:
    async with from_file(LARGE) as a, fast_transport() as transport:
        a.clock.advance(600)
        started = time.perf_counter()
        text = await snapshot_text(a)
        took = time.perf_counter() - started
        async with from_text(text, a.clock.now()) as b:
            for status in ("WAITING", "PROCESSING", "FINISH"):
                pages_a = await _pages(a, transport, status)
                assert await _pages(b, transport, status) == pages_a
            ids = sorted(a.world.mps)[::97]
            for running in (a, b):
                client = taskwatch_client(running, transport)
                details = [
                    _clean(await client.call("mps", "DescribeTaskDetail", {"TaskId": i}))
                    for i in ids
                ]
                if running is a:
                    expected = details
            assert details == expected
    assert len(a.world.mps) > 10_000
    print(f"snapshot of the large world ({len(a.world.mps)} MPS tasks): {took:.1f} s")


@pytest.mark.slow
async def test_the_large_world_round_trips_every_detail_and_snapshots_to_the_same_file() -> None:
    async with from_file(LARGE) as a, fast_transport() as transport:
        a.clock.advance(600)
        text = await snapshot_text(a)
        expected = await answers(a, transport)
        async with from_text(text, a.clock.now()) as b:
            assert_same(await answers(b, transport), expected)
            assert await snapshot_text(b) == text


def _clean(answer: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in answer.items() if k != "RequestId"}


async def _pages(running: Running, transport: Transport, status: str) -> list[object]:
    client = taskwatch_client(running, transport)
    pages, token = [], ""
    while True:
        params: dict[str, object] = {"Status": status, "Limit": 100}
        if token:
            params["ScrollToken"] = token
        page = _clean(await client.call("mps", "DescribeTasks", params))
        pages.append(page)
        token = str(page["ScrollToken"])
        if not token:
            return pages
