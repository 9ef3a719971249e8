"""Who may scan and act: an :class:`Elector` per process, standalone or over a Kubernetes Lease.

A Lease (``coordination.k8s.io/v1``) gives "usually one leader", never a fence (client-go says so
itself): a paused or partitioned leader may still believe it leads. So leadership here is one of
two guards, the other being the executor's re-describe right before each destructive call, and
the elector is built to stop acting *before* anyone else can start:

* **Campaign and renewal** follow client-go's ``leaderelection``: read the Lease, and write it with
  compare-and-swap on ``metadata.resourceVersion`` (a lost race is a 409 and simply "not leader").
  A held Lease is taken over only once ``leaseDurationSeconds`` have passed, on *this* process's
  monotonic clock, since the holder's last change to it was *observed* (no wall clocks compared).
  The leader renews every ``retry_period``; followers retry every ``retry_period`` stretched by up
  to 20 % (jitter), and also wake just after the Lease they saw would expire.
* **Stop acting the moment renewal fails**: :meth:`is_leader` is false once the last successful
  renewal *started* more than ``renew_deadline`` ago (monotonic), whatever the renew loop is doing;
  the loop itself gives leadership up at that instant (its calls run under that deadline). A
  follower can take over at the earliest ``lease_duration`` after it saw that renewal, so
  ``lease_duration - renew_deadline`` (5 s by default) is the margin for clock rates and for an
  action already past its last check.
* **Release** on graceful shutdown: the Lease is written with an empty ``holderIdentity`` and
  ``leaseDurationSeconds: 1`` (CAS again), so a follower takes over at its next retry instead of
  waiting out the lease: a rolling update hands over in about one ``retry_period``.

Timings (client-go defaults) must satisfy ``lease_duration > renew_deadline > 1.2 x retry_period``.

Not guaranteed: mutual exclusion when a process is paused longer than the margin between two
instructions (a GC or SIGSTOP between the last leadership check and the HTTP request), or when
monotonic clocks run at very different rates. Nothing here can fence the Tencent Cloud API; the
executor's re-describe makes a second action on one task unlikely, not impossible.

The lease itself (:class:`LeaseRecord`, the :class:`LeaseStore` protocol and the Kubernetes store)
lives in :mod:`taskwatch.leader.lease`, the one module that touches kubernetes_asyncio; this one
is pure election logic over that protocol.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Protocol

import anyio
import structlog
from anyio.abc import TaskStatus

from taskwatch.clock import Clock, SystemClock
from taskwatch.leader.lease import LeaseRecord, LeaseStore

log = structlog.get_logger(__name__)

__all__ = [
    "Elector",
    "KubernetesElector",
    "LeaseRecord",
    "LeaseStore",
    "StandaloneElector",
    "Timings",
]

JITTER = 0.2
"""Followers wait ``retry_period x (1 + JITTER x random())`` between attempts."""


@dataclass(frozen=True, slots=True)
class Timings:
    """client-go's LeaseDuration, RenewDeadline and RetryPeriod, in seconds."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline:
            raise ValueError("lease_duration must be longer than renew_deadline")
        if not self.renew_deadline > 1.2 * self.retry_period:
            raise ValueError("renew_deadline must be longer than 1.2 x retry_period")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be positive")

    @property
    def lease_seconds(self) -> int:
        """``leaseDurationSeconds`` is an integer: rounded up, never shortened."""
        return max(1, math.ceil(self.lease_duration))


class Elector(Protocol):
    """Leadership as the supervisor and the executor see it."""

    identity: str

    def is_leader(self) -> bool:
        """Cheap; false from the instant renewal is overdue."""
        ...

    @property
    def holder(self) -> str | None:
        """Who holds the lease, as last seen (``""``: released; ``None``: not seen yet)."""
        ...

    async def wait_until(self, leading: bool) -> None:
        """Return once this replica leads (``True``) or does not (``False``)."""
        ...

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Campaign and renew until cancelled."""
        ...

    async def release(self) -> None:
        """Stop leading and hand the lease over (graceful shutdown)."""
        ...


OnChange = Callable[[bool], None]


class _Leadership:
    """The leading flag, its transitions and the waiters on them."""

    def __init__(self, identity: str, on_change: OnChange | None) -> None:
        self.identity = identity
        self.on_change = on_change
        self._leading = False
        self._changed = anyio.Event()
        self.transitions = 0

    def _set(self, leading: bool, **why: object) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        self.transitions += 1
        # Routine, at info: letting go on a graceful stop, and taking a lease nobody held (a
        # start, a handover, a rebalancing). Worth a warning: a loss, and a takeover of a lease
        # another replica held until it expired (that replica died or stalled).
        routine = why.get("reason") in ("released", "stopped") or (
            leading and not why.get("taken_from")
        )
        emit = log.info if routine else log.warning
        emit("leader.acquired" if leading else "leader.lost", identity=self.identity, **why)
        if self.on_change is not None:
            self.on_change(leading)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_until(self, leading: bool) -> None:
        while self._leading != leading:
            await self._changed.wait()


class StandaloneElector(_Leadership):
    """One replica (systemd): leads from :meth:`run` on, until released."""

    def __init__(self, identity: str, *, on_change: OnChange | None = None) -> None:
        super().__init__(identity, on_change)
        self._leading = True

    def is_leader(self) -> bool:
        return self._leading

    @property
    def holder(self) -> str | None:
        return self.identity if self._leading else ""

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def release(self) -> None:
        self._set(False, reason="released")


class KubernetesElector(_Leadership):
    """client-go's leader election over a :class:`LeaseStore` (see the module docstring)."""

    def __init__(
        self,
        store: LeaseStore,
        *,
        identity: str,
        timings: Timings = Timings(),
        clock: Clock | None = None,
        rng: random.Random | None = None,
        on_change: OnChange | None = None,
    ) -> None:
        super().__init__(identity, on_change)
        self.store = store
        self.timings = timings
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._renewed = -math.inf
        """Monotonic start of the last successful acquire or renew."""
        self._observed: LeaseRecord | None = None
        self._observed_at = -math.inf
        self._taken_from = ""
        """The holder of the lease this replica last took over when it expired ("": none)."""
        self._held_by_other = False

    def is_leader(self) -> bool:
        return (
            self._leading and self.clock.monotonic() < self._renewed + self.timings.renew_deadline
        )

    @property
    def holder(self) -> str | None:
        return None if self._observed is None else self._observed.holder

    @property
    def observed(self) -> LeaseRecord | None:
        """The lease as last read or written by this replica."""
        return self._observed

    def _observe(self, record: LeaseRecord, at: float) -> None:
        if self._observed is None or record.seen != self._observed.seen:
            self._observed_at = at
        self._observed = record

    def _expires_at(self) -> float:
        if self._observed is None:
            return -math.inf
        return self._observed_at + self._observed.duration

    async def try_acquire_or_renew(self) -> bool:
        """One attempt: True if this replica holds the lease now (client-go's
        ``tryAcquireOrRenew``)."""
        self._held_by_other = False
        started = self.clock.monotonic()
        wall = self.clock.now().astimezone(UTC)
        current = await self.store.get()
        got_at = self.clock.monotonic()
        if current is None:
            created = await self.store.create(
                LeaseRecord.first(self.identity, self.timings.lease_seconds, wall)
            )
            if created is None:
                return False
            self._observe(created, got_at)
            self._renewed = started
            return True
        self._observe(current, got_at)
        ours = current.holder == self.identity
        if current.holder and not ours and got_at < self._expires_at():
            self._held_by_other = True
            return False
        self._taken_from = "" if ours else current.holder
        written = await self.store.update(
            current.taken_by(self.identity, self.timings.lease_seconds, wall)
        )
        if written is None:
            return False
        self._observe(written, self.clock.monotonic())
        self._renewed = started
        return True

    async def _attempt(self, bound: float) -> bool:
        """An attempt that gives up (as False) after ``bound`` seconds or on any error."""
        with anyio.move_on_after(max(0.0, bound)) as scope:
            try:
                return await self.try_acquire_or_renew()
            except Exception as exc:  # the API server, the network, a bad answer: retried
                log.warning(
                    "leader.attempt_failed",
                    identity=self.identity,
                    error=type(exc).__name__,
                    reason=str(exc)[:200],
                )
        if scope.cancelled_caught:
            log.warning("leader.attempt_timed_out", identity=self.identity, after=round(bound, 3))
        return False

    async def _open(self) -> None:
        while True:
            try:
                await self.store.open()
                return
            except Exception as exc:  # a bad kubeconfig, no in-cluster environment: retried
                log.error(
                    "leader.store_unavailable", error=type(exc).__name__, reason=str(exc)[:200]
                )
            await anyio.sleep(self.timings.retry_period)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await self._open()
            while True:
                await self._campaign()
                await self._hold()
        finally:
            self._set(False, reason="stopped")

    async def _campaign(self) -> None:
        t = self.timings
        while True:
            self._taken_from = ""
            if await self._attempt(t.renew_deadline):
                taken = {"taken_from": self._taken_from} if self._taken_from else {}
                self._set(
                    True,
                    transitions=self._observed.transitions if self._observed else 0,
                    **taken,
                )
                return
            wait = t.retry_period * (1 + JITTER * self.rng.random())
            if self._held_by_other:  # wake right after the lease we saw would expire
                wake = self._expires_at() + 0.05 * t.retry_period * self.rng.random()
                wait = min(wait, max(0.0, wake - self.clock.monotonic()))
            await anyio.sleep(wait)

    async def _hold(self) -> None:
        t = self.timings
        while True:
            deadline = self._renewed + t.renew_deadline
            now = self.clock.monotonic()
            await anyio.sleep(max(0.0, min(t.retry_period, deadline - now)))
            if await self._attempt(deadline - self.clock.monotonic()):
                continue
            if self._held_by_other:
                holder = self._observed.holder if self._observed else ""
                self._set(False, reason="lease held by another replica", holder=holder)
                return
            if self.clock.monotonic() >= deadline:
                self._set(False, reason="renewal failed for renew_deadline")
                return

    async def release(self) -> None:
        """Give the lease up if this replica holds it: empty holder, 1-second duration, CAS."""
        self._set(False, reason="released")
        record = self._observed
        if record is None or record.holder != self.identity:
            return
        wall = self.clock.now().astimezone(UTC)
        freed = record.released(wall)
        with anyio.move_on_after(self.timings.retry_period, shield=True):
            try:
                written = await self.store.update(freed)
            except Exception as exc:
                log.warning("leader.release_failed", error=type(exc).__name__)
                return
            if written is not None:
                self._observe(written, self.clock.monotonic())
                log.info("leader.released", identity=self.identity)
