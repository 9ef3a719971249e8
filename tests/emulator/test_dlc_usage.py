"""DLC bytes scanned and compute, the fields a cost estimate reads, from scenario keys to the wire.

Every answer crosses real HTTP and is parsed by the official SDK's ``DescribeTasksResponse`` (a
field the model does not know is an error here). The clock is a :class:`ManualClock`; it moves
a few minutes at most, within the SDK's signing tolerance.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from typing import Any

import pytest
from tencentcloud.dlc.v20210125 import dlc_client
from tencentcloud.dlc.v20210125 import models as dlc_models

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

pytestmark = pytest.mark.filterwarnings("error:.*fileds are useless:UserWarning")

KEYS = "credentials: [{secret_id: AKIDTEST000000000000000000000000001, secret_key: sk}]\n"
GIB = 1024**3


def world_of(body: str) -> tuple[World, ManualClock]:
    clock = ManualClock(wall=start_time(), mono=1000.0)
    scenario = loads_scenario(KEYS + textwrap.dedent(body), source="test.yaml")
    return scenario.build_world(clock), clock


async def listing(running: Running, **params: Any) -> dict[str, Any]:
    """DescribeTasks through the official SDK; its rows by SQL text's first word after SELECT."""
    request = dlc_models.DescribeTasksRequest()
    request.from_json_string(json.dumps({"Limit": 100, **params}))
    client = dlc_client.DlcClient(sdk_credential(), "ap-guangzhou", sdk_profile(running))
    answer = await asyncio.to_thread(client.DescribeTasks, request)
    assert isinstance(answer, dlc_models.DescribeTasksResponse)
    return {info.DatabaseName: info for info in answer.TaskList}


SCANS = """
    dlc:
      tasks:
        - {status: running, created: 0, duration: 100s, data_amount: 10737418240, database: planned}
        - {status: running, created: -1h, duration: null, scan_rate: 1048576, database: rate}
        - {status: queued, created: 0, wait: 10m, data_amount: 1000, database: waiting}
"""


async def test_bytes_scanned_grow_with_the_clock_while_a_query_runs() -> None:
    world, clock = world_of(SCANS)
    async with running_emulator(world=world, clock=clock) as running:
        rows = await listing(running)
        assert rows["planned"].DataAmount == 0
        assert rows["rate"].DataAmount == 3600 * 1048576
        assert rows["waiting"].DataAmount == 0

        clock.advance(25)
        rows = await listing(running)
        planned = rows["planned"]
        assert planned.DataAmount == 10 * GIB // 4
        assert planned.CommonMetrics.ProcessedBytes == planned.DataAmount
        assert isinstance(planned.CommonMetrics.ProcessedRows, int)
        assert planned.CommonMetrics.ProcessedRows > 0
        assert planned.UsedTime == 25_000
        assert rows["rate"].CommonMetrics.ProcessedBytes == 3625 * 1048576

        clock.advance(75)
        rows = await listing(running)
        assert rows["planned"].State == 2
        assert rows["planned"].DataAmount == 10 * GIB
        assert rows["planned"].CommonMetrics.ProcessedBytes == 10 * GIB
        assert rows["rate"].DataAmount == 3700 * 1048576
        assert rows["waiting"].DataAmount == 0


async def test_a_cancelled_query_keeps_what_it_had_scanned() -> None:
    world, clock = world_of(
        "dlc: {tasks: [{status: running, created: 0, duration: 100s, data_amount: 1000}]}"
    )
    (task,) = world.dlc.values()
    async with running_emulator(world=world, clock=clock) as running:
        clock.advance(40)
        request = dlc_models.CancelTaskRequest()
        request.from_json_string(json.dumps({"TaskId": task.task_id}))
        client = dlc_client.DlcClient(sdk_credential(), "ap-guangzhou", sdk_profile(running))
        await asyncio.to_thread(client.CancelTask, request)
        clock.advance(60)
        (row,) = (await listing(running)).values()
        assert (row.State, row.DataAmount, row.CommonMetrics.ProcessedBytes) == (-3, 400, 400)


ENGINES = """
    dlc:
      tasks:
        - {status: running, created: -10m, duration: 1h, database: spark,
           engine: analytics-engine, driver_size: medium, executor_size: large, executors: 3}
        - {status: running, created: -10m, duration: 1h, database: presto, engine: bi-presto,
           engine_type: PrestoSQL, cu: 16}
        - {status: running, created: -10m, duration: 1h, database: public}
        - {status: succeeded, created: -1h, finished: -50m, database: done, cu: 4,
           data_amount: 5368709120}
"""


async def test_engines_sizes_and_core_time_reach_the_sdk_with_their_types() -> None:
    world, clock = world_of(ENGINES)
    async with running_emulator(world=world, clock=clock) as running:
        rows = await listing(running)
    spark, presto, public, done = rows["spark"], rows["presto"], rows["public"], rows["done"]
    assert (spark.DataEngineName, spark.EngineTypeDetail) == ("analytics-engine", "SparkSQL")
    assert (spark.DriverSize, spark.ExecutorSize) == ("medium", "large")
    assert (spark.ExecutorNums, spark.ExecutorMaxNumbers) == (3, 3)
    assert spark.UsedTime == 600_000
    assert spark.JobTimeSum == 600_000 * (2 + 3 * 4)
    assert (presto.DataEngineName, presto.EngineTypeDetail) == ("bi-presto", "PrestoSQL")
    assert (presto.DriverSize, presto.ExecutorSize, presto.ExecutorNums) == ("", "", 0)
    assert presto.JobTimeSum == 600_000 * 16
    assert public.DataEngineName == "public-engine"
    assert (public.DriverSize, public.ExecutorSize, public.ExecutorNums) == ("small", "small", 1)
    assert public.JobTimeSum == 600_000 * 2
    assert done.UsedTime == 600_000
    assert done.JobTimeSum == 600_000 * 4
    assert done.DataAmount == done.CommonMetrics.ProcessedBytes == 5 * GIB
    for row in rows.values():
        assert isinstance(row.JobTimeSum, int)
        assert isinstance(row.CommonMetrics.ExecutionTime, float)
        assert isinstance(row.CommonMetrics.QueueTime, float)


async def test_sorting_by_data_amount_follows_the_bytes_scanned_now() -> None:
    world, clock = world_of("""
        dlc:
          tasks:
            - {status: running, created: 0, duration: 100s, data_amount: 1000, database: fast}
            - {status: running, created: -50s, duration: 100000s, data_amount: 100000,
               database: slow}
    """)
    async with running_emulator(world=world, clock=clock) as running:
        request = {"SortBy": "data-amount", "Sorting": "desc"}
        assert list(await listing(running, **request)) == ["slow", "fast"]  # 50 and 0 bytes
        clock.advance(10)  # no task changed state; the bytes did: 60 and 100
        assert list(await listing(running, **request)) == ["fast", "slow"]
