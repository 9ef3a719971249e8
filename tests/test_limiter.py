"""The limiter on virtual loop time (looptime): window bound, utilisation, FIFO, AIMD, cancellation.

Admission times are recorded on the limiter's own clock and counted in integer nanoseconds, in every
half-open window ``[t, t + 1)`` (the worst window always starts at an admission).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskwatch.clock import Clock, ManualClock, SystemClock
from taskwatch.limiter import DEFAULT_LIMIT, DOCUMENTED_LIMITS, Limiter, TokenBucket

pytestmark = pytest.mark.looptime

Key = tuple[str, str, str]
MANAGE: Key = ("100001", "mps", "ManageTask")  # 20/s documented
DESCRIBE: Key = ("100001", "mps", "DescribeTasks")  # 100/s documented


def max_in_any_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most admissions in any half-open window ``[t, t + window)``."""
    ns = sorted(round(t * 1e9) for t in times)
    width = round(window * 1e9)
    best = lo = 0
    for hi, t in enumerate(ns):
        while ns[lo] <= t - width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def max_in_aligned_second(times: Sequence[float]) -> int:
    """The most admissions in any calendar-style second ``[n, n + 1)``."""
    counts: dict[int, int] = {}
    for t in times:
        second = round(t * 1e9) // 1_000_000_000
        counts[second] = counts.get(second, 0) + 1
    return max(counts.values(), default=0)


async def flood(
    limiter: Limiter, key: Key, *, callers: int, seconds: float, clock: Clock | None = None
) -> list[float]:
    """``callers`` tasks acquiring back to back for ``seconds``; the admission times within."""
    clock = clock or SystemClock()
    end = clock.monotonic() + seconds
    admitted: list[float] = []

    async def caller() -> None:
        while True:
            await limiter.acquire(*key)
            now = clock.monotonic()
            if now >= end:
                return
            admitted.append(now)

    await asyncio.gather(*(caller() for _ in range(callers)))
    return admitted


@pytest.mark.parametrize(
    ("key", "budget", "granted"),
    [(MANAGE, 1.0, 20), (DESCRIBE, 1.0, 100), (DESCRIBE, 0.2, 20), (DESCRIBE, 0.5, 50)],
)
async def test_fifty_callers_never_exceed_the_granted_rate_in_any_second_and_use_nearly_all_of_it(
    key: Key, budget: float, granted: int
) -> None:
    limiter = Limiter(budget=budget)
    seconds = 20.0
    admitted = await flood(limiter, key, callers=50, seconds=seconds)
    worst = max_in_any_window(admitted)
    utilisation = len(admitted) / (granted * seconds)
    print(
        f"\n{key[1]}.{key[2]} budget={budget} granted={granted}/s: {len(admitted)} admissions"
        f" in {seconds:.0f} s, max in any sliding second {worst},"
        f" max in an aligned second {max_in_aligned_second(admitted)},"
        f" utilisation {utilisation:.4f}"
    )
    assert worst <= granted
    assert utilisation >= 0.97


@pytest.mark.parametrize(("budget", "bound"), [(0.33, 6), (0.29, 5), (0.77, 15)])
async def test_a_fractional_share_never_exceeds_its_floor_in_any_second(
    budget: float, bound: int
) -> None:
    limiter = Limiter(budget=budget)
    admitted = await flood(limiter, MANAGE, callers=50, seconds=20.0)
    worst = max_in_any_window(admitted)
    utilisation = len(admitted) / (bound * 20.0)
    print(
        f"\n20/s x {budget}: max in any second {worst} (bound {bound}), utilisation {utilisation}"
    )
    assert worst <= bound
    assert utilisation >= 0.97


async def test_a_share_below_one_call_per_second_admits_one_call_per_period() -> None:
    limiter = Limiter(budget=0.025)  # ManageTask 20/s x 0.025 = one call every 2 s
    admitted = await flood(limiter, MANAGE, callers=5, seconds=60.0)
    assert max_in_any_window(admitted, window=2.0) == 1
    assert len(admitted) == 30


async def test_a_budget_that_multiplies_to_a_whole_number_in_theory_grants_that_whole_number() -> (
    None
):
    limiter = Limiter(budget=0.29)  # 100 x 0.29 == 28.999999999999996 in floats
    assert limiter.bucket(*DESCRIBE).max_rate == 29
    admitted = await flood(limiter, DESCRIBE, callers=10, seconds=5.0)
    assert max_in_any_window(admitted) == 29


class LateClock:
    """Loop time read on a coarse grid, rounded up: every wake-up looks up to a grain late."""

    def __init__(self, grain_us: int) -> None:
        self.grain_us = grain_us

    def monotonic(self) -> float:
        micros = round(asyncio.get_running_loop().time() * 1e6)
        return -(-micros // self.grain_us) * self.grain_us / 1e6

    def now(self) -> datetime:
        return SystemClock().now()


async def test_timers_that_fire_late_neither_break_the_window_bound_nor_erode_the_rate() -> None:
    clock = LateClock(grain_us=3_000)  # up to 3 ms late, against a 10 ms interval
    limiter = Limiter(budget=1.0, clock=clock)
    admitted = await flood(limiter, DESCRIBE, callers=50, seconds=20.0, clock=clock)
    worst = max_in_any_window(admitted)
    utilisation = len(admitted) / (100 * 20.0)
    print(f"\nlate timers at 100/s: max in any second {worst}, utilisation {utilisation:.4f}")
    assert worst <= 100
    assert utilisation >= 0.97


async def test_waiters_are_admitted_in_the_order_they_called() -> None:
    limiter = Limiter(budget=1.0)
    order: list[int] = []

    async def caller(i: int) -> None:
        await asyncio.sleep(i * 0.001)  # arrive one by one, faster than the 50 ms interval
        await limiter.acquire(*MANAGE)
        order.append(i)

    await asyncio.gather(*(caller(i) for i in reversed(range(30))))
    assert order == list(range(30))


async def test_a_cancelled_waiter_neither_wedges_the_queue_nor_loses_a_slot(
    looptime: float,
) -> None:
    limiter = Limiter(budget=0.5)  # ManageTask: 10/s, one call every 100 ms
    admitted: dict[str, float] = {}

    async def caller(name: str) -> None:
        await limiter.acquire(*MANAGE)
        admitted[name] = float(looptime)

    first = asyncio.create_task(caller("first"))
    await asyncio.sleep(0.01)
    holder = asyncio.create_task(caller("holder"))  # will sleep for the 100 ms slot
    await asyncio.sleep(0.01)
    queued = asyncio.create_task(caller("queued"))  # waits on the lock behind the holder
    last = asyncio.create_task(caller("last"))
    await asyncio.sleep(0.01)
    holder.cancel()
    queued.cancel()
    await asyncio.gather(first, holder, queued, last, return_exceptions=True)

    assert admitted == {"first": 0.0, "last": pytest.approx(0.1)}
    assert limiter.bucket(*MANAGE).acquired == 2


def test_a_throttle_halves_the_rate_once_per_cooldown() -> None:
    clock = ManualClock()
    bucket = TokenBucket(20.0, clock=clock)
    bucket.on_throttled()
    clock.advance(0.5)
    bucket.on_throttled()  # same burst of throttled answers: no second halving
    assert (bucket.rate, bucket.throttled) == (10.0, 2)
    clock.advance(0.6)
    bucket.on_throttled()
    assert bucket.rate == 5.0


def test_throttling_never_takes_the_rate_below_its_floor() -> None:
    clock = ManualClock()
    bucket = TokenBucket(20.0, clock=clock)
    for _ in range(20):
        bucket.on_throttled()
        clock.advance(1.0)
    assert bucket.rate == 20.0 / 16


def test_successes_recover_the_rate_additively_up_to_and_never_above_the_ceiling() -> None:
    clock = ManualClock()
    bucket = TokenBucket(20.0, clock=clock)
    bucket.on_throttled()
    rates = []
    for _ in range(40):
        clock.advance(0.5)
        bucket.on_success()
        rates.append(bucket.rate)
    assert rates[:4] == pytest.approx([10.5, 11.0, 11.5, 12.0])  # +5 % of 20/s per second
    assert rates == sorted(rates)
    assert max(rates) == bucket.max_rate == bucket.ceiling == 20.0


def test_idle_time_does_not_count_as_success() -> None:
    clock = ManualClock()
    bucket = TokenBucket(20.0, clock=clock)
    bucket.on_throttled()
    clock.advance(3600)
    bucket.on_success()
    assert bucket.rate == pytest.approx(11.0)


async def test_after_a_throttle_admissions_slow_to_half_and_then_recover(looptime: float) -> None:
    limiter = Limiter(budget=1.0)
    await flood(limiter, MANAGE, callers=5, seconds=1.0)
    limiter.on_throttled(*MANAGE)
    halved = await flood(limiter, MANAGE, callers=5, seconds=2.0)
    assert len(halved) >= 19  # the first flood's last callers took the first slot at half rate
    assert max_in_any_window(halved) <= 10

    bucket = limiter.bucket(*MANAGE)
    rates: list[float] = []

    async def succeeding() -> None:
        await limiter.acquire(*MANAGE)
        limiter.on_success(*MANAGE)
        rates.append(bucket.rate)

    start = float(looptime)
    while float(looptime) < start + 15:
        await succeeding()
    assert rates == sorted(rates)
    assert rates[-1] == 20.0
    assert max(rates) <= bucket.ceiling
    recovered = await flood(limiter, MANAGE, callers=5, seconds=3.0)
    assert len(recovered) >= 58
    assert max_in_any_window(recovered) <= 20


async def test_a_halving_applies_to_a_caller_already_waiting(looptime: float) -> None:
    limiter = Limiter(budget=1.0)  # 20/s: the next slot is at 50 ms
    await limiter.acquire(*MANAGE)
    waiter = asyncio.create_task(limiter.acquire(*MANAGE))
    await asyncio.sleep(0.01)
    limiter.on_throttled(*MANAGE)
    assert await waiter == pytest.approx(0.1)
    assert float(looptime) == pytest.approx(0.1)


async def test_acquire_reports_the_seconds_each_caller_waited() -> None:
    limiter = Limiter(budget=1.0)
    waits = await asyncio.gather(*(limiter.acquire(*MANAGE) for _ in range(4)))
    assert waits == pytest.approx([0.0, 0.05, 0.1, 0.15])
    (stats,) = limiter.snapshot()
    assert stats.acquired == 4
    assert stats.waited_seconds == pytest.approx(0.3)


async def test_different_actions_and_accounts_do_not_share_a_bucket() -> None:
    limiter = Limiter(budget=1.0)
    other_action: Key = ("100001", "dlc", "CancelTask")
    other_account: Key = ("200002", "mps", "ManageTask")
    results = await asyncio.gather(
        *(
            flood(limiter, key, callers=5, seconds=2.0)
            for key in (MANAGE, other_action, other_account)
        )
    )
    assert [len(r) for r in results] == [40, 40, 40]
    limiter.on_throttled(*MANAGE)
    stats = {(s.account, s.product, s.action): s for s in limiter.snapshot()}
    assert stats[MANAGE].rate == 10.0
    assert stats[other_action].rate == stats[other_account].rate == 20.0
    assert (stats[MANAGE].throttled, stats[other_action].throttled) == (1, 0)


def test_limits_come_from_overrides_then_the_documented_table_then_the_default() -> None:
    limiter = Limiter(budget=0.5, overrides={("mps", "ManageTask"): 40.0})
    ceilings = {
        key: limiter.bucket("1", *key).ceiling
        for key in [("mps", "ManageTask"), ("mps", "DescribeTasks"), ("live", "Unknown")]
    }
    assert ceilings == {
        ("mps", "ManageTask"): 20.0,
        ("mps", "DescribeTasks"): 50.0,
        ("live", "Unknown"): DEFAULT_LIMIT * 0.5,
    }
    assert ("live", "DescribeLivePullStreamTaskStatus") not in DOCUMENTED_LIMITS
    assert limiter.limit("live", "DescribeLivePullStreamTaskStatus") == DEFAULT_LIMIT


@pytest.mark.parametrize("budget", [0.0, -0.1, 1.01, math.nan, math.inf])
def test_a_budget_outside_zero_to_one_is_refused(budget: float) -> None:
    with pytest.raises(ValueError, match="budget"):
        Limiter(budget=budget)


@pytest.mark.parametrize("limit", [0.0, -5.0, math.nan, math.inf])
def test_an_override_that_is_not_a_positive_rate_is_refused(limit: float) -> None:
    with pytest.raises(ValueError, match="ManageTask"):
        Limiter(budget=1.0, overrides={("mps", "ManageTask"): limit})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limit=st.sampled_from([20.0, 30.0, 50.0, 100.0]),
    budget=st.floats(min_value=0.02, max_value=1.0),
    arrivals=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=3.0),  # when the caller shows up
            st.integers(min_value=1, max_value=8),  # how many calls it makes
            st.floats(min_value=0.0, max_value=0.3),  # pause between its calls
        ),
        min_size=1,
        max_size=15,
    ),
    throttle_at=st.lists(st.floats(min_value=0.0, max_value=3.0), max_size=3),
)
async def test_no_arrival_pattern_ever_exceeds_the_window_bound(
    limit: float,
    budget: float,
    arrivals: list[tuple[float, int, float]],
    throttle_at: list[float],
) -> None:
    limiter = Limiter(budget=budget, overrides={("mps", "ManageTask"): limit})
    bucket = limiter.bucket(*MANAGE)
    loop = asyncio.get_running_loop()
    admitted: list[float] = []

    async def caller(delay: float, calls: int, pause: float) -> None:
        await asyncio.sleep(delay)
        for _ in range(calls):
            await limiter.acquire(*MANAGE)
            admitted.append(loop.time())
            await asyncio.sleep(pause)

    async def throttler(delay: float) -> None:
        await asyncio.sleep(delay)
        limiter.on_throttled(*MANAGE)

    await asyncio.gather(*(caller(*a) for a in arrivals), *(throttler(d) for d in throttle_at))
    if bucket.max_rate >= 1:
        assert max_in_any_window(admitted) <= math.floor(limit * budget + 1e-9)
    else:
        assert max_in_any_window(admitted, window=1 / bucket.ceiling) == 1
    assert bucket.acquired == len(admitted) == sum(calls for _, calls, _ in arrivals)
