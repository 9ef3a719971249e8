"""Role credentials: how their renewals fare and when what is held expires.

Two series per account whose credentials are temporary (``assume-role``, ``cvm-role``, ``oidc``),
labelled by the account's name and the source's kind, never a role ARN, key or token:

* ``taskwatch_credentials_refreshes_total{account,source,result}``: renewal attempts, ``ok`` or
  ``failed``, counted as they end (the source's
  :attr:`~taskwatch.tencent.credentials_refresh.RefreshingCredentials.observer`); both results
  are exported at 0 from the moment the account is built, so an alert sees the first failure;
* ``taskwatch_credentials_expiry_timestamp_seconds{account,source}``: when the credentials held
  now expire, read from the source at scrape time (as the limiter gauges are); absent before the
  first successful fetch.

Static, environment, profile and directory credentials have neither series.

Why the collector holds its sources weakly: the runtime owns them (through each account's client)
and a reload may rebuild an account's client or drop the account. The newest source of an
(account, kind) that is alive and holds credentials is exported; one whose client is gone leaves
``/metrics`` with it, so no stale expiry outlives its account.

Not guaranteed: a dropped source's series goes when Python frees it (at once, or at the next
cycle collection); the counters of a dropped account stay, like every other counter. Only the
source an account's client uses is watched: the source of an ``assume-role`` (itself perhaps a
role) shows through its failures.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric

REFRESH_RESULTS = ("ok", "failed")


class RenewingSource(Protocol):
    """What the credential metrics read: a
    :class:`~taskwatch.tencent.credentials_refresh.RefreshingCredentials` is one."""

    kind: str
    observer: Callable[[str], None] | None

    @property
    def expires_at(self) -> float | None: ...


class ExpiryCollector:
    """``taskwatch_credentials_expiry_timestamp_seconds`` from the watched sources."""

    def __init__(self) -> None:
        self._watched: dict[tuple[str, str], list[weakref.ref[RenewingSource]]] = {}

    def watch(self, account: str, source: RenewingSource) -> None:
        """Export ``source``'s expiry for ``account`` (the newest watched wins while it holds
        credentials)."""
        key = (account, source.kind)
        kept = [r for r in self._watched.get(key, []) if r() not in (None, source)]
        # Rebuilt whole, dead sources dropped here: the scrape reads it from a worker thread
        # (web.exposition) and must never see it change under it, nor change it itself.
        watched = {k: refs for k, refs in self._watched.items() if any(r() for r in refs)}
        self._watched = {**watched, key: [*kept, weakref.ref(source)]}

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "taskwatch_credentials_expiry_timestamp_seconds",
            "UTC time the temporary credentials held now expire.",
            labels=["account", "source"],
        )

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for key, refs in list(self._watched.items()):
            alive = [s for s in (r() for r in refs) if s is not None]
            held = [s.expires_at for s in reversed(alive) if s.expires_at is not None]
            if held:
                family.add_metric(list(key), held[0])
        yield family


class CredentialMetrics:
    """The credential metrics of :class:`~taskwatch.metrics.registry.Metrics` (a mixin: its
    ``__init__`` calls :meth:`_register_credentials` once, with its registry)."""

    def _register_credentials(self, r: CollectorRegistry) -> None:
        self.credentials_refreshes = Counter(
            "taskwatch_credentials_refreshes",
            "Renewals of temporary credentials by result: ok, failed.",
            ["account", "source", "result"],
            registry=r,
        )
        self._expiry = ExpiryCollector()
        r.register(self._expiry)

    def watch_credentials(self, account: str, source: RenewingSource) -> None:
        """Count ``source``'s renewals and export its expiry under ``account``."""
        kind = source.kind
        for result in REFRESH_RESULTS:
            self.credentials_refreshes.labels(account, kind, result)

        def observe(result: str) -> None:
            self.credentials_refreshes.labels(account, kind, result).inc()

        source.observer = observe
        self._expiry.watch(account, source)
