"""A notification that reaches a follower is relayed to the leader through the shared PostgreSQL
journal and described there at once: two replicas against a real kube-apiserver, one journal, the
emulator sending MPS notifications to the follower's events route only.

The polling interval is an hour: the end can only be seen through the hint. The emulator's log
says who described the task (each replica's ``X-TC-RequestClient``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_notifications import KEY, workflow
from tests.e2e.waiting import eventually, eventually_async
from tests.ha.replicas import Fleet, Replica, client_of
from tests.ha.test_replicas import cluster_fixture, fleet_of  # noqa: F401
from tests.kube import KubeCluster, kube_fixture  # noqa: F401
from tests.postgres import postgres_fixture, postgres_url_fixture  # noqa: F401


def with_events(identity: str, doc: dict[str, Any]) -> None:
    doc["accounts"][0]["events"] = {"mps_notify_keys": [KEY]}
    # the emulator's clock is virtual and the replicas' real: an hour's tolerance for the gap
    doc["events"] = {"enabled": True, "max_age": "1h"}
    doc["products"]["mps"] = {"interval": "1h", "jitter": 0, "finish_sweep": "1h"}
    doc["policies"] = []


@contextlib.asynccontextmanager
async def pair(cluster: KubeCluster, workdir: Path, url: str) -> AsyncIterator[Fleet]:
    """replica-a leading, then replica-b following, on one PostgreSQL journal."""
    async with fleet_of(cluster, workdir, journal_url=url, tweak=with_events) as (fleet, watch):
        leader = await fleet.start("replica-a")
        await fleet.wait_serving([leader])
        await watch.until_held()
        assert watch.holder == "replica-a"
        follower = await fleet.start("replica-b")
        await fleet.wait_serving([follower])
        yield fleet


async def sample(replica: Replica, name: str, labels: dict[str, str]) -> float:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{replica.port}/metrics") as r:
        text = await r.text()
    for family in text_string_to_metric_families(text):
        for sm in family.samples:
            if sm.name == name and all(sm.labels.get(k) == v for k, v in labels.items()):
                return float(sm.value)
    return 0.0


@pytest.mark.parametrize("to", ["follower", "leader"])
async def test_a_notification_to_either_replica_is_described_by_the_leader_at_once(
    cluster: KubeCluster, tmp_path: Path, postgres_url: str, to: str
) -> None:
    """Sent to the follower, it is relayed; sent to the leader (the control), it is not. Either
    way the leader describes the task and sees its end, and the follower calls nothing."""
    async with pair(cluster, tmp_path, postgres_url) as f:
        leader, follower = f.replicas
        target = follower if to == "follower" else leader
        world = f.emu.world
        task_id = workflow(world, f"http://127.0.0.1:{target.port}", runs_for=5)
        finished = {"product": "mps", "type": "WorkflowTask", "result": "success"}
        relayed = "taskwatch_hints_relayed_total"
        await eventually(
            lambda: any(e.action == "DescribeTasks" for e in f.emu.emulator.log),
            "the leader's first scan",
        )
        scans = sum(1 for e in f.emu.emulator.log if e.action == "DescribeTasks")
        f.emu.clock.advance(6)  # the task ends; the emulator notifies the target
        ended = time.monotonic()

        async def ended_at_the_leader() -> bool:
            return await sample(leader, "taskwatch_tasks_finished_total", finished) == 1

        await eventually_async(ended_at_the_leader, "the leader to see the end", within=20)
        print(f"\nto the {to}: the leader saw the end {time.monotonic() - ended:.3f} s after it")
        out = await sample(follower, relayed, {"direction": "out", "result": "published"})
        into = await sample(leader, relayed, {"direction": "in", "result": "accepted"})
        accepted = await sample(
            target, "taskwatch_events_total", {"source": "mps", "result": "accepted"}
        )
        followers_end = await sample(follower, "taskwatch_tasks_finished_total", finished)
        log = list(f.emu.emulator.log)
    described = [e.client for e in log if e.action == "DescribeTaskDetail"]
    assert described.count(client_of("replica-a")) >= 1
    assert client_of("replica-b") not in {e.client for e in log}  # the follower calls nothing
    assert sum(1 for e in log if e.action == "DescribeTasks") == scans  # no poll saw the end
    assert [e.params.get("TaskId") for e in log if e.action == "DescribeTaskDetail"][-1] == task_id
    relays = 1 if to == "follower" else 0
    assert (accepted, out, into, followers_end) == (1, relays, relays, 0)
