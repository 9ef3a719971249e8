"""Three taskwatch replicas against one emulator and a real kube-apiserver: one leads, and
failover, handover and repeated leader kills never let two replicas act in overlapping terms.

The leader kills run twice: each replica on its own SQLite journal (the Lease alone keeps them
apart), and every replica on one PostgreSQL journal with a ``per_hour`` cap smaller than the
targets, which must hold across the failovers (each new leader counts its predecessors' actions).

Lease timings are short (lease 2 s, renew deadline 1.5 s, retry 0.5 s) so that real-time
failovers keep the suite fast; the replicas talk to the API server as the ServiceAccount bound to
deploy/kubernetes' Role, so they prove the Role is enough.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from taskwatch.leader.lease import KubernetesLeaseStore
from tests.e2e.daemon import EMULATOR_LIMITS
from tests.e2e.test_policies import live
from tests.e2e.waiting import eventually
from tests.emulator.harness import Running, running_emulator
from tests.ha.replicas import (
    LEASE,
    LEASE_DURATION,
    RETRY_PERIOD,
    Fleet,
    LeaseWatch,
    apply_rbac,
    client_of,
    precompile,
)
from tests.kube import SA_NAMESPACE, KubeCluster, kube_fixture  # noqa: F401
from tests.postgres import postgres_fixture, postgres_url_fixture  # noqa: F401

LIMITS = {**EMULATOR_LIMITS, ("mps", "ManageTask"): 100_000.0}
"""The emulator's clock stands still, so its per-second windows never end: lift the abort's."""
ACTING = {"DescribeTasks", "DescribeTaskDetail", "ManageTask"}


@pytest.fixture(scope="module", name="cluster")
def cluster_fixture(kube_cluster: KubeCluster) -> KubeCluster:
    """The API server with deploy/kubernetes' RBAC applied (other modules import it too)."""
    apply_rbac(kube_cluster)
    precompile()
    return kube_cluster


@contextlib.asynccontextmanager
async def fleet_of(
    cluster: KubeCluster,
    workdir: Path,
    *,
    journal_url: str | None = None,
    per_hour: int | None = None,
    tweak: Callable[[str, dict[str, Any]], None] | None = None,
) -> AsyncIterator[tuple[Fleet, LeaseWatch]]:
    """An emulator, a fresh Lease with a watch on it, and (on exit) every replica killed."""
    cluster.kubectl("-n", SA_NAMESPACE, "delete", "lease", LEASE, "--ignore-not-found")
    store = KubernetesLeaseStore(
        name=LEASE, namespace=SA_NAMESPACE, kubeconfig=cluster.admin_kubeconfig
    )
    watch = LeaseWatch(store)
    async with running_emulator(limits=LIMITS) as emu, anyio.create_task_group() as tg:
        tg.start_soon(watch.run)
        fleet = Fleet(
            emu=emu, cluster=cluster, workdir=workdir, journal_url=journal_url, per_hour=per_hour,
            tweak=tweak,
        )  # fmt: skip
        try:
            yield fleet, watch
        finally:
            await fleet.stop_all()
            tg.cancel_scope.cancel()
    await store.close()


def callers(emu: Running) -> list[str]:
    """The client of every scan, detail or action call, in the order the emulator got them."""
    return [e.client for e in emu.emulator.log if e.action in ACTING]


def aborts(emu: Running) -> collections.Counter[str]:
    """Abort requests per task (refused ones too: a throttled request counts as an action)."""
    return collections.Counter(
        e.params["TaskId"] for e in emu.emulator.log if e.action == "ManageTask"
    )


async def test_of_three_replicas_exactly_one_scans_and_acts_and_the_others_stand_by_ready(
    cluster: KubeCluster, tmp_path: Path
) -> None:
    async with fleet_of(cluster, tmp_path) as (f, watch):
        await exactly_one_acts(f, watch)


async def exactly_one_acts(f: Fleet, watch: LeaseWatch) -> None:
    targets = {live(f.emu.world, 7 + i) for i in range(3)}
    replicas = [await f.start(f"replica-{i}") for i in range(3)]
    await f.wait_serving(replicas)
    await watch.until_held()
    await eventually(
        lambda: all(f.emu.world.mps[t].status == "FINISH" for t in targets), "every target aborted"
    )
    await anyio.sleep(2.5)  # a few more cycles of the leader, and of the others' campaigns
    leader = f.by_identity(watch.holder)
    assert set(callers(f.emu)) == {leader.client}
    assert aborts(f.emu) == dict.fromkeys(targets, 1)
    for r in replicas:
        status, body = await r.get("/readyz")
        assert status == 200, (r.identity, body)
        leading = r is leader
        assert await r.metric("taskwatch_leader") == (1.0 if leading else 0.0)
        assert await r.metric("taskwatch_leader_transitions_total") == (1.0 if leading else 0.0)
        assert (await r.get("/healthz"))[0] == 200
    assert len(watch.holders()) == 1


async def test_a_killed_leader_is_replaced_within_the_lease_and_a_stopped_one_hands_over_at_once(
    cluster: KubeCluster, tmp_path: Path
) -> None:
    async with fleet_of(cluster, tmp_path) as (f, watch):
        await failover_and_handover(f, watch)


async def failover_and_handover(f: Fleet, watch: LeaseWatch) -> None:
    replicas = [await f.start(f"replica-{i}") for i in range(3)]
    await f.wait_serving(replicas)
    await watch.until_held()
    first = f.by_identity(watch.holder)
    await eventually(lambda: first.client in callers(f.emu), "the first leader scanning")
    await anyio.sleep(0.3)  # mid-term, not right after a renewal

    first.signal(signal.SIGKILL)
    killed = time.monotonic()
    took = await watch.until_held(not_by=[first.identity])
    failover = took - killed
    second = f.by_identity(watch.holder)
    await eventually(lambda: second.client in callers(f.emu), "the second leader scanning")

    second.signal(signal.SIGTERM)
    stopped = time.monotonic()
    took = await watch.until_held(not_by=[first.identity, second.identity])
    handover = took - stopped
    third = f.by_identity(watch.holder)
    await eventually(lambda: third.client in callers(f.emu), "the third leader scanning")
    assert await second.process.wait() == 0

    print(f"failover after SIGKILL: {failover:.2f} s; handover after SIGTERM: {handover:.2f} s")
    assert failover <= LEASE_DURATION + RETRY_PERIOD + 0.2, failover
    assert handover <= 2.0, handover
    runs = [k for k, _ in itertools.groupby(callers(f.emu))]
    assert runs == [first.client, second.client, third.client]


async def leader_kills(f: Fleet, watch: LeaseWatch, kills: int) -> None:
    """Kill the leader as soon as it has acted, start a fresh replica, repeat."""
    replicas = [await f.start(f"gen0-{i}") for i in range(3)]
    await f.wait_serving(replicas)
    dead: list[str] = []
    for n in range(kills):
        await watch.until_held(not_by=dead)
        leader = f.by_identity(watch.holder)
        await all_see(f, leader.identity)  # every replica campaigns: a kill is a real failover
        client = leader.client
        await eventually(lambda c=client: aborts_by(f.emu, c) > 0, f"{leader.identity} acting")
        leader.signal(signal.SIGKILL)
        dead.append(leader.identity)
        await f.start(f"gen{n + 1}-x")
    await watch.until_held(not_by=dead)
    final = client_of(watch.holder)
    await eventually(lambda: aborts_by(f.emu, final) > 0, "the last leader acting")
    await anyio.sleep(1.5)  # another cycle: nothing may be aborted twice


async def all_see(f: Fleet, holder: str) -> None:
    with anyio.fail_after(60):
        for r in f.running():
            while await r.sees_holder() != holder:  # noqa: ASYNC110 - another process
                await anyio.sleep(0.05)


def aborts_by(emu: Running, client: str) -> int:
    return sum(1 for e in emu.emulator.log if e.action == "ManageTask" and e.client == client)


@pytest.mark.parametrize("kills", [5, pytest.param(20, marks=pytest.mark.slow)])
async def test_leader_kills_under_an_enforcing_policy_never_overlap_terms_nor_act_twice(
    cluster: KubeCluster, tmp_path: Path, kills: int
) -> None:
    async with fleet_of(cluster, tmp_path) as (f, watch):
        targets = {live(f.emu.world, 7 + i % 5) for i in range(3 * kills + 10)}
        started = time.monotonic()
        await leader_kills(f, watch, kills)
        print(f"{kills} leader kills in {time.monotonic() - started:.1f} s")
    one_leader_at_a_time(f, watch, targets, kills)


@pytest.mark.parametrize("kills", [5, pytest.param(20, marks=pytest.mark.slow)])
async def test_leader_kills_on_one_postgresql_journal_keep_the_per_hour_cap_across_failovers(
    cluster: KubeCluster, tmp_path: Path, postgres_url: str, kills: int
) -> None:
    cap = 2 * kills  # each leader acts at least once before its kill: the cap binds after them
    async with fleet_of(cluster, tmp_path, journal_url=postgres_url, per_hour=cap) as (f, watch):
        targets = {live(f.emu.world, 7 + i % 5) for i in range(3 * kills + 10)}
        started = time.monotonic()
        await leader_kills(f, watch, kills)
        await eventually(lambda: counted(postgres_url) >= cap, f"the cap of {cap} reached")
        await anyio.sleep(2.5)  # more cycles of the last leader: the cap holds
        took = time.monotonic() - started
        rows = journal_rows(postgres_url)
    print(
        f"{kills} leader kills on PostgreSQL in {took:.1f} s: {sum(aborts(f.emu).values())} "
        f"aborts at the emulator, per_hour {cap}, journal "
        f"{dict(collections.Counter(r for _, r in rows.elements()))}"
    )
    one_leader_at_a_time(f, watch, targets, kills)
    assert sum(aborts(f.emu).values()) <= cap  # at most N across every leader
    assert counted(postgres_url) == cap  # and the cap bound: N counted, no more
    done = collections.Counter(t for t, r in rows.elements() if r == "done")
    assert max(done.values()) == 1


def journal_rows(url: str) -> collections.Counter[tuple[str, str | None]]:
    """(task, result) of every intent in the shared journal, read around the daemons' code."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        return collections.Counter(
            (str(t), r)
            for t, r in db.execute(
                "SELECT i.task_id, o.result FROM intents i "
                "LEFT JOIN outcomes o ON o.intent_id = i.id WHERE i.mode = 'enforce'"
            )
        )


def counted(url: str) -> int:
    """What the per-hour cap counts: enforce intents unresolved, done or ever unknown."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute(
            "SELECT count(*) FROM intents i LEFT JOIN outcomes o ON o.intent_id = i.id "
            "WHERE i.mode = 'enforce' AND (o.intent_id IS NULL OR o.result IN ('done', 'unknown')"
            " OR o.uncertain = 1)"
        ).fetchone()
    return int(row[0])


def one_leader_at_a_time(f: Fleet, watch: LeaseWatch, targets: set[str], kills: int) -> None:
    sequence = callers(f.emu)
    runs = [k for k, _ in itertools.groupby(sequence)]
    # No replica's calls interleave with another's: each identity acted in one unbroken run.
    assert len(runs) == len(set(runs)), runs
    # The runs follow the Lease's holders, in order (terms as the API server recorded them).
    holders = [client_of(h) for h in watch.holders()]
    it = iter(holders)
    assert all(run in it for run in runs), (runs, holders)
    assert len(runs) >= kills + 1
    # No task received two actions (and every action hit a target).
    acted = aborts(f.emu)
    assert set(acted) <= targets
    assert max(acted.values()) == 1, acted.most_common(3)
    assert len(acted) >= kills + 1
