"""P4: client CPU per call with rate limits lifted.

The emulator runs in a child process (its CPU is not counted) with every MPS limit lifted. In this
process each client makes the same ``DescribeTasks`` call (``Status=PROCESSING, Limit=10``, ten
tasks in the answer) ``N`` times, one after another over one kept-alive connection, and
``time.process_time()`` around the batch (every thread of this process) ÷ ``N`` is its CPU per call.
Clients are interleaved in rounds so that a noisy neighbour hurts all of them alike.

- taskwatch: ``TencentClient`` (signing, envelope, aiohttp transport), no rate gate, no retries.
- official SDK, sync: ``MpsClient`` (``requests``), ``HttpProfile(keepAlive=True)``, one client.
- official SDK, async: ``mps_client_async.MpsClient`` (``httpx``), keep-alive, one client.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.bench.common import (
    LIFTED,
    Row,
    child_emulator,
    scenario_yaml,
    sdk_mps,
    sdk_mps_async,
    taskwatch_client,
    transport,
)

WORLD = """mps:
  tasks:
    - {type: WorkflowTask, status: PROCESSING, count: 10, created: -1m, started: -30s,
       duration: 6h}
"""
PARAMS: dict[str, Any] = {"Status": "PROCESSING", "Limit": 10}


async def _cpu(batch: Callable[[int], Awaitable[None]], n: int) -> tuple[float, float]:
    """(user, system) CPU seconds per call of this process, every thread included."""
    before, cpu = os.times(), time.process_time()
    await batch(n)
    cpu, after = time.process_time() - cpu, os.times()
    # os.times ticks are coarse (10 ms): the split only, clamped so that a short batch whose
    # system ticks round up past its whole CPU time never shows a negative user share.
    total = cpu / n
    system = min(total, (after.system - before.system) / n)
    return total - system, system


async def measure(n: int, rounds: int = 3) -> dict[str, float]:
    from tencentcloud.mps.v20190612 import models

    def request() -> Any:
        req = models.DescribeTasksRequest()
        req.Status, req.Limit = "PROCESSING", 10
        return req

    user = {"taskwatch": 0.0, "SDK sync": 0.0, "SDK async": 0.0}
    system = dict(user)
    async with child_emulator(scenario_yaml(WORLD, limits=LIFTED)) as url, transport() as tr:
        client = taskwatch_client(url, tr)
        sync = sdk_mps(url)
        async_client = sdk_mps_async(url)

        async def tw(k: int) -> None:
            for _ in range(k):
                answer = await client.call("mps", "DescribeTasks", PARAMS)
                assert len(answer["TaskSet"]) == 10

        async def sdk_sync(k: int) -> None:
            for _ in range(k):
                assert len(sync.DescribeTasks(request()).TaskSet) == 10

        async def sdk_async(k: int) -> None:
            for _ in range(k):
                assert len((await async_client.DescribeTasks(request())).TaskSet) == 10

        batches = {"taskwatch": tw, "SDK sync": sdk_sync, "SDK async": sdk_async}
        for batch in batches.values():  # warm up: connections, imports, caches
            await batch(20)
        for _ in range(rounds):
            for name, batch in batches.items():
                u, s = await _cpu(batch, n)
                user[name] += u
                system[name] += s
        await async_client.close()
    per_call = {k: (user[k] + system[k]) / rounds * 1e6 for k in user}  # µs per call
    per_call.update({f"{k} user": v / rounds * 1e6 for k, v in user.items()})
    per_call.update({f"{k} system": v / rounds * 1e6 for k, v in system.items()})
    return per_call


async def run(quick: bool) -> list[Row]:
    m = await measure(300 if quick else 1500)
    sdk_best = min(m["SDK sync"], m["SDK async"])
    ratio = sdk_best / m["taskwatch"]
    return [
        Row("P4", "client CPU per call, µs (DescribeTasks, limits lifted)", m["taskwatch"],
            {"SDK sync": m["SDK sync"], "SDK async": m["SDK async"]}, ratio,
            "SDK ÷ taskwatch ≥ 3 (the better SDK client)", ratio >= 3,
            {k: round(v) for k, v in m.items() if " " in k and k.split()[-1] in ("user", "system")})
    ]  # fmt: skip
