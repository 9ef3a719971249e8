"""P1: stay inside the quota exactly.

Each limiter drives 50 workers with more work than the limit allows (a backlog) against an
in-process emulator on the real clock, which enforces the documented per-action limit per SecretId
over sliding one-second windows. The emulator's own receive times (loop time, taken where it checks
its limit) give: the most requests in any one-second window ÷ the limit, the utilisation (admitted
requests ÷ (limit x duration)) and the ``RequestLimitExceeded`` answers.

Peers: aiolimiter ``AsyncLimiter(N, 1)`` around the same client (its documented use), aiolimiter
``AsyncLimiter(1, 1 / N)`` (the form its documentation gives for no bursting), and a naive
dispatcher that starts one call every ``sleep(1 / N)``. All four send through taskwatch's client
with no retries, so only the pacing differs; they run one after another in the same run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from taskwatch.clock import SystemClock
from taskwatch.emulator.ratelimit import RateLimits
from taskwatch.emulator.scenario import EmulatorCredential
from taskwatch.emulator.server import Emulator
from taskwatch.emulator.world import World
from taskwatch.limiter import Limiter
from taskwatch.tencent.errors import TencentError
from tests.bench.common import (
    SECRET_ID,
    SECRET_KEY,
    Row,
    max_window,
    taskwatch_client,
    transport,
)
from tests.bench.peers import aiolimiter_gate, naive_dispatch

WORKERS = 50
PEERS = ("aiolimiter", "aiolimiter 1/N", "naive")
CASES: dict[str, tuple[dict[str, Any], float]] = {
    "DescribeTasks": ({"Status": "PROCESSING", "Limit": 10}, 100),
    "ManageTask": ({"OperationType": "Abort", "TaskId": "2600000000-WorkflowTask-absent"}, 20),
}


@dataclass
class Recorder:
    """Wraps the emulator's limits: notes every arrival's loop time and whether it was admitted."""

    inner: RateLimits
    arrivals: list[float] = field(default_factory=list)
    admitted: list[float] = field(default_factory=list)
    refused: int = 0

    def limit(self, product: str, action: str) -> float:
        return self.inner.limit(product, action)

    def check(self, secret_id: str, product: str, action: str, now: float) -> None:
        self.arrivals.append(now)
        try:
            self.inner.check(secret_id, product, action, now)
        except Exception:
            self.refused += 1
            raise
        self.admitted.append(now)


@dataclass
class Measured:
    window: float
    utilisation: float
    throttled: int
    calls: int


async def _one(action: str, duration: float, drive: str) -> Measured:
    params, limit = CASES[action]
    clock = SystemClock()
    emulator = Emulator(
        world=World(clock, seed=1), credentials=[EmulatorCredential(SECRET_ID, SECRET_KEY)]
    )
    recorder = Recorder(emulator.limits)
    emulator.limits = recorder  # type: ignore[assignment]
    async with emulator.serve() as url, transport() as tr:
        gate = Limiter(budget=1.0) if drive == "taskwatch" else None
        client = taskwatch_client(url, tr, gate=gate)

        async def call() -> None:
            with suppress(TencentError):
                await client.call("mps", action, params)

        loop = asyncio.get_running_loop()
        start = loop.time()
        end = start + duration
        if drive == "naive":
            await naive_dispatch(call, rate=limit, until=end, concurrency=WORKERS)
        else:
            wrap = (
                aiolimiter_gate(limit, bursting=drive == "aiolimiter")
                if drive.startswith("aiolimiter")
                else None
            )
            await _backlog(call, end, wrap)
    inside = [t for t in recorder.admitted if start <= t < end]
    return Measured(
        window=max_window(recorder.arrivals) / limit,
        utilisation=len(inside) / (limit * duration),
        throttled=recorder.refused,
        calls=len(recorder.arrivals),
    )


async def _backlog(
    call: Callable[[], Awaitable[None]],
    end: float,
    wrap: Callable[[Callable[[], Awaitable[None]]], Awaitable[None]] | None,
) -> None:
    loop = asyncio.get_running_loop()

    async def worker() -> None:
        while loop.time() < end:
            await (call() if wrap is None else wrap(call))

    await asyncio.gather(*(worker() for _ in range(WORKERS)))


async def run(quick: bool) -> list[Row]:
    duration = 3.0 if quick else 10.0
    actions = ["DescribeTasks"] if quick else ["DescribeTasks", "ManageTask"]
    results: dict[str, dict[str, Measured]] = {}
    for action in actions:
        results[action] = {d: await _one(action, duration, d) for d in ("taskwatch", *PEERS)}

    def worst(drive: str, pick: Callable[[Measured], float], agg: Callable[..., float]) -> float:
        return agg(pick(results[a][drive]) for a in actions)

    def peers(
        pick: Callable[[Measured], float], agg: Callable[..., float]
    ) -> dict[str, float | None]:
        return {d: worst(d, pick, agg) for d in PEERS}

    notes: dict[str, Any] = {
        "actions": {a: CASES[a][1] for a in actions},
        "seconds_each": duration,
        "workers": WORKERS,
        "calls": {a: {d: m.calls for d, m in r.items()} for a, r in results.items()},
    }
    tw_window = worst("taskwatch", lambda m: m.window, max)
    tw_util = worst("taskwatch", lambda m: m.utilisation, min)
    tw_thr = worst("taskwatch", lambda m: float(m.throttled), max)
    return [
        Row("P1.window", "max requests in any 1-s window ÷ limit", tw_window,
            peers(lambda m: m.window, max), None, "≤ 1.00", tw_window <= 1.0, notes),
        Row("P1.util", "utilisation under backlog (admitted ÷ limit·s)", tw_util,
            peers(lambda m: m.utilisation, min), None, "≥ 0.97", tw_util >= 0.97),
        Row("P1.throttles", "RequestLimitExceeded received", tw_thr,
            peers(lambda m: float(m.throttled), max), None, "0", tw_thr == 0),
    ]  # fmt: skip
