"""MPS task notifications: the emulator POSTs ``ParseNotification``-shaped bodies (and
``ParseLiveStreamProcessNotification``-shaped ones for live stream processing) to a real
receiver on loopback when a task with a notify config changes, signed with its NotifyKey.

The emulator runs on a :class:`ManualClock`: a test advances it, and the pump (ticking every
50 ms of real time) applies the transitions and sends. The official SDK's models judge the
bodies: every key a body has is a field of the model, and the model parses it.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.mps.v20190612 import models as mps_models
from tencentcloud.mps.v20190612 import mps_client_async

from taskwatch.emulator.notify_config import Notify
from taskwatch.emulator.world import MpsTask, Plan, World
from tests.e2e.waiting import eventually
from tests.emulator.harness import (
    Running,
    fast_transport,
    running_emulator,
    sdk_credential,
    sdk_profile,
    taskwatch_client,
)
from tests.emulator.receiver import KEY, receiving, valid_sign


def waiting_task(
    world: World, url: str, *, mode: str = "Finish", task_type: str = "WorkflowTask",
    wait: float | None = 10.0, run: float | None = 60.0, key: str = KEY,
) -> MpsTask:  # fmt: skip
    task = MpsTask(world.mps_id(task_type), task_type, "WAITING", world.now(),
                   plan=Plan(wait, run), notify=Notify(url, key, mode),
                   session_id="s-1", session_context="ctx")  # fmt: skip
    return world.add_mps(task)


def model_fields(model: Any) -> set[str]:
    return {name.lstrip("_") for name in vars(model)} - {"RequestId"}


def parsed_notification(body: dict[str, Any]) -> Any:
    """The body through the SDK's ParseNotification model; its keys are exactly the model's."""
    model = mps_models.ParseNotificationResponse()
    assert set(body) == model_fields(model)
    model._deserialize(body)
    return model


async def sdk_call(running: Running, action: str, params: dict[str, Any]) -> Any:
    request = getattr(mps_models, f"{action}Request")()
    request._deserialize(params)
    profile: ClientProfile = sdk_profile(running)
    async with mps_client_async.MpsClient(sdk_credential(), "", profile) as client:
        return await getattr(client, action)(request)


def advance(running: Running, seconds: float) -> None:
    """Move the emulator's clock; its pump applies (and notifies) the changes on its next tick."""
    running.clock.advance(seconds)


async def test_a_finish_mode_workflow_sends_exactly_one_signed_finish_notification() -> None:
    async with receiving() as rx, running_emulator() as running:
        task = waiting_task(running.world, f"{rx.url}/mps")
        advance(running, 10)
        advance(running, 60)
        await rx.wait_for(1)
        await rx.settle(running.world)
        now = running.clock.now().timestamp()
    assert len(rx.got) == 1
    got = rx.got[0]
    body = got.body
    assert got.path == "/mps"
    assert got.content_type == "application/json"
    assert body["EventType"] == "WorkflowTask"
    assert body["Timestamp"] == int(now) + 600
    assert valid_sign(body)
    assert body["SessionId"] == "s-1"
    assert body["SessionContext"] == "ctx"
    assert body["EditMediaTaskEvent"] is None
    assert body["ScheduleTaskEvent"] is None
    event = body["WorkflowTaskEvent"]
    assert event["TaskId"] == task.task_id
    assert event["Status"] == "FINISH"
    assert event["ErrCode"] == 0
    assert event["MediaProcessResultSet"][0]["TranscodeTask"]["Status"] == "SUCCESS"
    parsed = parsed_notification(body)
    assert parsed.WorkflowTaskEvent.TaskId == task.task_id
    assert model_fields(parsed.WorkflowTaskEvent) == set(event)


async def test_a_wrong_key_gives_a_sign_that_the_right_key_does_not_verify() -> None:
    async with receiving() as rx, running_emulator() as running:
        waiting_task(running.world, f"{rx.url}/mps", key="another-key", wait=0, run=1)
        advance(running, 1)
        await rx.wait_for(1)
    assert valid_sign(rx.got[0].body, "another-key")
    assert not valid_sign(rx.got[0].body, KEY)


async def test_a_change_mode_workflow_sends_processing_then_finish() -> None:
    async with receiving() as rx, running_emulator() as running:
        waiting_task(running.world, f"{rx.url}/mps", mode="Change")
        advance(running, 10)
        await rx.wait_for(1, "PROCESSING")
        advance(running, 60)
        await rx.wait_for(2, "FINISH")
        await rx.settle(running.world)
    statuses = [b["WorkflowTaskEvent"]["Status"] for b in rx.bodies()]
    assert statuses == ["PROCESSING", "FINISH"]
    assert all(valid_sign(b) for b in rx.bodies())


async def test_one_clock_jump_over_both_changes_sends_each_as_the_task_stood_then() -> None:
    async with receiving() as rx, running_emulator() as running:
        waiting_task(running.world, f"{rx.url}/mps", mode="Change", task_type="ScheduleTask")
        advance(running, 500)
        await rx.wait_for(2)
    first, second = rx.bodies()
    assert [first["EventType"], second["EventType"]] == ["ScheduleTask", "ScheduleTask"]
    assert first["ScheduleTaskEvent"]["Status"] == "PROCESSING"
    transcode = first["ScheduleTaskEvent"]["ActivityResultSet"][0]["ActivityResItem"][
        "TranscodeTask"]  # fmt: skip
    assert (transcode["Status"], transcode["Progress"]) == ("PROCESSING", 0)
    assert second["ScheduleTaskEvent"]["Status"] == "FINISH"
    parsed_notification(first)


async def test_an_edit_media_task_sends_its_own_event() -> None:
    async with receiving() as rx, running_emulator() as running:
        waiting_task(running.world, f"{rx.url}/mps", task_type="EditMediaTask", wait=0, run=5)
        advance(running, 5)
        await rx.wait_for(1)
    body = rx.bodies()[0]
    assert body["EventType"] == "EditMediaTask"
    assert body["WorkflowTaskEvent"] is None
    assert body["EditMediaTaskEvent"]["Output"]["MetaData"] is not None
    assert parsed_notification(body).EditMediaTaskEvent.Status == "FINISH"


async def test_an_abort_by_a_real_manage_task_call_notifies_the_finish() -> None:
    async with (
        receiving() as rx,
        running_emulator() as running,
        fast_transport() as transport,
    ):
        task = waiting_task(running.world, f"{rx.url}/mps", wait=None)
        client = taskwatch_client(running, transport)
        await client.call("mps", "ManageTask", {"OperationType": "Abort", "TaskId": task.task_id})
        await rx.wait_for(1)
    event = rx.bodies()[0]["WorkflowTaskEvent"]
    assert event["Status"] == "FINISH"
    assert event["Message"] == "aborted by ManageTask"


async def test_a_live_stream_processing_task_aborted_through_the_sdk_sends_process_eof() -> None:
    async with receiving() as rx, running_emulator() as running:
        task = waiting_task(running.world, f"{rx.url}/live-mps", task_type="LiveStreamProcessTask",
                            mode="Change", wait=0, run=None)  # fmt: skip
        advance(running, 1)  # processing: no notification of that type exists
        await sdk_call(running, "ManageTask", {"OperationType": "Abort", "TaskId": task.task_id})
        await rx.wait_for(1)
        await rx.settle(running.world)
    assert len(rx.got) == 1
    body = rx.bodies()[0]
    model = mps_models.ParseLiveStreamProcessNotificationResponse()
    assert set(body) == model_fields(model)
    model._deserialize(body)
    assert model.NotificationType == "ProcessEof"
    assert model.TaskId == task.task_id
    assert model.ProcessEofInfo.ErrCode == 0
    assert model.ProcessEofInfo.Message == "aborted by ManageTask"
    assert model.SessionContext == "ctx"
    assert valid_sign(body)


async def test_a_live_stream_processing_task_that_fails_reports_its_error_in_process_eof() -> None:
    async with receiving() as rx, running_emulator() as running:
        task = waiting_task(running.world, f"{rx.url}/x", task_type="LiveStreamProcessTask",
                            wait=0, run=30)  # fmt: skip
        task.plan.fail = True
        advance(running, 30)
        await rx.wait_for(1)
    info = rx.bodies()[0]["ProcessEofInfo"]
    assert info == {"ErrCode": 70000, "Message": "Internal error: processing failed"}


@pytest.mark.parametrize("mode", ["Finish", "Change"])
async def test_describe_task_detail_echoes_the_notify_config_to_the_official_sdk(mode: str) -> None:
    async with running_emulator() as running:
        task = waiting_task(running.world, "https://hooks.example.com/mps", mode=mode, wait=None)
        plain = MpsTask(running.world.mps_id("WorkflowTask"), "WorkflowTask", "WAITING",
                        running.world.now(), plan=Plan(None, None))  # fmt: skip
        running.world.add_mps(plain)
        detail = await sdk_call(running, "DescribeTaskDetail", {"TaskId": task.task_id})
        bare = await sdk_call(running, "DescribeTaskDetail", {"TaskId": plain.task_id})
    config = detail.TaskNotifyConfig
    assert config.NotifyType == "URL"
    assert config.NotifyMode == mode
    assert config.NotifyUrl == "https://hooks.example.com/mps"
    assert config.NotifyKey == KEY
    assert config.CmqModel == ""
    assert config.AwsSQS is None
    assert bare.TaskNotifyConfig is None


async def test_tasks_without_a_notify_config_send_nothing_and_start_no_pump() -> None:
    async with receiving() as rx, running_emulator() as running:
        task = MpsTask(running.world.mps_id("WorkflowTask"), "WorkflowTask", "WAITING",
                       running.world.now(), plan=Plan(0, 1))  # fmt: skip
        running.world.add_mps(task)
        assert not running.emulator.notifier.running
        waiting_task(running.world, f"{rx.url}/mps", wait=0, run=1)
        assert running.emulator.notifier.running
        advance(running, 1)
        await rx.wait_for(1)
        await rx.settle(running.world)
        assert task.status == "FINISH"  # the pump ticked it too, silently
    assert len(rx.got) == 1
    assert rx.bodies()[0]["WorkflowTaskEvent"]["TaskId"] != task.task_id
    assert not running.emulator.notifier.running


async def test_the_notifications_endpoint_lists_every_delivery_with_its_body() -> None:
    async with receiving() as rx, running_emulator() as running:
        task = waiting_task(running.world, f"{rx.url}/mps", wait=0, run=1)
        advance(running, 1)
        await rx.wait_for(1)
        await eventually(lambda: running.emulator.notifications, "the record")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{running.url}/_emulator/notifications") as response:
                listed = await response.json()
            async with http.get(f"{running.url}/_emulator/notifications?since=1") as response:
                after = await response.json()
    assert len(listed) == 1
    entry = listed[0]
    assert entry["task_id"] == task.task_id
    assert entry["event"] == "WorkflowTask"
    assert entry["status"] == 200
    assert entry["fault"] == ""
    assert entry["url"] == f"{rx.url}/mps"
    assert entry["body"] == rx.bodies()[0]
    assert KEY not in str(listed)
    assert after == []
