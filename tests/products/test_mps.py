"""The MPS adapter: scans page to the end, de-duplicate across lists, guard against pagers that
never end, normalise records, and fetch detail with bounded concurrency.

Against the emulator over real HTTP unless a fake is the only way to show the behaviour (a broken
pager, how many calls are in flight at once). Each test builds its own emulator and world.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest

from taskwatch.clock import ManualClock
from taskwatch.emulator.world import MpsTask, Plan, World
from taskwatch.models import Phase, Result, SourceKey, Task
from taskwatch.products.base import CallCounter, Caller, PagingError
from taskwatch.products.mps import MpsAdapter, normalise, normalise_detail, result_of
from taskwatch.tencent.errors import ServerError, TaskNotFoundError
from taskwatch.timefmt import parse_iso
from tests.emulator.harness import Running, fast_transport, running_emulator, taskwatch_client
from tests.products.fakes import ScriptedCaller, Stepping

SOURCE = SourceKey("main", "mps", "global")
UNSET = "0000-00-00T00:00:00Z"


@asynccontextmanager
async def emulated() -> AsyncIterator[tuple[Running, Caller]]:
    async with running_emulator() as running, fast_transport() as transport:
        yield running, taskwatch_client(running, transport)


def adapter(client: Caller, clock: ManualClock | None = None, **kw: Any) -> MpsAdapter:
    return MpsAdapter(client=client, account="main", clock=clock or ManualClock(), **kw)


def add(
    world: World,
    status: str,
    *,
    age: float = 60.0,
    task_type: str = "WorkflowTask",
    plan: Plan | None = None,
    **fields: Any,
) -> MpsTask:
    """A task created ``age`` seconds ago that stays in ``status`` unless its plan says more."""
    created = world.now() - age
    task = MpsTask(
        task_id=world.mps_id(task_type),
        task_type=task_type,
        status=status,
        created=created,
        plan=plan or Plan(wait=None, run=None),
        **fields,
    )
    if status in ("PROCESSING", "FINISH"):
        task.started = created + 1
    if status == "FINISH":
        task.status = "PROCESSING"
        world.finish_mps(task, created + 2)
    return world.add_mps(task)


def record(**over: Any) -> dict[str, Any]:
    base = {
        "TaskId": "1250000000-WorkflowTask-abct0",
        "TaskType": "WorkflowTask",
        "CreateTime": "2026-03-01T12:00:00Z",
        "BeginProcessTime": UNSET,
        "FinishTime": UNSET,
        "SubTaskTypes": [],
    }
    return {**base, **over}


def page(ids: list[str], token: str) -> dict[str, Any]:
    return {"TaskSet": [record(TaskId=i) for i in ids], "ScrollToken": token, "TotalCount": 99}


# --- scanning against the emulator ----------------------------------------------------------


async def test_a_scan_pages_2500_active_tasks_to_the_end_and_sees_each_once() -> None:
    async with emulated() as (running, client):
        waiting = {add(running.world, "WAITING", age=i * 3.0).task_id for i in range(1000)}
        processing = {add(running.world, "PROCESSING", age=i * 2.0).task_id for i in range(1500)}
        calls = CallCounter()

        scan = await adapter(client, running.clock).scan(sweep=False, calls=calls)

    assert set(scan.active) == waiting | processing
    assert {t.status for i, t in scan.active.items() if i in waiting} == {"WAITING"}
    assert {t.phase for i, t in scan.active.items() if i in processing} == {Phase.RUNNING}
    assert calls.by_action == {"DescribeTasks": 10 + 15}
    assert scan.finished == {}
    assert scan.swept is False


async def test_a_task_that_starts_mid_scan_is_reported_once_as_processing() -> None:
    async with emulated() as (running, client):
        t0 = running.world.now()
        ids = [add(running.world, "WAITING", age=10.0 + i).task_id for i in range(250)]
        newest, oldest = running.world.mps[ids[0]], running.world.mps[ids[-1]]
        # both start at t0 + 1.5: after WAITING page 1 listed the newest, before page 3 would
        # have listed the oldest; the PROCESSING listing sees both
        for task in (newest, oldest):
            task.plan = Plan(wait=t0 + 1.5 - task.created, run=None)
            running.world.add_mps(task)
        stepping = Stepping(client, running.clock, step=1.0)
        calls = CallCounter()

        scan = await adapter(stepping, running.clock).scan(sweep=False, calls=calls)

    assert set(scan.active) == set(ids)
    assert scan.active[newest.task_id].status == "PROCESSING"
    assert scan.active[oldest.task_id].status == "PROCESSING"
    assert sum(t.status == "WAITING" for t in scan.active.values()) == 248
    assert calls.by_action["DescribeTasks"] == 3 + 1


async def test_a_sweep_lists_finish_and_reports_those_tasks_finished_not_active() -> None:
    async with emulated() as (running, client):
        active = add(running.world, "PROCESSING").task_id
        done = {add(running.world, "FINISH", age=3600.0 + i).task_id for i in range(150)}
        calls = CallCounter()

        scan = await adapter(client, running.clock).scan(sweep=True, calls=calls)

    assert set(scan.active) == {active}
    assert set(scan.finished) == done
    assert scan.swept is True
    assert {t.phase for t in scan.finished.values()} == {Phase.DONE}
    assert all(t.finished is not None and t.result is None for t in scan.finished.values())
    assert calls.by_action == {"DescribeTasks": 1 + 1 + 2}


async def test_a_task_that_finishes_before_the_finish_listing_is_only_reported_finished() -> None:
    async with emulated() as (running, client):
        t0 = running.world.now()
        task = add(running.world, "PROCESSING", plan=Plan(wait=None, run=None))
        task.plan = Plan(wait=None, run=t0 + 1.5 - (task.started or 0.0))
        running.world.add_mps(task)
        stepping = Stepping(client, running.clock, step=1.0)

        scan = await adapter(stepping, running.clock).scan(sweep=True, calls=CallCounter())

    assert scan.active == {}
    assert scan.finished[task.task_id].status == "FINISH"


async def test_an_empty_account_costs_one_call_per_status() -> None:
    async with emulated() as (running, client):
        calls = CallCounter()
        scan = await adapter(client, running.clock).scan(sweep=True, calls=calls)

    assert scan.active == {}
    assert scan.finished == {}
    assert calls.total == 3


# --- the paging guard (a broken pager cannot be built from the emulator) ---------------------


async def test_a_repeated_scroll_token_raises_a_paging_error_naming_the_listing() -> None:
    pages = iter([page(["a"], "b"), page(["b"], "c"), page(["c"], "b")])
    fake = ScriptedCaller(lambda action, params: next(pages))

    with pytest.raises(PagingError, match=r"Status=WAITING.*repeated ScrollToken 'b'"):
        await adapter(fake).scan(sweep=False, calls=CallCounter())


async def test_an_empty_page_that_names_a_next_page_raises_a_paging_error() -> None:
    fake = ScriptedCaller(lambda action, params: page([], "next"))

    with pytest.raises(PagingError, match="empty but named a next page"):
        await adapter(fake).scan(sweep=False, calls=CallCounter())


async def test_a_listing_longer_than_max_pages_raises_a_paging_error() -> None:
    counter = iter(range(1_000))
    fake = ScriptedCaller(
        lambda action, params: page([str(next(counter))], "t" + str(next(counter)))
    )
    calls = CallCounter()

    with pytest.raises(PagingError, match="after 5 pages"):
        await adapter(fake, max_pages=5).scan(sweep=False, calls=calls)
    assert calls.total == 5


async def test_scan_asks_for_the_page_size_and_sends_the_token_back() -> None:
    pages = iter([page(["a", "b"], "c"), page(["c"], ""), page([], "")])
    fake = ScriptedCaller(lambda action, params: next(pages))

    scan = await adapter(fake, page_size=2).scan(sweep=False, calls=CallCounter())

    assert set(scan.active) == {"a", "b", "c"}
    assert [p for _, p, _ in fake.log] == [
        {"Status": "WAITING", "Limit": 2},
        {"Status": "WAITING", "Limit": 2, "ScrollToken": "c"},
        {"Status": "PROCESSING", "Limit": 2},
    ]
    assert {region for _, _, region in fake.log} == {None}


def test_a_page_size_above_the_api_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="between 1 and 100"):
        adapter(ScriptedCaller(lambda a, p: {}), page_size=101)


def test_the_source_is_global_unless_a_region_is_given() -> None:
    fake = ScriptedCaller(lambda a, p: {})
    assert adapter(fake).source == SourceKey("main", "mps", "global")
    assert adapter(fake, region="ap-guangzhou").source.region == "ap-guangzhou"
    assert adapter(fake).window == 7 * 86400


# --- normalise ------------------------------------------------------------------------------


def test_normalise_reads_the_sentinel_as_unset() -> None:
    task = normalise(record(), status="WAITING", source=SOURCE)

    assert task.created == 1772366400.0
    assert task.started is None
    assert task.finished is None
    assert task.phase is Phase.PENDING
    assert task.result is None


def test_normalise_spells_the_live_type_as_the_detail_does_and_keeps_the_raw_record() -> None:
    raw = record(TaskType="LiveProcessTask")
    task = normalise(raw, status="PROCESSING", source=SOURCE)

    assert task.type == "LiveStreamProcessTask"
    assert task.fields == raw


@pytest.mark.parametrize(
    ("status", "phase"),
    [("WAITING", Phase.PENDING), ("PROCESSING", Phase.RUNNING), ("FINISH", Phase.DONE)],
)
def test_normalise_maps_each_status_to_its_phase(status: str, phase: Phase) -> None:
    assert normalise(record(), status=status, source=SOURCE).phase is phase


def test_the_fingerprint_is_status_begin_and_finish_as_printed() -> None:
    raw = record(BeginProcessTime="2026-03-01T12:00:05Z")
    task = normalise(raw, status="PROCESSING", source=SOURCE)

    assert task.fingerprint == ("PROCESSING", "2026-03-01T12:00:05Z", UNSET)
    assert task.started == 1772366405.0
    assert task.source == SOURCE


def detail(
    status: str = "FINISH", begin: str = "2026-03-01T12:00:05Z", **sub: Any
) -> dict[str, Any]:
    workflow = {"TaskId": "x", "Status": status, "ErrCode": 0, "Message": "",
                "MediaProcessResultSet": [], **sub}  # fmt: skip
    return {
        "TaskType": "WorkflowTask",
        "Status": status,
        "CreateTime": "2026-03-01T12:00:00Z",
        "BeginProcessTime": begin,
        "FinishTime": "2026-03-01T12:01:00Z" if status == "FINISH" else UNSET,
        "WorkflowTask": workflow,
        "EditMediaTask": None,
        "RequestId": "r-1",
    }


def transcode(status: str) -> dict[str, Any]:
    return {"Type": "Transcode", "TranscodeTask": {"Status": status, "ErrCode": 0}}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (detail(), Result.SUCCESS),
        (detail(ErrCode=70000), Result.FAILED),
        (detail(MediaProcessResultSet=[transcode("SUCCESS"), transcode("FAIL")]), Result.FAILED),
        (detail(begin=UNSET), Result.ABORTED),
        (detail(status="PROCESSING"), None),
    ],
    ids=["clean", "task-error", "failed-sub-result", "never-began", "not-finished"],
)
def test_the_result_is_read_from_the_detail(
    answer: dict[str, Any], expected: Result | None
) -> None:
    assert result_of(answer) is expected


def test_normalise_detail_takes_status_and_times_from_the_detail_and_drops_the_request_id() -> None:
    listed = record(BeginProcessTime="2026-03-01T12:00:05Z")
    task = normalise_detail("x", detail(), source=SOURCE, fields=listed)

    assert (task.status, task.phase, task.result) == ("FINISH", Phase.DONE, Result.SUCCESS)
    assert task.finished == 1772366460.0
    assert task.fields == listed
    assert task.detail is not None
    assert "RequestId" not in task.detail
    assert task.fingerprint == ("FINISH", "2026-03-01T12:00:05Z", "2026-03-01T12:01:00Z")


# --- refresh and describe -------------------------------------------------------------------


async def test_refresh_returns_detail_for_each_task_and_leaves_out_unknown_ones() -> None:
    async with emulated() as (running, client):
        world = running.world
        ok = add(world, "FINISH", task_type="EditMediaTask")
        failed = add(world, "PROCESSING", plan=Plan(wait=None, run=None, fail=True))
        world.finish_mps(failed, world.now(), failed=True)
        aborted = add(world, "WAITING")
        world.finish_mps(aborted, world.now(), aborted=True)
        live = add(world, "PROCESSING", task_type="LiveStreamProcessTask")
        mps = adapter(client, running.clock)
        scan = await mps.scan(sweep=True, calls=CallCounter())
        missing = normalise(record(TaskId="1250000000-WorkflowTask-gonet0"), status="WAITING",
                            source=mps.source)  # fmt: skip
        asked = [scan.finished[ok.task_id], missing, scan.finished[failed.task_id],
                 scan.finished[aborted.task_id], scan.active[live.task_id]]  # fmt: skip
        calls = CallCounter()

        fresh = await mps.refresh(asked, calls)

    assert [t.id for t in fresh] == [ok.task_id, failed.task_id, aborted.task_id, live.task_id]
    results = {t.id: t.result for t in fresh}
    assert results[ok.task_id] is Result.SUCCESS
    assert results[failed.task_id] is Result.FAILED
    assert results[aborted.task_id] is Result.ABORTED
    assert results[live.task_id] is None
    live_task = fresh[-1]
    assert live_task.type == "LiveStreamProcessTask"
    assert live_task.phase is Phase.RUNNING
    assert live_task.fields["TaskType"] == "LiveProcessTask"
    assert live_task.detail is not None
    assert live_task.detail["LiveStreamProcessTask"]["Url"]
    assert calls.by_action == {"DescribeTaskDetail": 5}


async def test_a_refresh_sees_the_newer_status_from_the_detail() -> None:
    async with emulated() as (running, client):
        task = add(running.world, "WAITING")
        mps = adapter(client, running.clock)
        listed = (await mps.scan(sweep=False, calls=CallCounter())).active[task.task_id]
        task.plan = Plan(wait=running.world.now() + 5 - task.created, run=None)
        running.world.add_mps(task)
        running.clock.advance(10)

        [fresh] = await mps.refresh([listed], CallCounter())

    assert (listed.status, fresh.status) == ("WAITING", "PROCESSING")
    assert fresh.started is not None
    assert fresh.fingerprint != listed.fingerprint


async def test_describe_is_one_fresh_observation_or_none_for_an_unknown_task() -> None:
    async with emulated() as (running, client):
        task = add(running.world, "PROCESSING", task_type="LiveStreamProcessTask")
        mps = adapter(client, running.clock)
        calls = CallCounter()

        found = await mps.describe(task.task_id, calls)
        unknown = await mps.describe("1250000000-WorkflowTask-nonet0", calls)

    assert found is not None
    assert found.id == task.task_id
    assert found.status == "PROCESSING"
    assert found.detail is not None
    assert found.fields["TaskType"] == "LiveProcessTask"
    assert unknown is None
    assert calls.by_action == {"DescribeTaskDetail": 2}


def fake_detail(missing: set[str]) -> ScriptedCaller:
    def respond(action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if params["TaskId"] in missing:
            raise TaskNotFoundError("ResourceNotFound", "no such task", "r")
        return detail(status="PROCESSING")

    return ScriptedCaller(respond)


def listed(task_id: str) -> Task:
    return normalise(record(TaskId=task_id), status="WAITING", source=SOURCE)


async def test_refresh_has_at_most_detail_concurrency_calls_in_flight() -> None:
    fake = fake_detail(missing={"t7"})
    tasks = [listed(f"t{i}") for i in range(30)]

    fresh = await adapter(fake, detail_concurrency=4).refresh(tasks, CallCounter())

    assert fake.max_in_flight == 4
    assert sorted(p["TaskId"] for _, p, _ in fake.log) == sorted(t.id for t in tasks)
    assert [t.id for t in fresh] == [t.id for t in tasks if t.id != "t7"]


async def test_a_detail_error_other_than_not_found_propagates_as_itself() -> None:
    def respond(action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if params["TaskId"] == "t3":
            raise ServerError("InternalError", "boom", "r")
        return detail()

    fake = ScriptedCaller(respond)

    with pytest.raises(ServerError, match="boom"):
        await adapter(fake, detail_concurrency=2).refresh(
            [listed(f"t{i}") for i in range(10)], CallCounter()
        )


async def test_simultaneous_detail_errors_still_propagate_as_one_plain_error() -> None:
    def respond(action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        raise ServerError("InternalError", f"boom {params['TaskId']}", "r")

    fake = ScriptedCaller(respond)

    with pytest.raises(ServerError, match="boom t"):
        await adapter(fake, detail_concurrency=3).refresh(
            [listed(f"t{i}") for i in range(3)], CallCounter()
        )
    assert fake.max_in_flight == 3


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("2026-03-01T12:00:00Z", 1772366400.0),
        ("2026-03-01T12:00:00", 1772366400.0),
        ("2026-03-01T20:00:00+08:00", 1772366400.0),
        (UNSET, None),
        ("", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_iso_times_read_as_utc_and_the_unset_spellings_as_none(
    printed: str | None, expected: float | None
) -> None:
    assert parse_iso(printed) == expected
