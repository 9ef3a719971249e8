"""The pydantic models of the configuration: one frozen model per section of the file.

They say which keys exist, their defaults and how keys relate to each other (``_coherent``);
single values are checked by the types of :mod:`taskwatch.settings.values`. Every model forbids
unknown keys. Adding a top-level section is adding a field to :class:`Settings`; the loader is
generic.

Which actions exist is *injected*: pass ``actions={"mps": {...}, ...}`` to validate ``api.limits``
keys fully; without it only their ``product.Action`` shape is checked.

The sections live in four modules: :mod:`~taskwatch.settings.accounts` (accounts and their
credential sources), :mod:`~taskwatch.settings.policies` (policies, actions, notifications),
:mod:`~taskwatch.settings.state` (the journal: SQLite or PostgreSQL) and this one (products, api,
http, logging, leader, and :class:`Settings` on top, which checks what spans sections).
:class:`~taskwatch.settings.base.Section` is the base of every model.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    model_validator,
)

from taskwatch import catalog
from taskwatch.durations import format_duration
from taskwatch.settings.accounts import Account
from taskwatch.settings.base import Section
from taskwatch.settings.events import EventSettings
from taskwatch.settings.metrics import MetricsSettings
from taskwatch.settings.policies import ActionSettings, NotificationSettings, PolicySettings
from taskwatch.settings.prices import Prices
from taskwatch.settings.state import State as State
from taskwatch.settings.values import (
    _AS_TEXT,
    _FLOAT,
    _INT,
    _SECOND,
    _SECOND_SCHEMA,
    PRODUCT_NAMES,
    Duration,
    Interval,
    ProductName,
    _identity,
    _Invalid,
    _lease_name,
    _limit_key,
    _listen,
    _namespace,
    _path,
    _split_listen,
    _whole_seconds,
)


class ProductSettings(Section):
    """How one product is polled."""

    enabled: bool = True
    """Watch this product at all."""
    interval: Interval = 60.0
    """Time between scans of WAITING and PROCESSING tasks (at least 1s)."""
    jitter: Annotated[float, Field(ge=0, le=0.5), _FLOAT] = 0.1
    """Each wait is stretched or shrunk by up to this fraction, so loops do not align."""
    finish_sweep: Interval = 600.0
    """Time between sweeps of the finished list (jittered too)."""
    page_size: Annotated[int, Field(ge=1, le=100), _INT] = 100
    """Tasks per list call."""
    detail_concurrency: Annotated[int, Field(ge=1, le=64), _INT] = 8
    """Detail calls in flight at once for this product and account."""


class MpsSettings(ProductSettings):
    """MPS: DescribeTasks, DescribeTaskDetail, ManageTask."""

    interval: Interval = 30.0
    """Time between scans of WAITING and PROCESSING tasks (at least 1s)."""


class DlcSettings(ProductSettings):
    """DLC: DescribeTasks, CancelTask."""


class LiveSettings(ProductSettings):
    """Live: DescribeLivePullStreamTasks (at most 20 a page), DeleteLivePullStreamTask."""

    page_size: Annotated[int, Field(ge=1, le=20), _INT] = 20
    """Tasks per list call (the API allows at most 20)."""


class Products(Section):
    """The products taskwatch knows; each enabled unless ``enabled: false``."""

    mps: MpsSettings = MpsSettings()
    dlc: DlcSettings = DlcSettings()
    live: LiveSettings = LiveSettings()

    def get(self, name: ProductName) -> ProductSettings:
        """The settings of product ``name``."""
        found: ProductSettings = getattr(self, name)
        return found

    def enabled(self) -> tuple[ProductName, ...]:
        """The enabled products, in catalog order."""
        return tuple(name for name in PRODUCT_NAMES if self.get(name).enabled)


def _body_limit(value: int) -> int:
    if not 1024 <= value <= 1 << 30:
        raise ValueError("must be a number of bytes from 1024 (1 KiB) to 1073741824 (1 GiB)")
    return value


class Api(Section):
    """How taskwatch calls the Tencent Cloud API."""

    budget: Annotated[float, Field(gt=0, le=1), _FLOAT] = 0.5
    """Share of each documented per-account rate limit taskwatch may use (the rest is left to
    other clients of the account)."""
    limits: dict[
        Annotated[str, AfterValidator(_limit_key)], Annotated[float, Field(gt=0), _FLOAT]
    ] = Field(default_factory=dict)
    """Calls per second per account, replacing the documented limit of ``product.Action``."""
    timeout: Duration = 30.0
    """Bound on one HTTP request, connection included."""
    connect_timeout: Duration = 5.0
    """Bound on getting a connection (pool wait plus TCP/TLS handshake)."""
    retry_attempts: Annotated[int, Field(ge=1, le=10), _INT] = 4
    """Attempts per read call, the first included (actions are never blindly retried)."""
    retry_deadline: Duration = 20.0
    """No retry starts later than this after the first attempt."""
    language: Literal["en-US", "zh-CN"] = "en-US"
    """Language of API error messages (``X-TC-Language``)."""
    max_body_bytes: Annotated[
        int,
        Field(json_schema_extra={"minimum": 1024, "maximum": 1 << 30}),
        _INT,
        AfterValidator(_body_limit),
    ] = 16 << 20
    """Largest API answer read, in bytes (16 MiB, far above any real page); a larger one is
    refused unread as a protocol error (``ResponseTooLarge``) and not retried. At start only."""

    @model_validator(mode="after")
    def _coherent(self) -> Api:
        if self.connect_timeout > self.timeout:
            raise _Invalid("must not be longer than api.timeout", "connect_timeout")
        return self

    def limit_overrides(self) -> dict[tuple[str, str], float]:
        """``limits`` keyed ``(product, action)``, as ``Limiter(overrides=...)`` takes them."""
        pairs = (key.partition(".") for key in self.limits)
        return {
            (product, action): self.limits[f"{product}.{action}"] for product, _, action in pairs
        }


class Http(Section):
    """The metrics and status server."""

    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:10911"
    """``host:port``; ``[::1]:10911`` for IPv6, ``:10911`` for every interface, port 0 for any."""
    web_config: Annotated[Path, BeforeValidator(_path)] | None = None
    """A web configuration file in the Prometheus exporter-toolkit format (TLS certificate and
    key, basic-auth users with bcrypt hashes). Absent: plain HTTP without authentication."""
    lifecycle: bool = False
    """Serve ``POST /-/pause``, ``/-/resume`` and ``/-/reload`` (off: they answer 403 and change
    nothing; SIGHUP and ``actions.paused`` still work). Like Prometheus'
    ``--web.enable-lifecycle``; with it on, protect them with ``web_config``'s users."""

    @property
    def host(self) -> str | None:
        """The address to bind; ``None``: every interface."""
        return _split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        """The port to bind (0: the system picks one)."""
        return _split_listen(self.listen)[1]


class Logging(Section):
    """Log output."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    """``auto``: console on a terminal, JSON lines otherwise."""


class Leader(Section):
    """Leader election over a Kubernetes Lease (``coordination.k8s.io/v1``), so that of several
    replicas exactly one scans and acts. Disabled: this process always leads (one replica)."""

    enabled: bool = False
    """Elect a leader; the others stand by (ready, idle, no API calls)."""
    lease_name: Annotated[str, AfterValidator(_lease_name)] = "taskwatch-leader"
    """The Lease object (the Role in deploy/kubernetes names it)."""
    namespace: Annotated[str | None, AfterValidator(_namespace)] = None
    """The Lease's namespace; default: ``$POD_NAMESPACE``, else ``default``."""
    identity: Annotated[str | None, AfterValidator(_identity)] = None
    """This replica's name in the Lease, ``X-TC-RequestClient`` and logs; default:
    ``$POD_NAME``, else ``<hostname>_<pid>``."""
    lease_duration: Annotated[
        float, _SECOND, AfterValidator(_whole_seconds), _AS_TEXT, _SECOND_SCHEMA
    ] = 15.0
    """How long a follower waits, after it last saw the lease renewed, before taking it over."""
    renew_deadline: Duration = 10.0
    """The leader stops acting when it has not renewed for this long (shorter than
    lease_duration: the difference is the safety margin)."""
    retry_period: Duration = 2.0
    """Time between renewals, and between a follower's attempts (jittered up to +20 %)."""
    kubeconfig: Annotated[Path, BeforeValidator(_path)] | None = None
    """A kubeconfig file; default: the in-cluster configuration (the pod's ServiceAccount)."""
    shards: Annotated[int, Field(ge=1, le=256), _INT] = 1
    """Split the accounts across replicas: each account belongs to one of ``shards`` shards (by
    rendezvous hashing of its name), each shard has its own Lease (``<lease_name>-<i>``), and
    each replica holds a fair share of them. 1: one Lease named ``lease_name``, one leader
    watches everything. More than 1 needs ``enabled: true``."""

    @model_validator(mode="after")
    def _coherent(self) -> Leader:
        if self.shards > 1 and not self.enabled:
            raise _Invalid("needs leader.enabled: true (shards are held through Leases)", "shards")
        if not self.lease_duration > self.renew_deadline:
            limit = format_duration(self.lease_duration)
            raise _Invalid(
                f"must be shorter than leader.lease_duration ({limit})", "renew_deadline"
            )
        if not self.renew_deadline > 1.2 * self.retry_period:
            raise _Invalid(
                "must be shorter than leader.renew_deadline / 1.2 "
                f"({format_duration(self.renew_deadline / 1.2)})",
                "retry_period",
            )
        return self

    def namespace_in(self, environ: Mapping[str, str] | None = None) -> str:
        """The namespace to use: the configured one, ``$POD_NAMESPACE`` or ``default``."""
        env = os.environ if environ is None else environ
        return self.namespace or env.get("POD_NAMESPACE") or "default"

    def identity_in(
        self, environ: Mapping[str, str] | None = None, *, pid: int | None = None
    ) -> str:
        """This replica's identity: the configured one, ``$POD_NAME`` or ``<hostname>_<pid>``."""
        env = os.environ if environ is None else environ
        if self.identity:
            return self.identity
        if env.get("POD_NAME"):
            return env["POD_NAME"]
        return f"{socket.gethostname()}_{os.getpid() if pid is None else pid}"


def client_suffix_of(identity: str) -> str:
    """``identity`` in the ``X-TC-RequestClient`` suffix alphabet (others become ``_``)."""
    cleaned = re.sub(r"[^0-9a-zA-Z\-_,;.]", "_", identity)[:128]
    return cleaned or "_"


class Settings(Section):
    """The whole configuration file."""

    accounts: Annotated[tuple[Account, ...], Field(min_length=1)]
    """The accounts to watch (at least one; names unique)."""
    products: Products = Products()
    api: Api = Api()
    http: Http = Http()
    state: State = State()
    logging: Logging = Logging()
    policies: tuple[PolicySettings, ...] = ()
    """What to do to runaway tasks; default: none (watch only)."""
    actions: ActionSettings = ActionSettings()
    notifications: tuple[NotificationSettings, ...] = ()
    """Webhooks told about actions; default: none."""
    leader: Leader = Leader()
    """Leader election among replicas; default: off (this process always leads)."""
    metrics: MetricsSettings = MetricsSettings()
    """Histogram buckets; default: taskwatch's own (read at start)."""
    prices: Prices = Prices()
    """The price table of cost estimates (estimates, not a bill), deep-merged over the shipped
    list prices (config/prices/tencent-cloud-cn.yaml); default: those prices as they are."""
    events: EventSettings = EventSettings()
    """Task notifications received as hints (MPS URL notifications, Live callbacks); default:
    off."""

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        enabled = self.products.enabled()
        if self.events.listen is not None and self.events.listen == self.http.listen:
            raise _Invalid("must differ from http.listen (or be absent)", "events", "listen")
        if not enabled:
            raise _Invalid("every product is disabled: nothing to watch", "products")
        for section in ("policies", "notifications"):
            first: dict[str, int] = {}
            for i, item in enumerate(getattr(self, section)):
                if item.name in first:
                    where = f"{section}[{first[item.name]}]"
                    raise _Invalid(f"duplicate name (also {where})", section, i, "name")
                first[item.name] = i
        for i, policy in enumerate(self.policies):
            if policy.product not in enabled:
                raise _Invalid(
                    f"{policy.product!r} is disabled (products.{policy.product}.enabled)",
                    *("policies", i, "product"),
                )
        seen: dict[str, int] = {}
        for i, account in enumerate(self.accounts):
            if account.name in seen:
                where = f"accounts[{seen[account.name]}]"
                raise _Invalid(f"duplicate account name (also {where})", "accounts", i, "name")
            seen[account.name] = i
            for j, name in enumerate(account.products or ()):
                if name not in enabled:
                    raise _Invalid(
                        f"{name!r} is disabled (products.{name}.enabled)",
                        *("accounts", i, "products", j),
                    )
        return self

    def products_for(self, account: Account) -> tuple[ProductName, ...]:
        """The products to watch in ``account``, in catalog order."""
        wanted = account.products
        return tuple(p for p in self.products.enabled() if wanted is None or p in wanted)

    def budget_for(self, account: Account) -> float:
        """The share of each rate limit ``account`` may use."""
        return self.api.budget if account.budget is None else account.budget

    def loops(self) -> Iterator[tuple[Account, ProductName, str | None]]:
        """Every ``(account, product, region)`` to run one polling loop for: accounts in file
        order; in each, first every product whose task ids are global (MPS: one source per
        account, region ``None``), then each region's regional products, in catalog order.
        This is the one place that says which sources an account has (the runtime builds one
        watcher per item)."""
        regional = catalog.regional()
        for account in self.accounts:
            products = self.products_for(account)
            for product in products:
                if product not in regional:
                    yield account, product, None
            for region in account.regions:
                for product in products:
                    if product in regional:
                        yield account, product, region
