"""Who may scan and act: an :class:`Elector` per process, standalone or over a Kubernetes Lease.

A Lease (``coordination.k8s.io/v1``) gives "usually one leader", never a fence (client-go says so
itself): a paused or partitioned leader may still believe it leads. So leadership here is one of
two guards, the other being the executor's re-describe right before each destructive call, and
the elector is built to stop acting *before* anyone else can start:

* **Campaign and renewal** follow client-go's ``leaderelection``: read the Lease, and write it with
  compare-and-swap on ``metadata.resourceVersion`` (a lost race is a 409 and simply "not leader").
  A held Lease is taken over only once ``leaseDurationSeconds`` have passed, on *this* process's
  monotonic clock, since the holder's last change to it was *observed* (no wall clocks compared).
  The leader renews every ``retry_period``; followers retry every ``retry_period`` stretched by up
  to 20 % (jitter), and also wake just after the Lease they saw would expire.
* **Stop acting the moment renewal fails**: :meth:`is_leader` is false once the last successful
  renewal *started* more than ``renew_deadline`` ago (monotonic), whatever the renew loop is doing;
  the loop itself gives leadership up at that instant (its calls run under that deadline). A
  follower can take over at the earliest ``lease_duration`` after it saw that renewal, so
  ``lease_duration - renew_deadline`` (5 s by default) is the margin for clock rates and for an
  action already past its last check.
* **Release** on graceful shutdown: the Lease is written with an empty ``holderIdentity`` and
  ``leaseDurationSeconds: 1`` (CAS again), so a follower takes over at its next retry instead of
  waiting out the lease: a rolling update hands over in about one ``retry_period``.

Timings (client-go defaults) must satisfy ``lease_duration > renew_deadline > 1.2 x retry_period``.

Not guaranteed: mutual exclusion when a process is paused longer than the margin between two
instructions (a GC or SIGSTOP between the last leadership check and the HTTP request), or when
monotonic clocks run at very different rates. Nothing here can fence the Tencent Cloud API; the
executor's re-describe makes a second action on one task unlikely, not impossible.

The Kubernetes client (kubernetes_asyncio) is imported only when a :class:`KubernetesLeaseStore`
is built, so a standalone process never pays for it.
"""

from __future__ import annotations

import importlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import anyio
import structlog
from anyio.abc import TaskStatus

from taskwatch.clock import Clock, SystemClock

log = structlog.get_logger(__name__)

__all__ = [
    "Elector",
    "KubernetesElector",
    "KubernetesLeaseStore",
    "LeaseRecord",
    "LeaseStore",
    "StandaloneElector",
    "Timings",
]

JITTER = 0.2
"""Followers wait ``retry_period x (1 + JITTER x random())`` between attempts."""


@dataclass(frozen=True, slots=True)
class Timings:
    """client-go's LeaseDuration, RenewDeadline and RetryPeriod, in seconds."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline:
            raise ValueError("lease_duration must be longer than renew_deadline")
        if not self.renew_deadline > 1.2 * self.retry_period:
            raise ValueError("renew_deadline must be longer than 1.2 x retry_period")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be positive")

    @property
    def lease_seconds(self) -> int:
        """``leaseDurationSeconds`` is an integer: rounded up, never shortened."""
        return max(1, math.ceil(self.lease_duration))


class Elector(Protocol):
    """Leadership as the supervisor and the executor see it."""

    identity: str

    def is_leader(self) -> bool:
        """Cheap; false from the instant renewal is overdue."""
        ...

    @property
    def holder(self) -> str | None:
        """Who holds the lease, as last seen (``""``: released; ``None``: not seen yet)."""
        ...

    async def wait_until(self, leading: bool) -> None:
        """Return once this replica leads (``True``) or does not (``False``)."""
        ...

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Campaign and renew until cancelled."""
        ...

    async def release(self) -> None:
        """Stop leading and hand the lease over (graceful shutdown)."""
        ...


OnChange = Callable[[bool], None]


class _Leadership:
    """The leading flag, its transitions and the waiters on them."""

    def __init__(self, identity: str, on_change: OnChange | None) -> None:
        self.identity = identity
        self.on_change = on_change
        self._leading = False
        self._changed = anyio.Event()
        self.transitions = 0

    def _set(self, leading: bool, **why: object) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        self.transitions += 1
        # Letting go on a graceful stop is routine; any other change is worth a warning.
        emit = log.info if why.get("reason") in ("released", "stopped") else log.warning
        emit("leader.acquired" if leading else "leader.lost", identity=self.identity, **why)
        if self.on_change is not None:
            self.on_change(leading)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_until(self, leading: bool) -> None:
        while self._leading != leading:
            await self._changed.wait()


class StandaloneElector(_Leadership):
    """One replica (systemd): leads from :meth:`run` on, until released."""

    def __init__(self, identity: str, *, on_change: OnChange | None = None) -> None:
        super().__init__(identity, on_change)
        self._leading = True

    def is_leader(self) -> bool:
        return self._leading

    @property
    def holder(self) -> str | None:
        return self.identity if self._leading else ""

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def release(self) -> None:
        self._set(False, reason="released")


# --- the lease --------------------------------------------------------------------------------


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


class LeaseStore(Protocol):
    """Where the lease lives. ``create`` and ``update`` return ``None`` on a conflict (409);
    ``open`` prepares the client (slow, at most once), before any deadline starts."""

    async def open(self) -> None: ...

    async def get(self) -> LeaseRecord | None: ...

    async def create(self, record: LeaseRecord) -> LeaseRecord | None: ...

    async def update(self, record: LeaseRecord) -> LeaseRecord | None: ...


class KubernetesElector(_Leadership):
    """client-go's leader election over a :class:`LeaseStore` (see the module docstring)."""

    def __init__(
        self,
        store: LeaseStore,
        *,
        identity: str,
        timings: Timings = Timings(),
        clock: Clock | None = None,
        rng: random.Random | None = None,
        on_change: OnChange | None = None,
    ) -> None:
        super().__init__(identity, on_change)
        self.store = store
        self.timings = timings
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._renewed = -math.inf
        """Monotonic start of the last successful acquire or renew."""
        self._observed: LeaseRecord | None = None
        self._observed_at = -math.inf
        self._held_by_other = False

    def is_leader(self) -> bool:
        return (
            self._leading and self.clock.monotonic() < self._renewed + self.timings.renew_deadline
        )

    @property
    def holder(self) -> str | None:
        return None if self._observed is None else self._observed.holder

    @property
    def observed(self) -> LeaseRecord | None:
        """The lease as last read or written by this replica."""
        return self._observed

    def _observe(self, record: LeaseRecord, at: float) -> None:
        if self._observed is None or record.seen != self._observed.seen:
            self._observed_at = at
        self._observed = record

    def _expires_at(self) -> float:
        if self._observed is None:
            return -math.inf
        return self._observed_at + self._observed.duration

    async def try_acquire_or_renew(self) -> bool:
        """One attempt: True if this replica holds the lease now (client-go's
        ``tryAcquireOrRenew``)."""
        self._held_by_other = False
        started = self.clock.monotonic()
        wall = self.clock.now().astimezone(UTC)
        current = await self.store.get()
        got_at = self.clock.monotonic()
        if current is None:
            created = await self.store.create(
                LeaseRecord(
                    holder=self.identity,
                    duration=self.timings.lease_seconds,
                    acquire_time=wall,
                    renew_time=wall,
                )
            )
            if created is None:
                return False
            self._observe(created, got_at)
            self._renewed = started
            return True
        self._observe(current, got_at)
        ours = current.holder == self.identity
        if current.holder and not ours and got_at < self._expires_at():
            self._held_by_other = True
            return False
        wanted = replace(
            current,
            holder=self.identity,
            duration=self.timings.lease_seconds,
            renew_time=wall,
            acquire_time=current.acquire_time if ours else wall,
            transitions=current.transitions if ours else current.transitions + 1,
        )
        written = await self.store.update(wanted)
        if written is None:
            return False
        self._observe(written, self.clock.monotonic())
        self._renewed = started
        return True

    async def _attempt(self, bound: float) -> bool:
        """An attempt that gives up (as False) after ``bound`` seconds or on any error."""
        with anyio.move_on_after(max(0.0, bound)) as scope:
            try:
                return await self.try_acquire_or_renew()
            except Exception as exc:  # the API server, the network, a bad answer: retried
                log.warning(
                    "leader.attempt_failed",
                    identity=self.identity,
                    error=type(exc).__name__,
                    reason=str(exc)[:200],
                )
        if scope.cancelled_caught:
            log.warning("leader.attempt_timed_out", identity=self.identity, after=round(bound, 3))
        return False

    async def _open(self) -> None:
        while True:
            try:
                await self.store.open()
                return
            except Exception as exc:  # a bad kubeconfig, no in-cluster environment: retried
                log.error(
                    "leader.store_unavailable", error=type(exc).__name__, reason=str(exc)[:200]
                )
            await anyio.sleep(self.timings.retry_period)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await self._open()
            while True:
                await self._campaign()
                await self._hold()
        finally:
            self._set(False, reason="stopped")

    async def _campaign(self) -> None:
        t = self.timings
        while True:
            if await self._attempt(t.renew_deadline):
                self._set(
                    True,
                    transitions=self._observed.transitions if self._observed else 0,
                )
                return
            wait = t.retry_period * (1 + JITTER * self.rng.random())
            if self._held_by_other:  # wake right after the lease we saw would expire
                wake = self._expires_at() + 0.05 * t.retry_period * self.rng.random()
                wait = min(wait, max(0.0, wake - self.clock.monotonic()))
            await anyio.sleep(wait)

    async def _hold(self) -> None:
        t = self.timings
        while True:
            deadline = self._renewed + t.renew_deadline
            now = self.clock.monotonic()
            await anyio.sleep(max(0.0, min(t.retry_period, deadline - now)))
            if await self._attempt(deadline - self.clock.monotonic()):
                continue
            if self._held_by_other:
                holder = self._observed.holder if self._observed else ""
                self._set(False, reason="lease held by another replica", holder=holder)
                return
            if self.clock.monotonic() >= deadline:
                self._set(False, reason="renewal failed for renew_deadline")
                return

    async def release(self) -> None:
        """Give the lease up if this replica holds it: empty holder, 1-second duration, CAS."""
        self._set(False, reason="released")
        record = self._observed
        if record is None or record.holder != self.identity:
            return
        wall = self.clock.now().astimezone(UTC)
        freed = replace(record, holder="", duration=1, renew_time=wall, acquire_time=wall)
        with anyio.move_on_after(self.timings.retry_period, shield=True):
            try:
                written = await self.store.update(freed)
            except Exception as exc:
                log.warning("leader.release_failed", error=type(exc).__name__)
                return
            if written is not None:
                self._observe(written, self.clock.monotonic())
                log.info("leader.released", identity=self.identity)


# --- Kubernetes -------------------------------------------------------------------------------


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
        self.name = name
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self._timeout = request_timeout
        self._api = api

    async def open(self) -> None:
        await self._connect()

    async def _connect(self) -> Any:
        if self._api is not None:
            return self._api
        # The client package imports every model of the API (seconds of CPU): not on the loop.
        await anyio.to_thread.run_sync(importlib.import_module, "kubernetes_asyncio.client")
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
        self._api = client.CoordinationV1Api(client.ApiClient(configuration=configuration))
        return self._api

    async def close(self) -> None:
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
