"""The Lease elector against a real kube-apiserver (etcd-backed): CAS, expiry, release, renewal.

Real time, short leases (lease 2 s, renew deadline 1.5 s, retry 0.5 s): the API server and etcd
run on their own clocks, so these tests wait (bounded) instead of advancing a virtual clock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace

import anyio
import pytest
from structlog.testing import capture_logs

from taskwatch.leader.election import KubernetesElector, StandaloneElector, Timings
from tests.ha.leases import Breakable, admin_store
from tests.kube import KubeCluster, kube_fixture, lease_dict  # noqa: F401

FAST = Timings(lease_duration=2.0, renew_deadline=1.5, retry_period=0.5)


def lease_name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def elector(cluster: KubeCluster, name: str, identity: str, **kwargs: object) -> KubernetesElector:
    return KubernetesElector(
        admin_store(cluster, name),
        identity=identity,
        timings=FAST,
        **kwargs,  # type: ignore[arg-type]
    )


def test_timings_follow_client_go_ordering() -> None:
    assert Timings() == Timings(15.0, 10.0, 2.0)
    with pytest.raises(ValueError, match="lease_duration"):
        Timings(lease_duration=10, renew_deadline=10, retry_period=2)
    with pytest.raises(ValueError, match="retry_period"):
        Timings(lease_duration=15, renew_deadline=2.4, retry_period=2)
    assert Timings(lease_duration=2.5, renew_deadline=2, retry_period=1).lease_seconds == 3


async def test_a_standalone_elector_leads_until_released() -> None:
    changes: list[bool] = []
    one = StandaloneElector("host_1", on_change=changes.append)
    await one.run()
    assert one.is_leader()
    await one.wait_until(True)
    with capture_logs() as logs:
        await one.release()
    assert not one.is_leader()
    assert changes == [False]
    # A graceful stop is routine: not a warning on every restart of a single-replica service.
    assert [(e["event"], e["log_level"]) for e in logs] == [("leader.lost", "info")]


async def test_the_first_candidate_creates_the_lease_and_leads(kube_cluster: KubeCluster) -> None:
    name = lease_name()
    a = elector(kube_cluster, name, "pod-a")
    assert await a.try_acquire_or_renew()
    lease = lease_dict(kube_cluster, name, "default")
    assert lease is not None
    spec = lease["spec"]
    assert spec["holderIdentity"] == "pod-a"
    assert spec["leaseDurationSeconds"] == 2
    assert spec["leaseTransitions"] == 0
    assert spec["renewTime"].endswith("Z")
    assert len(spec["renewTime"]) == len("2026-01-01T00:00:00.000000Z")  # MicroTime
    # Renewing keeps the acquire time and the transition count, and moves the resourceVersion.
    before = a.observed
    assert await a.try_acquire_or_renew()
    assert a.observed is not None
    assert before is not None
    assert a.observed.version != before.version
    assert a.observed.acquire_time == before.acquire_time
    assert a.observed.transitions == 0
    await a.store.close()  # type: ignore[attr-defined]


async def test_a_write_with_a_stale_resource_version_is_a_conflict_not_leadership(
    kube_cluster: KubeCluster,
) -> None:
    name = lease_name()
    a = elector(kube_cluster, name, "pod-a")
    b_store = admin_store(kube_cluster, name)
    assert await a.try_acquire_or_renew()
    stale = await b_store.get()
    assert stale is not None
    assert await a.try_acquire_or_renew()  # the lease moves on under b
    assert await b_store.update(replace(stale, holder="pod-b")) is None  # 409
    assert (await b_store.get()).holder == "pod-a"  # type: ignore[union-attr]

    # Five candidates race for a fresh lease: exactly one creates it.
    fresh = lease_name()
    racers = [elector(kube_cluster, fresh, f"pod-{i}") for i in range(5)]
    results: list[bool] = []

    async def attempt(e: KubernetesElector) -> None:
        results.append(await e.try_acquire_or_renew())

    async with anyio.create_task_group() as tg:
        for e in racers:
            tg.start_soon(attempt, e)
    assert sorted(results) == [False, False, False, False, True]
    for e in [a, *racers]:
        await e.store.close()  # type: ignore[attr-defined]
    await b_store.close()


async def test_a_follower_takes_over_only_after_the_lease_expires_on_its_own_clock(
    kube_cluster: KubeCluster,
) -> None:
    name = lease_name()
    a, b = elector(kube_cluster, name, "pod-a"), elector(kube_cluster, name, "pod-b")
    assert await a.try_acquire_or_renew()  # then a goes silent
    assert not await b.try_acquire_or_renew()
    first_seen = time.monotonic()
    while not await b.try_acquire_or_renew():
        assert time.monotonic() - first_seen < FAST.lease_duration + 1.0, "never took over"
        await anyio.sleep(0.1)
    waited = time.monotonic() - first_seen
    assert waited >= FAST.lease_duration
    lease = lease_dict(kube_cluster, name, "default")
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "pod-b"
    assert lease["spec"]["leaseTransitions"] == 1
    # a comes back: the lease is b's now, and fresh in a's eyes too.
    assert not await a.try_acquire_or_renew()
    for e in (a, b):
        await e.store.close()  # type: ignore[attr-defined]


async def test_release_hands_the_lease_over_at_once(kube_cluster: KubeCluster) -> None:
    name = lease_name()
    a, b = elector(kube_cluster, name, "pod-a"), elector(kube_cluster, name, "pod-b")
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run)
        with anyio.fail_after(5):
            await a.wait_until(True)
        tg.cancel_scope.cancel()
    await a.release()
    assert not a.is_leader()
    lease = lease_dict(kube_cluster, name, "default")
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == ""
    assert lease["spec"]["leaseDurationSeconds"] == 1
    assert await b.try_acquire_or_renew()  # no waiting out the lease
    for e in (a, b):
        await e.store.close()  # type: ignore[attr-defined]


async def test_a_leader_stops_leading_when_renewal_fails_before_anyone_else_may_take_over(
    kube_cluster: KubeCluster,
) -> None:
    name = lease_name()
    store = Breakable(admin_store(kube_cluster, name))
    changes: list[tuple[bool, float]] = []
    a = KubernetesElector(
        store,
        identity="pod-a",
        timings=FAST,
        on_change=lambda leading: changes.append((leading, time.monotonic())),
    )
    b = elector(kube_cluster, name, "pod-b")
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run)
        with anyio.fail_after(5):
            await a.wait_until(True)
        assert not await b.try_acquire_or_renew()  # b starts watching the lease
        await anyio.sleep(1.0)  # a renews a couple of times
        store.broken = True
        broke = time.monotonic()
        with anyio.fail_after(FAST.renew_deadline + 1):
            await a.wait_until(False)
        stopped = time.monotonic()
        assert not a.is_leader()
        # a stopped at most renew_deadline after its last successful renewal started...
        assert stopped - broke <= FAST.renew_deadline + 0.2
        # ...and b may not take over yet: the lease is still a's in b's eyes.
        assert not await b.try_acquire_or_renew()
        tg.cancel_scope.cancel()
    assert [leading for leading, _ in changes] == [True, False]
    await store.inner.close()
    await b.store.close()  # type: ignore[attr-defined]


async def test_three_running_candidates_elect_one_and_fail_over_when_it_dies(
    kube_cluster: KubeCluster,
) -> None:
    name = lease_name()
    candidates = [elector(kube_cluster, name, f"pod-{i}") for i in range(3)]
    scopes = [anyio.CancelScope() for _ in candidates]

    async def campaign(i: int) -> None:
        with scopes[i]:
            await candidates[i].run()

    with capture_logs() as logs:
        await _three_elect_and_fail_over(candidates, scopes, campaign)
    acquired = [e for e in logs if e["event"] == "leader.acquired"]
    # The first leader took a lease nobody held: routine. The second took the dead one's over.
    assert [(e["log_level"], e.get("taken_from")) for e in acquired] == [
        ("info", None),
        ("warning", acquired[0]["identity"]),
    ]
    for c in candidates:
        await c.store.close()  # type: ignore[attr-defined]


async def _three_elect_and_fail_over(
    candidates: list[KubernetesElector],
    scopes: list[anyio.CancelScope],
    campaign: Callable[[int], Awaitable[None]],
) -> None:
    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(campaign, i)
        with anyio.fail_after(5):
            while not any(c.is_leader() for c in candidates):  # noqa: ASYNC110 - three of them
                await anyio.sleep(0.02)
        for _ in range(40):  # 2 s: never two leaders
            assert sum(c.is_leader() for c in candidates) == 1
            await anyio.sleep(0.05)
        dead = next(i for i, c in enumerate(candidates) if c.is_leader())
        scopes[dead].cancel()  # a crash: no release
        died = time.monotonic()
        with anyio.fail_after(FAST.lease_duration + 2 * FAST.retry_period + 1):
            while not any(c.is_leader() for i, c in enumerate(candidates) if i != dead):  # noqa: ASYNC110
                await anyio.sleep(0.02)
        failover = time.monotonic() - died
        assert failover <= FAST.lease_duration + FAST.retry_period + 0.3, failover
        assert sum(c.is_leader() for c in candidates) == 1
        tg.cancel_scope.cancel()
