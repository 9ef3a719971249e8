"""The official Tencent Cloud SDK, sync and async, as an outside client of the emulator's DLC and
Live actions: answers parse into the SDK's own models, paging reaches the end, and every error
arrives as ``TencentCloudSDKException`` with the emulator's code.

Each test starts its own emulator (:mod:`tests.emulator.harness`) and runs once per SDK flavour.
The sync client blocks, so it runs in a worker thread while the server answers in the test's loop.
The SDK signs with the real clock, so these tests never move the virtual clock; lifecycles over
time are the handler tests' business. A model that receives a field it does not know warns
("fileds are useless"); that warning is an error here, so the field sets must match exactly.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.dlc.v20210125 import dlc_client, dlc_client_async
from tencentcloud.dlc.v20210125 import models as dlc_models
from tencentcloud.live.v20180801 import live_client, live_client_async
from tencentcloud.live.v20180801 import models as live_models

from taskwatch.emulator.world import (
    DLC_CANCELLED,
    DLC_FAILED,
    DLC_QUEUED,
    DLC_RUNNING,
    DLC_SUCCEEDED,
    DlcTask,
    LiveTask,
    Plan,
    World,
)
from tests.emulator.harness import Running, running_emulator, sdk_credential, sdk_profile

pytestmark = pytest.mark.filterwarnings("error:.*fileds are useless:UserWarning")

REGION = "ap-guangzhou"
HOUR = 3600.0


@dataclass
class Sdk:
    """Both product clients of one SDK flavour, called the same way whichever it is."""

    flavour: str
    dlc_client: Any
    live_client: Any

    async def _call(self, client: Any, models: Any, action: str, params: dict[str, Any]) -> Any:
        request = getattr(models, f"{action}Request")()
        request.from_json_string(json.dumps(params))
        method = getattr(client, action)
        if self.flavour == "sync":
            return await asyncio.to_thread(method, request)
        return await method(request)

    async def dlc(self, action: str, **params: Any) -> Any:
        return await self._call(self.dlc_client, dlc_models, action, params)

    async def live(self, action: str, **params: Any) -> Any:
        return await self._call(self.live_client, live_models, action, params)


@asynccontextmanager
async def sdk(running: Running, flavour: str, *, method: str = "POST") -> AsyncIterator[Sdk]:
    cred, profile = sdk_credential(), sdk_profile(running)
    profile.httpProfile.reqMethod = method
    if flavour == "sync":
        yield Sdk(
            flavour,
            dlc_client.DlcClient(cred, REGION, profile),
            live_client.LiveClient(cred, REGION, profile),
        )
        return
    async with (
        dlc_client_async.DlcClient(cred, REGION, profile) as dlc,
        live_client_async.LiveClient(cred, REGION, profile) as live,
    ):
        yield Sdk(flavour, dlc, live)


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


async def sdk_error(call: Awaitable[Any]) -> str:
    with pytest.raises(TencentCloudSDKException) as caught:
        await call
    code: str = caught.value.get_code()
    assert caught.value.get_request_id()
    return code


def tid(n: int) -> str:
    return str(uuid.UUID(int=n, version=4))


def add_dlc(world: World, n: int, *, ago: float, state: int = DLC_SUCCEEDED, **kw: Any) -> None:
    created = world.now() - ago
    world.add_dlc(
        DlcTask(
            task_id=tid(n),
            state=state,
            created=created,
            updated=created + 30.0,
            started=created,
            plan=Plan(wait=None, run=None),
            **kw,
        )
    )


def add_live(world: World, task_id: str, *, updated_ago: float = 0.0, **kw: Any) -> None:
    now = world.now()
    world.add_live(
        LiveTask(
            task_id=task_id,
            created=now - HOUR,
            updated=now - updated_ago,
            start_time=now - HOUR,
            end_time=now + HOUR,
            **kw,
        )
    )


# --- DLC -----------------------------------------------------------------------------------------


async def test_dlc_paging_parses_into_the_sdk_models_and_reaches_every_task(flavour: str) -> None:
    async with running_emulator() as running:
        for n in range(1, 251):
            add_dlc(running.world, n, ago=n * 60.0, sql=f"SELECT {n}")
        seen: list[str] = []
        async with sdk(running, flavour) as client:
            offset = 0
            while True:
                resp = await client.dlc("DescribeTasks", Limit=100, Offset=offset)
                assert isinstance(resp, dlc_models.DescribeTasksResponse)
                assert resp.TotalCount == 250
                assert resp.TasksOverview.TotalTaskCount == 250
                if not resp.TaskList:
                    break
                for info in resp.TaskList:
                    assert isinstance(info, dlc_models.TaskResponseInfo)
                    assert info.CreateTime.isdigit()
                    assert base64.b64decode(info.SQL).decode().startswith("SELECT ")
                    assert isinstance(info.CommonMetrics, dlc_models.CommonMetrics)
                seen += [info.Id for info in resp.TaskList]
                offset += 100
    assert sorted(seen) == sorted(tid(n) for n in range(1, 251))


async def test_dlc_filters_and_times_travel_through_the_sdk(flavour: str) -> None:
    async with running_emulator() as running:
        add_dlc(running.world, 1, ago=60.0, state=DLC_RUNNING)
        add_dlc(running.world, 2, ago=120.0, state=DLC_QUEUED)
        add_dlc(running.world, 3, ago=180.0, state=DLC_SUCCEEDED)
        async with sdk(running, flavour) as client:
            resp = await client.dlc(
                "DescribeTasks",
                Filters=[{"Name": "task-state", "Values": ["1", "4"]}],
                SortBy="create-time",
                Sorting="desc",
                StartTime="2000-01-01 00:00:00",
                EndTime="2000-01-31 00:00:00",
            )
            assert resp.TotalCount == 0
            resp = await client.dlc(
                "DescribeTasks",
                Filters=[{"Name": "task-state", "Values": ["1", "4"]}],
                Sorting="desc",
            )
    assert [info.Id for info in resp.TaskList] == [tid(1), tid(2)]
    assert resp.TasksOverview.TaskQueuedCount == 1
    assert resp.TasksOverview.TaskRunningCount == 1


async def test_dlc_filters_survive_the_flattened_get_form() -> None:
    async with running_emulator() as running:
        add_dlc(running.world, 1, ago=60.0, state=DLC_RUNNING)
        add_dlc(running.world, 2, ago=120.0, state=DLC_SUCCEEDED)
        async with sdk(running, "sync", method="GET") as client:
            resp = await client.dlc(
                "DescribeTasks",
                Limit=5,
                Filters=[{"Name": "task-state", "Values": ["1"]}],
            )
            code = await sdk_error(
                client.dlc("DescribeTasks", Filters=[{"Name": "task-state", "Values": ["x"]}])
            )
    assert [info.Id for info in resp.TaskList] == [tid(1)]
    assert code == "InvalidParameter.TaskStateTypeNotMath"


def one_filter(name: str, *values: str) -> dict[str, Any]:
    return {"Filters": [{"Name": name, "Values": list(values)}]}


BAD = "InvalidParameter."


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"Filters": []}, BAD + "InvalidFilterLength"),
        ({"Filters": one_filter("task-state", "1")["Filters"] * 6}, BAD + "InvalidFilterLength"),
        (one_filter("owner", "x"), BAD + "SQLTaskFiltersKeyTypeNotMath"),
        (one_filter("task-state", "done"), BAD + "TaskStateTypeNotMath"),
        (
            one_filter("task-id", *(tid(n) for n in range(51))),
            BAD + "FiltersValuesNumberOutOfLimit",
        ),
        ({"StartTime": "2026-01-01T00:00:00Z"}, BAD + "InvalidTimeFormat"),
        (
            {"StartTime": "2026-01-01 00:00:00", "EndTime": "2026-03-01 00:00:00"},
            "InvalidParameterValue",
        ),
        ({"SortBy": "name"}, BAD + "SQLTaskSortByTypeNotMatch"),
        ({"Limit": 101}, "InvalidParameterValue"),
    ],
)
async def test_dlc_describe_errors_reach_the_sdk_with_their_codes(
    flavour: str, params: dict[str, Any], code: str
) -> None:
    async with running_emulator() as running, sdk(running, flavour) as client:
        assert await sdk_error(client.dlc("DescribeTasks", **params)) == code


async def test_cancel_through_the_sdk_cancels_and_then_reports_finished(flavour: str) -> None:
    async with running_emulator() as running:
        add_dlc(running.world, 1, ago=60.0, state=DLC_RUNNING)
        async with sdk(running, flavour) as client:
            resp = await client.dlc("CancelTask", TaskId=tid(1))
            assert isinstance(resp, dlc_models.CancelTaskResponse)
            assert resp.RequestId
            listed = await client.dlc(
                "DescribeTasks", Filters=[{"Name": "task-id", "Values": [tid(1)]}]
            )
            again = await sdk_error(client.dlc("CancelTask", TaskId=tid(1)))
    assert listed.TaskList[0].State == DLC_CANCELLED
    assert again == "InvalidParameter.TaskAlreadyFinished"


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (DLC_SUCCEEDED, "InvalidParameter.TaskAlreadyFinished"),
        (DLC_FAILED, "ResourceNotFound.TaskAlreadyFailed"),
        (None, "InvalidParameter.InvalidTaskId"),
    ],
)
async def test_cancel_errors_reach_the_sdk_with_their_codes(
    flavour: str, state: int | None, code: str
) -> None:
    async with running_emulator() as running:
        if state is not None:
            add_dlc(running.world, 1, ago=60.0, state=state)
        async with sdk(running, flavour) as client:
            assert await sdk_error(client.dlc("CancelTask", TaskId=tid(1))) == code


async def test_cancel_without_a_task_id_is_a_missing_parameter(flavour: str) -> None:
    async with running_emulator() as running, sdk(running, flavour) as client:
        assert await sdk_error(client.dlc("CancelTask")) == "MissingParameter"


# --- Live ----------------------------------------------------------------------------------------


async def test_live_paging_parses_into_the_sdk_models_and_reaches_every_task(
    flavour: str,
) -> None:
    async with running_emulator() as running:
        for n in range(45):
            add_live(running.world, str(10000 + n), updated_ago=float(n))
        seen: list[str] = []
        async with sdk(running, flavour) as client:
            page_num = 1
            while True:
                resp = await client.live(
                    "DescribeLivePullStreamTasks", PageNum=page_num, PageSize=20
                )
                assert isinstance(resp, live_models.DescribeLivePullStreamTasksResponse)
                assert (resp.TotalNum, resp.TotalPage, resp.LimitTaskNum) == (45, 3, 20)
                for info in resp.TaskInfos:
                    assert isinstance(info, live_models.PullStreamTaskInfo)
                    assert info.RecentPullInfo is None
                    assert info.StartTime.endswith("Z")
                seen += [info.TaskId for info in resp.TaskInfos]
                if page_num >= resp.TotalPage:
                    break
                page_num += 1
    assert seen == [str(10000 + n) for n in range(45)]


async def test_live_single_task_query_carries_recent_pull_info(flavour: str) -> None:
    async with running_emulator() as running:
        add_live(running.world, "10000", source_urls=["rtmp://src.example.com/live/a"])
        async with sdk(running, flavour) as client:
            resp = await client.live("DescribeLivePullStreamTasks", TaskId="10000")
            unknown = await client.live("DescribeLivePullStreamTasks", TaskId="99999")
    recent = resp.TaskInfos[0].RecentPullInfo
    assert isinstance(recent, live_models.RecentPullInfo)
    assert recent.FileUrl == "rtmp://src.example.com/live/a"
    assert (unknown.TaskInfos, unknown.TotalNum) == ([], 0)


async def test_live_status_parses_and_tells_active_from_inactive(flavour: str) -> None:
    async with running_emulator() as running:
        add_live(running.world, "10000")
        add_live(running.world, "10001", status="pause")
        async with sdk(running, flavour) as client:
            active = await client.live("DescribeLivePullStreamTaskStatus", TaskId="10000")
            paused = await client.live("DescribeLivePullStreamTaskStatus", TaskId="10001")
            missing = await sdk_error(
                client.live("DescribeLivePullStreamTaskStatus", TaskId="99999")
            )
    assert isinstance(active.TaskStatusInfo, live_models.TaskStatusInfo)
    assert active.TaskStatusInfo.RunStatus == "active"
    assert paused.TaskStatusInfo.RunStatus == "inactive"
    assert missing == "InvalidParameter.TaskNotExist"


async def test_live_delete_removes_the_task_and_a_second_delete_is_task_not_exist(
    flavour: str,
) -> None:
    async with running_emulator() as running:
        add_live(running.world, "10000")
        async with sdk(running, flavour) as client:
            resp = await client.live("DeleteLivePullStreamTask", TaskId="10000", Operator="ops")
            assert isinstance(resp, live_models.DeleteLivePullStreamTaskResponse)
            listed = await client.live("DescribeLivePullStreamTasks")
            again = await sdk_error(
                client.live("DeleteLivePullStreamTask", TaskId="10000", Operator="ops")
            )
    assert listed.TotalNum == 0
    assert again == "InvalidParameter.TaskNotExist"


@pytest.mark.parametrize(
    ("action", "params", "code"),
    [
        ("DescribeLivePullStreamTasks", {"PageSize": 21}, "InvalidParameterValue"),
        ("DescribeLivePullStreamTasks", {"PageNum": 0}, "InvalidParameterValue"),
        ("DescribeLivePullStreamTaskStatus", {}, "MissingParameter"),
        ("DeleteLivePullStreamTask", {"TaskId": "10000"}, "MissingParameter"),
        ("DeleteLivePullStreamTask", {"Operator": "ops"}, "MissingParameter"),
    ],
)
async def test_live_errors_reach_the_sdk_with_their_codes(
    flavour: str, action: str, params: dict[str, Any], code: str
) -> None:
    async with running_emulator() as running:
        add_live(running.world, "10000")
        async with sdk(running, flavour) as client:
            assert await sdk_error(client.live(action, **params)) == code
