"""An account's parts, built from a configuration: its client and limiter, its sources' adapters.

:func:`build_client` makes the one :class:`~taskwatch.tencent.client.TencentClient` (and the
:class:`~taskwatch.limiter.Limiter` that paces it, at :meth:`Settings.budget_for
<taskwatch.settings.Settings.budget_for>`) an account's sources share; :func:`adapter_for` makes
the adapter of one ``(account, product, region)`` of :meth:`Settings.loops
<taskwatch.settings.Settings.loops>`, from the product's registered class
(:data:`taskwatch.products.ADAPTERS`). :func:`account_key` says what a client is made of, so a
reload can tell whether an account's client (and its slowed-down buckets) can be kept.

With leader election on, the replica's identity is appended to the account's ``client_suffix``
(``X-TC-RequestClient``, in the header's alphabet, at most 128 characters).

A role source (temporary credentials) is handed to the metrics here
(:meth:`Metrics.watch_credentials <taskwatch.metrics.registry.Metrics.watch_credentials>`): its
renewals are counted and its expiry exported under the account's name.

Not guaranteed: credentials are resolved when the client first signs, not here; a bad credential
source fails the first call of the cycle, not the build.
"""

from __future__ import annotations

import json
from typing import cast

from taskwatch.clock import Clock
from taskwatch.limiter import Limiter
from taskwatch.products import ADAPTERS
from taskwatch.products.base import Adapter
from taskwatch.services import Services
from taskwatch.settings import Account, ProductName, Settings, client_suffix_of
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import from_config
from taskwatch.tencent.credentials_refresh import RefreshingCredentials
from taskwatch.tencent.credentials_role import RoleContext
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.retry import RetryPolicy


def account_key(settings: Settings, account: Account, *extra: object) -> str:
    """What ``account``'s client is made of (its settings but the regions and products it
    watches, and the API settings), plus ``extra``: equal keys, equal clients."""
    parts = (
        account.model_dump(mode="json", exclude={"regions", "products"}),
        settings.api.model_dump(mode="json"),
        *extra,
    )
    return json.dumps(parts, sort_keys=True, default=str)


def build_client(
    settings: Settings, account: Account, *, services: Services, replica: str | None
) -> tuple[Limiter, TencentClient]:
    """The limiter and client of ``account``; ``replica`` (election on) joins its suffix."""
    api = settings.api
    limiter = Limiter(
        budget=settings.budget_for(account),
        overrides=api.limit_overrides(),
        clock=services.clock,
    )
    endpoints = EndpointPolicy(
        root_domain=account.root_domain, regional=account.regional, override=account.endpoint
    )
    roles = RoleContext(clock=services.clock, transport=services.transport, endpoints=endpoints)
    credentials = from_config(account.credentials.to_spec(), context=roles)
    if isinstance(credentials, RefreshingCredentials):  # role credentials: renewals observed
        services.metrics.watch_credentials(account.name, credentials)
    client = TencentClient(
        credentials=credentials,
        transport=services.transport,
        account=account.name,
        endpoints=endpoints,
        gate=limiter,
        observer=services.metrics,
        clock=services.clock,
        retry=RetryPolicy(attempts=api.retry_attempts, deadline=api.retry_deadline),
        language=api.language,
        client_suffix=_suffix(account.client_suffix, replica),
    )
    return limiter, client


def adapter_for(
    product: ProductName,
    settings: Settings,
    account: Account,
    region: str | None,
    client: TencentClient,
    clock: Clock,
) -> Adapter:
    """The adapter of ``product`` in ``account`` (and ``region``; None for a global product)."""
    ps = settings.products.get(product)
    adapter = ADAPTERS[product](
        client=client,
        account=account.name,
        region=region,
        clock=clock,
        page_size=ps.page_size,
        detail_concurrency=ps.detail_concurrency,
    )
    return cast(Adapter, adapter)  # every registered class implements the Adapter protocol


def _suffix(configured: str | None, replica: str | None) -> str | None:
    """The account's suffix and the replica's identity (once), within the 128-character cap."""
    if replica is None:
        return configured
    mine = client_suffix_of(replica)
    if configured is None or configured == mine:
        return mine
    return f"{configured};{mine}"[:128]
