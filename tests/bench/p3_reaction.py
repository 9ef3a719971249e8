"""P3: reaction time, from a task crossing its threshold to ``ManageTask`` at the emulator.

Two emulators in this process on the real clock, with identical worlds: ``K`` MPS live stream
processing tasks (the type MPS can abort while processing) that start so that each crosses
``running_longer_than: THRESHOLD`` at a random moment of the run. taskwatch's daemon (enforcing an
abort policy; interval ``I``, jitter 0) watches one, the naive poller (official SDK; every ``I`` it
lists every status, describes every task and aborts those running longer than the threshold) watches
the other, at the same time. The reaction of a task is the emulator's log time of its ``ManageTask``
(ms resolution) minus its crossing time.

Listing limits are lifted (the naive poller describes every task each cycle and would otherwise be
throttled); ``ManageTask`` keeps its documented 20/s.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime
from typing import Any

from taskwatch.clock import SystemClock
from taskwatch.emulator.ratelimit import RateLimits
from taskwatch.emulator.scenario import EmulatorCredential
from taskwatch.emulator.server import Emulator
from taskwatch.emulator.world import MpsTask, Plan, World
from tests.bench.common import SECRET_ID, SECRET_KEY, Row, percentile, sdk_mps
from tests.bench.peers import NaivePoller, running_seconds
from tests.e2e.daemon import daemon
from tests.emulator.harness import SECRET_ID as DAEMON_ID
from tests.emulator.harness import SECRET_KEY as DAEMON_KEY
from tests.emulator.harness import Running

THRESHOLD = 20.0
LISTS = {("mps", "DescribeTasks"): 1e6, ("mps", "DescribeTaskDetail"): 1e6}


def _emulator(clock: SystemClock) -> Emulator:
    keys = [EmulatorCredential(SECRET_ID, SECRET_KEY), EmulatorCredential(DAEMON_ID, DAEMON_KEY)]
    emulator = Emulator(world=World(clock, seed=3), credentials=keys)
    emulator.limits = RateLimits(LISTS)
    return emulator


async def _feed(worlds: list[World], crossings: list[float]) -> None:
    """Add each task to every world when it starts (or at once, started in the past)."""
    for i, crossing in enumerate(sorted(crossings)):
        start = crossing - THRESHOLD
        delay = start - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        for world in worlds:
            world.add_mps(
                MpsTask(
                    task_id=f"1250000000-procedure-live-bench{i:04d}",
                    task_type="LiveStreamProcessTask",
                    url=f"rtmp://live.example.com/live/bench{i}",
                    status="PROCESSING",
                    created=start - 5,
                    started=start,
                    plan=Plan(wait=0, run=None),
                )
            )


def _reactions(emulator: Emulator, crossing: dict[str, float]) -> list[float]:
    out = []
    for e in emulator.log:
        if e.action == "ManageTask" and e.code == "Success":
            at = datetime.fromisoformat(e.time).timestamp()
            out.append(at - crossing[e.params["TaskId"]])
    return out


async def _naive(url: str, interval: float, until: float) -> None:
    poller = NaivePoller(sdk_mps(url))
    loop = asyncio.get_running_loop()
    first = loop.time()
    k = 0
    while True:
        tick = first + k * interval
        if tick >= until:
            return
        await asyncio.sleep(max(0.0, tick - loop.time()))

        def cycle() -> None:
            for task_id, detail in poller.cycle().items():
                ran = running_seconds(detail)
                if ran is not None and ran >= THRESHOLD:
                    poller.abort(task_id)

        await asyncio.to_thread(cycle)
        k = max(k + 1, int((loop.time() - first) // interval) + 1)  # skip missed ticks


async def measure(*, tasks: int, spread: float, interval: float) -> dict[str, Any]:
    clock = SystemClock()
    rng = random.Random(7)
    lead = 3.0
    t0 = time.time()
    ids = [f"1250000000-procedure-live-bench{i:04d}" for i in range(tasks)]
    crossings = sorted(t0 + lead + rng.uniform(0, spread) for _ in range(tasks))
    crossing = dict(zip(ids, crossings, strict=True))
    tw, naive = _emulator(clock), _emulator(clock)
    policy = {
        "name": "abort-slow",
        "product": "mps",
        "filters": [{"type": "LiveStreamProcessTask"}, {"status": "PROCESSING"},
                    {"running_longer_than": f"{THRESHOLD:g}s"}],
        "action": "abort",
        "enforce": True,
    }  # fmt: skip
    products = {
        "mps": {"interval": f"{interval:g}s", "jitter": 0.0, "finish_sweep": "1h"},
        "dlc": {"enabled": False},
        "live": {"enabled": False},
    }
    until_wall = crossings[-1] + interval + 2.0
    async with tw.serve() as tw_url, naive.serve() as naive_url:
        running = Running(url=tw_url, emulator=tw, world=tw.world, clock=clock)  # type: ignore[arg-type]
        d = daemon(running, products=products, policies=[policy],
                   actions={"max_per_cycle": 1000})  # fmt: skip
        feeder = asyncio.create_task(_feed([tw.world, naive.world], crossings))
        loop = asyncio.get_running_loop()
        until = loop.time() + (until_wall - time.time())
        runner = asyncio.create_task(d.run(install_signal_handlers=False))
        poller = asyncio.create_task(_naive(naive_url, interval, until))
        await asyncio.sleep(max(0.0, until - loop.time()))
        d.stop()
        await asyncio.gather(runner, poller, feeder)
    return {"taskwatch": _reactions(tw, crossing), "naive": _reactions(naive, crossing)}


async def run(quick: bool) -> list[Row]:
    interval = 5.0 if quick else 10.0
    tasks, spread = (24, 8.0) if quick else (100, 60.0)
    m = await measure(tasks=tasks, spread=spread, interval=interval)
    tw, nv = m["taskwatch"], m["naive"]
    notes = {"tasks": tasks, "interval": interval, "threshold": THRESHOLD,
             "acted": {"taskwatch": len(tw), "naive": len(nv)}}  # fmt: skip
    goal = interval + 1.0
    p50 = percentile(tw, 50) if tw else None
    p99 = percentile(tw, 99) if len(tw) == tasks else None
    n50 = percentile(nv, 50) if nv else None
    n99 = percentile(nv, 99) if len(nv) == tasks else None
    return [
        Row("P3.p50", f"reaction p50, s (threshold → ManageTask; interval {interval:g} s)", p50,
            {"naive SDK poller": n50}, None if not (p50 and n50) else n50 / p50,
            "reported", None, notes),
        Row("P3.p99", f"reaction p99, s (interval {interval:g} s)", p99,
            {"naive SDK poller": n99}, None if not (p99 and n99) else n99 / p99,
            f"≤ interval + 1 s = {goal:g}", p99 is not None and p99 <= goal),
    ]  # fmt: skip
