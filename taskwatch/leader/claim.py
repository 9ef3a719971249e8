"""One Lease as one replica sees it, for :class:`~taskwatch.leader.sharding.ShardElector`, which
holds many (shard leases and a member slot) from one loop.

The rules are those of :class:`~taskwatch.leader.election.KubernetesElector` (read its module
docstring), split so that one read per lease per round serves both counting and campaigning:

* :meth:`Claim.read` records the lease and *when this process saw it change* (monotonic); a lease
  held by someone else is free for the taking ``leaseDurationSeconds`` after that (no wall clocks
  compared), a released one (empty holder) at once, one held under this replica's own identity
  (an earlier life of this pod) at once too.
* :meth:`Claim.write` acquires or renews by compare-and-swap on the ``resourceVersion`` last seen
  (a lost race is a conflict, simply False); it refuses to write over a lease another replica
  still holds in this process's eyes. :attr:`Claim.renewed` is when the last successful write
  *started*: the holder stops counting on it ``renew_deadline`` later.
* :meth:`Claim.release` writes an empty holder and ``leaseDurationSeconds: 1``, as today's release.

Not guaranteed: anything the single-lease elector does not guarantee; errors propagate (the
caller bounds and logs them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC
from typing import Any

import anyio
import structlog

from taskwatch.clock import Clock
from taskwatch.leader.election import Timings
from taskwatch.leader.lease import LeaseRecord, LeaseStore

log = structlog.get_logger(__name__)

__all__ = ["Call", "Claim", "gather"]

Call = tuple["Claim", Callable[[], Coroutine[Any, Any, object]]]
"""A claim and one of its calls (``claim.read``, ``partial(claim.write, started)``...)."""


class Claim:
    """One lease: the last record read or written, its observed expiry, and CAS writes."""

    def __init__(self, store: LeaseStore, *, identity: str, timings: Timings, clock: Clock) -> None:
        self.store = store
        self.identity = identity
        self.timings = timings
        self.clock = clock
        self.known = False
        """True once a read has answered (``observed`` None then means: no such lease yet)."""
        self.observed: LeaseRecord | None = None
        self.observed_at = -math.inf
        self.renewed = -math.inf
        """Monotonic start of this replica's last successful write (acquire or renew)."""

    def _observe(self, record: LeaseRecord, at: float) -> None:
        if self.observed is None or record.seen != self.observed.seen:
            self.observed_at = at
        self.observed = record
        self.known = True

    @property
    def expires_at(self) -> float:
        """When the holder as last seen stops holding it, on this process's clock."""
        if self.observed is None or not self.observed.holder:
            return -math.inf
        return self.observed_at + self.observed.duration

    def holder(self, now: float) -> str | None:
        """Who holds the lease at ``now`` as far as this replica can tell (None: free, expired,
        released, absent or never read)."""
        if self.observed is None or not self.observed.holder or now >= self.expires_at:
            return None
        return self.observed.holder

    def free(self, now: float) -> bool:
        """May this replica take the lease at ``now``?"""
        if not self.known:
            return False
        holder = self.holder(now)
        return holder is None or holder == self.identity

    def deadline(self) -> float:
        """While this replica holds the lease: it counts on it until then (monotonic)."""
        return self.renewed + self.timings.renew_deadline

    async def read(self) -> None:
        record = await self.store.get()
        at = self.clock.monotonic()
        if record is None:
            self.observed, self.known = None, True
        else:
            self._observe(record, at)

    async def write(self, started: float) -> bool:
        """Acquire or renew from the record last seen: True if this replica holds it now."""
        wall = self.clock.now().astimezone(UTC)
        current = self.observed
        if current is None:
            if not self.known:
                return False
            created = await self.store.create(
                LeaseRecord.first(self.identity, self.timings.lease_seconds, wall)
            )
            if created is None:
                return False
            self._observe(created, self.clock.monotonic())
            self.renewed = started
            return True
        ours = current.holder == self.identity
        if not ours and not self.free(self.clock.monotonic()):
            return False
        written = await self.store.update(
            current.taken_by(self.identity, self.timings.lease_seconds, wall)
        )
        if written is None:
            return False
        self._observe(written, self.clock.monotonic())
        self.renewed = started
        return True

    async def release(self) -> bool:
        """Hand the lease back if it is this replica's as last seen (CAS): True if written."""
        self.renewed = -math.inf
        record = self.observed
        if record is None or record.holder != self.identity:
            return False
        wall = self.clock.now().astimezone(UTC)
        written = await self.store.update(record.released(wall))
        if written is None:
            return False
        self._observe(written, self.clock.monotonic())
        return True


async def gather(
    what: str,
    calls: Iterable[Call],
    *,
    bound: float,
    limiter: anyio.CapacityLimiter,
    identity: str,
) -> dict[int, object]:
    """Run ``calls`` concurrently (as many at a time as ``limiter`` allows) within ``bound``
    seconds. Returns the answers by claim ``id``; a call that failed or ran out of time has none.
    Failures are logged once per batch (``shards.<what>_failed``), not once per lease."""
    results: dict[int, object] = {}
    errors: list[Exception] = []

    async def one(claim: Claim, call: Callable[[], Coroutine[Any, Any, object]]) -> None:
        async with limiter:
            try:
                results[id(claim)] = await call()
            except Exception as exc:  # the API server, the network, a bad answer: retried
                errors.append(exc)

    with anyio.move_on_after(max(0.0, bound)) as scope:
        async with anyio.create_task_group() as tg:
            for claim, call in calls:
                tg.start_soon(one, claim, call)
    if errors or scope.cancelled_caught:
        first = errors[0] if errors else None
        log.warning(
            f"shards.{what}_failed",
            identity=identity,
            failed=len(errors),
            timed_out=scope.cancelled_caught,
            error=type(first).__name__ if first else None,
            reason=str(first)[:200] if first else None,
        )
    return results
