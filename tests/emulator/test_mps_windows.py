"""The emulated MPS windows: a task outlives what DescribeTasks lists (7 days) and what
DescribeTaskDetail keeps (3 days here), and ManageTask still reaches it while it runs."""

from __future__ import annotations

from taskwatch.emulator.actions import Options
from taskwatch.emulator.world import Plan
from tests.emulator.test_mps import DAY, add, call, fails, new_world

THREE_DAYS = Options(mps_detail_retention=3 * DAY)


def listed(world_call: dict[str, object]) -> list[str]:
    rows = world_call["TaskSet"]
    assert isinstance(rows, list)
    return [row["TaskId"] for row in rows]


def test_a_live_task_past_both_windows_is_described_by_no_call_but_still_aborted_by_id() -> None:
    world, clock = new_world()
    live = add(world, task_type="LiveStreamProcessTask", age=60.0, plan=Plan(wait=0, run=None))
    params = {"Status": "PROCESSING", "Limit": 100}
    assert listed(call(world, "DescribeTasks", params, THREE_DAYS)) == [live.task_id]
    clock.advance(3 * DAY)
    assert listed(call(world, "DescribeTasks", params, THREE_DAYS)) == [live.task_id]
    err = fails(world, "DescribeTaskDetail", {"TaskId": live.task_id}, mps_detail_retention=3 * DAY)
    assert err.code == "ResourceNotFound"
    clock.advance(4 * DAY)
    assert listed(call(world, "DescribeTasks", params, THREE_DAYS)) == []
    abort = {"OperationType": "Abort", "TaskId": live.task_id}
    assert call(world, "ManageTask", abort, THREE_DAYS) == {}
    assert (world.mps[live.task_id].status, world.mps[live.task_id].aborted) == ("FINISH", True)
    err = fails(world, "ManageTask", abort, mps_detail_retention=3 * DAY)
    assert err.code == "InvalidParameterValue.TaskId"  # finished and past its detail: unknown


def test_a_waiting_task_past_both_windows_can_still_be_aborted() -> None:
    world, _ = new_world()
    waiting = add(world, status="WAITING", age=8 * DAY)
    assert call(world, "DescribeTasks", {"Status": "WAITING"})["TaskSet"] == []
    assert call(world, "ManageTask", {"OperationType": "Abort", "TaskId": waiting.task_id}) == {}
    assert world.mps[waiting.task_id].status == "FINISH"


def test_a_finished_task_inside_its_detail_window_is_not_processing_not_unknown() -> None:
    world, _ = new_world()
    done = add(world, status="FINISH", age=2 * DAY)
    err = fails(world, "ManageTask", {"OperationType": "Abort", "TaskId": done.task_id})
    assert err.code == "InvalidParameterValue.NotProcessingTask"


def test_the_purge_forgets_finished_tasks_past_the_windows_and_keeps_the_running_ones() -> None:
    world, _ = new_world()
    running = add(world, task_type="LiveStreamProcessTask", age=9 * DAY)
    waiting = add(world, status="WAITING", age=9 * DAY)
    finished = add(world, status="FINISH", age=9 * DAY)
    recent = add(world, status="FINISH", age=DAY)
    assert world.purge(older_than=world.now() - 7 * DAY) == 1
    assert set(world.mps) == {running.task_id, waiting.task_id, recent.task_id}
    assert finished.task_id not in world.mps
