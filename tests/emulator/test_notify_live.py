"""Live pull-stream callbacks: a task with a ``CallbackUrl`` is sent ``TaskStart`` at its
StartTime and ``TaskExit`` at its EndTime, on pause and on deletion while active, shaped as the
Live documentation's pull-stream callback (event_type 314), to a real receiver on loopback.
"""

from __future__ import annotations

import json
from typing import Any

from taskwatch.clock import ManualClock
from taskwatch.emulator import live
from taskwatch.emulator.actions import CallContext, Options
from taskwatch.emulator.scenario import loads_scenario
from taskwatch.emulator.server import Emulator
from taskwatch.emulator.wire import coerce
from taskwatch.emulator.world import LiveTask, World
from tests.emulator.harness import fast_transport, running_emulator, start_time, taskwatch_client
from tests.emulator.receiver import receiving

KEYS = "credentials: [{secret_id: AKIDTEST000000000000000000000000001, secret_key: sk}]\n"

CALLBACK_KEYS = {"appid", "callback_event", "event_type", "interface", "msg", "product_name",
                 "source_urls", "stream_id", "task_id", "to_url", "event_time"}  # fmt: skip


def pull_task(
    world: World, url: str, *, starts_in: float = 10.0, lasts: float = 60.0, **kw: Any
) -> LiveTask:
    now = world.now()
    task = LiveTask(world.live_id(), now, now, now + starts_in, now + starts_in + lasts,
                    callback_url=url, stream="relay", domain="push.example.com", **kw)  # fmt: skip
    return world.add_live(task)


async def test_a_pull_task_sends_task_start_at_its_start_and_task_exit_at_its_end() -> None:
    async with receiving() as rx, running_emulator() as running:
        task = pull_task(running.world, f"{rx.url}/live/prod/token")
        running.clock.advance(10)
        await rx.wait_for(1, "TaskStart")
        running.clock.advance(60)
        await rx.wait_for(2, "TaskExit")
        await rx.settle(running.world)
    start, end = rx.bodies()
    assert rx.got[0].path == "/live/prod/token"
    assert rx.got[0].content_type == "application/json"
    assert set(start) == set(end) == CALLBACK_KEYS
    assert (start["callback_event"], end["callback_event"]) == ("TaskStart", "TaskExit")
    assert start["event_type"] == 314
    assert start["appid"] == int(running.world.appid)
    assert start["task_id"] == task.task_id
    assert start["stream_id"] == "relay"
    assert start["to_url"] == "rtmp://push.example.com/live/relay"
    assert json.loads(start["source_urls"]) == task.source_urls
    assert start["event_time"] == str(int(task.start_time))
    assert end["event_time"] == str(int(task.end_time))
    assert json.loads(start["msg"]) == {"task_start_time": int(task.start_time * 1000)}
    assert json.loads(end["msg"]) == {
        "task_exit_time": int(task.end_time * 1000),
        "code": 0,
        "message": "",
    }


async def test_pausing_an_active_task_exits_it_and_only_listed_events_are_sent() -> None:
    async with receiving() as rx, running_emulator() as running:
        task = pull_task(running.world, f"{rx.url}/cb", starts_in=-5, callback_events=["TaskExit"])
        running.clock.advance(1)
        running.world.set_live_status(task.task_id, "pause")
        await rx.wait_for(1)
        running.clock.advance(120)  # EndTime passes while paused: no second exit
        running.world.set_live_status(task.task_id, "enable")  # outside its window: no start
        await rx.settle(running.world)
    (body,) = rx.bodies()
    assert body["callback_event"] == "TaskExit"
    assert json.loads(body["msg"])["message"] == "task paused"


async def test_deleting_an_active_task_through_the_api_exits_it() -> None:
    async with (
        receiving() as rx,
        running_emulator() as running,
        fast_transport() as transport,
    ):
        task = pull_task(running.world, f"{rx.url}/cb", starts_in=-5)
        client = taskwatch_client(running, transport)
        params = {"TaskId": task.task_id, "Operator": "ops"}
        await client.call("live", "DeleteLivePullStreamTask", params, region="ap-guangzhou")
        await rx.wait_for(1)
        running.clock.advance(3600)  # its EndTime, on the heap, finds no task
        await rx.settle(running.world)
    (body,) = rx.bodies()
    assert body["callback_event"] == "TaskExit"
    assert json.loads(body["msg"])["message"] == "task deleted"


async def test_a_scenario_task_already_running_sends_no_start_but_exits_at_its_end() -> None:
    async with receiving() as rx:
        scenario = loads_scenario(
            KEYS + f"live:\n  tasks:\n    - {{start: -1h, end: 1m, callback_url: '{rx.url}/cb'}}\n"
        )
        clock = ManualClock(wall=start_time(), mono=1000.0)
        emulator = Emulator.from_scenario(scenario, clock)
        async with emulator.serve():
            assert emulator.notifier.running  # a task notifies: the pump is on
            clock.advance(60)
            await rx.wait_for(1)
            await rx.settle(emulator.world)
    (body,) = rx.bodies()
    assert body["callback_event"] == "TaskExit"


def test_the_listing_shows_the_callback_events_the_task_asked_for() -> None:
    world = World(ManualClock(wall=start_time()))
    pull_task(world, "https://hooks.example.com/cb", callback_events=["TaskExit", "TaskAlarm"])
    pull_task(world, "", starts_in=0)
    spec = live.ACTIONS["DescribeLivePullStreamTasks"]
    ctx = CallContext(region="ap-guangzhou", language="en-US", secret_id="x", options=Options())
    infos = spec.handler(world, coerce(spec.spec, {}), ctx)["TaskInfos"]
    by_url = {i["CallbackUrl"]: i["CallbackEvents"] for i in infos}
    assert by_url == {"https://hooks.example.com/cb": ["TaskExit", "TaskAlarm"], "": []}
