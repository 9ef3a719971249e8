"""The inbox: verified hints admitted, deduplicated, rate-limited, queued and handed out.

:meth:`Inbox.put` (called by the web route for each verified notification, never blocking)
answers at once:

* ``not_leading``: :attr:`Inbox.accepting` says no (set by the lead: this replica does not lead);
* ``deduplicated``: a hint for the same (account, product, task id) is queued (the describe to
  come reads the task's newest state) or being handled: then the task is described once more
  after the describe under way (which may have read it just before this change), however many
  hints arrive meanwhile;
* ``rate_limited``: the (account, product)'s token bucket is empty (``events.per_second``
  tokens a second, bursts of as many, at least 1): a burst of notifications costs at most that
  many describes, the account's limiter budget stays the scans';
* ``queue_full``: ``events.queue`` hints are waiting already;
* else ``accepted``: queued, first in first out.

:meth:`Inbox.run` hands queued hints to a handler, :data:`CONCURRENCY` at a time. A task is never
handled twice at once (a hint for it is refused as ``deduplicated`` while one is queued or in
flight), and a handler that raises counts as ``failed`` without stopping the inbox. After each
handler returns, ``taskwatch_event_describe_lag_seconds`` observes receipt to completion.

Time: loop time (``clock.monotonic()``) for the buckets and the lag. Nothing here sleeps.

Not guaranteed: that an accepted hint is handled: hints still queued when :meth:`run` is
cancelled (a stop) wait for the next :meth:`run`, and a process's queue dies with it; a hint
refused for any reason is simply dropped. Both are fine because a hint is an optimisation:
polling observes every task anyway.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import anyio
import structlog

from taskwatch.clock import Clock
from taskwatch.hints.hint import Hint, HintHandler
from taskwatch.metrics.registry import Metrics
from taskwatch.settings.events import EventSettings

__all__ = ["CONCURRENCY", "Inbox"]

log = structlog.get_logger(__name__)

CONCURRENCY = 4
"""Hints handled at once (each is one describe under the account's limiter)."""


class _Bucket:
    """Tokens refilled at ``rate`` a second up to ``burst``, on loop time."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self._tokens = self.burst
        self._at = now

    def take(self, now: float) -> bool:
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._at) * self.rate)
        self._at = max(self._at, now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Inbox:
    """Hints waiting to be handled; see the module docstring."""

    def __init__(self, *, settings: EventSettings, metrics: Metrics, clock: Clock) -> None:
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._queue: collections.deque[Hint] = collections.deque()
        self._held: set[tuple[str, str, str]] = set()
        """Keys of the hints queued or in flight."""
        self._in_flight = 0
        self._handling: set[tuple[str, str, str]] = set()
        """Keys of the hints being handled."""
        self._again: dict[tuple[str, str, str], Hint] = {}
        """The first hint that arrived for a key while it was being handled."""
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._ready: anyio.Event | None = None
        """Set when a hint is queued while :meth:`run` waits (made by the waiter, in its loop)."""
        self.accepting: Callable[[Hint], bool] = lambda hint: True
        """Whether a hint is worth queueing now (the lead sets it: ``False`` on a follower)."""

    @property
    def settings(self) -> EventSettings:
        return self._settings

    def reconfigure(self, settings: EventSettings) -> None:
        """Apply a reloaded ``events`` section: the new rate from now (buckets start full), the
        new bound for the next :meth:`put` (hints queued beyond it stay)."""
        if settings.per_second != self._settings.per_second:
            self._buckets.clear()
        self._settings = settings

    @property
    def queued(self) -> int:
        """Hints waiting."""
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Hints being handled."""
        return self._in_flight

    def put(self, hint: Hint) -> str:
        """Admit ``hint``: ``accepted``, ``not_leading``, ``deduplicated``, ``rate_limited`` or
        ``queue_full`` (see the module)."""
        if not self.accepting(hint):
            return "not_leading"
        if hint.key in self._held:
            if hint.key in self._handling:
                self._again.setdefault(hint.key, hint)  # once more after the one under way
            return "deduplicated"
        now = self._clock.monotonic()
        bucket = self._buckets.get((hint.account, hint.product))
        if bucket is None:
            bucket = _Bucket(self._settings.per_second, now)
            self._buckets[hint.account, hint.product] = bucket
        if not bucket.take(now):
            return "rate_limited"
        if len(self._queue) >= self._settings.queue:
            return "queue_full"
        self._queue.append(hint)
        self._held.add(hint.key)
        if self._ready is not None:
            self._ready.set()
        return "accepted"

    async def run(self, handler: HintHandler) -> None:
        """Hand queued hints to ``handler`` until cancelled, :data:`CONCURRENCY` at a time."""
        slots = anyio.Semaphore(CONCURRENCY)
        async with anyio.create_task_group() as tg:
            while True:
                await slots.acquire()
                try:
                    hint = await self._take()
                except BaseException:
                    slots.release()
                    raise
                self._in_flight += 1
                self._handling.add(hint.key)
                tg.start_soon(self._handle, handler, hint, slots, name=f"hint:{hint.product}")

    async def _take(self) -> Hint:
        while not self._queue:
            self._ready = anyio.Event()
            await self._ready.wait()
        return self._queue.popleft()

    async def _handle(self, handler: HintHandler, hint: Hint, slots: anyio.Semaphore) -> None:
        try:
            try:
                result = await handler(hint)
            except Exception as exc:  # the handler's bug must not stop the inbox
                log.warning(
                    "hint.failed",
                    account=hint.account,
                    product=hint.product,
                    task=hint.task_id,
                    error=type(exc).__name__,
                )
                result = "failed"
            lag = self._clock.monotonic() - hint.received
            self._metrics.event_lag(hint.product, lag)
            log.debug(
                "hint.handled",
                account=hint.account,
                product=hint.product,
                task=hint.task_id,
                kind=hint.kind,
                result=result,
                lag=round(lag, 3),
            )
        finally:
            self._in_flight -= 1
            self._handling.discard(hint.key)
            again = self._again.pop(hint.key, None)
            if again is not None:  # changed while being described: describe it once more
                self._queue.append(again)
                if self._ready is not None:
                    self._ready.set()
            else:
                self._held.discard(hint.key)
            slots.release()
