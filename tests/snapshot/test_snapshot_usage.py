"""What a snapshot writes of what tasks consume: an emulator built from the keys
:mod:`taskwatch.cli.snapshot_usage` chooses shows the same transcode progress and outputs, the
same bytes scanned and the same core time as the world it observed, at that moment."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from typing import Any

from taskwatch.cli.snapshot_times import offset, run_for_progress
from taskwatch.cli.snapshot_usage import dlc_usage, mps_usage, reference_progress
from taskwatch.clock import ManualClock
from taskwatch.durations import parse_duration
from taskwatch.emulator import dlc, mps_detail
from taskwatch.emulator.scenario import dumps_scenario, loads_scenario
from taskwatch.emulator.world import World

KEYS = "credentials: [{secret_id: AKIDTEST000000000000000000000000001, secret_key: sk}]\n"
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def world_of(body: str) -> World:
    scenario = loads_scenario(KEYS + textwrap.dedent(body), source="t.yaml")
    return scenario.build_world(ManualClock(wall=START))


def rebuilt(product: str, entry: dict[str, Any]) -> World:
    text = dumps_scenario({product: {"tasks": [entry]}})
    return world_of(text)


def test_a_running_transcode_replays_every_outputs_progress_and_written_output() -> None:
    world = world_of("""
        mps:
          tasks:
            - {type: WorkflowTask, status: PROCESSING, created: -37s, duration: 100s,
               media: {duration: 45m, width: 3840, height: 2160, codec: h265},
               outputs: [{codec: h264, width: 1920, height: 1080},
                         {codec: h264, width: 1280, height: 720, done_at: 0.3},
                         {codec: av1, width: 640, height: 360, done_at: 0.8},
                         {codec: h265, width: 3840, height: 2160, definition: 9}]}
    """)
    (task,) = world.mps.values()
    seen = mps_detail.workflow(task, world.now())
    progress = reference_progress(seen)
    assert progress == 37
    run = run_for_progress(37.0, progress)
    assert run is not None
    usage = mps_usage("WorkflowTask", "PROCESSING", seen, False)
    entry = {"type": "WorkflowTask", "status": "PROCESSING", "created": "-37s",
             "duration": offset(run), **usage}  # fmt: skip
    (again,) = rebuilt("mps", entry).mps.values()
    replayed = mps_detail.workflow(again, world.now())
    for key in ("MetaData", "MediaProcessResultSet"):
        assert str(replayed[key]).replace(again.task_id, "") == str(seen[key]).replace(
            task.task_id, ""
        ), key


def test_a_failed_task_replays_the_outputs_it_kept_and_the_ones_it_failed() -> None:
    world = world_of("""
        mps:
          tasks:
            - {type: ScheduleTask, status: FINISH, created: -1h, finished: -50m, failure_ratio: 1,
               outputs: [{codec: h265, width: 1280, height: 720, done_at: 0.5}, {definition: 3}]}
    """)
    (task,) = world.mps.values()
    seen = mps_detail.schedule(task, world.now())
    usage = mps_usage("ScheduleTask", "FINISH", seen, True)
    entry = {"type": "ScheduleTask", "status": "FINISH", "created": "-1h", "finished": "-50m",
             "failure_ratio": 1, **usage}  # fmt: skip
    (again,) = rebuilt("mps", entry).mps.values()
    replayed = mps_detail.schedule(again, world.now())
    assert str(replayed["ActivityResultSet"]).replace(again.task_id, "") == str(
        seen["ActivityResultSet"]
    ).replace(task.task_id, "")


def test_a_running_query_replays_its_bytes_and_core_time() -> None:
    world = world_of("""
        dlc:
          tasks:
            - {status: running, created: -37s, duration: 100s, data_amount: 1000003,
               engine: etl, driver_size: large, executor_size: medium, executors: 5}
            - {status: running, created: -10m, duration: 1h, engine_type: PrestoSQL, cu: 24,
               scan_rate: 777}
    """)
    for task in world.dlc.values():
        seen = dlc.task_info(world, task, world.now())
        elapsed = seen["UsedTime"] / 1000
        run = run_for_progress(elapsed, seen["Percentage"])
        assert run is not None
        written = offset(run)
        entry = {"status": "running", "created": offset(-elapsed), "duration": written,
                 "engine_type": seen["EngineTypeDetail"],
                 **dlc_usage(seen, True, parse_duration(written))}  # fmt: skip
        (again,) = rebuilt("dlc", entry).dlc.values()
        replayed = dlc.task_info(world, again, world.now())
        for key in ("DataAmount", "JobTimeSum", "DriverSize", "ExecutorSize", "ExecutorNums"):
            assert replayed[key] == seen[key], key
        assert replayed["CommonMetrics"]["ProcessedBytes"] == seen["DataAmount"]
