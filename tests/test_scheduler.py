"""Loops on virtual loop time (looptime): drift-free ticks, skipped ticks, crashes, timeouts."""

from __future__ import annotations

import asyncio
import random

import anyio
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


async def test_a_timed_out_cycle_is_reported_and_the_jobs_own_timeouterror_is_not() -> None:
    reported: list[float] = []
    calls = 0

    async def job() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TimeoutError("the job's own, e.g. a library's")
        await asyncio.sleep(10_000)

    loop = Loop("t", interval=10, job=job, jitter=0, timeout=30, on_timeout=reported.append)
    await loop.run(clock=SystemClock(), rng=random.Random(1), cycles=2)
    assert reported == [30]


async def test_a_failing_timeout_report_does_not_end_the_loop() -> None:
    def broken(_: float) -> None:
        raise RuntimeError("bug")

    async def job() -> None:
        await asyncio.sleep(10_000)

    loop = Loop("t", interval=10, job=job, jitter=0, timeout=30, on_timeout=broken)
    await loop.run(clock=SystemClock(), rng=random.Random(1), cycles=2)
    assert loop.heartbeat.cycles == 2


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


# --- restarts: a reload or a change of leader stops a loop and runs it again -------------------


async def restarted(
    loop: Loop, clock: SystemClock, rng: random.Random, every: float, n: int
) -> None:
    """Run ``loop`` and stop it every ``every`` seconds, ``n`` times, as a reload storm would."""
    for _ in range(n):
        with anyio.move_on_after(every):
            await loop.run(clock=clock, rng=rng)


async def test_a_loop_restarted_over_and_over_keeps_ticking_on_its_grid() -> None:
    clock = SystemClock()
    starts: list[float] = []

    async def job() -> None:
        starts.append(clock.monotonic())
        await asyncio.sleep(0.1)

    loop = Loop("t", interval=10, job=job, jitter=0)
    t0 = clock.monotonic()
    await restarted(loop, clock, random.Random(1), every=0.6, n=95)  # 57 s of restarts
    assert [round(s - t0, 6) for s in starts] == [0, 10, 20, 30, 40, 50]


async def test_a_rebuilt_loop_given_the_old_schedule_resumes_on_the_tick_that_was_due() -> None:
    clock = SystemClock()
    starts: list[float] = []

    async def job() -> None:
        starts.append(clock.monotonic())

    old = Loop("t", interval=10, job=job, jitter=0.2)
    t0 = clock.monotonic()
    with anyio.move_on_after(14):
        await old.run(clock=clock, rng=random.Random(3))
    assert old.schedule.due is not None
    due = old.schedule.due  # the next tick, its jitter drawn once
    new = Loop("t", interval=10, job=job, jitter=0.2, schedule=old.schedule)
    await new.run(clock=clock, rng=random.Random(4), cycles=1)
    assert len(starts) == 3
    assert starts[-1] == pytest.approx(due)
    assert 18 - 1e-6 <= starts[-1] - t0 <= 24 + 1e-6


async def test_a_cycle_cut_short_by_a_restart_is_not_run_again_at_once() -> None:
    clock = SystemClock()
    starts: list[float] = []

    async def job() -> None:
        starts.append(clock.monotonic())
        await asyncio.sleep(5)

    loop = Loop("t", interval=10, job=job, jitter=0)
    t0 = clock.monotonic()
    await restarted(loop, clock, random.Random(1), every=2, n=10)  # each cycle is cut at 2 s
    assert [round(s - t0, 6) for s in starts] == [0, 10]


async def test_a_longer_interval_after_a_restart_counts_from_the_last_start() -> None:
    clock = SystemClock()
    starts: list[float] = []

    async def job() -> None:
        starts.append(clock.monotonic())

    loop = Loop("t", interval=10, job=job, jitter=0)
    t0 = clock.monotonic()
    with anyio.move_on_after(12):
        await loop.run(clock=clock, rng=random.Random(1))  # ticks at 0 and 10
    slower = Loop("t", interval=30, job=job, jitter=0, schedule=loop.schedule)
    await slower.run(clock=clock, rng=random.Random(1), cycles=2)
    assert [round(s - t0, 6) for s in starts] == [0, 10, 40, 70]


async def test_a_shorter_interval_after_a_restart_never_ticks_in_the_past() -> None:
    clock = SystemClock()
    starts: list[float] = []

    async def job() -> None:
        starts.append(clock.monotonic())

    loop = Loop("t", interval=60, job=job, jitter=0)
    t0 = clock.monotonic()
    with anyio.move_on_after(25):
        await loop.run(clock=clock, rng=random.Random(1))  # a tick at 0, the next due at 60
    faster = Loop("t", interval=10, job=job, jitter=0, schedule=loop.schedule)
    await faster.run(clock=clock, rng=random.Random(1), cycles=3)
    assert [round(s - t0, 6) for s in starts] == [0, 25, 35, 45]


async def test_a_loop_stopped_for_many_ticks_runs_once_when_restarted_and_skips_nothing() -> None:
    clock = SystemClock()
    starts: list[float] = []
    skipped: list[int] = []

    async def job() -> None:
        starts.append(clock.monotonic())

    loop = Loop("t", interval=10, job=job, jitter=0, on_skip=skipped.append)
    t0 = clock.monotonic()
    await loop.run(clock=clock, rng=random.Random(1), cycles=1)
    await asyncio.sleep(95)  # a follower for a while: its loop did not run
    await loop.run(clock=clock, rng=random.Random(1), cycles=2)
    assert [round(s - t0, 6) for s in starts] == [0, 95, 100]
    assert skipped == []
    assert loop.heartbeat.skipped == 0


async def test_retiring_a_loop_mid_cycle_lets_the_cycle_finish_then_returns() -> None:
    clock = SystemClock()
    finished: list[float] = []

    async def job() -> None:
        await asyncio.sleep(4)
        finished.append(clock.monotonic())

    loop = Loop("t", interval=10, job=job, jitter=0)
    t0 = clock.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: loop.run(clock=clock, rng=random.Random(1)))
        await asyncio.sleep(1)
        await loop.retire()
        retired = clock.monotonic() - t0
    assert [round(f - t0, 6) for f in finished] == [4]
    assert round(retired, 6) == 4
    await loop.run(clock=clock, rng=random.Random(1))  # retired for good: returns at once
    assert len(finished) == 1


async def test_retiring_a_loop_that_waits_for_its_tick_ends_it_at_once() -> None:
    clock = SystemClock()

    async def job() -> None:
        return None

    loop = Loop("t", interval=10, job=job, jitter=0)
    t0 = clock.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: loop.run(clock=clock, rng=random.Random(1)))
        await asyncio.sleep(3)
        await loop.retire()
    assert round(clock.monotonic() - t0, 6) == 3
    assert loop.heartbeat.cycles == 1
    await Loop("idle", interval=1, job=job).retire()  # never ran: nothing to wait for


async def test_loops_replaced_every_0_6_s_keep_the_rhythm_and_finish_every_cycle() -> None:
    clock = SystemClock()
    starts: list[float] = []
    ends: list[float] = []

    async def job() -> None:
        starts.append(clock.monotonic())
        await asyncio.sleep(2)  # longer than the time between two reloads
        ends.append(clock.monotonic())

    loop = Loop("t", interval=10, job=job, jitter=0)
    t0 = clock.monotonic()
    async with anyio.create_task_group() as tg:
        for _ in range(95):  # 57 s of reloads, as the supervisor does them
            tg.start_soon(lambda lp=loop: lp.run(clock=clock, rng=random.Random(1)))
            await asyncio.sleep(0.6)
            await loop.retire()
            loop = Loop("t", interval=10, job=job, jitter=0, schedule=loop.schedule)
    elapsed = clock.monotonic() - t0  # 57 s, and the waits for cycles in flight
    assert [round(s - t0, 6) for s in starts] == [10.0 * k for k in range(int(elapsed // 10) + 1)]
    assert [round(e - s, 6) for s, e in zip(starts, ends, strict=True)] == [2] * len(starts)
