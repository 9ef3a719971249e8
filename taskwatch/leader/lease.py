"""The lease that :class:`~taskwatch.leader.election.KubernetesElector` campaigns for: what
election reads and writes (:class:`LeaseRecord`), where it lives (the :class:`LeaseStore`
protocol), and the one real store, a ``coordination.k8s.io/v1`` Lease through kubernetes_asyncio.

kubernetes_asyncio is an optional extra (``pip install taskwatch[kubernetes]``) and this is the
only module that imports it (``.importlinter`` enforces that), lazily: a standalone process never
pays for it. Building a :class:`KubernetesLeaseStore` without the package installed is a
:class:`~taskwatch.errors.ConfigError` naming ``leader.enabled`` and the install command, raised
at start-up rather than at the first campaign.

Not guaranteed: anything the Kubernetes API server does not (see the election module); the
store maps only 404 (no lease) and 409 (lost compare-and-swap), every other API error propagates.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import anyio

from taskwatch.errors import ConfigError

__all__ = ["INSTALL_HINT", "KubernetesLeaseStore", "LeaseRecord", "LeaseStore"]

INSTALL_HINT = "pip install taskwatch[kubernetes]"
"""What to run when kubernetes_asyncio is missing."""

MISSING = (
    "leader election over a Kubernetes Lease needs the kubernetes_asyncio package, which is not "
    f"installed: {INSTALL_HINT}"
)


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The fields of a Lease's spec that election uses, and its ``resourceVersion``."""

    holder: str
    duration: int
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0
    version: str = ""

    @property
    def seen(self) -> tuple[str, datetime | None, str]:
        """What changes when the holder renews: a change restarts the expiry countdown."""
        return self.holder, self.renew_time, self.version

    @classmethod
    def first(cls, holder: str, duration: int, now: datetime) -> LeaseRecord:
        """The record that creates a Lease held by ``holder`` from ``now``."""
        return cls(holder=holder, duration=duration, acquire_time=now, renew_time=now)

    def released(self, now: datetime) -> LeaseRecord:
        """This record handed back at ``now``: no holder, a one-second duration, so another
        replica takes it at its next attempt instead of waiting out the lease."""
        return replace(self, holder="", duration=1, renew_time=now, acquire_time=now)

    def taken_by(self, holder: str, duration: int, now: datetime) -> LeaseRecord:
        """This record renewed by ``holder`` at ``now`` (its holder: a renewal; another: a
        takeover, which restarts the acquire time and counts a transition)."""
        ours = self.holder == holder
        return replace(
            self,
            holder=holder,
            duration=duration,
            renew_time=now,
            acquire_time=self.acquire_time if ours else now,
            transitions=self.transitions if ours else self.transitions + 1,
        )


class LeaseStore(Protocol):
    """Where the lease lives. ``create`` and ``update`` return ``None`` on a conflict (409);
    ``open`` prepares the client (slow, at most once), before any deadline starts."""

    async def open(self) -> None: ...

    async def get(self) -> LeaseRecord | None: ...

    async def create(self, record: LeaseRecord) -> LeaseRecord | None: ...

    async def update(self, record: LeaseRecord) -> LeaseRecord | None: ...


def _micro_time(value: datetime | None) -> str | None:
    """A MicroTime: RFC 3339 in UTC with exactly six fractional digits."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class KubernetesLeaseStore:
    """A Lease in the Kubernetes API, through kubernetes_asyncio: a kubeconfig file, or the
    in-cluster configuration (the pod's ServiceAccount) when ``kubeconfig`` is None. Connects on
    first use. Needs get, create and update on ``leases`` in ``coordination.k8s.io``, nothing else.
    """

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        kubeconfig: Path | None = None,
        request_timeout: float = 10.0,
        api: Any = None,
    ) -> None:
        if api is None and importlib.util.find_spec("kubernetes_asyncio") is None:
            raise ConfigError(MISSING, key="leader.enabled")
        self.name = name
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self._timeout = request_timeout
        self._api = api
        self._parent: KubernetesLeaseStore | None = None
        self._connecting = anyio.Lock()

    def sibling(self, name: str) -> KubernetesLeaseStore:
        """A store of another Lease over this one's connection (sharded accounts use 2 x shards
        Leases): connected when this one is, closed with it (its own :meth:`close` does
        nothing)."""
        other = KubernetesLeaseStore(
            name=name,
            namespace=self.namespace,
            kubeconfig=self.kubeconfig,
            request_timeout=self._timeout,
            api=self._api,
        )
        other._parent = self
        return other

    async def open(self) -> None:
        await self._connect()

    async def _connect(self) -> Any:
        if self._parent is not None:
            return await self._parent._connect()
        if self._api is not None:
            return self._api
        async with self._connecting:  # siblings ask at once: one connection
            if self._api is None:
                self._api = await self._connection()
        return self._api

    async def _connection(self) -> Any:
        # The client package imports every model of the API (seconds of CPU): not on the loop.
        try:
            await anyio.to_thread.run_sync(importlib.import_module, "kubernetes_asyncio.client")
        except ModuleNotFoundError as exc:  # uninstalled since start-up
            raise ConfigError(MISSING, key="leader.enabled") from exc
        from kubernetes_asyncio import client, config

        configuration = client.Configuration()
        if self.kubeconfig is None:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            await config.load_kube_config(
                config_file=str(self.kubeconfig),
                client_configuration=configuration,
                persist_config=False,
            )
        return client.CoordinationV1Api(client.ApiClient(configuration=configuration))

    async def close(self) -> None:
        if self._parent is not None:
            return  # the connection is the parent's
        if self._api is not None:
            api, self._api = self._api, None
            await api.api_client.close()

    @staticmethod
    def _record(lease: Any) -> LeaseRecord:
        spec = lease.spec
        return LeaseRecord(
            holder=spec.holder_identity or "",
            duration=int(spec.lease_duration_seconds or 0),
            acquire_time=spec.acquire_time,
            renew_time=spec.renew_time,
            transitions=int(spec.lease_transitions or 0),
            version=str(lease.metadata.resource_version),
        )

    def _body(self, record: LeaseRecord) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if record.version:
            metadata["resourceVersion"] = record.version  # compare-and-swap
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": record.holder,
                "leaseDurationSeconds": record.duration,
                "acquireTime": _micro_time(record.acquire_time),
                "renewTime": _micro_time(record.renew_time),
                "leaseTransitions": record.transitions,
            },
        }

    async def get(self) -> LeaseRecord | None:
        from kubernetes_asyncio.client.exceptions import ApiException

        api = await self._connect()
        try:
            lease = await api.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=self._timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return self._record(lease)

    async def create(self, record: LeaseRecord) -> LeaseRecord | None:
        from kubernetes_asyncio.client.exceptions import ApiException

        api = await self._connect()
        try:
            lease = await api.create_namespaced_lease(
                self.namespace,
                self._body(replace(record, version="")),
                _request_timeout=self._timeout,
            )
        except ApiException as exc:
            if exc.status == 409:
                return None
            raise
        return self._record(lease)

    async def update(self, record: LeaseRecord) -> LeaseRecord | None:
        from kubernetes_asyncio.client.exceptions import ApiException

        api = await self._connect()
        try:
            lease = await api.replace_namespaced_lease(
                self.name, self.namespace, self._body(record), _request_timeout=self._timeout
            )
        except ApiException as exc:
            if exc.status == 409:
                return None
            raise
        return self._record(lease)
