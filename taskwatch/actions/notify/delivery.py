"""Delivery of webhook notifications: a queue per target, batched, retried, drained on close.

Why a queue per target and one background task: the scan loop calls :meth:`Notifier.notify`, which
is synchronous and only appends to in-memory queues, so a slow, failing or hung webhook can never
hold a scan back. :meth:`Notifier.run` (one task in the supervisor's task group) sends each
target's queue in batches: when ``batch_size`` events are waiting, or ``flush_interval`` seconds
after the oldest waiting event was queued. Targets are independent: one hung target delays only
its own queue.

Each batch is one HTTP POST, tried at most ``attempts`` times (each attempt within ``timeout``)
with exponential backoff and jitter. Network errors, timeouts, 5xx and 429 are retried (a numeric
``Retry-After`` is honoured up to :data:`BACKOFF_CAP`); other 4xx, 3xx and a WeCom ``errcode``
other than its rate limit are not. After the last attempt the batch is dropped, counted
``failed`` and logged with the target's name and host, never its URL: WeCom's carries the robot's
``key`` in the query string. ``on_result(target, result)`` is called once per *event* with
``sent``, ``failed`` or ``dropped``.

Not guaranteed:

* Delivery. Queues live in memory and are bounded (``queue_size`` per target); when one is full
  the oldest event is dropped (counted ``dropped``), and whatever is queued is lost on a crash.
  :meth:`Notifier.aclose` tries one last flush (one attempt per batch, ``drain_timeout`` seconds in
  all) and counts what it could not send as ``dropped``.
* Exactly once. An attempt that timed out may have been delivered; it is retried all the same.
* Order across targets, or a target's rate limit (WeCom allows 20 messages a minute per robot):
  keep ``flush_interval`` and ``batch_size`` such that a burst fits.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import aiohttp
import anyio
import structlog
from yarl import URL

from taskwatch.actions.notify.messages import Target, render, retry_after_seconds, wecom_errcode
from taskwatch.clock import Clock
from taskwatch.logs import register_secret
from taskwatch.models import AuditRecord

log = structlog.get_logger(__name__)

BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
WECOM_RATE_LIMITED = 45009
"""WeCom's ``errcode`` for "api freq out of limit" (answered with HTTP 200): retried."""

Sleep = Callable[[float], Awaitable[None]]
OnResult = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class _Attempt:
    ok: bool
    retry: bool
    status: str
    """``HTTP 503``, ``errcode 93000``, or an exception's class: what a warning may show."""
    retry_after: float | None = None


@dataclass(slots=True)
class _Lane:
    target: Target
    queue: deque[tuple[float, AuditRecord]] = field(default_factory=deque)
    wake: anyio.Event | None = None
    idle: anyio.CancelScope | None = None
    overflowing: bool = False


class Notifier:
    """Queues audit records per target and sends them from :meth:`run`.

    ``sleep`` waits out flush intervals and backoffs (tests inject one); ``clock.monotonic()``
    times the queue. Create anywhere; :meth:`run` and :meth:`aclose` need a running loop.
    """

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        clock: Clock,
        queue_size: int = 1000,
        sleep: Sleep = anyio.sleep,
        on_result: OnResult | None = None,
        drain_timeout: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ValueError("notification target names must be unique")
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._lanes = [_Lane(t) for t in targets]
        self._clock = clock
        self._queue_size = queue_size
        self._sleep = sleep
        self._on_result = on_result
        self._drain_timeout = drain_timeout
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._session: aiohttp.ClientSession | None = None
        self._scope: anyio.CancelScope | None = None
        self._stopped: anyio.Event | None = None
        self._closing = False
        self._closed = False
        for t in targets:  # belt and braces: keys in query strings never reach any log
            for value in URL(t.url).query.values():
                register_secret(value)

    @property
    def targets(self) -> tuple[Target, ...]:
        return tuple(lane.target for lane in self._lanes)

    def pending(self, target: str) -> int:
        """Events queued for ``target`` and not yet taken into a batch."""
        return next(len(lane.queue) for lane in self._lanes if lane.target.name == target)

    def notify(self, record: AuditRecord, *, follows: str | None = None) -> None:
        """Queue ``record`` for every target that wants its result, or ``follows`` (the end of a
        failure streak goes wherever its start went). Never waits."""
        for lane in self._lanes:
            wanted = lane.target.results
            if record.result not in wanted and (follows is None or follows not in wanted):
                continue
            name = lane.target.name
            if self._closing:
                self._count(name, "dropped")
                continue
            lane.queue.append((self._clock.monotonic(), record))
            self._queued(lane)

    def _queued(self, lane: _Lane) -> None:
        """Bound ``lane``'s queue (dropping the oldest, counted) and wake its sender if due."""
        while len(lane.queue) > self._queue_size:
            lane.queue.popleft()
            self._count(lane.target.name, "dropped")
            if not lane.overflowing:
                lane.overflowing = True
                log.warning("notification queue full, dropping oldest", target=lane.target.name)
        if lane.wake is not None and (
            len(lane.queue) == 1 or len(lane.queue) >= lane.target.batch_size
        ):
            lane.wake.set()

    def hand_over(self, successor: Notifier) -> int:
        """Move the queued events to ``successor``'s target of the same name when it wants their
        result (a reload changed the notifications), keeping when each was queued, so a flush is
        not put off by the swap; returns how many moved. They go ahead of what ``successor``
        already queued. What stays (its target is gone or no longer wants that result, or its
        batch is in flight) is flushed by this notifier's :meth:`aclose`: call that next."""
        heirs = {lane.target.name: lane for lane in successor._lanes}
        moved = 0
        for lane in self._lanes:
            heir = heirs.get(lane.target.name)
            if heir is None or not lane.queue:
                continue
            wanted = [(t, r) for t, r in lane.queue if r.result in heir.target.results]
            lane.queue = deque((t, r) for t, r in lane.queue if r.result not in heir.target.results)
            heir.queue.extendleft(reversed(wanted))
            successor._queued(heir)
            if heir.wake is not None:  # a running sender re-reads its oldest event's time
                heir.wake.set()
            moved += len(wanted)
        return moved

    async def run(self) -> None:
        """Send batches until :meth:`aclose` (or cancellation); never raises for a webhook.
        Runs once; a notifier closed before it ran returns at once."""
        if self._stopped is not None:
            raise RuntimeError("Notifier.run() runs once")
        self._stopped = anyio.Event()
        if self._closing:
            self._stopped.set()
            return
        try:
            async with anyio.create_task_group() as tg:
                self._scope = tg.cancel_scope
                for lane in self._lanes:
                    tg.start_soon(self._serve, lane, name=f"notify:{lane.target.name}")
        finally:
            self._scope = None
            self._stopped.set()

    async def aclose(self) -> None:
        """Stop :meth:`run` and flush what is queued, within ``drain_timeout`` seconds in all.

        Waits (flush intervals, backoffs) end at once; an attempt in flight may finish; then each
        remaining batch gets one attempt. What is still queued at the deadline counts
        ``dropped``. Closes the HTTP session. Idempotent, and shielded: safe to call from a
        ``finally`` while the caller is being cancelled.
        """
        if self._closing:
            return
        self._closing = True
        for lane in self._lanes:
            if lane.idle is not None:
                lane.idle.cancel()
        stopped = self._stopped
        with anyio.move_on_after(self._drain_timeout, shield=True):
            if stopped is not None:
                await stopped.wait()
            async with anyio.create_task_group() as tg:
                for lane in self._lanes:
                    if lane.queue:
                        tg.start_soon(self._drain, lane)
        self._closed = True
        if self._scope is not None:  # still in flight at the deadline: given up, counted dropped
            self._scope.cancel()
        for lane in self._lanes:
            for _ in lane.queue:
                self._count(lane.target.name, "dropped")
            lane.queue.clear()
        if self._session is not None:
            with anyio.CancelScope(shield=True):
                await self._session.close()
            self._session = None

    # --- inside run() ---------------------------------------------------------------------------

    async def _serve(self, lane: _Lane) -> None:
        while True:
            with self._interruptible(lane):
                await self._batch_ready(lane)
            if self._closing:
                return
            await self._deliver(lane, self._take(lane), attempts=lane.target.attempts)

    @contextmanager
    def _interruptible(self, lane: _Lane) -> Iterator[None]:
        """A wait that :meth:`aclose` ends at once (never an HTTP attempt in flight)."""
        with anyio.CancelScope() as scope:
            if self._closing:
                scope.cancel()
            lane.idle = scope
            try:
                yield
            finally:
                lane.idle = None

    async def _batch_ready(self, lane: _Lane) -> None:
        """Return once a full batch is queued or the oldest event has waited flush_interval.
        An alarm that rang means it has: the clock is not asked again, since ``queued +
        flush_interval`` may fall a hair after any instant a coarse clock can show."""
        target = lane.target
        while True:
            if not lane.queue:
                lane.wake = anyio.Event()
                await lane.wake.wait()
                continue
            if len(lane.queue) >= target.batch_size:
                return
            left = lane.queue[0][0] + target.flush_interval - self._clock.monotonic()
            if left <= 0:
                return
            lane.wake, rang = anyio.Event(), anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._alarm, left, lane.wake, rang)
                await lane.wake.wait()
                tg.cancel_scope.cancel()
            if rang.is_set() and lane.queue:
                return

    async def _alarm(self, seconds: float, wake: anyio.Event, rang: anyio.Event) -> None:
        await self._sleep(seconds)
        rang.set()
        wake.set()

    def _take(self, lane: _Lane) -> list[AuditRecord]:
        n = min(lane.target.batch_size, len(lane.queue))
        batch = [lane.queue.popleft()[1] for _ in range(n)]
        if len(lane.queue) < self._queue_size:
            lane.overflowing = False
        return batch

    def _give_back(self, lane: _Lane, batch: list[AuditRecord]) -> None:
        """An interrupted batch goes back to the front of its queue, for the drain."""
        if self._closed:
            for _ in batch:
                self._count(lane.target.name, "dropped")
        else:
            lane.queue.extendleft((self._clock.monotonic(), r) for r in reversed(batch))

    async def _drain(self, lane: _Lane) -> None:
        while lane.queue:
            await self._deliver(lane, self._take(lane), attempts=1)

    async def _deliver(self, lane: _Lane, batch: list[AuditRecord], *, attempts: int) -> None:
        target = lane.target
        try:
            ok = await self._post(lane, render(target.format, batch), attempts=attempts)
        except anyio.get_cancelled_exc_class():
            self._give_back(lane, batch)
            raise
        except Exception:  # a bug here must not take the daemon down with it
            log.exception("notification failed", target=target.name, host=target.host)
            ok = False
        if ok is None:
            self._give_back(lane, batch)
            return
        for _ in batch:
            self._count(target.name, "sent" if ok else "failed")

    async def _post(self, lane: _Lane, body: bytes, *, attempts: int) -> bool | None:
        """True when sent, False when given up, None when shutdown interrupted a backoff."""
        target = lane.target
        for attempt in range(1, attempts + 1):
            outcome = await self._attempt(target, body)
            if outcome.ok:
                return True
            if not outcome.retry or attempt == attempts:
                log.warning(
                    "notification failed",
                    target=target.name,
                    host=target.host,
                    status=outcome.status,
                    attempts=attempt,
                    retryable=outcome.retry,
                )
                return False
            if self._closing:  # shutting down: the drain gives it its last try
                return None
            delay = self._backoff(attempt, outcome.retry_after)
            log.info(
                "notification retry",
                target=target.name,
                host=target.host,
                status=outcome.status,
                attempt=attempt,
                delay=round(delay, 3),
            )
            with self._interruptible(lane):
                await self._sleep(delay)
            if self._closing:
                return None
        return False  # pragma: no cover - attempts >= 1

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Equal jitter: half of ``base·2^(attempt-1)`` fixed, half random; at least
        ``Retry-After``; never more than :data:`BACKOFF_CAP`."""
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(attempt - 1, 64))
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, BACKOFF_CAP)

    async def _attempt(self, target: Target, body: bytes) -> _Attempt:
        session = self._open_session()
        try:
            async with session.post(
                target.url,
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=target.timeout),
                allow_redirects=False,
            ) as resp:
                text = await resp.read()
                status = resp.status
                retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
        except TimeoutError:
            return _Attempt(ok=False, retry=True, status="timeout")
        except (aiohttp.ClientError, OSError) as exc:
            return _Attempt(ok=False, retry=True, status=type(exc).__name__)
        if status == 429 or status >= 500:
            return _Attempt(False, True, f"HTTP {status}", retry_after)
        if not 200 <= status < 300:
            return _Attempt(ok=False, retry=False, status=f"HTTP {status}")
        if target.format == "wecom":  # WeCom answers errors with 200 and an errcode
            errcode = wecom_errcode(text)
            if errcode:
                return _Attempt(False, errcode == WECOM_RATE_LIMITED, f"errcode {errcode}")
        return _Attempt(ok=True, retry=False, status=f"HTTP {status}")

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=max(4, 2 * len(self._lanes))),
                trust_env=True,  # corporate egress proxies, as for the API
            )
        return self._session

    def _count(self, target: str, result: str) -> None:
        if self._on_result is not None:
            self._on_result(target, result)
