"""Accounts sharded across replicas: :class:`ShardElector` holds a fair share of ``shards`` shard
Leases (``<base>-<i>``) for this replica, from one loop, with the rules of
:mod:`taskwatch.leader.election` applied to each lease (:mod:`taskwatch.leader.claim`).

* **Membership**: each replica holds exactly one *member slot* Lease ``<base>-member-<k>``
  (``k < shards``): the lowest one free or expired as observed, renewed like a shard. Live
  members are the slots held and not expired as observed. A replica without a slot (more replicas
  than shards) stands by and holds no shard. Only get, create and update on fixed names: no list.
* **Fair share** (:func:`~taskwatch.leader.shards.plan`): with ``m`` live members each holds
  ``shards // m`` or ``⌈shards / m⌉``; below its share a replica claims free or expired shards,
  those it prefers first (the rendezvous owner of the shard among the members' identities); above
  it, it hands the excess back, highest index first. A shard is claimed only from the round after
  the slot was taken, so that a replica starting with others sees them before it claims. A shard
  left free for two rounds goes to any replica below its ceiling (one that has just joined still
  counts a dead replica's slot as live until it sees it expire).
* **Handing back**: the shard stops counting as held at once (:meth:`ShardElector.holds` false, its
  view's ``wait_until(False)`` returns, so its loops stop), then ``on_handing_back(shard)`` runs
  (bounded by ``renew_deadline``: the user waits for its loops there), then the lease is released
  (empty holder, ``leaseDurationSeconds: 1``), so another replica takes it at its next round.
* **Rounds**: every ``retry_period`` (a replica standing by stretches it by up to 20 %, jitter as
  the single elector) the loop reads every slot and shard lease once, renews what it holds and
  plans; it also wakes just after a lease held by another would expire, to claim it without
  reading again (the compare-and-swap on what it read is the check). So each replica makes
  ``2 x shards`` reads per ``retry_period``: with 8 shards, 3 replicas and 2 s, 24 reads/s on the
  API server, plus one write per held lease (8 shards + 3 slots: 5.5 writes/s). ``store_for`` is
  called once per lease (``2 x shards`` stores): let them share one API client.
* **Stop acting the moment renewal fails**: :meth:`ShardElector.holds` is false once the last
  successful renewal of that shard started more than ``renew_deadline`` ago, whatever the loop is
  doing; as in the single elector, another replica takes over ``lease_duration`` after it saw that
  renewal at the earliest.

Not guaranteed: the fair share is reached within a few rounds of the last change, not at once
(replicas plan from their own reads); mutual exclusion has the single elector's limits (a pause
longer than ``lease_duration - renew_deadline``); the journal's per-shard terms are the fence.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from functools import partial

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus

from taskwatch.clock import Clock, SystemClock
from taskwatch.leader.claim import Call, Claim, gather
from taskwatch.leader.election import JITTER, Elector, Timings
from taskwatch.leader.lease import LeaseStore
from taskwatch.leader.shards import Plan, lease_name, member_lease, plan
from taskwatch.leader.shardview import ShardView

log = structlog.get_logger(__name__)

__all__ = ["ShardElector", "ShardView"]

DEFAULT_TIMINGS = Timings()


class ShardElector:
    """Holds a fair share of ``shards`` shard leases for this replica (see the module docstring).

    Also an :class:`~taskwatch.leader.election.Elector` for the process as a whole: it leads
    while it holds any shard.
    """

    def __init__(
        self,
        store_for: Callable[[str], LeaseStore],
        *,
        base: str,
        shards: int,
        identity: str,
        timings: Timings = DEFAULT_TIMINGS,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        on_change: Callable[[int, bool], None] | None = None,
        on_handing_back: Callable[[int], Awaitable[None]] | None = None,
        concurrency: int = 16,
    ) -> None:
        if shards < 2:
            raise ValueError("a ShardElector needs at least 2 shards (1 is a KubernetesElector)")
        self.identity = identity
        self.shards = shards
        self.timings = timings
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.on_handing_back = on_handing_back
        self._limiter = anyio.CapacityLimiter(concurrency)

        def claim(name: str) -> Claim:
            return Claim(store_for(name), identity=identity, timings=timings, clock=self.clock)

        self._slots = [claim(member_lease(base, k)) for k in range(shards)]
        self._claims = [claim(lease_name(base, i, shards)) for i in range(shards)]
        self._views = [ShardView(self, i, on_change) for i in range(shards)]
        self._slot: int | None = None
        self._slot_round = 0
        self._round = 0
        self._held: set[int] = set()
        self._handing_back: set[int] = set()
        self._free_since: dict[int, float] = {}
        self._members: frozenset[str] = frozenset()
        self._changed = anyio.Event()

    # -- what the rest of the process asks -------------------------------------------------------

    def holds(self, shard: int) -> bool:
        """Cheap; false from the instant renewal of ``shard`` is overdue."""
        return shard in self._held and self.clock.monotonic() < self._claims[shard].deadline()

    def held(self) -> frozenset[int]:
        """The shards this replica holds now."""
        return frozenset(s for s in self._held if self.holds(s))

    async def wait_changed(self) -> None:
        """Return when :meth:`held` changed (a shard gained, lost or handed back)."""
        await self._changed.wait()

    def elector(self, shard: int) -> Elector:
        """An :class:`Elector` view of one shard, for the loops and the executor."""
        return self._views[shard]

    def holder_of(self, shard: int) -> str | None:
        """Who holds ``shard``'s lease as last seen (``""``: released; None: not seen yet)."""
        observed = self._claims[shard].observed
        return None if observed is None else observed.holder

    @property
    def members(self) -> int:
        """Live replicas (holding a member slot) as last observed."""
        return len(self._members)

    @property
    def slot(self) -> int | None:
        """The member slot this replica holds (None: standing by)."""
        return self._slot

    @property
    def transitions(self) -> dict[int, int]:
        """Per shard: gains plus losses since start."""
        return {i: v.transitions for i, v in enumerate(self._views)}

    def is_leader(self) -> bool:
        """True while this replica holds any shard."""
        return any(self.holds(s) for s in self._held)

    @property
    def holder(self) -> str | None:
        """This replica's identity while it holds a shard, else ``""`` (no single holder)."""
        return self.identity if self.is_leader() else ""

    async def wait_until(self, leading: bool) -> None:
        """Return once this replica holds some shard (``True``) or none (``False``)."""
        while bool(self._held) != leading:
            await self.wait_changed()

    def _set(self, shard: int, holding: bool, **why: object) -> None:
        if holding:
            self._held.add(shard)
        else:
            self._held.discard(shard)
        self._views[shard].set(holding, **why)
        self._changed.set()
        self._changed = anyio.Event()

    # -- the loop --------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Membership, campaign and renewal, until cancelled."""
        task_status.started()
        t = self.timings
        try:
            await self._open()
            async with anyio.create_task_group() as background:
                while True:
                    started = self.clock.monotonic()
                    await self._run_round(background, read=True)
                    period = t.retry_period
                    if self._slot is None:
                        period *= 1 + JITTER * self.rng.random()
                    regular = started + period
                    while (wake := self._next_wake()) < regular:
                        await anyio.sleep(max(0.0, wake - self.clock.monotonic()))
                        await self._run_round(background, read=False)
                    await anyio.sleep(max(0.0, regular - self.clock.monotonic()))
        finally:
            for shard in sorted(self._held):
                self._set(shard, False, reason="stopped")

    async def _open(self) -> None:
        stores = {id(c.store): c.store for c in (*self._slots, *self._claims)}
        while True:
            try:
                async with anyio.create_task_group() as tg:
                    for store in stores.values():
                        tg.start_soon(store.open)
                return
            except Exception as exc:  # a bad kubeconfig, no in-cluster environment: retried
                log.error(
                    "shards.store_unavailable", error=type(exc).__name__, reason=str(exc)[:200]
                )
            await anyio.sleep(self.timings.retry_period)

    def _next_wake(self) -> float:
        """Just after the first lease held by another replica would expire (inf: none)."""
        now = self.clock.monotonic()
        expiries = [
            c.expires_at
            for c in (*self._slots, *self._claims)
            if c.holder(now) not in (None, self.identity)
        ]
        if not expiries:
            return float("inf")
        return min(expiries) + 0.05 * self.timings.retry_period * self.rng.random()

    async def _run_round(self, background: TaskGroup, *, read: bool) -> None:
        """One round: read everything (``read``), keep the slot, renew, plan, hand back, claim.
        A round without ``read`` (at an expiry) only claims, from what was read before."""
        self._round += 1
        started = self.clock.monotonic()
        if read:
            await self._calls("read", [(c, c.read) for c in (*self._slots, *self._claims)])
        await self._keep_slot(started, renew=read)
        if read:
            await self._renew(started)
        self._count_members()
        await self._claim_shards(started, self._balance(background))

    async def _calls(self, what: str, calls: list[Call]) -> dict[int, object]:
        """Run ``calls`` until the first held lease would be overdue (``renew_deadline`` when
        nothing is held)."""
        now = self.clock.monotonic()
        deadlines = [self._claims[s].deadline() for s in self._held]
        if self._slot is not None:
            deadlines.append(self._slots[self._slot].deadline())
        bound = min(deadlines, default=now + self.timings.renew_deadline) - now
        return await gather(what, calls, bound=bound, limiter=self._limiter, identity=self.identity)

    async def _write(self, claim: Claim, started: float) -> bool | None:
        """Acquire or renew: True, False (a conflict or held by another), None (no answer)."""
        done = await self._calls("write", [(claim, partial(claim.write, started))])
        answer = done.get(id(claim))
        return None if answer is None else answer is True

    async def _keep_slot(self, started: float, *, renew: bool) -> None:
        if self._slot is not None:
            slot = self._slots[self._slot]
            if not renew or await self._write(slot, started):
                return
            now = self.clock.monotonic()
            if slot.holder(now) != self.identity or now >= slot.deadline():
                log.warning("shards.slot_lost", identity=self.identity, slot=self._slot)
                self._slot = None
            return
        for k, slot in enumerate(self._slots):
            if not slot.free(self.clock.monotonic()):
                continue
            got = await self._write(slot, started)
            if got is None:  # no answer: the next round tries again, not every other slot now
                return
            if got:
                self._slot, self._slot_round = k, self._round
                log.info("shards.slot_acquired", identity=self.identity, slot=k)
                return

    async def _renew(self, started: float) -> None:
        held = sorted(self._held - self._handing_back)
        claims = [self._claims[s] for s in held]
        done = await self._calls("renew", [(c, partial(c.write, started)) for c in claims])
        now = self.clock.monotonic()
        for shard, claim in zip(held, claims, strict=True):
            if done.get(id(claim)) is True:
                continue
            holder = claim.holder(now)
            if holder not in (None, self.identity):
                self._set(shard, False, reason="lease held by another replica", holder=holder)
            elif now >= claim.deadline():
                self._set(shard, False, reason="renewal failed for renew_deadline")

    def _count_members(self) -> None:
        now = self.clock.monotonic()
        members = {c.holder(now) for c in self._slots} - {None, self.identity}
        if self._slot is not None:
            members.add(self.identity)
        live = frozenset(m for m in members if m is not None)
        if live != self._members:
            log.info("shards.members", identity=self.identity, members=len(live))
            self._members = live

    def _balance(self, background: TaskGroup) -> Plan:
        """Plan from what this replica sees; start handing back at once; the claims to make
        (none in the round the slot was taken: the other replicas' slots are seen by the next)."""
        now = self.clock.monotonic()
        mine = self._held - self._handing_back
        others = dict.fromkeys(self._handing_back, self.identity)
        for shard, claim in enumerate(self._claims):
            holder = claim.holder(now)
            if shard not in mine and holder not in (None, self.identity):
                others.setdefault(shard, holder)
            if shard in mine or shard in others:
                self._free_since.pop(shard, None)
            else:
                self._free_since.setdefault(shard, now)
        # Free for two rounds (of the slowest, jittered replica): whoever is below its ceiling
        # may take it. This settles a newcomer that still counts a dead replica's slot as live.
        orphaned_after = 2 * (1 + JITTER) * self.timings.retry_period
        orphaned = {s for s, t in self._free_since.items() if now - t >= orphaned_after}
        decided = plan(
            me=self.identity,
            shards=self.shards,
            members=self._members,
            mine=mine,
            others=others,
            orphaned=orphaned,
        )
        for shard in decided.hand_back:
            self._handing_back.add(shard)
            self._set(shard, False, reason="released", why="fair share")
            background.start_soon(self._hand_back, shard, name=f"hand-back:{shard}")
        return decided if self._round > self._slot_round else Plan()

    async def _claim_shards(self, started: float, decided: Plan) -> None:
        got = 0
        for shard in decided.claim:
            if got >= decided.want:
                break
            claim = self._claims[shard]
            if not claim.free(self.clock.monotonic()):
                continue
            was = claim.observed.holder if claim.observed else ""
            answer = await self._write(claim, started)
            if answer is None:
                break
            if answer:
                got += 1
                transitions = claim.observed.transitions if claim.observed else 0
                taken = {"taken_from": was} if was and was != self.identity else {}
                self._set(shard, True, transitions=transitions, **taken)

    async def hand_back(self, shard: int) -> None:
        """Stop holding ``shard`` now, let ``on_handing_back`` stop its loops (bounded by
        ``renew_deadline``), then release its lease. The fair share may claim it again later."""
        if shard not in self._held or shard in self._handing_back:
            return
        self._handing_back.add(shard)
        self._set(shard, False, reason="released", why="asked")
        await self._hand_back(shard)

    async def _hand_back(self, shard: int) -> None:
        """The rest of a hand-back, once the shard no longer counts as held: the hook, then the
        release."""
        try:
            if self.on_handing_back is not None:
                with anyio.move_on_after(self.timings.renew_deadline):
                    try:
                        await self.on_handing_back(shard)
                    except Exception as exc:  # the user's hook: the lease goes back regardless
                        log.warning("shards.hand_back_hook_failed", error=type(exc).__name__)
            claim = self._claims[shard]
            await gather(
                "release",
                [(claim, claim.release)],
                bound=self.timings.retry_period,
                limiter=self._limiter,
                identity=self.identity,
            )
        finally:
            self._handing_back.discard(shard)

    async def release(self) -> None:
        """Graceful stop: every shard this replica holds (or is handing back) and its slot are
        released (empty holder, ``leaseDurationSeconds: 1``), so the others take over at their
        next round. Call it after :meth:`run` has been cancelled and the loops have stopped."""
        for shard in sorted(self._held):
            self._set(shard, False, reason="released")
        slot, self._slot = self._slot, None
        ours = [
            c
            for c in (*self._claims, *self._slots)
            if c.observed is not None and c.observed.holder == self.identity
        ]
        with anyio.move_on_after(self.timings.retry_period, shield=True):
            done = await gather(
                "release",
                [(c, c.release) for c in ours],
                bound=self.timings.retry_period,
                limiter=self._limiter,
                identity=self.identity,
            )
            log.info(
                "shards.released",
                identity=self.identity,
                released=sum(1 for v in done.values() if v is True),
                slot=slot,
            )
