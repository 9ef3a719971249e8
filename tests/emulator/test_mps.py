"""The MPS handlers on a world of their own: listing and its ScrollToken, detail, abort.

Calls go through the action's parameter spec and the handler after a ``world.tick()``, as the
server does, but without HTTP; ``test_mps_sdk.py`` covers the wire with the official SDK.
"""

from __future__ import annotations

import json
import random
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tencentcloud.mps.v20190612 import models

from taskwatch.clock import ManualClock
from taskwatch.emulator.actions import CallContext, Options
from taskwatch.emulator.mps import ACTIONS, SENTINEL, iso
from taskwatch.emulator.wire import EmulatedError, coerce
from taskwatch.emulator.world import MpsTask, Plan, World

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = 86400.0
SUB_OBJECTS = {
    "EditMediaTask", "WorkflowTask", "LiveStreamProcessTask", "ScheduleTask",
    "LiveScheduleTask", "ExtractBlindWatermarkTask",
}  # fmt: skip
DETAIL_FIELDS = {
    "TaskType", "Status", "CreateTime", "BeginProcessTime", "FinishTime", *SUB_OBJECTS,
    "TaskNotifyConfig", "TasksPriority", "SessionId", "SessionContext", "ExtInfo",
}  # fmt: skip
TYPES = ("WorkflowTask", "EditMediaTask", "LiveStreamProcessTask", "ScheduleTask")


def new_world() -> tuple[World, ManualClock]:
    clock = ManualClock(wall=START, mono=100.0)
    return World(clock, seed=7), clock


def call(
    world: World, action: str, params: dict[str, Any], options: Options | None = None
) -> dict[str, Any]:
    """As the server would: tick the world, validate the parameters, run the handler."""
    ctx = CallContext(region=None, language="en-US", secret_id="AKID", options=options or Options())
    spec = ACTIONS[action]
    world.tick()
    return spec.handler(world, coerce(spec.spec, params), ctx)


def fails(world: World, action: str, params: dict[str, Any], **opts: Any) -> EmulatedError:
    with pytest.raises(EmulatedError) as caught:
        call(world, action, params, Options(**opts))
    return caught.value


def add(
    world: World,
    *,
    status: str = "PROCESSING",
    task_type: str = "WorkflowTask",
    age: float = 60.0,
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
    if status == "PROCESSING" and task.started is None:
        task.started = created
    if status == "FINISH":
        world.finish_mps(task, created + 1)
    return world.add_mps(task)


def listing(world: World, status: str, limit: int = 100, **params: Any) -> list[dict[str, Any]]:
    """Every row of a listing, page after page, until the token is empty."""
    rows: list[dict[str, Any]] = []
    token = ""
    for _ in range(10_000):
        answer = call(
            world,
            "DescribeTasks",
            {"Status": status, "Limit": limit, "ScrollToken": token, **params},
        )
        rows += answer["TaskSet"]
        token = answer["ScrollToken"]
        if not token:
            return rows
    raise AssertionError("the listing never ended")


def expected_order(tasks: list[MpsTask]) -> list[str]:
    """CreateTime (whole seconds) descending, then TaskId."""
    return [t.task_id for t in sorted(tasks, key=lambda t: (-int(t.created), t.task_id))]


def parses(model: Any, payload: dict[str, Any]) -> Any:
    """Deserialize into an official SDK model; any field it does not know is a failure."""
    wire = json.loads(json.dumps({**payload, "RequestId": "rid"}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model._deserialize(wire)
    assert [str(w.message) for w in caught] == []
    return model


# --- DescribeTasks: paging ------------------------------------------------------------------


def test_paging_2500_tasks_by_100_returns_each_once_in_order_and_ends_with_an_empty_token() -> None:
    world, _ = new_world()
    tasks = [add(world, age=i * 7.0 + (i % 3) * 0.4) for i in range(2500)]
    for i in range(0, 2500, 50):  # some share a CreateTime second: TaskId breaks the tie
        add(world, age=i * 7.0)
    pages: list[dict[str, Any]] = []
    token = ""
    while True:
        answer = call(
            world, "DescribeTasks", {"Status": "PROCESSING", "Limit": 100, "ScrollToken": token}
        )
        pages.append(answer)
        token = answer["ScrollToken"]
        if not token:
            break
    ids = [row["TaskId"] for page in pages for row in page["TaskSet"]]
    assert ids == expected_order(list(world.mps.values()))
    assert len(ids) == len(set(ids)) == 2550
    assert len(pages) == 26
    assert all(page["TotalCount"] == 2550 for page in pages)
    assert [len(p["TaskSet"]) for p in pages] == [100] * 25 + [50]
    assert pages[-1]["ScrollToken"] == ""
    assert set(ids) >= {t.task_id for t in tasks}


def test_the_token_is_the_first_row_of_the_next_page_and_that_page_includes_it() -> None:
    world, _ = new_world()
    for i in range(12):
        add(world, age=i * 10.0)
    first = call(world, "DescribeTasks", {"Status": "PROCESSING", "Limit": 5})
    second = call(
        world,
        "DescribeTasks",
        {"Status": "PROCESSING", "Limit": 5, "ScrollToken": first["ScrollToken"]},
    )
    everything = call(world, "DescribeTasks", {"Status": "PROCESSING", "Limit": 100})
    assert second["TaskSet"][0]["TaskId"] == first["ScrollToken"]
    assert first["ScrollToken"] == everything["TaskSet"][5]["TaskId"]
    assert [r["TaskId"] for r in first["TaskSet"] + second["TaskSet"]] == [
        r["TaskId"] for r in everything["TaskSet"][:10]
    ]
    assert first["TotalCount"] == second["TotalCount"] == 12


def test_a_token_whose_task_left_the_list_continues_where_it_stood_without_repeats() -> None:
    world, _ = new_world()
    for i in range(10):
        add(world, age=i * 10.0, task_type="LiveStreamProcessTask")
    order = [r["TaskId"] for r in listing(world, "PROCESSING")]
    first = call(world, "DescribeTasks", {"Status": "PROCESSING", "Limit": 4})
    token = first["ScrollToken"]
    assert token == order[4]
    call(world, "ManageTask", {"OperationType": "Abort", "TaskId": token})

    second = call(
        world, "DescribeTasks", {"Status": "PROCESSING", "Limit": 4, "ScrollToken": token}
    )

    assert [r["TaskId"] for r in second["TaskSet"]] == order[5:9]
    assert second["ScrollToken"] == order[9]
    assert second["TotalCount"] == 9
    assert [r["TaskId"] for r in listing(world, "FINISH")] == [token]


def test_a_task_finishing_on_a_page_already_read_shifts_nothing_after_the_token() -> None:
    world, clock = new_world()
    quick = add(world, age=5.0, plan=Plan(wait=None, run=30.0))
    for i in range(1, 8):
        add(world, age=5.0 + i * 10.0)
    first = call(world, "DescribeTasks", {"Status": "PROCESSING", "Limit": 3})
    assert first["TaskSet"][0]["TaskId"] == quick.task_id
    clock.advance(60)

    second = call(
        world,
        "DescribeTasks",
        {"Status": "PROCESSING", "Limit": 3, "ScrollToken": first["ScrollToken"]},
    )

    assert second["TaskSet"][0]["TaskId"] == first["ScrollToken"]
    assert second["TotalCount"] == 7


def test_an_unknown_token_is_an_invalid_parameter_value() -> None:
    world, _ = new_world()
    add(world)
    err = fails(world, "DescribeTasks", {"Status": "PROCESSING", "ScrollToken": "no-such-task"})
    assert err.code == "InvalidParameterValue"
    assert "ScrollToken" in err.message


def test_a_token_whose_task_aged_out_of_the_window_ends_the_listing() -> None:
    world, clock = new_world()
    for i in range(6):
        add(world, age=7 * DAY - 100 - i * 10.0)
    first = call(world, "DescribeTasks", {"Status": "PROCESSING", "Limit": 3})
    clock.advance(200)

    second = call(
        world,
        "DescribeTasks",
        {"Status": "PROCESSING", "Limit": 3, "ScrollToken": first["ScrollToken"]},
    )

    assert second == {"TaskSet": [], "ScrollToken": "", "TotalCount": 0}


def test_an_empty_token_starts_from_the_beginning() -> None:
    world, _ = new_world()
    tasks = [add(world, age=i * 10.0) for i in range(3)]
    answer = call(world, "DescribeTasks", {"Status": "PROCESSING", "ScrollToken": ""})
    assert [r["TaskId"] for r in answer["TaskSet"]] == [t.task_id for t in tasks]


# --- DescribeTasks: filters -----------------------------------------------------------------


def test_only_tasks_created_within_the_last_seven_days_are_listed() -> None:
    world, clock = new_world()
    edge = add(world, age=7 * DAY)
    inside = add(world, age=7 * DAY - 1)
    add(world, age=7 * DAY + 1)
    assert [r["TaskId"] for r in listing(world, "PROCESSING")] == [inside.task_id, edge.task_id]

    clock.advance(1)
    assert [r["TaskId"] for r in listing(world, "PROCESSING")] == [inside.task_id]
    assert call(world, "DescribeTasks", {"Status": "PROCESSING"})["TotalCount"] == 1


def test_the_list_window_follows_the_options() -> None:
    world, _ = new_world()
    recent = add(world, age=2 * DAY)
    add(world, age=4 * DAY)
    answer = call(
        world, "DescribeTasks", {"Status": "PROCESSING"}, Options(mps_list_window=3 * DAY)
    )
    assert [r["TaskId"] for r in answer["TaskSet"]] == [recent.task_id]


def test_limit_defaults_to_ten() -> None:
    world, _ = new_world()
    for i in range(15):
        add(world, age=i * 10.0)
    answer = call(world, "DescribeTasks", {"Status": "PROCESSING"})
    assert len(answer["TaskSet"]) == 10
    assert answer["TotalCount"] == 15


@pytest.mark.parametrize("limit", [0, -1, 101, 1000])
def test_a_limit_outside_one_to_a_hundred_is_refused(limit: int) -> None:
    world, _ = new_world()
    err = fails(world, "DescribeTasks", {"Status": "PROCESSING", "Limit": limit})
    assert err.code == "InvalidParameterValue.Limit"


@pytest.mark.parametrize("limit", [1, 100, "100"])
def test_limits_of_one_and_a_hundred_are_accepted(limit: int | str) -> None:
    world, _ = new_world()
    for i in range(120):
        add(world, age=i * 10.0)
    answer = call(world, "DescribeTasks", {"Status": "PROCESSING", "Limit": limit})
    assert len(answer["TaskSet"]) == int(limit)


@pytest.mark.parametrize("status", ["RUNNING", "processing", "SUCCESS"])
def test_status_must_be_waiting_processing_or_finish(status: str) -> None:
    world, _ = new_world()
    err = fails(world, "DescribeTasks", {"Status": status})
    assert err.code == "InvalidParameterValue"
    assert "Status" in err.message


def test_status_is_required() -> None:
    world, _ = new_world()
    assert fails(world, "DescribeTasks", {"Limit": 10}).code == "MissingParameter"


def test_sub_task_has_failed_picks_failed_or_clean_tasks_and_absent_means_both() -> None:
    world, _ = new_world()
    bad = add(world, status="FINISH", age=10.0, sub_task_failed=True)
    good = add(world, status="FINISH", age=20.0)
    ids = [r["TaskId"] for r in listing(world, "FINISH", SubTaskHasFailed=True)]
    assert ids == [bad.task_id]
    ids = [r["TaskId"] for r in listing(world, "FINISH", SubTaskHasFailed="false")]
    assert ids == [good.task_id]
    assert [r["TaskId"] for r in listing(world, "FINISH")] == [bad.task_id, good.task_id]


def test_a_task_that_fails_moves_into_the_failed_listing() -> None:
    world, clock = new_world()
    task = add(world, age=10.0, plan=Plan(wait=None, run=20.0, fail=True))
    assert listing(world, "FINISH", SubTaskHasFailed=True) == []
    clock.advance(30)
    assert [r["TaskId"] for r in listing(world, "FINISH", SubTaskHasFailed=True)] == [task.task_id]
    assert listing(world, "FINISH", SubTaskHasFailed=False) == []


def test_start_and_end_time_bound_create_time_inclusively() -> None:
    world, _ = new_world()
    tasks = [add(world, age=h * 3600.0) for h in range(6)]
    start = iso(tasks[4].created)
    end = iso(tasks[1].created)
    ids = [r["TaskId"] for r in listing(world, "PROCESSING", StartTime=start, EndTime=end)]
    assert ids == [t.task_id for t in tasks[1:5]]
    answer = call(
        world,
        "DescribeTasks",
        {"Status": "PROCESSING", "Limit": 2, "StartTime": start, "EndTime": end},
    )
    assert answer["TotalCount"] == 4
    assert answer["ScrollToken"] == tasks[3].task_id
    offset = (START - timedelta(hours=2, minutes=30)).astimezone().isoformat()
    ids = [r["TaskId"] for r in listing(world, "PROCESSING", EndTime=offset)]
    assert ids == [t.task_id for t in tasks[3:]]


def test_a_start_after_the_end_lists_nothing() -> None:
    world, _ = new_world()
    add(world)
    answer = call(
        world,
        "DescribeTasks",
        {
            "Status": "PROCESSING",
            "StartTime": "2026-03-01T12:00:00Z",
            "EndTime": "2026-03-01T11:00:00Z",
        },
    )
    assert answer == {"TaskSet": [], "ScrollToken": "", "TotalCount": 0}


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z", SENTINEL, "1700000000"])
def test_a_time_that_is_not_iso_8601_is_an_invalid_parameter_value(value: str) -> None:
    world, _ = new_world()
    for name in ("StartTime", "EndTime"):
        err = fails(world, "DescribeTasks", {"Status": "PROCESSING", name: value})
        assert err.code == "InvalidParameterValue"
        assert name in err.message


def test_an_empty_listing_has_an_empty_task_set_an_empty_token_and_a_zero_count() -> None:
    world, _ = new_world()
    add(world, status="PROCESSING")
    answer = call(world, "DescribeTasks", {"Status": "WAITING"})
    assert answer == {"TaskSet": [], "ScrollToken": "", "TotalCount": 0}


# --- DescribeTasks: rows --------------------------------------------------------------------


def test_a_row_has_exactly_the_task_simple_info_fields_with_the_sentinel_for_unset_times() -> None:
    world, _ = new_world()
    task = add(world, status="WAITING", age=75.5, sub_task_types=["action-trans"])
    (row,) = call(world, "DescribeTasks", {"Status": "WAITING"})["TaskSet"]
    assert row == {
        "TaskId": task.task_id,
        "TaskType": "WorkflowTask",
        "CreateTime": "2026-03-01T11:58:44Z",
        "BeginProcessTime": SENTINEL,
        "FinishTime": SENTINEL,
        "SubTaskTypes": ["action-trans"],
    }


def test_the_list_says_live_process_task_where_the_detail_says_live_stream_process_task() -> None:
    world, _ = new_world()
    task = add(world, task_type="LiveStreamProcessTask")
    (row,) = call(world, "DescribeTasks", {"Status": "PROCESSING"})["TaskSet"]
    detail = call(world, "DescribeTaskDetail", {"TaskId": task.task_id})
    assert row["TaskType"] == "LiveProcessTask"
    assert detail["TaskType"] == "LiveStreamProcessTask"
    assert detail["LiveStreamProcessTask"]["TaskId"] == task.task_id


def test_a_listing_parses_into_the_sdk_model() -> None:
    world, _ = new_world()
    for task_type in TYPES:
        add(world, task_type=task_type, sub_task_types=["Transcode"])
    answer = call(world, "DescribeTasks", {"Status": "PROCESSING", "Limit": 2})
    model = parses(models.DescribeTasksResponse(), answer)
    assert model.TotalCount == 4
    assert model.ScrollToken == answer["ScrollToken"] != ""
    assert [t.TaskId for t in model.TaskSet] == [r["TaskId"] for r in answer["TaskSet"]]


# --- lifecycle ------------------------------------------------------------------------------


def test_a_task_moves_from_waiting_to_processing_to_finish_as_the_clock_advances() -> None:
    world, clock = new_world()
    task = add(world, status="WAITING", age=0.0, plan=Plan(wait=30.0, run=120.0))

    def where() -> list[str]:
        return [
            s
            for s in ("WAITING", "PROCESSING", "FINISH")
            if any(r["TaskId"] == task.task_id for r in listing(world, s))
        ]

    def detail() -> dict[str, Any]:
        return call(world, "DescribeTaskDetail", {"TaskId": task.task_id})

    assert where() == ["WAITING"]
    waiting = detail()
    assert (waiting["Status"], waiting["WorkflowTask"]["Status"]) == ("WAITING", "PROCESSING")
    assert waiting["BeginProcessTime"] == SENTINEL
    assert waiting["WorkflowTask"]["MediaProcessResultSet"] == []
    assert waiting["WorkflowTask"]["MetaData"] is None

    clock.advance(90)
    assert where() == ["PROCESSING"]
    running = detail()
    assert (running["Status"], running["WorkflowTask"]["Status"]) == ("PROCESSING", "PROCESSING")
    assert running["BeginProcessTime"] == "2026-03-01T12:00:30Z"
    assert running["FinishTime"] == SENTINEL
    (result,) = running["WorkflowTask"]["MediaProcessResultSet"]
    assert result["Type"] == "Transcode"
    assert result["TranscodeTask"]["Status"] == "PROCESSING"
    assert result["TranscodeTask"]["Progress"] == 50

    clock.advance(100)
    assert where() == ["FINISH"]
    done = detail()
    assert (done["Status"], done["WorkflowTask"]["Status"]) == ("FINISH", "FINISH")
    assert done["FinishTime"] == "2026-03-01T12:02:30Z"
    (result,) = done["WorkflowTask"]["MediaProcessResultSet"]
    assert result["TranscodeTask"]["Status"] == "SUCCESS"
    assert result["TranscodeTask"]["Output"]["Path"].endswith(".mp4")
    (row,) = listing(world, "FINISH")
    assert (row["BeginProcessTime"], row["FinishTime"]) == (
        done["BeginProcessTime"],
        done["FinishTime"],
    )


def test_a_failed_workflow_reports_the_failure_on_its_transcode_result() -> None:
    world, clock = new_world()
    task = add(world, age=10.0, plan=Plan(wait=None, run=20.0, fail=True))
    clock.advance(30)
    detail = call(world, "DescribeTaskDetail", {"TaskId": task.task_id})
    workflow = detail["WorkflowTask"]
    assert (detail["Status"], workflow["Status"], workflow["ErrCode"]) == ("FINISH", "FINISH", 0)
    transcode = workflow["MediaProcessResultSet"][0]["TranscodeTask"]
    assert transcode["Status"] == "FAIL"
    assert transcode["ErrCode"] == 70000
    assert transcode["ErrCodeExt"] == "InternalError"


def test_every_listing_matches_a_naive_sort_through_a_thousand_random_changes() -> None:
    world, clock = new_world()
    rng = random.Random(3)
    for _ in range(300):
        add(
            world,
            status=rng.choice(["WAITING", "PROCESSING"]),
            age=rng.uniform(0, 8 * DAY),
            task_type=rng.choice(TYPES),
            plan=Plan(
                wait=rng.uniform(0, 3600), run=rng.uniform(60, 7200), fail=rng.random() < 0.3
            ),
        )
    for step in range(1000):
        if step % 10 == 0:
            add(world, status="WAITING", age=0.0, plan=Plan(wait=rng.uniform(0, 600), run=600.0))
        if step % 7 == 0:
            world.tick()
            victim = rng.choice(list(world.mps.values()))
            if victim.status == "WAITING":
                call(world, "ManageTask", {"OperationType": "Abort", "TaskId": victim.task_id})
        if step % 97 == 0:
            world.purge(older_than=world.now() - 7.5 * DAY)
        clock.advance(rng.uniform(0, 120))
        if step % 50 == 0:
            world.tick()
            cutoff = int(world.now() - 7 * DAY)
            for status in ("WAITING", "PROCESSING", "FINISH"):
                for flag in (None, True, False):
                    want = expected_order(
                        [
                            t
                            for t in world.mps.values()
                            if t.status == status
                            and int(t.created) >= cutoff
                            and (flag is None or t.sub_task_failed is flag)
                        ]
                    )
                    params = {} if flag is None else {"SubTaskHasFailed": flag}
                    got = [r["TaskId"] for r in listing(world, status, limit=37, **params)]
                    assert got == want, (step, status, flag)


def test_tasks_added_or_dropped_behind_the_worlds_back_are_still_listed_correctly() -> None:
    world, _ = new_world()
    kept = add(world, age=10.0)
    dropped = add(world, age=20.0)
    assert len(listing(world, "PROCESSING")) == 2
    del world.mps[dropped.task_id]
    sneaked = MpsTask(
        task_id="1250000000-WorkflowTask-sneakedt0",
        task_type="WorkflowTask",
        status="PROCESSING",
        created=world.now() - 5,
        started=world.now() - 5,
    )
    world.mps[sneaked.task_id] = sneaked
    assert [r["TaskId"] for r in listing(world, "PROCESSING")] == [sneaked.task_id, kept.task_id]


# --- DescribeTaskDetail ---------------------------------------------------------------------


@pytest.mark.parametrize("task_type", TYPES)
@pytest.mark.parametrize("status", ["WAITING", "PROCESSING", "FINISH"])
def test_detail_has_exactly_the_documented_fields_and_one_sub_object(
    task_type: str, status: str
) -> None:
    world, _ = new_world()
    task = add(world, status=status, task_type=task_type, session_id="s-1", priority=3)
    detail = call(world, "DescribeTaskDetail", {"TaskId": task.task_id})
    assert set(detail) == DETAIL_FIELDS
    assert detail["TaskType"] == task_type
    assert detail["Status"] == status
    assert [k for k in SUB_OBJECTS if detail[k] is not None] == [task_type]
    sub = detail[task_type]
    assert sub["TaskId"] == task.task_id
    assert sub["Status"] == ("FINISH" if status == "FINISH" else "PROCESSING")
    assert detail["TaskNotifyConfig"] is None
    assert (detail["TasksPriority"], detail["SessionId"]) == (3, "s-1")
    assert (detail["SessionContext"], detail["ExtInfo"]) == ("", "")
    model = parses(models.DescribeTaskDetailResponse(), detail)
    assert getattr(model, task_type).TaskId == task.task_id


@pytest.mark.parametrize("task_type", TYPES)
def test_a_failed_or_aborted_detail_still_parses_into_the_sdk_model(task_type: str) -> None:
    world, _ = new_world()
    failed = add(world, status="FINISH", task_type=task_type, sub_task_failed=True, err_code=70000)
    waiting = add(world, status="WAITING", task_type=task_type)
    call(world, "ManageTask", {"OperationType": "Abort", "TaskId": waiting.task_id})
    for task in (failed, waiting):
        detail = call(world, "DescribeTaskDetail", {"TaskId": task.task_id})
        parses(models.DescribeTaskDetailResponse(), detail)


def test_the_sub_objects_carry_their_documented_fields() -> None:
    world, _ = new_world()
    tasks = {
        t: add(world, task_type=t, url="rtmp://x/live/s", input_url="https://x/a.mp4")
        for t in TYPES
    }
    details = {t: call(world, "DescribeTaskDetail", {"TaskId": tasks[t].task_id}) for t in TYPES}
    live = details["LiveStreamProcessTask"]["LiveStreamProcessTask"]
    assert live == {
        "TaskId": tasks["LiveStreamProcessTask"].task_id,
        "Status": "PROCESSING",
        "ErrCode": 0,
        "Message": "",
        "Url": "rtmp://x/live/s",
    }
    workflow = details["WorkflowTask"]["WorkflowTask"]
    assert workflow["InputInfo"] == {"Type": "URL", "UrlInputInfo": {"Url": "https://x/a.mp4"}}
    assert workflow["MetaData"]["Width"] == 1920
    for name in ("AiContentReviewResultSet", "AiAnalysisResultSet", "AiRecognitionResultSet"):
        assert workflow[name] == []
    edit = details["EditMediaTask"]["EditMediaTask"]
    assert set(edit) == {"TaskId", "Status", "ErrCode", "Message", "Input", "Output"}
    schedule = details["ScheduleTask"]["ScheduleTask"]
    assert set(schedule) == {
        "TaskId",
        "Status",
        "ErrCode",
        "Message",
        "InputInfo",
        "MetaData",
        "ActivityResultSet",
    }
    assert schedule["ActivityResultSet"][0]["ActivityType"] == "action-trans"


def test_detail_of_an_unknown_task_is_resource_not_found() -> None:
    world, _ = new_world()
    err = fails(world, "DescribeTaskDetail", {"TaskId": "1250000000-WorkflowTask-nonet0"})
    assert err.code == "ResourceNotFound"
    assert err.message_zh


def test_detail_is_kept_for_the_retention_window_only() -> None:
    world, clock = new_world()
    task = add(world, age=3 * DAY - 10)
    assert call(world, "DescribeTaskDetail", {"TaskId": task.task_id}, Options())["Status"]
    clock.advance(20)
    three_days = {"mps_detail_retention": 3 * DAY}
    err = fails(world, "DescribeTaskDetail", {"TaskId": task.task_id}, **three_days)
    assert err.code == "ResourceNotFound"
    assert call(world, "DescribeTaskDetail", {"TaskId": task.task_id}, Options())["Status"]
    clock.advance(4 * DAY)
    assert fails(world, "DescribeTaskDetail", {"TaskId": task.task_id}).code == "ResourceNotFound"


def test_the_code_for_a_missing_detail_follows_the_options() -> None:
    world, _ = new_world()
    err = fails(
        world,
        "DescribeTaskDetail",
        {"TaskId": "x"},
        mps_detail_missing_code="InvalidParameterValue",
    )
    assert err.code == "InvalidParameterValue"


def test_detail_requires_a_task_id() -> None:
    world, _ = new_world()
    assert fails(world, "DescribeTaskDetail", {}).code == "MissingParameter"


# --- ManageTask -----------------------------------------------------------------------------


def abort(world: World, task_id: str) -> dict[str, Any]:
    return call(world, "ManageTask", {"OperationType": "Abort", "TaskId": task_id})


def test_aborting_a_waiting_workflow_finishes_it_now_without_a_begin_time() -> None:
    world, clock = new_world()
    task = add(world, status="WAITING", age=30.0, plan=Plan(wait=600.0, run=60.0))
    clock.advance(5)
    assert abort(world, task.task_id) == {}
    detail = call(world, "DescribeTaskDetail", {"TaskId": task.task_id})
    assert (detail["Status"], detail["WorkflowTask"]["Status"]) == ("FINISH", "FINISH")
    assert detail["FinishTime"] == "2026-03-01T12:00:05Z"
    assert detail["BeginProcessTime"] == SENTINEL
    clock.advance(3600)
    assert call(world, "DescribeTaskDetail", {"TaskId": task.task_id})["Status"] == "FINISH"
    assert listing(world, "PROCESSING") == []


def test_a_second_abort_is_not_processing_task() -> None:
    world, _ = new_world()
    task = add(world, status="WAITING")
    abort(world, task.task_id)
    err = fails(world, "ManageTask", {"OperationType": "Abort", "TaskId": task.task_id})
    assert err.code == "InvalidParameterValue.NotProcessingTask"


def test_a_live_task_is_aborted_while_processing_and_its_sub_object_finishes() -> None:
    world, clock = new_world()
    task = add(world, task_type="LiveStreamProcessTask", age=3600.0)
    clock.advance(1)
    assert abort(world, task.task_id) == {}
    detail = call(world, "DescribeTaskDetail", {"TaskId": task.task_id})
    assert detail["Status"] == "FINISH"
    assert detail["LiveStreamProcessTask"]["Status"] == "FINISH"
    assert detail["BeginProcessTime"] == "2026-03-01T11:00:00Z"
    assert detail["FinishTime"] == "2026-03-01T12:00:01Z"
    (row,) = listing(world, "FINISH")
    assert row["TaskType"] == "LiveProcessTask"
    assert row["FinishTime"] == detail["FinishTime"]


def test_a_live_task_is_aborted_while_waiting() -> None:
    world, _ = new_world()
    task = add(world, status="WAITING", task_type="LiveStreamProcessTask")
    assert abort(world, task.task_id) == {}
    assert world.mps[task.task_id].status == "FINISH"


@pytest.mark.parametrize("task_type", ["WorkflowTask", "EditMediaTask", "ScheduleTask"])
def test_other_tasks_cannot_be_aborted_once_processing(task_type: str) -> None:
    world, _ = new_world()
    task = add(world, task_type=task_type)
    err = fails(world, "ManageTask", {"OperationType": "Abort", "TaskId": task.task_id})
    assert err.code == "InvalidParameterValue.NotProcessingTask"
    assert err.message_zh == "不支持状态不为处理中的任务。"
    assert world.mps[task.task_id].status == "PROCESSING"


def test_a_finished_live_task_cannot_be_aborted() -> None:
    world, _ = new_world()
    task = add(world, status="FINISH", task_type="LiveStreamProcessTask")
    err = fails(world, "ManageTask", {"OperationType": "Abort", "TaskId": task.task_id})
    assert err.code == "InvalidParameterValue.NotProcessingTask"


@pytest.mark.parametrize("operation", ["abort", "Stop", "Cancel"])
def test_the_only_operation_is_abort(operation: str) -> None:
    world, _ = new_world()
    task = add(world, status="WAITING")
    err = fails(world, "ManageTask", {"OperationType": operation, "TaskId": task.task_id})
    assert err.code == "InvalidParameterValue.InvalidOperationType"
    assert err.message_zh == "无效的操作类型。"
    assert world.mps[task.task_id].status == "WAITING"


def test_aborting_an_unknown_task_or_a_finished_one_past_its_detail_is_an_invalid_task_id() -> None:
    world, clock = new_world()
    old = add(world, status="FINISH", age=7 * DAY - 5)
    err = fails(world, "ManageTask", {"OperationType": "Abort", "TaskId": "no-such-task"})
    assert err.code == "InvalidParameterValue.TaskId"
    assert err.message_zh == "任务 ID 不存在。"
    clock.advance(10)
    err = fails(world, "ManageTask", {"OperationType": "Abort", "TaskId": old.task_id})
    assert err.code == "InvalidParameterValue.TaskId"


@pytest.mark.parametrize("missing", ["OperationType", "TaskId"])
def test_manage_task_requires_both_parameters(missing: str) -> None:
    world, _ = new_world()
    params = {"OperationType": "Abort", "TaskId": "x"}
    del params[missing]
    err = fails(world, "ManageTask", params)
    assert err.code == "MissingParameter"
    assert missing in err.message
