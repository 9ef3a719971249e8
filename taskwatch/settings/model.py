"""The pydantic models of the configuration: one frozen model per section of the file.

They say which keys exist, their defaults and how keys relate to each other (``_coherent``);
single values are checked by the types of :mod:`taskwatch.settings.values`. Every model forbids
unknown keys. Adding a top-level section is adding a field to :class:`Settings`; the loader is
generic.

Which actions exist is *injected*: pass ``actions={"mps": {...}, ...}`` to validate ``api.limits``
keys fully; without it only their ``product.Action`` shape is checked.

**Policies** are checked for shape here (names, product, action, caps, a non-empty filter list);
their filter trees stay raw data, compiled and checked against each product's API by
``taskwatch.policy.rules.compile_rules``, which callers run right after loading.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from taskwatch.durations import format_duration
from taskwatch.settings.values import (
    _AS_TEXT,
    _FLOAT,
    _INT,
    _SECOND,
    _SECOND_SCHEMA,
    PRODUCT_NAMES,
    ActionName,
    Delay,
    Duration,
    Interval,
    Name,
    OutcomeName,
    PolicyName,
    ProductName,
    Region,
    _client_suffix,
    _domain,
    _endpoint,
    _identity,
    _Invalid,
    _lease_name,
    _limit_key,
    _listed_once,
    _listen,
    _namespace,
    _notification_name,
    _optional_secret,
    _path,
    _secret,
    _some_filters,
    _split_listen,
    _webhook,
    _whole_seconds,
)


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, use_attribute_docstrings=True
    )


class EnvSource(_Model):
    """``TENCENTCLOUD_SECRET_ID``, ``TENCENTCLOUD_SECRET_KEY`` and an optional session token."""

    source: Literal["env"] = Field(alias="from")

    def to_spec(self) -> dict[str, str]:
        """The block ``taskwatch.tencent.credentials.from_config`` takes."""
        return {"from": "env"}


class ProfileSource(_Model):
    """The SDK's INI file (``~/.tencentcloud/credentials``, then ``/etc/tencentcloud/...``)."""

    source: Literal["profile"] = Field(alias="from")
    path: Annotated[str, AfterValidator(_secret)] | None = None
    """The INI file; default: the SDK's search path."""
    profile: Annotated[str, AfterValidator(_secret)] = "default"
    """The section to read."""

    def to_spec(self) -> dict[str, str]:
        """The block ``taskwatch.tencent.credentials.from_config`` takes."""
        spec = {"from": "profile", "profile": self.profile}
        if self.path is not None:
            spec["path"] = self.path
        return spec


class DirectorySource(_Model):
    """One file per value (``secret_id``, ``secret_key``, ``token``): systemd, Kubernetes."""

    source: Literal["directory"] = Field(alias="from")
    path: Annotated[str, AfterValidator(_secret)] | None = None
    """The directory; default: ``$CREDENTIALS_DIRECTORY``."""

    def to_spec(self) -> dict[str, str]:
        """The block ``taskwatch.tencent.credentials.from_config`` takes."""
        spec = {"from": "directory"}
        if self.path is not None:
            spec["path"] = self.path
        return spec


class StaticSource(_Model):
    """Keys written in the file: for tests and the emulator demo only."""

    source: Literal["static"] = Field(alias="from")
    secret_id: Annotated[str, AfterValidator(_secret)]
    secret_key: Annotated[SecretStr, BeforeValidator(_secret)]
    token: Annotated[SecretStr | None, BeforeValidator(_optional_secret)] = None

    def to_spec(self) -> dict[str, str]:
        """The block ``taskwatch.tencent.credentials.from_config`` takes (with the secrets)."""
        spec = {
            "from": "static",
            "secret_id": self.secret_id,
            "secret_key": self.secret_key.get_secret_value(),
        }
        if self.token is not None:
            spec["token"] = self.token.get_secret_value()
        return spec


def _shorthand(value: object) -> object:
    return {"from": value} if isinstance(value, str) else value  # `credentials: env`


CredentialSpec = Annotated[
    EnvSource | ProfileSource | DirectorySource | StaticSource,
    Field(discriminator="source"),
    BeforeValidator(_shorthand),
]


class Account(_Model):
    """One Tencent Cloud account (UIN) and where to watch it."""

    name: Name
    """Label of every metric and log line for this account: ``[a-z0-9][a-z0-9_-]*``, ≤ 63."""
    credentials: CredentialSpec
    """Where the keys come from: ``{from: env}``, ``{from: profile, path, profile}``,
    ``{from: directory, path}`` or ``{from: static, secret_id, secret_key, token}``."""
    endpoint: Annotated[str | None, AfterValidator(_endpoint)] = None
    """Send every call here instead (the emulator, a proxy): ``http(s)://host[:port]``."""
    root_domain: Annotated[str, AfterValidator(_domain)] = "tencentcloudapi.com"
    """``intl.tencentcloudapi.com`` for the international site."""
    regional: bool = False
    """Use ``<product>.<region>.<root_domain>`` hosts (required in the financial regions)."""
    regions: Annotated[tuple[Region, ...], Field(min_length=1)] = ("ap-guangzhou",)
    """Regions to watch; one loop per product and region."""
    products: Annotated[tuple[ProductName, ...], Field(min_length=1)] | None = None
    """Products to watch in this account; default: every enabled product."""
    budget: Annotated[float, Field(gt=0, le=1), _FLOAT] | None = None
    """This account's share of each documented rate limit; default: ``api.budget``."""
    client_suffix: Annotated[str | None, AfterValidator(_client_suffix)] = None
    """Appended to ``X-TC-RequestClient`` (e.g. a replica id) to tell replicas apart."""

    @model_validator(mode="after")
    def _coherent(self) -> Account:
        if self.endpoint is not None:
            if self.regional:
                raise _Invalid("has no effect when endpoint is set", "regional")
            if "root_domain" in self.model_fields_set:
                raise _Invalid("has no effect when endpoint is set", "root_domain")
        for field in ("regions", "products"):
            values = getattr(self, field) or ()
            for i, value in enumerate(values):
                if value in values[:i]:
                    raise _Invalid(f"{value!r} is listed twice", field, i)
        return self


class ProductSettings(_Model):
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


class Products(_Model):
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


class Api(_Model):
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


class Http(_Model):
    """The metrics and status server."""

    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:9464"
    """``host:port``; ``[::1]:9464`` for IPv6, ``:9464`` for every interface, port 0 for any."""
    web_config: Annotated[Path, BeforeValidator(_path)] | None = None
    """A web configuration file in the Prometheus exporter-toolkit format (TLS certificate and
    key, basic-auth users with bcrypt hashes). Absent: plain HTTP without authentication."""

    @property
    def host(self) -> str | None:
        """The address to bind; ``None``: every interface."""
        return _split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        """The port to bind (0: the system picks one)."""
        return _split_listen(self.listen)[1]


class State(_Model):
    """Local state."""

    path: Annotated[Path, BeforeValidator(_path)] = Path("/var/lib/taskwatch/state.db")
    """The SQLite database (action journal, audit); ``~`` is expanded."""


class Logging(_Model):
    """Log output."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    """``auto``: console on a terminal, JSON lines otherwise."""


class Leader(_Model):
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

    @model_validator(mode="after")
    def _coherent(self) -> Leader:
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


# --- policies, actions, notifications -----------------------------------------------------------


class MaxActions(_Model):
    """Blast-radius caps of one policy. They hold in dry-run too (a ``would`` counts), and
    ``actions.max_per_cycle`` applies on top of them."""

    per_cycle: Annotated[int, Field(ge=1), _INT] | None = None
    """Actions in one cycle of one source (account, product, region); default: no cap."""
    per_hour: Annotated[int, Field(ge=1), _INT] | None = None
    """Actions in any sliding hour, across every source; default: no cap."""
    percent: Annotated[float, Field(gt=0, le=100), _FLOAT] | None = None
    """At most this share, in percent, of the active tasks of a source in one cycle; default:
    no cap."""


class PolicySettings(_Model):
    """One policy as written. Its filters stay raw data here: ``taskwatch.policy.rules``
    compiles them and checks them against the product's API (this module sits below it)."""

    name: PolicyName
    """Label of the ``policy`` metric label and of journal entries: ``[a-z0-9][a-z0-9_.-]*``,
    at most 63 characters; unique."""
    product: ProductName
    """The product whose tasks the policy watches: mps, dlc or live."""
    action: ActionName
    """What to do to a matching task: ``abort`` (mps), ``cancel`` (dlc) or ``delete`` (live)."""
    filters: Annotated[tuple[Any, ...], AfterValidator(_some_filters)]
    """What a task must match (all of them). At least one: no policy matches everything."""
    exclude: Annotated[tuple[Any, ...], Field(min_length=1)] | None = None
    """Filters of tasks never to act on: a task matching any of them is left alone."""
    enforce: bool = False
    """Act for real; default: dry-run (decisions are journaled as ``would``)."""
    grace: Delay = 0.0
    """How long a task must keep matching before it is acted on; default: at once."""
    max_actions: MaxActions = MaxActions()
    """This policy's blast-radius caps."""
    operator: Annotated[str, Field(min_length=1, max_length=64)] = "taskwatch"
    """The ``Operator`` of Live's DeleteLivePullStreamTask (live policies only)."""

    @model_validator(mode="after")
    def _coherent(self) -> PolicySettings:
        if "operator" in self.model_fields_set and self.product != "live":
            raise _Invalid(
                "only live policies take an operator (DeleteLivePullStreamTask's Operator)",
                "operator",
            )
        return self


class ActionSettings(_Model):
    """What every policy shares: the kill switch, the global cap, the journal."""

    paused: bool = False
    """The kill switch: while true no action is taken, enforced or not (each decision is
    journaled as ``skipped_cap``)."""
    max_per_cycle: Annotated[int, Field(ge=1), _INT] = 20
    """Actions (``would`` included) across every policy in one cycle of one source (account,
    product, region)."""
    journal_retention: Duration = 30 * 86400.0
    """How long action journal entries are kept."""
    attempts: Annotated[int, Field(ge=1, le=5), _INT] = 3
    """Calls per task in one cycle at most, the first included: an action that failed
    transiently (throttled, ``InternalError``) or whose outcome is unknown (timeout, reset,
    HTTP 5xx) is tried again later in the same cycle, each time after re-describing the task."""
    retry_after: Duration = 5.0
    """Wait before trying again after an unknown outcome, so that a call still in flight has
    landed before the task is re-described. Calls refused outright wait 0.5 s, then 1 s."""


class NotificationSettings(_Model):
    """A webhook told about actions, in batches."""

    name: Annotated[str, AfterValidator(_notification_name)]
    """Label of logs and metrics for this webhook; unique."""
    url: Annotated[SecretStr, BeforeValidator(_webhook)]
    """``http(s)://...``; a credential: masked in logs and dumps, never quoted in errors."""
    format: Literal["generic", "wecom", "slack"] = "generic"
    """``generic`` (a JSON list of records), ``wecom`` (WeCom group bot markdown) or ``slack``
    (an incoming webhook's text)."""
    batch_size: Annotated[int, Field(ge=1, le=1000), _INT] = 20
    """Records per message at most."""
    flush_interval: Duration = 10.0
    """A batch that is not full is sent this long after its first record."""
    timeout: Duration = 5.0
    """Bound on one delivery attempt."""
    attempts: Annotated[int, Field(ge=1, le=10), _INT] = 3
    """Delivery attempts per batch, the first included."""
    results: Annotated[tuple[OutcomeName, ...], Field(min_length=1)] = ("done", "failed", "unknown")
    """The outcomes to notify about: done, would, already_done, skipped_cap, fenced, failed,
    unknown."""

    @model_validator(mode="after")
    def _coherent(self) -> NotificationSettings:
        _listed_once("results", self.results)
        return self


class Settings(_Model):
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

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        enabled = self.products.enabled()
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

    def loops(self) -> Iterator[tuple[Account, ProductName, str]]:
        """Every ``(account, product, region)`` to run one polling loop for, in file order."""
        for account in self.accounts:
            for product in self.products_for(account):
                for region in account.regions:
                    yield account, product, region
