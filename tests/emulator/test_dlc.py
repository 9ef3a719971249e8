"""The DLC handlers on a world of their own: listing, filters, windows, lifecycle, cancelling.

Each test builds its own :class:`World` on a :class:`ManualClock` and calls the handlers as the
server does (parameters through :func:`coerce` first), without HTTP. Time moves only by
``clock.advance`` followed by ``world.tick()``, exactly what the server does before each call.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from tencentcloud.dlc.v20210125 import models as dlc_models

from taskwatch.clock import ManualClock
from taskwatch.emulator import dlc, dlc_query
from taskwatch.emulator.actions import CallContext, Options
from taskwatch.emulator.wire import EmulatedError, coerce
from taskwatch.emulator.world import (
    DLC_CANCELLED,
    DLC_FAILED,
    DLC_INIT,
    DLC_QUEUED,
    DLC_RUNNING,
    DLC_SUCCEEDED,
    DLC_WRITING,
    DlcTask,
    Plan,
    World,
)

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))
DAY = 86400.0


def make_world() -> tuple[World, ManualClock]:
    clock = ManualClock(wall=START)
    return World(clock, seed=7), clock


def ctx(options: Options | None = None) -> CallContext:
    return CallContext(
        region="ap-guangzhou",
        language="en-US",
        secret_id="AKIDEXAMPLE",
        options=options or Options(),
    )


def call(world: World, action: str, options: Options | None = None, **params: Any) -> Any:
    spec = dlc.ACTIONS[action]
    return spec.handler(world, coerce(spec.spec, params), ctx(options))


def error_of(world: World, action: str, **params: Any) -> str:
    with pytest.raises(EmulatedError) as caught:
        call(world, action, **params)
    return caught.value.code


def tid(n: int) -> str:
    return str(uuid.UUID(int=n, version=4))


def add(
    world: World, n: int, *, ago: float = 0.0, state: int = DLC_SUCCEEDED, **kw: Any
) -> DlcTask:
    """A task created ``ago`` seconds before now; terminal tasks were updated a minute later."""
    created = world.now() - ago
    done = state not in (DLC_QUEUED, DLC_INIT)
    kw.setdefault("plan", Plan(wait=None, run=None))
    return world.add_dlc(
        DlcTask(
            task_id=tid(n),
            state=state,
            created=created,
            updated=created + (60.0 if done else 0.0),
            started=created if done else None,
            **kw,
        )
    )


def ids(response: dict[str, Any]) -> list[str]:
    return [row["Id"] for row in response["TaskList"]]


def beijing(ts: float) -> str:
    return datetime.fromtimestamp(ts, BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def state_filter(*values: str) -> list[dict[str, Any]]:
    return [{"Name": "task-state", "Values": list(values)}]


# --- paging and sorting -----------------------------------------------------------------------


def test_paging_with_offset_and_limit_returns_every_task_exactly_once() -> None:
    world, _ = make_world()
    for n in range(1, 1051):
        add(world, n, ago=n * 60.0)
    seen: list[str] = []
    offset = 0
    while True:
        page = call(world, "DescribeTasks", Limit=100, Offset=offset)
        assert page["TotalCount"] == 1050
        if not page["TaskList"]:
            break
        seen += ids(page)
        offset += 100
    assert len(seen) == 1050
    assert set(seen) == {tid(n) for n in range(1, 1051)}


def test_limit_defaults_to_ten_and_offset_to_zero() -> None:
    world, _ = make_world()
    for n in range(1, 31):
        add(world, n, ago=n)
    page = call(world, "DescribeTasks")
    assert len(page["TaskList"]) == 10
    assert page["TotalCount"] == 30


def test_limit_given_as_a_numeric_string_is_accepted() -> None:
    world, _ = make_world()
    for n in range(1, 8):
        add(world, n, ago=n)
    assert len(call(world, "DescribeTasks", Limit="5")["TaskList"]) == 5


@pytest.mark.parametrize(("name", "value"), [("Limit", 0), ("Limit", 101), ("Offset", -1)])
def test_a_limit_outside_one_to_a_hundred_or_a_negative_offset_is_refused(
    name: str, value: int
) -> None:
    world, _ = make_world()
    assert error_of(world, "DescribeTasks", **{name: value}) == "InvalidParameterValue"


def test_an_offset_past_the_end_gives_an_empty_page_with_the_true_total() -> None:
    world, _ = make_world()
    add(world, 1)
    page = call(world, "DescribeTasks", Offset=5)
    assert page["TaskList"] == []
    assert page["TotalCount"] == 1


def test_ascending_is_the_default_and_lists_the_oldest_first() -> None:
    world, _ = make_world()
    for n in (1, 2, 3):
        add(world, n, ago=n * 100.0)
    assert ids(call(world, "DescribeTasks")) == [tid(3), tid(2), tid(1)]
    assert ids(call(world, "DescribeTasks", Sorting="asc")) == [tid(3), tid(2), tid(1)]


def test_descending_lists_the_newest_first() -> None:
    world, _ = make_world()
    for n in (1, 2, 3):
        add(world, n, ago=n * 100.0)
    assert ids(call(world, "DescribeTasks", Sorting="desc")) == [tid(1), tid(2), tid(3)]


def test_tasks_created_in_the_same_instant_are_ordered_by_id() -> None:
    world, _ = make_world()
    for n in (3, 1, 2):
        add(world, n, ago=10.0)
    assert ids(call(world, "DescribeTasks")) == [tid(1), tid(2), tid(3)]
    assert ids(call(world, "DescribeTasks", Sorting="desc")) == [tid(3), tid(2), tid(1)]


def test_sorting_by_update_time_follows_the_update_time_not_the_creation() -> None:
    world, _ = make_world()
    old = add(world, 1, ago=500.0)
    new = add(world, 2, ago=100.0)
    old.updated, new.updated = world.now() - 10.0, world.now() - 50.0
    world.version += 1
    assert ids(call(world, "DescribeTasks", SortBy="update-time")) == [tid(2), tid(1)]
    assert ids(call(world, "DescribeTasks", SortBy="create-time")) == [tid(1), tid(2)]


def test_sorting_by_data_amount_and_used_time_is_accepted() -> None:
    world, _ = make_world()
    add(world, 1, ago=10.0, data_amount=500)
    add(world, 2, ago=20.0, data_amount=100)
    by_amount = call(world, "DescribeTasks", SortBy="data-amount", Sorting="desc")
    assert ids(by_amount) == [tid(1), tid(2)]
    assert len(call(world, "DescribeTasks", SortBy="used-time")["TaskList"]) == 2


def test_an_unknown_sort_field_is_refused_with_its_own_code() -> None:
    world, _ = make_world()
    code = error_of(world, "DescribeTasks", SortBy="name")
    assert code == "InvalidParameter.SQLTaskSortByTypeNotMatch"


def test_a_sorting_other_than_asc_or_desc_is_refused() -> None:
    world, _ = make_world()
    assert error_of(world, "DescribeTasks", Sorting="up") == "InvalidParameterValue"


def test_the_sorted_index_is_reused_until_the_world_changes() -> None:
    world, _ = make_world()
    add(world, 1)
    call(world, "DescribeTasks")
    first = dlc_query.index_of(world)
    call(world, "DescribeTasks", Offset=1)
    assert dlc_query.index_of(world) is first
    add(world, 2)
    assert dlc_query.index_of(world) is not first


def test_a_listing_reflects_a_cancel_made_between_two_pages() -> None:
    world, _ = make_world()
    for n in (1, 2):
        add(world, n, ago=n, state=DLC_RUNNING)
    assert call(world, "DescribeTasks", Filters=state_filter("1"))["TotalCount"] == 2
    call(world, "CancelTask", TaskId=tid(1))
    page = call(world, "DescribeTasks", Filters=state_filter("1"))
    assert ids(page) == [tid(2)]


# --- filters -------------------------------------------------------------------------------------


def test_the_task_id_filter_returns_exactly_the_named_tasks() -> None:
    world, _ = make_world()
    for n in range(1, 11):
        add(world, n, ago=n)
    filters = [{"Name": "task-id", "Values": [tid(2), tid(5), tid(999)]}]
    assert sorted(ids(call(world, "DescribeTasks", Filters=filters))) == sorted([tid(2), tid(5)])


def test_the_task_id_filter_takes_fifty_values_and_refuses_fifty_one() -> None:
    world, _ = make_world()
    add(world, 1)
    fifty = [{"Name": "task-id", "Values": [tid(n) for n in range(1, 51)]}]
    assert call(world, "DescribeTasks", Filters=fifty)["TotalCount"] == 1
    over = [{"Name": "task-id", "Values": [tid(n) for n in range(1, 52)]}]
    code = error_of(world, "DescribeTasks", Filters=over)
    assert code == "InvalidParameter.FiltersValuesNumberOutOfLimit"


def test_the_state_filter_takes_integers_written_as_strings_any_of_which_matches() -> None:
    world, _ = make_world()
    states = [DLC_INIT, DLC_RUNNING, DLC_SUCCEEDED, DLC_WRITING, DLC_QUEUED, DLC_FAILED]
    for n, state in enumerate(states, start=1):
        add(world, n, ago=n, state=state)
    add(world, 7, ago=7, state=DLC_CANCELLED)
    assert ids(call(world, "DescribeTasks", Filters=state_filter("1"))) == [tid(2)]
    running = call(world, "DescribeTasks", Filters=state_filter("0", "1", "3", "4"))
    assert sorted(ids(running)) == sorted([tid(1), tid(2), tid(4), tid(5)])
    assert ids(call(world, "DescribeTasks", Filters=state_filter("-3"))) == [tid(7)]
    assert ids(call(world, "DescribeTasks", Filters=state_filter("-1"))) == [tid(6)]


def test_a_state_that_is_not_an_integer_is_refused() -> None:
    world, _ = make_world()
    code = error_of(world, "DescribeTasks", Filters=state_filter("running"))
    assert code == "InvalidParameter.TaskStateTypeNotMath"


def test_the_sql_keyword_filter_matches_a_substring_of_the_decoded_sql_in_any_case() -> None:
    world, _ = make_world()
    add(world, 1, sql="DROP TABLE `sales`")
    add(world, 2, sql="SELECT * FROM sales")
    filters = [{"Name": "task-sql-keyword", "Values": ["drop table"]}]
    assert ids(call(world, "DescribeTasks", Filters=filters)) == [tid(1)]


@pytest.mark.parametrize(
    ("name", "field", "match", "other"),
    [
        ("task-operator", "operator", "100000000002", "100000000003"),
        ("task-kind", "sql_type", "DDL", "DQL"),
        ("task-kind", "task_type", "SparkBatchTask", "SparkSQLTask"),
        ("batch-id", "batch_id", "batch-1", "batch-2"),
        ("session-id", "session_id", "session-1", "session-2"),
    ],
)
def test_each_attribute_filter_selects_the_tasks_with_that_value(
    name: str, field: str, match: str, other: str
) -> None:
    world, _ = make_world()
    matching: dict[str, Any] = {field: match}
    different: dict[str, Any] = {field: other}
    add(world, 1, ago=1, **matching)
    add(world, 2, ago=2, **different)
    page = call(world, "DescribeTasks", Filters=[{"Name": name, "Values": [match]}])
    assert ids(page) == [tid(1)]


def test_filters_combine_with_and() -> None:
    world, _ = make_world()
    add(world, 1, ago=1, state=DLC_RUNNING, operator="100000000002")
    add(world, 2, ago=2, state=DLC_RUNNING, operator="100000000003")
    add(world, 3, ago=3, state=DLC_SUCCEEDED, operator="100000000002")
    filters = [*state_filter("1"), {"Name": "task-operator", "Values": ["100000000002"]}]
    assert ids(call(world, "DescribeTasks", Filters=filters)) == [tid(1)]


def test_data_engine_and_resource_group_narrow_the_listing() -> None:
    world, _ = make_world()
    add(world, 1, ago=1, engine="etl", resource_group="rg-a")
    add(world, 2, ago=2, engine="etl", resource_group="rg-b")
    add(world, 3, ago=3, engine="adhoc", resource_group="rg-a")
    assert sorted(ids(call(world, "DescribeTasks", DataEngineName="etl"))) == [tid(1), tid(2)]
    both = call(world, "DescribeTasks", DataEngineName="etl", ResourceGroupName="rg-a")
    assert ids(both) == [tid(1)]


def test_an_unknown_filter_name_is_refused() -> None:
    world, _ = make_world()
    filters = [{"Name": "task-color", "Values": ["red"]}]
    code = error_of(world, "DescribeTasks", Filters=filters)
    assert code == "InvalidParameter.SQLTaskFiltersKeyTypeNotMath"


def test_five_filters_besides_task_id_are_accepted_and_six_are_refused() -> None:
    world, _ = make_world()
    add(world, 1, state=DLC_RUNNING)
    five = [*state_filter("1") * 5, {"Name": "task-id", "Values": [tid(1)]}]
    assert call(world, "DescribeTasks", Filters=five)["TotalCount"] == 1
    code = error_of(world, "DescribeTasks", Filters=state_filter("1") * 6)
    assert code == "InvalidParameter.InvalidFilterLength"


def test_an_empty_filter_list_is_refused() -> None:
    world, _ = make_world()
    assert error_of(world, "DescribeTasks", Filters=[]) == "InvalidParameter.InvalidFilterLength"


@pytest.mark.parametrize(
    "item", [{"Name": "task-state"}, {"Name": "task-state", "Values": []}, {"Values": ["1"]}]
)
def test_a_filter_without_a_name_or_values_is_refused(item: dict[str, Any]) -> None:
    world, _ = make_world()
    code = error_of(world, "DescribeTasks", Filters=[item])
    assert code == "InvalidParameter.ParameterNotFoundOrBeNone"


def test_filter_values_that_are_not_strings_are_a_type_error() -> None:
    world, _ = make_world()
    code = error_of(world, "DescribeTasks", Filters=[{"Name": "task-state", "Values": [1]}])
    assert code == "InvalidParameter"


def test_a_filter_with_an_unknown_field_is_refused() -> None:
    world, _ = make_world()
    filters = [{"Name": "task-state", "Values": ["1"], "Extra": "x"}]
    assert error_of(world, "DescribeTasks", Filters=filters) == "UnknownParameter"


def test_the_filter_operator_field_is_accepted_and_ignored() -> None:
    world, _ = make_world()
    add(world, 1, state=DLC_RUNNING)
    filters = [{"Name": "task-state", "Values": ["1"], "Operator": "EQ"}]
    assert call(world, "DescribeTasks", Filters=filters)["TotalCount"] == 1


# --- time window ---------------------------------------------------------------------------------


def test_start_and_end_are_beijing_time_and_bound_the_creation_time_inclusively() -> None:
    world, _ = make_world()
    inside = add(world, 1, ago=2 * 3600.0)
    add(world, 2, ago=5 * 3600.0)
    add(world, 3, ago=60.0)
    page = call(
        world,
        "DescribeTasks",
        StartTime=beijing(inside.created),
        EndTime=beijing(inside.created + 3600.0),
    )
    assert ids(page) == [tid(1)]


def test_the_same_times_read_as_utc_would_miss_the_task() -> None:
    world, _ = make_world()
    task = add(world, 1, ago=2 * 3600.0)
    as_utc = datetime.fromtimestamp(task.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
    as_utc_end = datetime.fromtimestamp(task.created + 60, UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert call(world, "DescribeTasks", StartTime=as_utc, EndTime=as_utc_end)["TotalCount"] == 0


@pytest.mark.parametrize(
    "value",
    ["2026-03-01T12:00:00Z", "2026-3-1 12:00:00", "2026-02-30 00:00:00", "1740830400", "yesterday"],
)
def test_a_time_not_written_as_yyyy_mm_dd_hh_mm_ss_is_refused(value: str) -> None:
    world, _ = make_world()
    for name in ("StartTime", "EndTime"):
        assert error_of(world, "DescribeTasks", **{name: value}) == (
            "InvalidParameter.InvalidTimeFormat"
        )


def test_a_span_of_exactly_thirty_days_is_accepted() -> None:
    world, _ = make_world()
    add(world, 1, ago=DAY)
    now = world.now()
    page = call(world, "DescribeTasks", StartTime=beijing(now - 30 * DAY), EndTime=beijing(now))
    assert page["TotalCount"] == 1


@pytest.mark.parametrize("span", [30 * DAY + 1, 0.0, -3600.0])
def test_a_span_that_is_empty_negative_or_over_thirty_days_is_refused(span: float) -> None:
    world, _ = make_world()
    now = world.now()
    code = error_of(world, "DescribeTasks", StartTime=beijing(now - span), EndTime=beijing(now))
    assert code == "InvalidParameterValue"


def test_by_default_only_the_last_forty_five_days_are_listed() -> None:
    world, _ = make_world()
    add(world, 1, ago=44 * DAY)
    add(world, 2, ago=46 * DAY)
    assert ids(call(world, "DescribeTasks")) == [tid(1)]


def test_a_start_older_than_forty_five_days_is_clamped_to_the_window() -> None:
    world, _ = make_world()
    add(world, 1, ago=46 * DAY)
    add(world, 2, ago=40 * DAY)
    start = beijing(world.now() - 60 * DAY)
    assert ids(call(world, "DescribeTasks", StartTime=start)) == [tid(2)]


def test_only_an_end_time_keeps_the_default_start() -> None:
    world, _ = make_world()
    add(world, 1, ago=10 * DAY)
    add(world, 2, ago=DAY)
    end = beijing(world.now() - 5 * DAY)
    assert ids(call(world, "DescribeTasks", EndTime=end)) == [tid(1)]


def test_the_query_window_follows_the_options() -> None:
    world, _ = make_world()
    add(world, 1, ago=2 * DAY)
    add(world, 2, ago=0.5 * DAY)
    page = call(world, "DescribeTasks", options=Options(dlc_query_window=DAY))
    assert ids(page) == [tid(2)]


# --- fields ---------------------------------------------------------------------------------------


def test_every_field_of_the_sdk_model_is_present_and_no_other() -> None:
    world, _ = make_world()
    add(world, 1)
    row = call(world, "DescribeTasks")["TaskList"][0]
    model_fields = {name[1:] for name in vars(dlc_models.TaskResponseInfo())}
    assert set(row) == model_fields
    metrics = {name[1:] for name in vars(dlc_models.CommonMetrics())}
    assert set(row["CommonMetrics"]) == metrics


def test_sql_is_base64_of_the_utf8_text() -> None:
    world, _ = make_world()
    add(world, 1, sql="SELECT '数据' FROM `test`;")
    row = call(world, "DescribeTasks")["TaskList"][0]
    assert base64.b64decode(row["SQL"]).decode("utf-8") == "SELECT '数据' FROM `test`;"


def test_create_and_update_times_are_epoch_milliseconds_written_as_strings() -> None:
    world, _ = make_world()
    task = add(world, 1, ago=90.0)
    row = call(world, "DescribeTasks")["TaskList"][0]
    assert row["CreateTime"] == str(int(task.created * 1000))
    assert row["UpdateTime"] == str(int(task.updated * 1000))
    assert isinstance(row["State"], int)


def test_the_engine_type_decides_which_monitor_metrics_are_null() -> None:
    world, _ = make_world()
    add(world, 1, ago=1, engine_type="SparkSQL")
    add(world, 2, ago=2, engine_type="PrestoSQL")
    spark, presto = sorted(call(world, "DescribeTasks")["TaskList"], key=lambda r: r["Id"])
    assert spark["SparkMonitorMetrics"] is not None
    assert spark["PrestoMonitorMetrics"] is None
    assert presto["SparkMonitorMetrics"] is None
    assert presto["PrestoMonitorMetrics"] is not None


def test_the_overview_counts_queued_initialising_and_running_tasks_in_the_window() -> None:
    world, _ = make_world()
    states = [DLC_QUEUED, DLC_QUEUED, DLC_INIT, DLC_RUNNING, DLC_WRITING, DLC_SUCCEEDED]
    for n, state in enumerate(states, start=1):
        add(world, n, ago=n, state=state)
    add(world, 9, ago=50 * DAY, state=DLC_QUEUED)
    overview = call(world, "DescribeTasks", Filters=state_filter("2"))["TasksOverview"]
    assert overview == {
        "TaskQueuedCount": 2,
        "TaskInitCount": 1,
        "TaskRunningCount": 2,
        "TotalTaskCount": 6,
    }


# --- lifecycle ---------------------------------------------------------------------------------


def test_a_task_moves_from_queued_to_running_to_succeeded_as_the_clock_advances() -> None:
    world, clock = make_world()
    add(world, 1, state=DLC_QUEUED, plan=Plan(wait=30.0, run=100.0), sql_type="DQL")

    def row() -> dict[str, Any]:
        world.tick()
        result: dict[str, Any] = call(world, "DescribeTasks")["TaskList"][0]
        return result

    assert (row()["State"], row()["UsedTime"]) == (DLC_QUEUED, 0)
    clock.advance(30.0)
    assert row()["State"] == DLC_RUNNING
    clock.advance(50.0)
    running = row()
    assert running["UsedTime"] == 50_000
    assert 0 < running["Percentage"] < 100
    clock.advance(50.0)
    done = row()
    assert (done["State"], done["Percentage"], done["UsedTime"]) == (DLC_SUCCEEDED, 100, 100_000)
    assert done["UpdateTime"] == str(int(world.now() * 1000))
    assert done["CanDownload"] is True
    clock.advance(600.0)
    assert row()["UsedTime"] == 100_000


def test_a_task_planned_to_fail_ends_failed_with_an_output_message() -> None:
    world, clock = make_world()
    add(world, 1, state=DLC_QUEUED, plan=Plan(wait=0.0, run=10.0, fail=True))
    clock.advance(20.0)
    world.tick()
    row = call(world, "DescribeTasks")["TaskList"][0]
    assert row["State"] == DLC_FAILED
    assert row["OutputMessage"]


# --- CancelTask -----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [DLC_INIT, DLC_RUNNING, DLC_WRITING, DLC_QUEUED])
def test_cancelling_an_active_task_marks_it_cancelled_now(state: int) -> None:
    world, clock = make_world()
    task = add(world, 1, ago=100.0, state=state, plan=Plan(wait=50.0, run=50.0))
    clock.advance(10.0)
    before = world.version
    assert call(world, "CancelTask", TaskId=tid(1)) == {}
    assert task.state == DLC_CANCELLED
    assert task.updated == world.now()
    assert world.version > before
    row = call(world, "DescribeTasks")["TaskList"][0]
    assert row["State"] == DLC_CANCELLED
    assert row["UpdateTime"] == str(int(world.now() * 1000))


def test_a_cancelled_task_stays_cancelled_when_its_plan_comes_due() -> None:
    world, clock = make_world()
    task = add(world, 1, state=DLC_QUEUED, plan=Plan(wait=10.0, run=10.0))
    call(world, "CancelTask", TaskId=tid(1))
    clock.advance(100.0)
    world.tick()
    assert task.state == DLC_CANCELLED


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (DLC_SUCCEEDED, "InvalidParameter.TaskAlreadyFinished"),
        (DLC_FAILED, "ResourceNotFound.TaskAlreadyFailed"),
        (DLC_CANCELLED, "InvalidParameter.TaskAlreadyFinished"),
    ],
)
def test_cancelling_a_task_that_has_ended_is_refused_and_changes_nothing(
    state: int, code: str
) -> None:
    world, _ = make_world()
    task = add(world, 1, state=state)
    before = (task.state, task.updated, world.version)
    assert error_of(world, "CancelTask", TaskId=tid(1)) == code
    assert (task.state, task.updated, world.version) == before


def test_cancelling_twice_reports_the_second_as_already_finished() -> None:
    world, _ = make_world()
    add(world, 1, state=DLC_RUNNING)
    call(world, "CancelTask", TaskId=tid(1))
    assert error_of(world, "CancelTask", TaskId=tid(1)) == "InvalidParameter.TaskAlreadyFinished"


def test_cancelling_an_unknown_task_is_an_invalid_task_id() -> None:
    world, _ = make_world()
    assert error_of(world, "CancelTask", TaskId=tid(404)) == "InvalidParameter.InvalidTaskId"


def test_cancel_without_a_task_id_is_a_missing_parameter() -> None:
    world, _ = make_world()
    assert error_of(world, "CancelTask") == "MissingParameter"
    assert error_of(world, "CancelTask", TaskId="") == "MissingParameter"


def test_cancel_messages_follow_the_language() -> None:
    world, _ = make_world()
    add(world, 1, state=DLC_FAILED)
    with pytest.raises(EmulatedError) as caught:
        call(world, "CancelTask", TaskId=tid(1))
    assert caught.value.text("zh-CN") == "任务已经失败。"
    assert caught.value.text("en-US") == "The task has already failed."


def test_tasks_added_or_dropped_straight_in_the_world_are_still_listed() -> None:
    world, _ = make_world()
    add(world, 1, ago=10.0)
    dropped = add(world, 2, ago=20.0)
    assert call(world, "DescribeTasks")["TotalCount"] == 2
    del world.dlc[dropped.task_id]
    sneaked = DlcTask(task_id=tid(3), state=DLC_RUNNING, created=world.now(), updated=world.now())
    world.dlc[sneaked.task_id] = sneaked
    assert ids(call(world, "DescribeTasks")) == [tid(1), tid(3)]
