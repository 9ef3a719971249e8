"""MPS media and transcode outputs, the fields a cost estimate reads, from scenario keys to wire.

Every answer here crosses real HTTP and is parsed by the official SDK's response model, the
outside judge of field names and types. The clock is a :class:`ManualClock`: progress moves only
when the test advances it.
"""

from __future__ import annotations

import asyncio
import textwrap
from typing import Any

from tencentcloud.mps.v20190612 import models, mps_client

from taskwatch.clock import ManualClock
from taskwatch.emulator.scenario import loads_scenario
from taskwatch.emulator.world import World
from tests.emulator.harness import (
    Running,
    running_emulator,
    sdk_credential,
    sdk_profile,
    start_time,
)

KEYS = "credentials: [{secret_id: AKIDTEST000000000000000000000000001, secret_key: sk}]\n"


def world_of(body: str) -> tuple[World, ManualClock]:
    clock = ManualClock(wall=start_time(), mono=1000.0)
    scenario = loads_scenario(KEYS + textwrap.dedent(body), source="test.yaml")
    return scenario.build_world(clock), clock


async def detail(running: Running, task_id: str) -> Any:
    """DescribeTaskDetail through the official SDK: its model parses the answer."""
    request = models.DescribeTaskDetailRequest()
    request._deserialize({"TaskId": task_id})
    client = mps_client.MpsClient(sdk_credential(), "", sdk_profile(running))
    return await asyncio.to_thread(client.DescribeTaskDetail, request)


async def transcodes(running: Running, task_id: str) -> list[Any]:
    answer = await detail(running, task_id)
    return [r.TranscodeTask for r in answer.WorkflowTask.MediaProcessResultSet]


def only(world: World) -> str:
    (task_id,) = world.mps
    return task_id


TWO_OUTPUTS = """
    mps:
      tasks:
        - {type: WorkflowTask, status: PROCESSING, created: 0, duration: 100s,
           media: {duration: 10m, width: 3840, height: 2160, codec: h265},
           outputs: [{codec: h264, width: 1920, height: 1080},
                     {codec: h265, width: 720, height: 1280, done_at: 0.5}]}
"""


async def test_transcode_progress_follows_the_clock_and_each_output_appears_when_done() -> None:
    world, clock = world_of(TWO_OUTPUTS)
    task_id = only(world)
    async with running_emulator(world=world, clock=clock) as running:
        answer = await detail(running, task_id)
        meta = answer.WorkflowTask.MetaData
        assert (meta.Duration, meta.Width, meta.Height) == (600.0, 3840, 2160)
        assert isinstance(meta.Duration, float)
        assert meta.VideoStreamSet[0].Codec == "h265"
        first, second = (r.TranscodeTask for r in answer.WorkflowTask.MediaProcessResultSet)
        assert (first.Progress, second.Progress) == (0, 0)
        assert (first.Output, second.Output) == (None, None)

        clock.advance(25)
        first, second = await transcodes(running, task_id)
        assert (first.Status, first.Progress, second.Status, second.Progress) == (
            "PROCESSING", 25, "PROCESSING", 50,
        )  # fmt: skip
        assert (first.Output, second.Output) == (None, None)

        clock.advance(25)
        first, second = await transcodes(running, task_id)
        assert (first.Status, first.Progress, first.Output) == ("PROCESSING", 50, None)
        assert (second.Status, second.Progress) == ("SUCCESS", 100)
        out = second.Output
        assert (out.Duration, out.Width, out.Height) == (600.0, 720, 1280)
        assert out.VideoStreamSet[0].Codec == "h265"
        assert isinstance(out.Size, int)
        assert out.Size > 0
        assert isinstance(out.Bitrate, int)
        assert out.Bitrate > 0
        assert out.Usage.OutputSeconds == 600

        clock.advance(50)
        answer = await detail(running, task_id)
        assert answer.Status == "FINISH"
        first, second = (r.TranscodeTask for r in answer.WorkflowTask.MediaProcessResultSet)
        assert (first.Status, first.Progress, second.Status) == ("SUCCESS", 100, "SUCCESS")
        assert (first.Output.Width, first.Output.Height) == (1920, 1080)
        assert first.Output.VideoStreamSet[0].Codec == "h264"
        assert first.Output.Path != second.Output.Path


async def test_a_schedule_task_reports_its_outputs_under_its_activities() -> None:
    world, clock = world_of("""
        mps:
          tasks:
            - {type: ScheduleTask, status: PROCESSING, created: -30s, duration: 60s,
               media: {duration: 90, width: 1280, height: 720},
               outputs: [{codec: av1, width: 640, height: 360}]}
    """)
    async with running_emulator(world=world, clock=clock) as running:
        answer = (await detail(running, only(world))).ScheduleTask
        assert answer.MetaData.Duration == 90.0
        (activity,) = answer.ActivityResultSet
        transcode = activity.ActivityResItem.TranscodeTask
        assert (transcode.Progress, transcode.Output) == (50, None)
        clock.advance(30)
        answer = (await detail(running, only(world))).ScheduleTask
        output = answer.ActivityResultSet[0].ActivityResItem.TranscodeTask.Output
        assert (output.Duration, output.Width, output.Height) == (90.0, 640, 360)
        assert output.VideoStreamSet[0].Codec == "av1"


async def test_an_edit_shows_its_output_media_only_once_done() -> None:
    world, clock = world_of("""
        mps:
          tasks:
            - {type: EditMediaTask, status: PROCESSING, created: -1m, duration: 2m,
               media: {duration: 45s}, outputs: [{codec: h265, width: 1280, height: 720}]}
    """)
    async with running_emulator(world=world, clock=clock) as running:
        edit = (await detail(running, only(world))).EditMediaTask
        assert edit.Output.MetaData is None
        clock.advance(60)
        meta = (await detail(running, only(world))).EditMediaTask.Output.MetaData
        assert (meta.Duration, meta.Width, meta.Height) == (45.0, 1280, 720)
        assert meta.VideoStreamSet[0].Codec == "h265"


async def test_without_the_keys_a_task_keeps_the_former_media_and_one_720p_output() -> None:
    world, clock = world_of("""
        mps:
          tasks: [{type: WorkflowTask, status: PROCESSING, created: -1m, duration: 61s}]
    """)
    async with running_emulator(world=world, clock=clock) as running:
        clock.advance(1)
        answer = (await detail(running, only(world))).WorkflowTask
        assert (answer.MetaData.Width, answer.MetaData.Height) == (1920, 1080)
        assert answer.MetaData.Duration == 120.0
        (result,) = answer.MediaProcessResultSet
        out = result.TranscodeTask.Output
        assert (out.Definition, out.Width, out.Height, out.Duration) == (100030, 1280, 720, 120.0)
        assert (out.Bitrate, out.Size) == (2_500_000, 37_500_000)
        assert out.VideoStreamSet[0].Codec == "h264"


async def test_a_failed_task_keeps_the_outputs_it_finished_and_fails_the_rest() -> None:
    world, clock = world_of("""
        mps:
          tasks:
            - {type: WorkflowTask, status: PROCESSING, created: 0, duration: 100s,
               failure_ratio: 1,
               outputs: [{codec: h264, width: 1920, height: 1080, done_at: 0.3},
                         {codec: h264, width: 1280, height: 720}]}
    """)
    async with running_emulator(world=world, clock=clock) as running:
        clock.advance(100)
        answer = await detail(running, only(world))
        done, failed = (r.TranscodeTask for r in answer.WorkflowTask.MediaProcessResultSet)
        assert (done.Status, done.Progress, done.Output.Width) == ("SUCCESS", 100, 1920)
        assert (failed.Status, failed.Output) == ("FAIL", None)
        assert failed.ErrCode != 0


async def test_generated_tasks_carry_their_media_and_outputs() -> None:
    world, clock = world_of("""
        mps:
          generators:
            - {type: WorkflowTask, every: 10s, wait: 0s, duration: 20s, limit: 2,
               media: {duration: 30m}, outputs: [{codec: h265, width: 1920, height: 1080}]}
    """)
    clock.advance(60)
    world.tick()
    assert len(world.mps) == 2
    async with running_emulator(world=world, clock=clock) as running:
        for task_id in world.mps:
            answer = (await detail(running, task_id)).WorkflowTask
            assert answer.MetaData.Duration == 1800.0
            (result,) = answer.MediaProcessResultSet
            assert result.TranscodeTask.Output.VideoStreamSet[0].Codec == "h265"
