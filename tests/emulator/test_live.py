"""The Live pull-stream handlers on a world of their own: paging, single-task detail, run status,
deletion.

Each test builds its own :class:`World` on a :class:`ManualClock` and calls the handlers as the
server does (parameters through :func:`coerce` first), without HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tencentcloud.live.v20180801 import models as live_models

from taskwatch.clock import ManualClock
from taskwatch.emulator import live
from taskwatch.emulator.actions import CallContext, Options
from taskwatch.emulator.wire import EmulatedError, coerce
from taskwatch.emulator.world import LiveTask, World

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
HOUR = 3600.0


def make_world() -> tuple[World, ManualClock]:
    clock = ManualClock(wall=START)
    return World(clock, seed=3), clock


def call(world: World, action: str, options: Options | None = None, **params: Any) -> Any:
    spec = live.ACTIONS[action]
    context = CallContext(
        region="ap-guangzhou",
        language="en-US",
        secret_id="AKIDEXAMPLE",
        options=options or Options(),
    )
    return spec.handler(world, coerce(spec.spec, params), context)


def error_of(world: World, action: str, **params: Any) -> str:
    with pytest.raises(EmulatedError) as caught:
        call(world, action, **params)
    return caught.value.code


def add(
    world: World,
    task_id: str,
    *,
    updated_ago: float = 0.0,
    starts_in: float = -HOUR,
    lasts: float = 2 * HOUR,
    **kw: Any,
) -> LiveTask:
    """A task updated ``updated_ago`` seconds ago whose window opens ``starts_in`` from now."""
    now = world.now()
    start = now + starts_in
    return world.add_live(
        LiveTask(
            task_id=task_id,
            created=now - updated_ago - HOUR,
            updated=now - updated_ago,
            start_time=start,
            end_time=start + lasts,
            **kw,
        )
    )


def task_ids(response: dict[str, Any]) -> list[str]:
    return [info["TaskId"] for info in response["TaskInfos"]]


def status(world: World, task_id: str) -> dict[str, Any]:
    info: dict[str, Any] = call(world, "DescribeLivePullStreamTaskStatus", TaskId=task_id)[
        "TaskStatusInfo"
    ]
    return info


# --- listing --------------------------------------------------------------------------------------


def test_paging_reaches_every_task_exactly_once_and_reports_the_page_count() -> None:
    world, _ = make_world()
    for n in range(45):
        add(world, str(10000 + n), updated_ago=float(n))
    seen: list[str] = []
    for page_num in (1, 2, 3):
        page = call(world, "DescribeLivePullStreamTasks", PageNum=page_num, PageSize=20)
        assert (page["PageNum"], page["PageSize"]) == (page_num, 20)
        assert (page["TotalNum"], page["TotalPage"]) == (45, 3)
        seen += task_ids(page)
    assert len(seen) == 45
    assert set(seen) == {str(10000 + n) for n in range(45)}
    past = call(world, "DescribeLivePullStreamTasks", PageNum=4, PageSize=20)
    assert past["TaskInfos"] == []
    assert (past["TotalNum"], past["TotalPage"]) == (45, 3)


def test_page_number_and_size_default_to_one_and_ten() -> None:
    world, _ = make_world()
    for n in range(25):
        add(world, str(10000 + n), updated_ago=float(n))
    page = call(world, "DescribeLivePullStreamTasks")
    assert (page["PageNum"], page["PageSize"], page["TotalPage"]) == (1, 10, 3)
    assert len(page["TaskInfos"]) == 10


def test_an_empty_account_has_no_pages() -> None:
    world, _ = make_world()
    page = call(world, "DescribeLivePullStreamTasks")
    assert (page["TaskInfos"], page["TotalNum"], page["TotalPage"]) == ([], 0, 0)


@pytest.mark.parametrize(("name", "value"), [("PageSize", 0), ("PageSize", 21), ("PageNum", 0)])
def test_a_page_size_outside_one_to_twenty_or_a_page_below_one_is_refused(
    name: str, value: int
) -> None:
    world, _ = make_world()
    code = error_of(world, "DescribeLivePullStreamTasks", **{name: value})
    assert code == "InvalidParameterValue"


def test_tasks_are_listed_by_update_time_newest_first_then_by_task_id() -> None:
    world, _ = make_world()
    add(world, "10003", updated_ago=300.0)
    add(world, "10002", updated_ago=10.0)
    add(world, "10010", updated_ago=10.0)
    add(world, "9999", updated_ago=10.0)
    page = call(world, "DescribeLivePullStreamTasks")
    assert task_ids(page) == ["9999", "10002", "10010", "10003"]


def test_the_limit_on_tasks_comes_from_the_options() -> None:
    world, _ = make_world()
    page = call(world, "DescribeLivePullStreamTasks", options=Options(live_limit_task_num=7))
    assert page["LimitTaskNum"] == 7


def test_times_are_iso_8601_utc_with_a_z() -> None:
    world, _ = make_world()
    add(world, "10000", updated_ago=90.0, starts_in=HOUR, lasts=HOUR)
    info = call(world, "DescribeLivePullStreamTasks")["TaskInfos"][0]
    assert info["StartTime"] == "2026-03-01T13:00:00Z"
    assert info["EndTime"] == "2026-03-01T14:00:00Z"
    assert info["UpdateTime"] == "2026-03-01T11:58:30Z"
    assert info["CreateTime"] == "2026-03-01T10:58:30Z"


def test_every_field_of_the_sdk_model_is_present_and_no_other() -> None:
    world, _ = make_world()
    add(world, "10000")
    info = call(world, "DescribeLivePullStreamTasks", TaskId="10000")["TaskInfos"][0]
    assert set(info) == {name[1:] for name in vars(live_models.PullStreamTaskInfo())}
    recent = {name[1:] for name in vars(live_models.RecentPullInfo())}
    assert set(info["RecentPullInfo"]) == recent


def test_recent_pull_info_is_given_only_when_one_task_is_asked_for() -> None:
    world, _ = make_world()
    add(world, "10000", source_urls=["rtmp://src.example.com/live/a"])
    add(world, "10001")
    listed = call(world, "DescribeLivePullStreamTasks")["TaskInfos"]
    assert all(info["RecentPullInfo"] is None for info in listed)
    single = call(world, "DescribeLivePullStreamTasks", TaskId="10000")
    assert task_ids(single) == ["10000"]
    assert (single["TotalNum"], single["TotalPage"]) == (1, 1)
    recent = single["TaskInfos"][0]["RecentPullInfo"]
    assert recent["FileUrl"] == "rtmp://src.example.com/live/a"
    assert recent["ReportTime"] == "2026-03-01T12:00:00Z"


def test_a_task_created_with_a_custom_id_is_found_by_specify_task_id() -> None:
    world, _ = make_world()
    add(world, "my-custom-id")
    page = call(world, "DescribeLivePullStreamTasks", SpecifyTaskId="my-custom-id")
    assert task_ids(page) == ["my-custom-id"]
    assert page["TaskInfos"][0]["RecentPullInfo"] is not None


def test_an_unknown_task_id_gives_an_empty_list_not_an_error() -> None:
    world, _ = make_world()
    add(world, "10000")
    page = call(world, "DescribeLivePullStreamTasks", TaskId="99999")
    assert (page["TaskInfos"], page["TotalNum"], page["TotalPage"]) == ([], 0, 0)


def test_a_paused_task_is_listed_with_status_pause() -> None:
    world, _ = make_world()
    add(world, "10000", status="pause")
    assert call(world, "DescribeLivePullStreamTasks")["TaskInfos"][0]["Status"] == "pause"


# --- run status ---------------------------------------------------------------------------------


def test_a_task_is_active_only_inside_its_window() -> None:
    world, clock = make_world()
    add(world, "10000", starts_in=HOUR, lasts=HOUR)
    before = status(world, "10000")
    assert before["RunStatus"] == "inactive"
    assert before["ReportTime"] == ""
    clock.advance(HOUR)
    assert status(world, "10000")["RunStatus"] == "active"
    clock.advance(HOUR - 1)
    assert status(world, "10000")["RunStatus"] == "active"
    clock.advance(1)
    after = status(world, "10000")
    assert after["RunStatus"] == "inactive"
    assert after["ReportTime"] == "2026-03-01T14:00:00Z"
    assert after["FileUrl"] == ""


def test_a_paused_task_is_inactive_even_inside_its_window() -> None:
    world, _ = make_world()
    add(world, "10000", status="pause")
    assert status(world, "10000")["RunStatus"] == "inactive"


def test_a_live_source_reports_its_url_and_no_offset() -> None:
    world, _ = make_world()
    add(world, "10000", source_urls=["rtmp://src.example.com/live/a"])
    info = status(world, "10000")
    assert info == {
        "FileUrl": "rtmp://src.example.com/live/a",
        "LoopedTimes": 0,
        "OffsetTime": 0,
        "ReportTime": "2026-03-01T12:00:00Z",
        "RunStatus": "active",
        "FileDuration": 0,
        "NextFileUrl": "",
    }


def test_a_vod_source_plays_its_files_in_order_and_loops() -> None:
    world, clock = make_world()
    urls = ["https://vod.example.com/a.mp4", "https://vod.example.com/b.mp4"]
    add(world, "10000", source_type="PullVodPushLive", source_urls=urls, starts_in=0.0)
    clock.advance(100)
    first = status(world, "10000")
    assert (first["FileUrl"], first["NextFileUrl"]) == (urls[0], urls[1])
    assert (first["OffsetTime"], first["LoopedTimes"]) == (100, 0)
    assert first["FileDuration"] == live.VOD_FILE_SECONDS
    clock.advance(live.VOD_FILE_SECONDS)
    second = status(world, "10000")
    assert (second["FileUrl"], second["NextFileUrl"], second["OffsetTime"]) == (
        urls[1],
        urls[0],
        100,
    )
    clock.advance(live.VOD_FILE_SECONDS)
    assert status(world, "10000")["LoopedTimes"] == 1


def test_the_status_of_an_unknown_task_is_task_not_exist() -> None:
    world, _ = make_world()
    code = error_of(world, "DescribeLivePullStreamTaskStatus", TaskId="99999")
    assert code == "InvalidParameter.TaskNotExist"


def test_the_status_needs_a_task_id() -> None:
    world, _ = make_world()
    assert error_of(world, "DescribeLivePullStreamTaskStatus") == "MissingParameter"


# --- delete ---------------------------------------------------------------------------------------


def test_a_deleted_task_disappears_from_the_list_and_the_status() -> None:
    world, _ = make_world()
    add(world, "10000")
    add(world, "10001")
    assert call(world, "DeleteLivePullStreamTask", TaskId="10000", Operator="ops") == {}
    page = call(world, "DescribeLivePullStreamTasks")
    assert task_ids(page) == ["10001"]
    assert page["TotalNum"] == 1
    assert call(world, "DescribeLivePullStreamTasks", TaskId="10000")["TaskInfos"] == []
    code = error_of(world, "DescribeLivePullStreamTaskStatus", TaskId="10000")
    assert code == "InvalidParameter.TaskNotExist"


def test_deleting_an_unknown_or_already_deleted_task_is_task_not_exist() -> None:
    world, _ = make_world()
    add(world, "10000")
    call(world, "DeleteLivePullStreamTask", TaskId="10000", Operator="ops")
    for task_id in ("10000", "99999"):
        code = error_of(world, "DeleteLivePullStreamTask", TaskId=task_id, Operator="ops")
        assert code == "InvalidParameter.TaskNotExist"


@pytest.mark.parametrize("params", [{"TaskId": "10000"}, {"Operator": "ops"}])
def test_delete_needs_both_a_task_id_and_an_operator(params: dict[str, str]) -> None:
    world, _ = make_world()
    add(world, "10000")
    assert error_of(world, "DeleteLivePullStreamTask", **params) == "MissingParameter"
    assert "10000" in world.live


def test_delete_with_specify_task_id_removes_the_custom_id_task() -> None:
    world, _ = make_world()
    add(world, "my-custom-id")
    call(
        world,
        "DeleteLivePullStreamTask",
        TaskId="my-custom-id",
        Operator="ops",
        SpecifyTaskId="my-custom-id",
    )
    assert world.live == {}


def test_the_listing_cache_follows_deletions_and_additions() -> None:
    world, _ = make_world()
    add(world, "10000", updated_ago=10.0)
    assert task_ids(call(world, "DescribeLivePullStreamTasks")) == ["10000"]
    add(world, "10001")
    assert task_ids(call(world, "DescribeLivePullStreamTasks")) == ["10001", "10000"]
    world.delete_live("10001")
    assert task_ids(call(world, "DescribeLivePullStreamTasks")) == ["10000"]


def test_unknown_parameters_are_refused() -> None:
    world, _ = make_world()
    assert error_of(world, "DescribeLivePullStreamTasks", Status="enable") == "UnknownParameter"


def test_tasks_added_or_dropped_straight_in_the_world_are_still_listed() -> None:
    world, _ = make_world()
    add(world, "10000", updated_ago=10.0)
    dropped = add(world, "10001", updated_ago=20.0)
    assert call(world, "DescribeLivePullStreamTasks")["TotalNum"] == 2
    del world.live[dropped.task_id]
    now = world.now()
    world.live["10002"] = LiveTask("10002", created=now, updated=now, start_time=now, end_time=now)
    assert task_ids(call(world, "DescribeLivePullStreamTasks")) == ["10002", "10000"]
