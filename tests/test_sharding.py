"""ShardElector on an in-memory Lease server and virtual time (looptime): replicas converge to a
fair share, take over a dead replica's shards once its leases expire, make room for a newcomer,
take a released shard at their next round, stand by when there are more replicas than shards, and
never hold one shard at the same instant (checked both by sampling ``holds`` and on the server's
history of writes). Default timings: lease 15 s, renew deadline 10 s, retry 2 s."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import anyio
import anyio.lowlevel
import pytest
from anyio.abc import TaskGroup

from taskwatch.clock import ManualClock, SystemClock
from taskwatch.leader.election import Timings
from taskwatch.leader.sharding import ShardElector
from taskwatch.leader.shards import lease_name
from tests.leasefake import LeaseServer, terms

pytestmark = pytest.mark.looptime

T = Timings()
SHARDS = 6
clock = SystemClock()


class Fleet:
    """Replicas on one lease server, each run in its own cancel scope (cancel = a crash)."""

    def __init__(self, tg: TaskGroup, server: LeaseServer, shards: int = SHARDS) -> None:
        self.tg, self.server, self.shards = tg, server, shards
        self.replicas: dict[str, ShardElector] = {}
        self.scopes: dict[str, anyio.CancelScope] = {}
        self.overlaps: list[tuple[float, int, list[str]]] = []

    def start(self, name: str, **kwargs: object) -> ShardElector:
        e = ShardElector(
            self.server.factory(name),
            base="tw",
            shards=self.shards,
            identity=name,
            timings=T,
            rng=random.Random(name),
            **kwargs,  # type: ignore[arg-type]
        )
        self.replicas[name] = e
        self.scopes[name] = scope = anyio.CancelScope()

        async def run() -> None:
            with scope:
                await e.run()

        self.tg.start_soon(run)
        return e

    def kill(self, name: str) -> ShardElector:
        self.scopes[name].cancel()
        return self.replicas.pop(name)

    def shares(self) -> dict[str, frozenset[int]]:
        return {n: e.held() for n, e in self.replicas.items()}

    def covered(self) -> bool:
        held = [s for share in self.shares().values() for s in share]
        return sorted(held) == list(range(self.shards))

    async def sample(self, everyone: list[ShardElector]) -> None:
        """Every 50 ms: no shard held by two replicas at the same instant."""
        while True:
            for shard in range(self.shards):
                holders = [e.identity for e in everyone if e.holds(shard)]
                if len(holders) > 1:
                    self.overlaps.append((clock.monotonic(), shard, holders))
            await anyio.sleep(0.05)


async def until(condition: Callable[[], bool], within: float) -> float:
    """Wait (virtual time) until ``condition``; the seconds it took."""
    start = clock.monotonic()
    with anyio.fail_after(within):
        while not condition():  # noqa: ASYNC110 - polling replicas on virtual time
            await anyio.sleep(0.01)
    return clock.monotonic() - start


def no_overlapping_terms(server: LeaseServer, shards: int = SHARDS) -> None:
    for shard in range(shards):
        held = terms(server.history, lease_name("tw", shard, shards), T.renew_deadline)
        for (a, _, a_end), (b, b_start, _) in itertools.pairwise(held):
            assert b_start >= a_end, (
                f"shard {shard}: {b} took over at {b_start} before {a} ended at {a_end}"
            )


def even(fleet: Fleet, *sizes: int) -> bool:
    return fleet.covered() and sorted(map(len, fleet.shares().values())) == sorted(sizes)


async def test_three_replicas_converge_to_two_shards_each_and_count_three_members() -> None:
    server = LeaseServer()
    async with anyio.create_task_group() as tg:
        fleet = Fleet(tg, server)
        for name in ("pod-a", "pod-b", "pod-c"):
            fleet.start(name)
        tg.start_soon(fleet.sample, list(fleet.replicas.values()))
        took = await until(lambda: even(fleet, 2, 2, 2), within=30)
        assert took <= 3 * T.retry_period, took  # a slot, then a round to see the others
        await anyio.sleep(60)  # stable: nothing moves
        assert even(fleet, 2, 2, 2)
        assert all(e.members == 3 for e in fleet.replicas.values())
        assert sorted(e.slot for e in fleet.replicas.values()) == [0, 1, 2]  # type: ignore[type-var]
        assert all(sum(e.transitions.values()) == 2 for e in fleet.replicas.values())
        tg.cancel_scope.cancel()
    assert fleet.overlaps == []
    no_overlapping_terms(server)


async def test_a_killed_replicas_shards_are_taken_over_once_its_leases_expire_then_shared() -> None:
    server = LeaseServer()
    async with anyio.create_task_group() as tg:
        fleet = Fleet(tg, server)
        for name in ("pod-a", "pod-b", "pod-c"):
            fleet.start(name)
        everyone = list(fleet.replicas.values())
        tg.start_soon(fleet.sample, everyone)
        await until(lambda: even(fleet, 2, 2, 2), within=30)
        await anyio.sleep(5.3)
        dead = fleet.kill("pod-b")  # no release: its leases must expire
        orphans = dead.held()
        last_write = max(w.at for w in server.history if w.writer == "pod-b")
        took = await until(fleet.covered, within=60)
        # Taken over when the survivors saw the leases expire: lease_duration after the round
        # that read the last renewal (at most a retry_period later), plus a 5 % wake jitter.
        since_last_write = clock.monotonic() - last_write
        assert since_last_write <= T.lease_duration + 1.05 * T.retry_period + 0.1, since_last_write
        assert took <= T.lease_duration + T.retry_period, took
        assert took >= T.lease_duration - T.retry_period  # not before the leases expired
        await until(lambda: even(fleet, 3, 3), within=3 * T.retry_period)
        assert all(e.members == 2 for e in fleet.replicas.values())
        assert orphans <= fleet.shares()["pod-a"] | fleet.shares()["pod-c"]
        # A newcomer that still counts the dead replica's slot as live (it has not seen it
        # expire yet) takes the shard left free for two rounds: 2/2/2 well before that.
        fleet.tg.start_soon(fleet.sample, [fleet.start("pod-d")])
        took = await until(lambda: even(fleet, 2, 2, 2), within=30)
        assert took <= 5 * T.retry_period, took
        tg.cancel_scope.cancel()
    assert fleet.overlaps == []
    no_overlapping_terms(server)


async def test_a_fourth_replica_gets_some_shards_and_nobody_holds_more_than_two() -> None:
    server = LeaseServer()
    handed: list[tuple[str, int, bool, str]] = []

    async with anyio.create_task_group() as tg:
        fleet = Fleet(tg, server)
        for name in ("pod-a", "pod-b", "pod-c"):

            async def hook(shard: int, name: str = name) -> None:
                e = fleet.replicas[name]
                # Called before the release: the lease is still ours, holds() already false.
                holder = server.records[lease_name("tw", shard, SHARDS)].holder
                handed.append((name, shard, e.holds(shard), holder))
                await anyio.sleep(1.0)  # the loops take a while to stop

            fleet.start(name, on_handing_back=hook)
        tg.start_soon(fleet.sample, list(fleet.replicas.values()))
        await until(lambda: even(fleet, 2, 2, 2), within=30)
        newcomer = fleet.start("pod-d")
        fleet.tg.start_soon(fleet.sample, [newcomer])
        took = await until(lambda: even(fleet, 2, 2, 1, 1), within=30)
        assert took <= 4 * T.retry_period, took
        assert len(newcomer.held()) == 1
        assert all(e.members == 4 for e in fleet.replicas.values())
        await anyio.sleep(60)
        assert even(fleet, 2, 2, 1, 1)  # and it stays so
        tg.cancel_scope.cancel()
    assert [(name, holds, holder) for name, _, holds, holder in handed] == [
        ("pod-a", False, "pod-a")  # the first at the ceiling by identity gives way, once
    ]
    assert fleet.overlaps == []
    no_overlapping_terms(server)


async def test_a_released_replicas_shards_are_taken_within_about_a_retry_period() -> None:
    server = LeaseServer()
    async with anyio.create_task_group() as tg:
        fleet = Fleet(tg, server)
        for name in ("pod-a", "pod-b", "pod-c"):
            fleet.start(name)
        tg.start_soon(fleet.sample, list(fleet.replicas.values()))
        await until(lambda: even(fleet, 2, 2, 2), within=30)
        await anyio.sleep(3.7)
        leaving = fleet.kill("pod-c")
        await leaving.release()
        assert leaving.held() == frozenset()
        released = [server.records[lease_name("tw", s, SHARDS)].holder for s in range(SHARDS)]
        assert "pod-c" not in released
        assert all(r.holder != "pod-c" for r in server.records.values())  # the slot too
        took = await until(lambda: even(fleet, 3, 3), within=30)
        assert took <= 1.1 * T.retry_period, took
        tg.cancel_scope.cancel()
    assert fleet.overlaps == []
    no_overlapping_terms(server)


async def test_seven_replicas_for_six_shards_leave_one_standing_by_with_nothing() -> None:
    server = LeaseServer()
    async with anyio.create_task_group() as tg:
        fleet = Fleet(tg, server)
        for i in range(7):
            fleet.start(f"pod-{i}")
        tg.start_soon(fleet.sample, list(fleet.replicas.values()))
        await until(lambda: even(fleet, 1, 1, 1, 1, 1, 1, 0), within=60)
        idle = next(e for e in fleet.replicas.values() if not e.held())
        assert idle.slot is None
        assert not idle.is_leader()
        await until(lambda: all(e.members == 6 for e in fleet.replicas.values()), within=2.5)
        # A member dies: the one standing by takes its slot, then its shard.
        victim = next(n for n, e in fleet.replicas.items() if e is not idle)
        fleet.kill(victim)
        await until(lambda: even(fleet, 1, 1, 1, 1, 1, 1), within=T.lease_duration + 6)
        assert idle.slot is not None
        tg.cancel_scope.cancel()
    assert fleet.overlaps == []
    no_overlapping_terms(server)


async def test_each_replica_reads_every_slot_and_shard_lease_once_per_retry_period() -> None:
    server = LeaseServer()
    async with anyio.create_task_group() as tg:
        fleet = Fleet(tg, server)
        for name in ("pod-a", "pod-b", "pod-c"):
            fleet.start(name)
        await until(lambda: even(fleet, 2, 2, 2), within=30)
        before = dict(server.reads)
        await anyio.sleep(100 * T.retry_period)
        for name in fleet.replicas:
            rounds = (server.reads[name] - before[name]) / (2 * SHARDS)
            assert 99 <= rounds <= 101, (name, rounds)
        tg.cancel_scope.cancel()


async def test_a_replica_that_cannot_renew_stops_holding_before_anyone_takes_over() -> None:
    server = LeaseServer()
    async with anyio.create_task_group() as tg:
        fleet = Fleet(tg, server)
        for name in ("pod-a", "pod-b", "pod-c"):
            fleet.start(name)
        tg.start_soon(fleet.sample, list(fleet.replicas.values()))
        await until(lambda: even(fleet, 2, 2, 2), within=30)
        cut = fleet.replicas["pod-a"]
        server.broken.add("pod-a")  # partitioned from the API server, still running
        lost = await until(lambda: not cut.held(), within=T.renew_deadline + 0.1)
        assert lost <= T.renew_deadline
        assert not cut.is_leader()
        await until(lambda: len(fleet.shares()["pod-b"] | fleet.shares()["pod-c"]) == 6, within=30)
        server.broken.clear()  # back: it takes its share again
        await until(lambda: even(fleet, 2, 2, 2), within=30)
        tg.cancel_scope.cancel()
    assert fleet.overlaps == []
    no_overlapping_terms(server)


async def test_holding_ends_the_instant_renewal_is_overdue_whatever_the_loop_is_doing() -> None:
    """The loop sleeps (virtual time) while the replica's own clock jumps past the deadline."""
    server = LeaseServer()
    mine = ManualClock()
    alone = ShardElector(
        server.factory("pod-a"), base="tw", shards=SHARDS, identity="pod-a", timings=T, clock=mine
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(alone.run)
        await until(lambda: len(alone.held()) == SHARDS, within=10)
        await anyio.sleep(0.5)  # between two rounds
        mine.advance(T.renew_deadline - 0.001)
        assert alone.held() == frozenset(range(SHARDS))
        assert alone.elector(3).is_leader()
        mine.advance(0.001)
        assert alone.held() == frozenset()
        assert not alone.is_leader()
        assert not alone.elector(3).is_leader()
        tg.cancel_scope.cancel()


async def test_a_shard_view_is_an_elector_for_that_shard_and_its_release_hands_it_back() -> None:
    server = LeaseServer()
    changes: list[tuple[int, bool]] = []
    alone = ShardElector(
        server.factory("pod-a"),
        base="tw",
        shards=SHARDS,
        identity="pod-a",
        timings=T,
        on_change=lambda shard, held: changes.append((shard, held)),
    )
    view = alone.elector(4)
    assert view.holder is None  # not seen yet
    with pytest.raises(ValueError, match="at least 2 shards"):
        ShardElector(server.factory("x"), base="tw", shards=1, identity="x")
    async with anyio.create_task_group() as tg:
        tg.start_soon(alone.run)
        with anyio.fail_after(3 * T.retry_period):
            await view.wait_until(True)
            await alone.wait_until(True)
        assert view.is_leader()
        assert view.holder == "pod-a"
        await until(lambda: len(alone.held()) == SHARDS, within=T.retry_period)
        assert sorted(changes) == [(s, True) for s in range(SHARDS)]
        changed = anyio.Event()

        async def watch() -> None:
            await alone.wait_changed()
            changed.set()

        tg.start_soon(watch)
        await anyio.lowlevel.checkpoint()  # the watcher waits
        await view.release()
        assert not view.is_leader()
        assert 4 not in alone.held()
        assert changed.is_set()
        assert server.records[lease_name("tw", 4, SHARDS)].holder == ""
        assert changes[-1] == (4, False)
        assert alone.transitions[4] == 2
        await until(view.is_leader, within=2 * T.retry_period)  # its share claims it again
        tg.cancel_scope.cancel()
    assert not alone.is_leader()
