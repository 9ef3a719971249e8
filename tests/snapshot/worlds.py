"""Emulators for the snapshot tests: one built from a scenario file, one from a snapshot's text,
and the comparison of what two of them answer.

Both run on a :class:`ManualClock` that stands still while a snapshot is taken (the snapshot reads
their wall time through :class:`tests.e2e.daemon.FollowClock`, its limiter loop time); rate limits
are lifted on both sides, since these tests are about what is answered, not how fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from taskwatch.clock import ManualClock
from taskwatch.emulator.scenario import EmulatorCredential, Scenario, load_scenario, loads_scenario
from taskwatch.emulator.server import Emulator
from taskwatch.settings import Settings
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.transport import Transport
from tests.e2e.daemon import EMULATOR_LIMITS, settings_for
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running, start_time, taskwatch_client

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "emulator" / "demo.yaml"
LARGE = ROOT / "config" / "emulator" / "large.yaml"
REGION = "ap-guangzhou"


@asynccontextmanager
async def serving(scenario: Scenario, wall: datetime | None = None) -> AsyncIterator[Running]:
    """An emulator of ``scenario`` built at ``wall`` (default: now, whole seconds)."""
    clock = ManualClock(wall=wall or start_time(), mono=1000.0)
    emulator = Emulator(
        world=scenario.build_world(clock),
        credentials=[EmulatorCredential(SECRET_ID, SECRET_KEY), *scenario.credentials],
        options=scenario.options,
        limits=EMULATOR_LIMITS,
        clock=clock,
    )
    async with emulator.serve() as url:
        yield Running(url=url, emulator=emulator, world=emulator.world, clock=clock)


@asynccontextmanager
async def from_file(path: Path) -> AsyncIterator[Running]:
    async with serving(load_scenario(path)) as running:
        yield running


@asynccontextmanager
async def from_text(text: str, wall: datetime) -> AsyncIterator[Running]:
    async with serving(loads_scenario(text, source="snapshot"), wall) as running:
        yield running


def snapshot_settings(running: Running) -> Settings:
    """A configuration of one account pointed at ``running``, every product watched."""
    return settings_for(running)


def _clean(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "RequestId"}


async def answers(running: Running, transport: Transport) -> dict[str, Any]:
    """Every list page and detail ``running`` gives, keyed by the call, RequestIds left out."""
    client = taskwatch_client(running, transport)
    out: dict[str, Any] = {}
    for status in ("WAITING", "PROCESSING", "FINISH"):
        for failed in (None, True):
            await _mps_pages(client, out, status, failed)
    for task_id in sorted({k[2] for k in out if k[0] == "mps-ids"}):
        key = ("mps", "DescribeTaskDetail", task_id)
        out[key] = _clean(await client.call("mps", "DescribeTaskDetail", {"TaskId": task_id}))
    offset = 0
    while True:
        params = {"Limit": 100, "Offset": offset}
        page = _clean(await client.call("dlc", "DescribeTasks", params, region=REGION))
        out[("dlc", "DescribeTasks", offset)] = page
        offset += 100
        if offset >= page["TotalCount"]:
            break
    page_num, ids = 1, []
    while True:
        params = {"PageNum": page_num, "PageSize": 20}
        page = _clean(
            await client.call("live", "DescribeLivePullStreamTasks", params, region=REGION)
        )
        out[("live", "DescribeLivePullStreamTasks", page_num)] = page
        ids += [t["TaskId"] for t in page["TaskInfos"]]
        if page_num >= page["TotalPage"]:
            break
        page_num += 1
    for task_id in ids:
        params = {"TaskId": task_id}
        out[("live", "status", task_id)] = _clean(
            await client.call("live", "DescribeLivePullStreamTaskStatus", params, region=REGION)
        )
    return {k: v for k, v in out.items() if k[0] != "mps-ids"}


async def _mps_pages(
    client: TencentClient, out: dict[Any, Any], status: str, failed: bool | None
) -> None:
    token, n = "", 0
    while True:
        params: dict[str, Any] = {"Status": status, "Limit": 100}
        if failed is not None:
            params["SubTaskHasFailed"] = failed
        if token:
            params["ScrollToken"] = token
        page = _clean(await client.call("mps", "DescribeTasks", params))
        out[("mps", status, failed, n)] = page
        for row in page["TaskSet"]:
            out[("mps-ids", "", row["TaskId"])] = True
        token, n = page["ScrollToken"], n + 1
        if not token:
            return
