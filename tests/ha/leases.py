"""Lease helpers for the HA tests: stores on the test API server, and a store that can fail."""

from __future__ import annotations

from dataclasses import dataclass, field

from taskwatch.leader.lease import KubernetesLeaseStore, LeaseRecord
from tests.kube import KubeCluster


def admin_store(
    cluster: KubeCluster, name: str, namespace: str = "default"
) -> KubernetesLeaseStore:
    """A lease store speaking to ``cluster`` as the admin."""
    return KubernetesLeaseStore(name=name, namespace=namespace, kubeconfig=cluster.admin_kubeconfig)


@dataclass
class Breakable:
    """Wraps a store; while ``broken`` every call fails as an unreachable API server would."""

    inner: KubernetesLeaseStore
    broken: bool = False
    calls: list[str] = field(default_factory=list)

    def _check(self, what: str) -> None:
        self.calls.append(what)
        if self.broken:
            raise ConnectionError("API server unreachable (test)")

    async def open(self) -> None:
        await self.inner.open()

    async def get(self) -> LeaseRecord | None:
        self._check("get")
        return await self.inner.get()

    async def create(self, record: LeaseRecord) -> LeaseRecord | None:
        self._check("create")
        return await self.inner.create(record)

    async def update(self, record: LeaseRecord) -> LeaseRecord | None:
        self._check("update")
        return await self.inner.update(record)
