"""Client-side rate limits: one token bucket per (account, product, action), AIMD on throttling.

Tencent Cloud enforces a per-second limit on every action, counted per account (UIN) across all
regions (``RequestLimitExceeded.GlobalRegionUinLimitExceeded``). So the key is
``(account, product, action)`` and *not* the region: every regional loop of one account draws from
the same bucket. taskwatch may use only ``api.budget`` of each limit, because production shares the
account's quota with other clients. We keep our own bucket (design §3): aiolimiter lets about 2N
calls through in the first second, and pyrate-limiter's smooth mode delivers 16-50 % of the target.

**The window bound.** A bucket with burst ``B`` and rate ``r`` admits ``B`` calls at once and then
one every ``1/r`` seconds, so a half-open window ``[t, t+1)`` can hold ``B + ceil(r) - 1`` calls. To
keep that at ``N = floor(limit x budget)`` we use ``B = 1`` and ``r = N``: calls ``1/N`` apart, so
``N + 1`` of them span a whole second and never share a window, aligned or sliding. That is 100 % of
an integer share (98 % with the arrival margin below). Slots are kept in integer nanoseconds
(``ceil(1e9 / r)``) so float rounding can never put call ``N + 1`` at 0.9999999 s, and ``floor``
gets a 1e-9 nudge so ``100 x 0.29`` counts as 29, not 28. Timers fire late, so a call admitted up to
half an interval after its slot keeps the slot (lateness does not erode the rate; two calls are
still at least half an interval apart); a log of the last ``N`` admission times then enforces the
bound exactly, whatever the timers did. Below one call per second the bound is one call per
``1/share`` seconds.

**The arrival margin.** The server counts *arrivals*, and loopback or network jitter moves call
``k + N`` (admitted exactly one window after call ``k``) closer to call ``k`` than it left. At
``budget: 1.0`` that alone used to draw one ``RequestLimitExceeded`` every few seconds, and each
one halved the rate (AIMD): the benchmark measured 70 % utilisation and a 1.01 window against the
emulator. So the admission log spans the window plus 2 % (``_ARRIVAL_MARGIN``): call ``k + N``
leaves at least 1.02 s after call ``k``, which absorbs 20 ms of jitter at a cost of 2 % of the
share (tests/bench P1: window 1.00, no throttles, utilisation 0.98).

**AIMD.** On ``RequestLimitExceeded*`` the rate halves (down to 1/16 of its maximum, and not below
0.1/s unless the maximum is lower), at most once per cooldown (one second), so one burst of
throttled answers halves it once. While calls succeed it regains 5 % of its maximum per second (at
most one second's worth per success, so idle time does not count as success), never above the
maximum. A halving applies to the very next admission, even one already waiting.

Waiters are served strictly in arrival order (``asyncio.Lock`` is FIFO); a cancelled waiter gives
its turn to the next one and consumes no token.

Not guaranteed:

* The bound holds for admission times on the injected clock. The server counts arrivals, which
  network jitter can bunch together; a budget below 1 is the margin for that.
* Other clients of the account are seen only through ``RequestLimitExceeded``: AIMD reacts to them,
  it cannot prevent them. Two taskwatch processes (say, during a leader handover) do not share
  buckets.
* Waiting is ``asyncio.sleep``, so the clock must be the loop's (:class:`SystemClock`, which
  looptime drives). A :class:`ManualClock` suits only tests that never wait.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from taskwatch import catalog
from taskwatch.clock import Clock, SystemClock

DOCUMENTED_LIMITS: dict[tuple[str, str], float] = catalog.documented_limits()
"""Calls per second per account, from the reference §5-7 (the vendor's API pages), as
:mod:`taskwatch.catalog` records them."""

DEFAULT_LIMIT = 20.0
"""[inferred] For actions with no documented limit (e.g. live DescribeLivePullStreamTaskStatus):
the lowest limit documented for these products, so a guess errs on the slow side."""

_NS = 1_000_000_000
_EPSILON = 1e-9
_FLOOR_FRACTION = 1 / 16
_FLOOR_MIN = 0.1
_RECOVERY_PER_SECOND = 0.05
_ARRIVAL_MARGIN = 0.02
"""The admission log spans its window plus this share (see the module docstring)."""


def _ns(seconds: float) -> int:
    return round(seconds * _NS)


@dataclass(frozen=True, slots=True)
class BucketStats:
    """One bucket, read for metrics (``taskwatch_ratelimit_*``)."""

    account: str
    product: str
    action: str
    rate: float
    """Calls per second the bucket admits now (lowered by throttling)."""
    ceiling: float
    """Documented (or overridden) limit x budget: the share granted to taskwatch."""
    acquired: int
    waited_seconds: float
    throttled: int


class TokenBucket:
    """Burst-1 pacing at ``floor(ceiling)`` calls/s, FIFO, with AIMD; see the module docstring."""

    __slots__ = (
        "_clock",
        "_cooldown_ns",
        "_last_adjust",
        "_last_decrease",
        "_last_slot",
        "_lock",
        "_min_rate",
        "_rate",
        "_recent",
        "_window_ns",
        "acquired",
        "ceiling",
        "max_rate",
        "throttled",
        "waited_seconds",
    )

    def __init__(
        self, ceiling: float, *, clock: Clock | None = None, cooldown: float = 1.0
    ) -> None:
        if not (ceiling > 0 and math.isfinite(ceiling)):
            raise ValueError(f"a bucket needs a positive, finite rate, not {ceiling!r}")
        whole = math.floor(ceiling + _EPSILON)
        self.ceiling = ceiling
        self.max_rate: float = float(whole) if whole >= 1 else ceiling
        """The highest rate AIMD recovers to: ``floor(ceiling)``, or ``ceiling`` below 1/s."""
        self._min_rate = min(self.max_rate, max(self.max_rate * _FLOOR_FRACTION, _FLOOR_MIN))
        self._rate = self.max_rate
        window_ns = _NS if whole >= 1 else math.ceil(_NS / ceiling)
        self._window_ns = math.ceil(window_ns * (1 + _ARRIVAL_MARGIN))
        self._recent: deque[int] = deque(maxlen=max(whole, 1))
        self._clock: Clock = clock or SystemClock()
        self._cooldown_ns = _ns(cooldown)
        self._lock = asyncio.Lock()
        self._last_slot: int | None = None
        self._last_decrease: int | None = None
        self._last_adjust: int | None = None
        self.acquired = 0
        self.waited_seconds = 0.0
        self.throttled = 0

    @property
    def rate(self) -> float:
        """Calls per second admitted now."""
        return self._rate

    async def acquire(self) -> float:
        """Wait for this caller's turn, in arrival order; return the seconds waited."""
        start = _ns(self._clock.monotonic())
        async with self._lock:
            while True:
                now = _ns(self._clock.monotonic())
                interval = math.ceil(_NS / self._rate)
                paced = now if self._last_slot is None else self._last_slot + interval
                due = paced
                if len(self._recent) == self._recent.maxlen:
                    due = max(due, self._recent[0] + self._window_ns)
                if now >= due:
                    break
                # Re-evaluated on waking: a halving meanwhile pushes this very slot back.
                await asyncio.sleep((due - now) / _NS)
            self._last_slot = paced if now - paced <= interval // 2 else now
            self._recent.append(now)
        waited = max(0, now - start) / _NS
        self.acquired += 1
        self.waited_seconds += waited
        return waited

    def on_throttled(self) -> None:
        """The server said ``RequestLimitExceeded*``: halve the rate, once per cooldown."""
        now = _ns(self._clock.monotonic())
        self.throttled += 1
        if self._last_decrease is not None and now - self._last_decrease < self._cooldown_ns:
            return
        self._rate = max(self._rate / 2, self._min_rate)
        self._last_decrease = self._last_adjust = now

    def on_success(self) -> None:
        """A call went through: regain up to 5 % of the maximum per second since the last one."""
        now = _ns(self._clock.monotonic())
        if self._last_adjust is not None and self._rate < self.max_rate:
            seconds = min(now - self._last_adjust, _NS) / _NS
            step = self.max_rate * _RECOVERY_PER_SECOND * seconds
            self._rate = min(self.max_rate, self._rate + step)
        self._last_adjust = now


class Limiter:
    """The buckets of every (account, product, action), created on first use."""

    __slots__ = ("_buckets", "_clock", "_limits", "budget")

    def __init__(
        self,
        *,
        budget: float,
        overrides: Mapping[tuple[str, str], float] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not 0 < budget <= 1:
            raise ValueError(
                f"api.budget is a share of each limit, 0 < budget <= 1, not {budget!r}"
            )
        overrides = overrides or {}
        for (product, action), limit in overrides.items():
            if not (limit > 0 and math.isfinite(limit)):
                raise ValueError(f"limit of {product}.{action} must be positive, not {limit!r}")
        self.budget = budget
        self._limits = {**DOCUMENTED_LIMITS, **overrides}
        self._clock: Clock = clock or SystemClock()
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}

    def limit(self, product: str, action: str) -> float:
        """Calls per second the account may make: config override, documented, or the default."""
        return self._limits.get((product, action), DEFAULT_LIMIT)

    def bucket(self, account: str, product: str, action: str) -> TokenBucket:
        """The bucket of this key (one per account: limits are per UIN across regions)."""
        key = (account, product, action)
        found = self._buckets.get(key)
        if found is None:
            ceiling = self.limit(product, action) * self.budget
            found = self._buckets[key] = TokenBucket(ceiling, clock=self._clock)
        return found

    async def acquire(self, account: str, product: str, action: str) -> float:
        """Wait until this call may go; return the seconds waited (for the histogram)."""
        return await self.bucket(account, product, action).acquire()

    def on_throttled(self, account: str, product: str, action: str) -> None:
        """Report a ``RequestLimitExceeded*`` answer."""
        self.bucket(account, product, action).on_throttled()

    def on_success(self, account: str, product: str, action: str) -> None:
        """Report a call that was not throttled."""
        self.bucket(account, product, action).on_success()

    def snapshot(self) -> list[BucketStats]:
        """Every bucket's figures, sorted by key."""
        return [
            BucketStats(
                account=account,
                product=product,
                action=action,
                rate=b.rate,
                ceiling=b.ceiling,
                acquired=b.acquired,
                waited_seconds=b.waited_seconds,
                throttled=b.throttled,
            )
            for (account, product, action), b in sorted(self._buckets.items())
        ]
