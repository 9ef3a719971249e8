"""The official Tencent Cloud SDK, sync and async, against the running emulator's MPS actions.

The SDK is the outside judge of the wire: its models must parse every answer, its paging loop
must reach the end, and every error must come out as ``TencentCloudSDKException`` with the code
the emulator meant. The sync client blocks, so it runs in a thread while the server runs in the
test's loop. The virtual clock stands still, so every test stays within the rate limits.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.mps.v20190612 import models, mps_client, mps_client_async

from taskwatch.emulator.world import MpsTask, Plan, World
from tests.emulator.harness import Running, running_emulator, sdk_credential, sdk_profile

CLIENTS = ["sync", "async"]
SENTINEL = "0000-00-00T00:00:00Z"
TYPES = ("WorkflowTask", "EditMediaTask", "LiveStreamProcessTask", "ScheduleTask")


async def invoke(
    kind: str, running: Running, action: str, params: dict[str, Any], language: str = "en-US"
) -> Any:
    """``action`` through the SDK's own client method, request model and response model."""
    request = getattr(models, f"{action}Request")()
    request._deserialize(params)
    profile: ClientProfile = sdk_profile(running)
    profile.language = language
    if kind == "sync":
        client = mps_client.MpsClient(sdk_credential(), "", profile)
        return await asyncio.to_thread(getattr(client, action), request)
    async with mps_client_async.MpsClient(sdk_credential(), "", profile) as client:
        return await getattr(client, action)(request)


async def sdk_error(
    kind: str, running: Running, action: str, params: dict[str, Any], language: str = "en-US"
) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as caught:
        await invoke(kind, running, action, params, language)
    return caught.value


def add(
    world: World,
    *,
    status: str = "PROCESSING",
    task_type: str = "WorkflowTask",
    age: float = 60.0,
) -> MpsTask:
    created = world.now() - age
    task = MpsTask(
        task_id=world.mps_id(task_type),
        task_type=task_type,
        status=status,
        created=created,
        started=None if status == "WAITING" else created,
        plan=Plan(wait=None, run=None),
    )
    if status == "FINISH":
        world.finish_mps(task, created + 1)
    return world.add_mps(task)


@pytest.mark.parametrize("kind", CLIENTS)
async def test_the_sdk_pages_a_listing_to_the_end_and_parses_every_row(kind: str) -> None:
    async with running_emulator() as running:
        tasks = [add(running.world, task_type=TYPES[i % 4], age=i * 10.0 + 5) for i in range(250)]
        ids: list[str] = []
        types: set[str] = set()
        token = ""
        pages = 0
        while True:
            params: dict[str, Any] = {"Status": "PROCESSING", "Limit": 100}
            if token:
                params["ScrollToken"] = token
            response = await invoke(kind, running, "DescribeTasks", params)
            assert isinstance(response, models.DescribeTasksResponse)
            assert response.TotalCount == 250
            assert response.RequestId
            ids += [t.TaskId for t in response.TaskSet]
            types |= {t.TaskType for t in response.TaskSet}
            pages += 1
            token = response.ScrollToken
            if not token:
                break
        assert ids == [t.task_id for t in tasks]
        assert pages == 3
        assert types == {"WorkflowTask", "EditMediaTask", "LiveProcessTask", "ScheduleTask"}


@pytest.mark.parametrize("kind", CLIENTS)
async def test_an_empty_listing_parses_to_an_empty_task_set(kind: str) -> None:
    async with running_emulator() as running:
        response = await invoke(kind, running, "DescribeTasks", {"Status": "WAITING"})
        assert (response.TaskSet, response.ScrollToken, response.TotalCount) == ([], "", 0)


@pytest.mark.parametrize("kind", CLIENTS)
@pytest.mark.parametrize("status", ["WAITING", "PROCESSING", "FINISH"])
async def test_the_detail_of_every_task_type_parses_into_the_sdk_model(
    kind: str, status: str
) -> None:
    async with running_emulator() as running:
        tasks = [add(running.world, status=status, task_type=t) for t in TYPES]
        for task in tasks:
            response = await invoke(kind, running, "DescribeTaskDetail", {"TaskId": task.task_id})
            assert isinstance(response, models.DescribeTaskDetailResponse)
            assert (response.TaskType, response.Status) == (task.task_type, status)
            sub = getattr(response, task.task_type)
            assert sub.TaskId == task.task_id
            assert sub.Status == ("FINISH" if status == "FINISH" else "PROCESSING")
            others = [t for t in TYPES if t != task.task_type]
            assert all(getattr(response, t) is None for t in others)
            assert (response.FinishTime == SENTINEL) == (status != "FINISH")
            assert (response.BeginProcessTime == SENTINEL) == (status == "WAITING")


@pytest.mark.parametrize("kind", CLIENTS)
async def test_an_abort_succeeds_once_and_the_second_is_not_processing_task(kind: str) -> None:
    async with running_emulator() as running:
        task = add(running.world, task_type="LiveStreamProcessTask")
        params = {"OperationType": "Abort", "TaskId": task.task_id}
        response = await invoke(kind, running, "ManageTask", params)
        assert isinstance(response, models.ManageTaskResponse)
        assert response.RequestId
        detail = await invoke(kind, running, "DescribeTaskDetail", {"TaskId": task.task_id})
        assert detail.Status == detail.LiveStreamProcessTask.Status == "FINISH"
        assert detail.FinishTime != SENTINEL

        err = await sdk_error(kind, running, "ManageTask", params)
        assert err.code == "InvalidParameterValue.NotProcessingTask"
        assert err.requestId


ERRORS = [
    ("DescribeTasks", {"Status": "RUNNING"}, "InvalidParameterValue"),
    ("DescribeTasks", {"Status": "WAITING", "Limit": 101}, "InvalidParameterValue.Limit"),
    ("DescribeTasks", {"Status": "WAITING", "Limit": 0}, "InvalidParameterValue.Limit"),
    ("DescribeTasks", {"Status": "WAITING", "ScrollToken": "gone"}, "InvalidParameterValue"),
    ("DescribeTasks", {"Status": "WAITING", "StartTime": "today"}, "InvalidParameterValue"),
    ("DescribeTasks", {"Limit": 10}, "MissingParameter"),
    ("DescribeTaskDetail", {"TaskId": "1250000000-WorkflowTask-gone"}, "ResourceNotFound"),
    ("DescribeTaskDetail", {}, "MissingParameter"),
    ("ManageTask", {"OperationType": "Stop", "TaskId": "{waiting}"},
     "InvalidParameterValue.InvalidOperationType"),
    ("ManageTask", {"OperationType": "Abort", "TaskId": "gone"}, "InvalidParameterValue.TaskId"),
    ("ManageTask", {"OperationType": "Abort", "TaskId": "{processing}"},
     "InvalidParameterValue.NotProcessingTask"),
    ("ManageTask", {"OperationType": "Abort", "TaskId": "{finished}"},
     "InvalidParameterValue.NotProcessingTask"),
    ("ManageTask", {"TaskId": "{waiting}"}, "MissingParameter"),
]  # fmt: skip


@pytest.mark.parametrize("kind", CLIENTS)
@pytest.mark.parametrize(("action", "params", "code"), ERRORS)
async def test_each_error_surfaces_as_an_sdk_exception_with_its_code(
    kind: str, action: str, params: dict[str, Any], code: str
) -> None:
    async with running_emulator() as running:
        world = running.world
        ids = {
            "{waiting}": add(world, status="WAITING").task_id,
            "{processing}": add(world, status="PROCESSING").task_id,
            "{finished}": add(world, status="FINISH").task_id,
        }
        params = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
        err = await sdk_error(kind, running, action, params)
        assert err.code == code
        assert err.message
        assert err.requestId
        assert running.log()[-1]["code"] == code


@pytest.mark.parametrize("kind", CLIENTS)
async def test_a_chinese_client_gets_the_chinese_message(kind: str) -> None:
    async with running_emulator() as running:
        task = add(running.world)
        params = {"OperationType": "Abort", "TaskId": task.task_id}
        err = await sdk_error(kind, running, "ManageTask", params, language="zh-CN")
        assert err.code == "InvalidParameterValue.NotProcessingTask"
        assert err.message == "不支持状态不为处理中的任务。"
