"""Estimates of tasks read from the emulator over real HTTP by the daemon's own adapters: the fields
the emulator writes are the fields the estimate reads, and the figures are the hand-computed ones.

Shipped prices (CNY): H.264 HD 0.0325 / FHD 0.063, H.265 FHD 0.3112 per output minute; DLC 0.03
per GB scanned, 0.35 per CU-hour; Live 0.12 per hour. The clock is a ManualClock.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from taskwatch.clock import ManualClock
from taskwatch.cost import Estimate, Pricer
from taskwatch.emulator.scenario import loads_scenario
from taskwatch.products.base import CallCounter
from taskwatch.products.dlc import DlcAdapter
from taskwatch.products.live import LiveAdapter
from taskwatch.products.mps import MpsAdapter
from taskwatch.settings.prices import Prices
from tests.emulator.harness import (
    Running,
    fast_transport,
    running_emulator,
    start_time,
    taskwatch_client,
)

PRICER = Pricer(Prices())
REGION = "ap-guangzhou"
WORLD = """
    credentials: [{secret_id: AKIDTASKWATCHTEST0000000000000000000, secret_key: sk}]
    mps:
      tasks:
        - {type: WorkflowTask, status: PROCESSING, created: 0, duration: 100s,
           media: {duration: 10m, width: 1920, height: 1080, codec: h264},
           outputs: [{codec: h264, width: 1280, height: 720, done_at: 0.5},
                     {codec: h265, width: 1920, height: 1080}]}
    dlc:
      tasks:
        - {status: running, created: -10m, duration: 1h, data_amount: 536870912000}
        - {status: running, created: -2h, duration: null, engine: etl-engine,
           driver_size: medium, executor_size: large, executors: 4}
    live:
      tasks:
        - {created: -3h, start: -3h, end: 2h}
"""


@asynccontextmanager
async def emulated() -> AsyncIterator[tuple[Running, MpsAdapter, DlcAdapter, LiveAdapter]]:
    clock = ManualClock(wall=start_time(), mono=1000.0)
    world = loads_scenario(textwrap.dedent(WORLD), source="test.yaml").build_world(clock)
    async with (
        running_emulator(world=world, clock=clock) as running,
        fast_transport() as transport,
    ):
        client = taskwatch_client(running, transport)
        yield (
            running,
            MpsAdapter(client=client, account="main", clock=clock),
            DlcAdapter(client=client, account="main", region=REGION, clock=clock),
            LiveAdapter(client=client, account="main", region=REGION, clock=clock),
        )


def now(running: Running) -> float:
    return running.clock.now().timestamp()


def cents(found: Estimate | None) -> tuple[float, float]:
    assert found is not None
    return round(found.so_far, 2), round(found.per_hour, 2)


async def test_a_transcode_priced_as_its_outputs_appear() -> None:
    async with emulated() as (running, mps, _, _):
        (task_id,) = running.world.mps

        # 25 s of 100 s: output 1 (written at 50 %) is 50 % done, output 2 25 %; neither file
        # exists, so both are the input, 1920x1080 H.264 (FHD), assumed: 10 min x 0.5 x 0.063
        # + 10 min x 0.25 x 0.063 = 0.315 + 0.1575 = 0.4725 -> 0.47, accrued in 25 s:
        # 0.4725 / (25 / 3600) = 68.04 per hour.
        running.clock.advance(25)
        task = await mps.describe(task_id, CallCounter())
        assert task is not None
        found = PRICER.estimate(task, now(running))
        assert cents(found) == (0.47, 68.04)
        assert found is not None
        assert "assumed" in found.basis

        # 60 s: output 1 written, 1280x720 H.264 (HD), 600 s: 10 x 0.0325 = 0.325; output 2
        # 60 %, still assumed FHD H.264: 6 x 0.063 = 0.378. 0.703 -> 0.70.
        running.clock.advance(35)
        task = await mps.describe(task_id, CallCounter())
        assert task is not None
        assert cents(PRICER.estimate(task, now(running)))[0] == 0.70

        # Finished: output 2 written, 1920x1080 H.265 (FHD): 10 x 0.3112 = 3.112; with output
        # 1, 3.437 -> 3.44; nothing per hour.
        running.clock.advance(45)
        task = await mps.describe(task_id, CallCounter())
        assert task is not None
        assert task.status == "FINISH"
        assert cents(PRICER.estimate(task, now(running))) == (3.44, 0.0)


async def test_dlc_queries_on_a_public_and_a_private_engine() -> None:
    async with emulated() as (running, _, dlc, _):
        scan = await dlc.scan(sweep=False, calls=CallCounter())
        found = {
            t.fields["DataEngineName"]: PRICER.estimate(t, now(running))
            for t in scan.active.values()
        }
        # Public: 500 GiB over 1 h, 10 min in: 83.33 GiB x 0.03 = 2.50; per hour 2.50 x 6 = 15.00.
        assert cents(found["public-engine"]) == (2.50, 15.00)
        # Private Spark: medium driver (2) + 4 large executors (4) = 18 CU for 2 h: 36 CU-h x 0.35
        # = 12.60; 18 x 0.35 = 6.30 per hour.
        assert cents(found["etl-engine"]) == (12.60, 6.30)


async def test_a_pull_stream_task_in_its_window() -> None:
    async with emulated() as (running, _, _, live):
        scan = await live.scan(sweep=True, calls=CallCounter())
        (task,) = scan.active.values()
        # 3 h into a 5 h window: 3 x 0.12 = 0.36; 0.12 per hour; 2 h to go.
        found = PRICER.estimate(task, now(running))
        assert cents(found) == (0.36, 0.12)
        assert found is not None
        assert found.remaining_hours == 2.0
