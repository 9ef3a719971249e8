"""Build a daemon (Supervisor) pointed at a running emulator, for end-to-end tests.

The emulator runs on its own virtual clock (wall time starts at the real time, so signatures stay
within the five-minute window); the daemon runs on real loop time. Rate limits are lifted on both
sides unless a test asks otherwise: these tests are about correctness, the benchmarks about rates.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from taskwatch.clock import Clock, SystemClock
from taskwatch.metrics.registry import Metrics
from taskwatch.settings import Settings, parse_settings
from taskwatch.supervisor import Supervisor
from tests.e2e.waiting import eventually
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running

LIFTED = {
    "mps.DescribeTasks": 100_000,
    "mps.DescribeTaskDetail": 100_000,
    "dlc.DescribeTasks": 100_000,
    "live.DescribeLivePullStreamTasks": 100_000,
    "live.DescribeLivePullStreamTaskStatus": 100_000,
}
EMULATOR_LIMITS = {tuple(k.split(".")): v for k, v in LIFTED.items()}


class FollowClock:
    """Loop time for durations and waits, the emulator's virtual wall time for timestamps: the
    daemon then signs and ages tasks on the emulator's calendar while its limiter and loops run
    on real loop time."""

    def __init__(self, wall: Clock) -> None:
        self._wall = wall
        self._loop = SystemClock()

    def monotonic(self) -> float:
        return self._loop.monotonic()

    def now(self) -> datetime:
        return self._wall.now()


def settings_for(running: Running, **overrides: Any) -> Settings:
    raw: dict[str, Any] = {
        "accounts": [
            {
                "name": "main",
                "credentials": {"from": "static", "secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                "endpoint": running.url,
                "regions": ["ap-guangzhou"],
            }
        ],
        "products": {
            "mps": {"interval": "5s", "finish_sweep": "1h"},
            "dlc": {"interval": "5s", "finish_sweep": "1h"},
            "live": {"interval": "5s", "finish_sweep": "1h"},
        },
        "api": {"budget": 1.0, "limits": LIFTED},
        "http": {"listen": "127.0.0.1:0"},
        "state": {"path": str(Path(tempfile.mkdtemp(prefix="taskwatch-e2e-")) / "state.db")},
    }
    raw.update(overrides)
    return parse_settings(raw, source="e2e")


def daemon(running: Running, **overrides: Any) -> Supervisor:
    clock = FollowClock(running.clock)
    return Supervisor(settings_for(running, **overrides), metrics=Metrics(clock=clock), clock=clock)


@asynccontextmanager
async def serving(d: Supervisor) -> AsyncIterator[Supervisor]:
    """Run ``d`` (its HTTP server, loops and timers) for the block, which starts once every
    source has had a good cycle; stopped on the way out."""
    runner = asyncio.create_task(d.run(install_signal_handlers=False))
    try:
        await eventually(lambda: d.sources and all(s.watcher.ready for s in d.sources),
                         "the first cycle")  # fmt: skip
        yield d
    finally:
        d.stop()
        await asyncio.wait_for(runner, timeout=15)
