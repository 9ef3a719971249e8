"""A real Prometheus scrapes a real taskwatch HTTP server: what it stores is what was published.

One Prometheus run per test (a start costs a few seconds on two cores); the test polls Prometheus'
query API until the scrape shows up, bounded by a timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from taskwatch.metrics.registry import Metrics, TaskGroup
from taskwatch.models import SourceKey
from taskwatch.web.server import build_app, serve
from tests.components import Sample, StartPrometheus, prometheus_fixture  # noqa: F401

MPS = SourceKey("acct-a", "mps", "global")
DLC = SourceKey("acct-b", "dlc", "ap-guangzhou")


class Healthy:
    def liveness(self) -> tuple[bool, Mapping[str, Any]]:
        return True, {}

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        return True, {}


def by_group(samples: list[Sample]) -> dict[tuple[str, str, str, str, str], float]:
    return {
        (
            s.labels["product"],
            s.labels["account"],
            s.labels["region"],
            s.labels["type"],
            s.labels["status"],
        ): s.value
        for s in samples
    }


async def test_prometheus_scrapes_the_published_tasks_and_drops_vanished_ones(
    prometheus: StartPrometheus,
) -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.publish_tasks(
        MPS,
        {
            ("WorkflowTask", "WAITING"): TaskGroup(3, None),
            ("WorkflowTask", "PROCESSING"): TaskGroup(2, None),
        },
    )
    metrics.publish_tasks(DLC, {("SQL", "running"): TaskGroup(7, None)})
    app = build_app(metrics=metrics, health=Healthy())
    async with serve(app, "127.0.0.1:0") as server:
        prom = await prometheus([f"127.0.0.1:{server.port}"])

        up = await prom.wait_for('up{job="taskwatch"}', lambda r: [s.value for s in r] == [1.0])
        assert up[0].labels["instance"] == f"127.0.0.1:{server.port}"

        published = {
            ("mps", "acct-a", "global", "WorkflowTask", "WAITING"): 3.0,
            ("mps", "acct-a", "global", "WorkflowTask", "PROCESSING"): 2.0,
            ("dlc", "acct-b", "ap-guangzhou", "SQL", "running"): 7.0,
        }
        seen = await prom.wait_for("taskwatch_tasks", lambda r: by_group(r) == published)
        assert {s.labels["job"] for s in seen} == {"taskwatch"}

        # A scan that no longer sees WAITING tasks: Prometheus marks that series stale at once.
        metrics.publish_tasks(MPS, {("WorkflowTask", "PROCESSING"): TaskGroup(1, None)})
        after = {
            ("mps", "acct-a", "global", "WorkflowTask", "PROCESSING"): 1.0,
            ("dlc", "acct-b", "ap-guangzhou", "SQL", "running"): 7.0,
        }
        await prom.wait_for("taskwatch_tasks", lambda r: by_group(r) == after)
