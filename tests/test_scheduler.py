"""Loops on virtual loop time (looptime): drift-free ticks, skipped ticks, crashes, timeouts."""

from __future__ import annotations

import asyncio
import random

import pytest

from taskwatch.clock import SystemClock
from taskwatch.scheduler import Heartbeat, Loop

pytestmark = pytest.mark.looptime


async def test_ticks_fall_on_a_fixed_grid_even_when_cycles_take_time() -> None:
    clock = SystemClock()
    starts: list[float] = []

    async def job() -> None:
        starts.append(clock.monotonic())
        await asyncio.sleep(3)  # a slow-ish cycle must not push later ticks back

    loop = Loop("t", interval=10, job=job, jitter=0)
    t0 = clock.monotonic()
    await loop.run(clock=clock, rng=random.Random(1), cycles=5)
    assert [round(s - t0, 6) for s in starts] == [0, 10, 20, 30, 40]
    assert loop.heartbeat.skipped == 0


async def test_a_cycle_that_overruns_skips_the_missed_ticks_and_never_overlaps() -> None:
    clock = SystemClock()
    starts: list[float] = []
    skipped: list[int] = []
    durations = iter([25, 1, 1])

    async def job() -> None:
        starts.append(clock.monotonic())
        await asyncio.sleep(next(durations))

    loop = Loop("t", interval=10, job=job, jitter=0, on_skip=skipped.append)
    t0 = clock.monotonic()
    await loop.run(clock=clock, rng=random.Random(1), cycles=3)
    assert [round(s - t0, 6) for s in starts] == [0, 30, 40]
    assert skipped == [2]
    assert loop.heartbeat.skipped == 2


async def test_jitter_moves_ticks_within_bounds_without_drift() -> None:
    clock = SystemClock()
    starts: list[float] = []

    async def job() -> None:
        starts.append(clock.monotonic())

    loop = Loop("t", interval=10, job=job, jitter=0.2)
    t0 = clock.monotonic()
    await loop.run(clock=clock, rng=random.Random(7), cycles=50)
    offsets = [s - t0 - 10 * i for i, s in enumerate(starts)]
    assert all(-2.0 - 1e-6 <= o <= 4.0 + 1e-6 for o in offsets)
    assert starts[-1] - t0 == pytest.approx(490, abs=4.0)  # no accumulated drift


async def test_a_crashing_cycle_is_logged_and_the_loop_goes_on() -> None:
    calls = 0

    async def job() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug")

    loop = Loop("t", interval=5, job=job, jitter=0)
    await loop.run(clock=SystemClock(), rng=random.Random(1), cycles=3)
    assert calls == 3
    assert loop.heartbeat.cycles == 3


async def test_a_wedged_cycle_is_cancelled_at_its_timeout() -> None:
    clock = SystemClock()
    ends: list[float] = []

    async def job() -> None:
        try:
            await asyncio.sleep(10_000)
        finally:
            ends.append(clock.monotonic())

    loop = Loop("t", interval=10, job=job, jitter=0, timeout=30)
    t0 = clock.monotonic()
    await loop.run(clock=clock, rng=random.Random(1), cycles=2)
    assert [round(e - t0, 3) for e in ends] == [30, 70]


def test_the_heartbeat_tells_a_sleeping_loop_from_a_wedged_one() -> None:
    hb = Heartbeat(interval=10, timeout=60)
    assert hb.alive(0)
    hb.last = 100.0
    assert hb.alive(100 + 2 * 10 + 60)
    assert not hb.alive(100 + 2 * 10 + 61)
    hb.in_cycle_since = 100.0
    assert hb.alive(170)
    assert not hb.alive(171)


def test_bad_loop_parameters_are_refused() -> None:
    async def job() -> None:
        return None

    with pytest.raises(ValueError, match="interval"):
        Loop("t", interval=0, job=job)
    with pytest.raises(ValueError, match="jitter"):
        Loop("t", interval=1, job=job, jitter=0.9)
