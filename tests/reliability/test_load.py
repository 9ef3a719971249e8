"""Load: 200 requests per second to ``/metrics`` and ``/`` while the daemon scans every second.

A daemon (interval 1 s) watches 500 MPS tasks in the emulator, its HTTP server on a free port; a
paced client sends 200 requests per second, alternating the two pages, for 5 s (``--run-slow``:
30 s). Measured: scrape latency p50/p99 and the scan cadence (the intervals between cycle starts,
the time each scan starts). The loop must not be
starved: every interval within 1 s ± 50 %, and scrape p99 under 500 ms. The bound: Prometheus
times a scrape out after 10 s by default, so 0.5 s is far inside it; and here the emulator and this
client share the daemon's event loop, so a scrape that arrives while a scan (and the emulator
answering it) holds the loop waits for it — ~0.25 s with 500 tasks, which is what p99 shows.
Measured before the render cache of taskwatch/server.py: p50 270 ms, p99 1.1 s, and the scan loop
stalled for 3 s (no cycle started) at 170 requests/s.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import statistics
import time

import aiohttp
import anyio
import pytest

from taskwatch.emulator.world import MpsTask, Plan
from taskwatch.products.base import CallCounter, ScanResult
from tests import canary_check
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.e2e.waiting import eventually
from tests.emulator.harness import running_emulator

RATE = 200
P99_BOUND = 0.5


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(seconds: float) -> dict[str, float]:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        now = emu.world.now()
        for i in range(500):
            ttype = "LiveStreamProcessTask" if i % 4 == 0 else "WorkflowTask"
            emu.world.add_mps(
                MpsTask(
                    task_id=emu.world.mps_id(ttype),
                    task_type=ttype,
                    status="PROCESSING",
                    created=now - 600 - i,
                    started=now - 500 - i,
                    plan=Plan(wait=0, run=None),
                )
            )
        d = daemon(
            emu,
            products={
                "mps": {"interval": "1s", "jitter": 0},
                "dlc": {"enabled": False},
                "live": {"enabled": False},
            },
        )
        (source,) = d.sources
        starts: list[float] = []
        adapter = source.watcher.adapter
        scan = adapter.scan

        async def timed(*, sweep: bool, calls: CallCounter) -> ScanResult:
            starts.append(time.monotonic())  # the first thing a cycle does
            return await scan(sweep=sweep, calls=calls)

        adapter.scan = timed  # type: ignore[method-assign]
        latencies: list[float] = []
        errors = 0
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(d.run, install_signal_handlers=False))
            await d.started.wait()
            assert d.http is not None
            base = d.http.url
            await eventually(lambda: len(starts) >= 2, "two scan cycles")
            async with aiohttp.ClientSession() as session:

                async def one(path: str) -> None:
                    nonlocal errors
                    t0 = time.monotonic()
                    try:
                        async with session.get(base + path) as resp:
                            body = await resp.read()
                            if resp.status != 200:
                                errors += 1
                    except aiohttp.ClientError:
                        errors += 1
                        return
                    latencies.append(time.monotonic() - t0)
                    if len(latencies) % 500 == 1:
                        canary_check.record(f"GET {path} under load", body)

                first = len(starts)
                t_start = time.monotonic()
                async with anyio.create_task_group() as senders:
                    n = int(seconds * RATE)
                    for i in range(n):
                        delay = t_start + i / RATE - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        senders.start_soon(one, "/metrics" if i % 2 == 0 else "/")
                elapsed = time.monotonic() - t_start
                window = starts[first:]
            d.stop()
    intervals = [b - a for a, b in itertools.pairwise(window)]
    return {
        "sent": len(latencies) + errors,
        "errors": errors,
        "rate": (len(latencies) + errors) / elapsed,
        "p50": statistics.median(latencies),
        "p99": quantile(latencies, 0.99),
        "max": max(latencies),
        "cycles": len(window),
        "interval_min": min(intervals),
        "interval_max": max(intervals),
        "interval_mean": statistics.fmean(intervals),
    }


def check(fig: dict[str, float]) -> None:
    print(
        f"\nload: {fig['sent']:.0f} requests at {fig['rate']:.0f}/s, {fig['errors']:.0f} errors; "
        f"scrape p50 {fig['p50'] * 1000:.1f} ms, p99 {fig['p99'] * 1000:.1f} ms, "
        f"max {fig['max'] * 1000:.1f} ms; {fig['cycles']:.0f} cycles, interval "
        f"{fig['interval_min']:.3f}–{fig['interval_max']:.3f} s (mean {fig['interval_mean']:.3f})"
    )
    assert fig["errors"] == 0
    assert fig["rate"] >= RATE * 0.9
    assert fig["p99"] < P99_BOUND
    assert fig["interval_min"] >= 0.5
    assert fig["interval_max"] <= 1.5


async def test_two_hundred_scrapes_a_second_do_not_starve_the_scan_loop() -> None:
    check(await load(5.0))


@pytest.mark.slow
async def test_thirty_seconds_of_scrapes_at_two_hundred_a_second() -> None:
    check(await load(30.0))
