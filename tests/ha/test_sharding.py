"""ShardElector against a real kube-apiserver (etcd-backed): three replicas in one process share
six shards two each, and a killed replica's shards move to the others once its leases expire.

Real time, short leases (lease 2 s, renew deadline 1.5 s, retry 0.5 s), as tests/ha/test_elector.py:
the API server and etcd run on their own clocks, so these tests wait (bounded).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import anyio
from structlog.testing import capture_logs

from taskwatch.leader.election import Timings
from taskwatch.leader.lease import KubernetesLeaseStore
from taskwatch.leader.sharding import ShardElector
from taskwatch.leader.shards import lease_name, member_lease
from tests.ha.leases import admin_store
from tests.kube import KubeCluster, kube_fixture, lease_dict  # noqa: F401

FAST = Timings(lease_duration=2.0, renew_deadline=1.5, retry_period=0.5)
SHARDS = 6


def factory(
    cluster: KubeCluster, opened: list[KubernetesLeaseStore]
) -> Callable[[str], KubernetesLeaseStore]:
    def store_for(name: str) -> KubernetesLeaseStore:
        store = admin_store(cluster, name)
        opened.append(store)
        return store

    return store_for


async def until(condition: Callable[[], bool], within: float) -> float:
    """Poll the replicas (they talk to a real server) until ``condition``; the seconds it took."""
    start = time.monotonic()
    with anyio.fail_after(within):
        while not condition():  # noqa: ASYNC110 - three replicas, one condition
            await anyio.sleep(0.02)
    return time.monotonic() - start


async def test_three_replicas_share_six_shards_and_take_over_a_killed_ones(
    kube_cluster: KubeCluster,
) -> None:
    base = f"test-{uuid.uuid4().hex[:8]}"
    opened: list[KubernetesLeaseStore] = []
    replicas = {
        name: ShardElector(
            factory(kube_cluster, opened), base=base, shards=SHARDS, identity=name, timings=FAST
        )
        for name in ("pod-0", "pod-1", "pod-2")
    }
    scopes = {name: anyio.CancelScope() for name in replicas}
    overlaps: list[tuple[int, list[str]]] = []

    def shares(alive: list[str]) -> list[frozenset[int]]:
        return [replicas[n].held() for n in alive]

    def even(alive: list[str], size: int) -> bool:
        held = shares(alive)
        return all(len(h) == size for h in held) and sorted(s for h in held for s in h) == list(
            range(SHARDS)
        )

    async def run(name: str) -> None:
        with scopes[name]:
            await replicas[name].run()

    async def sample() -> None:
        while True:
            for shard in range(SHARDS):
                holders = [n for n, e in replicas.items() if e.holds(shard)]
                if len(holders) > 1:
                    overlaps.append((shard, holders))
            await anyio.sleep(0.01)

    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            started = time.monotonic()
            for name in replicas:
                tg.start_soon(run, name)
            tg.start_soon(sample)
            alive = list(replicas)
            converged = await until(lambda: even(alive, 2), within=10)
            assert time.monotonic() - started <= 4 * FAST.retry_period + 1.0, converged
            await anyio.sleep(2 * FAST.lease_duration)
            assert even(alive, 2)  # stable on a real server too
            assert all(e.members == 3 for e in replicas.values())
            for shard in range(SHARDS):
                lease = lease_dict(kube_cluster, lease_name(base, shard, SHARDS), "default")
                assert lease is not None
                assert lease["spec"]["holderIdentity"] in replicas
                assert lease["spec"]["leaseDurationSeconds"] == 2

            dead = "pod-1"
            orphans = replicas[dead].held()
            scopes[dead].cancel()  # a crash: no release
            died = time.monotonic()
            alive = ["pod-0", "pod-2"]
            took = await until(
                lambda: orphans <= shares(alive)[0] | shares(alive)[1],
                within=FAST.lease_duration + 2 * FAST.retry_period + 1.0,
            )
            assert FAST.lease_duration - FAST.retry_period <= took
            assert took <= FAST.lease_duration + 2 * FAST.retry_period, took
            await until(lambda: even(alive, 3), within=3 * FAST.retry_period)
            assert all(replicas[n].members == 2 for n in alive)
            assert time.monotonic() - died < 10
            tg.cancel_scope.cancel()
    acquired = [
        (e["log_level"], e["shard"], e.get("taken_from"))
        for e in logs
        if e["event"] == "leader.acquired"
    ]
    # Free leases at the start and released ones are taken routinely (info); only the killed
    # replica's leases, taken over once expired, are worth a warning, and it is named.
    warned = sorted((shard, taken) for level, shard, taken in acquired if level == "warning")
    assert warned == sorted((shard, dead) for shard in orphans)
    assert all(taken is None for level, _, taken in acquired if level == "info")

    for name in alive:
        await replicas[name].release()
    for shard in range(SHARDS):
        lease = lease_dict(kube_cluster, lease_name(base, shard, SHARDS), "default")
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == ""
        assert lease["spec"]["leaseDurationSeconds"] == 1
    slots = [lease_dict(kube_cluster, member_lease(base, k), "default") for k in range(SHARDS)]
    assert [s["spec"]["holderIdentity"] for s in slots if s is not None].count(dead) == 1
    assert overlaps == []
    for store in opened:
        await store.close()
