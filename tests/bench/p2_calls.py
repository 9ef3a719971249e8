"""P2: API calls per steady-state cycle, 10,000 MPS tasks with about 1 % churn per minute.

The large scenario (``config/emulator/large.yaml``) runs in-process on a virtual clock with its
rate limits lifted (this figure is about counts, not rates). taskwatch's watcher runs a first cycle
(which sweeps ``FINISH`` and records history), the clock moves one interval (60 s), and the second
cycle is counted from the emulator's log. The naive poller (official SDK: list every status, then
describe every task) runs one cycle on the same world at the same moment, counted the same way.

Quick mode uses the same scenario scaled to 1,000 tasks (one generator every 18 s): the naive
poller's 10,000 describes alone would take longer than the quick budget.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path
from typing import Any

from taskwatch.clock import ManualClock
from taskwatch.emulator.ratelimit import RateLimits
from taskwatch.emulator.scenario import EmulatorCredential, loads_scenario
from taskwatch.emulator.server import Emulator
from tests.bench.common import LIFTED, ROOT, Row, sdk_mps
from tests.bench.peers import NaivePoller
from tests.e2e.daemon import daemon
from tests.emulator.harness import Running, start_time

INTERVAL = 60.0
ONLY_MPS = {
    "mps": {"interval": "60s", "finish_sweep": "1h"},
    "dlc": {"enabled": False},
    "live": {"enabled": False},
}


def large_scenario(scale: float = 1.0) -> str:
    """``config/emulator/large.yaml`` with its credentials swapped for the harness's and every
    count (and the generator's rate) scaled."""
    text = Path(ROOT / "config/emulator/large.yaml").read_text(encoding="utf-8")
    if scale != 1.0:
        text = re.sub(r"count: (\d+)", lambda m: f"count: {max(1, round(int(m[1]) * scale))}", text)
        text = text.replace("every: 1.8s", f"every: {1.8 / scale:g}s")
    return text


async def measure(scale: float) -> dict[str, Any]:
    from tests.emulator.harness import SECRET_ID, SECRET_KEY

    scenario = loads_scenario(large_scenario(scale), source="large.yaml")
    daemon_key = EmulatorCredential(SECRET_ID, SECRET_KEY)
    scenario = dataclasses.replace(scenario, credentials=(*scenario.credentials, daemon_key))
    clock = ManualClock(wall=start_time(), mono=1000.0)
    emulator = Emulator.from_scenario(scenario, clock)
    emulator.limits = RateLimits({tuple(k.split(".")): v for k, v in LIFTED.items()})  # type: ignore[misc]
    tasks = len(emulator.world.mps)
    async with emulator.serve() as url:
        running = Running(url=url, emulator=emulator, world=emulator.world, clock=clock)
        d = daemon(running, products=ONLY_MPS)
        watcher = d.sources[0].watcher
        async with d.transport:
            first = await watcher.cycle()
            clock.advance(INTERVAL)
            before = emulator._seq
            second = await watcher.cycle()
            tw_calls = emulator._seq - before
        assert first.ok, first
        assert second.ok, second
        poller = NaivePoller(sdk_mps(url))
        before = emulator._seq
        await asyncio.to_thread(poller.cycle)
        naive_calls = emulator._seq - before
    return {
        "tasks": tasks,
        "taskwatch": tw_calls,
        "taskwatch_by_action": second.calls,
        "changed": {"new": second.new, "changed": second.changed, "gone": second.gone},
        "naive": naive_calls,
    }


async def run(quick: bool) -> list[Row]:
    m = await measure(0.1 if quick else 1.0)
    ratio = m["naive"] / m["taskwatch"]
    return [
        Row("P2", f"API calls per steady-state cycle, {m['tasks']:,} tasks, 1 %/min churn",
            m["taskwatch"], {"naive SDK poller": m["naive"]}, ratio, "naive ÷ taskwatch ≥ 20",
            ratio >= 20, {k: v for k, v in m.items() if k not in ("taskwatch", "naive")})
    ]  # fmt: skip
