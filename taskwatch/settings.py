"""The configuration: one YAML file, validated by pydantic into frozen models.

This is the one place that reads the configuration file and the environment. :func:`load_settings`
turns *any* problem into a :class:`~taskwatch.errors.ConfigError` whose ``str()`` reads
``file: key: reason``, e.g. ``taskwatch.yaml: accounts[0].regions[1]: 'guangzhou' is not a region
name (e.g. ap-guangzhou) (line 7)``; the CLI prints that line and exits 2. Every model forbids
unknown keys (a typo is an error, with a "did you mean" suggestion), and no message ever quotes a
value given for a secret: reasons are written here, never pydantic's (which embed the input).

**Environment variables.** After YAML parsing, every string *value* (never a key) may use
``${NAME}`` (an error if ``NAME`` is unset) and ``${NAME:-default}`` (the default when ``NAME`` is
unset or empty; the default is taken literally, up to the first ``}``). ``$${`` stands for a
literal ``${``; a ``$`` not followed by ``{`` is left alone. Expansion yields strings, which
pydantic then reads as numbers, booleans or durations where a key wants one
(``budget: ${TASKWATCH_BUDGET:-0.5}``). An empty ``endpoint`` or ``client_suffix`` counts as
absent, so ``endpoint: ${TASKWATCH_ENDPOINT:-}`` is a switch.

**Layers.** This module sits in the bottom layer, below ``taskwatch.tencent`` and
``taskwatch.limiter``, so it repeats the few facts it checks (product names, the endpoint rules of
``EndpointPolicy``, the ``X-TC-RequestClient`` suffix alphabet); ``tests/test_settings.py`` keeps
them in step with their owners. Which actions exist is *injected*: pass
``actions={"mps": {...}, ...}`` to validate ``api.limits`` keys fully; without it only their
``product.Action`` shape is checked.

Adding a top-level section is adding a field to :class:`Settings`; the loader is generic.

**Policies** are checked for shape here (names, product, action, caps, a non-empty filter list);
their filter trees stay raw data, compiled and checked against each product's API by
``taskwatch.policy.rules.compile_rules``, which callers run right after loading. Every error inside
``policies[i]`` starts ``rule 'NAME':`` once the policy's name is readable, as the compiler's do.

Not guaranteed: values are checked for shape, not reachability (a credential file or endpoint may
still fail at run time, with a ``CredentialError`` or a ``TransportError``); relative paths are
relative to the working directory, not to the file; ``<<`` merge keys work, but errors under merged
keys point at the line of the enclosing key.
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import math
import os
import re
import socket
from collections.abc import Collection, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import ErrorDetails

from taskwatch.durations import format_duration, parse_duration
from taskwatch.errors import ConfigError

__all__ = [
    "Account",
    "ActionSettings",
    "Api",
    "Http",
    "Leader",
    "Logging",
    "MaxActions",
    "NotificationSettings",
    "PolicySettings",
    "ProductSettings",
    "Products",
    "Settings",
    "State",
    "json_schema",
    "load_settings",
    "parse_settings",
]

ProductName: TypeAlias = Literal["mps", "dlc", "live"]
PRODUCT_NAMES: tuple[ProductName, ...] = ("mps", "dlc", "live")
"""Kept equal to ``taskwatch.tencent.catalog.PRODUCTS`` by a test."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_REGION = re.compile(r"^[a-z]{2}-[a-z]+(-[a-z0-9]+)?$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
_CLIENT_SUFFIX = re.compile(r"^[0-9a-zA-Z\-_,;.]{1,128}$")
_ACTION = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_DURATION_PATTERN = r"^\+?(\d+(\.\d+)?|(\d+(\.\d+)?(ms|s|m|h|d|w))+)$"


class _Invalid(ValueError):
    """A failed check that knows where, below the model that raised it, the culprit is."""

    def __init__(self, reason: str, *at: str | int) -> None:
        super().__init__(reason)
        self.at = at


# --- value types ---------------------------------------------------------------------------------


def _not_bool(kind: str) -> BeforeValidator:
    # pydantic's lax mode reads true as 1; in a config file that is always a mistake.
    def check(value: object) -> object:
        if isinstance(value, bool):
            raise ValueError(f"must be {kind}, not true or false")
        return value

    return BeforeValidator(check)


_FLOAT = _not_bool("a number")
_INT = _not_bool("an integer")
# Bounds go before the validator: so they reach the JSON Schema, and booleans meet the check first.


def _duration(minimum: float, *, zero: bool = False) -> tuple[BeforeValidator, WithJsonSchema]:
    """Parses ``30s``, ``90m``, ``1h30m`` or a number of seconds; at least ``minimum`` (more
    than 0 when ``minimum`` is 0, unless ``zero``)."""

    def parse(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be a duration (e.g. 30s, 90m, 6h, 2d, 1h30m)")
        seconds = parse_duration(value)
        if not math.isfinite(seconds):
            raise ValueError("must be a finite duration")
        if seconds < minimum or (seconds <= 0 and not zero):
            bound = f"at least {format_duration(minimum)}" if minimum else "more than 0s"
            raise ValueError(f"must be {bound}")
        return seconds

    number: dict[str, Any] = {"type": "number"}
    number["minimum" if minimum or zero else "exclusiveMinimum"] = minimum
    schema = {"anyOf": [{"type": "string", "pattern": _DURATION_PATTERN}, number]}
    return BeforeValidator(parse), WithJsonSchema(schema)


_AS_TEXT = PlainSerializer(format_duration, return_type=str, when_used="json")
_POSITIVE, _POSITIVE_SCHEMA = _duration(0)
_SECOND, _SECOND_SCHEMA = _duration(1)
Duration = Annotated[float, _POSITIVE, _AS_TEXT, _POSITIVE_SCHEMA]
"""Seconds, written ``30s``, ``90m``, ``1h30m`` or as a number; more than 0; dumped as text."""
Interval = Annotated[float, _SECOND, _AS_TEXT, _SECOND_SCHEMA]
"""A :data:`Duration` of at least one second."""
_ZERO, _ZERO_SCHEMA = _duration(0, zero=True)
Delay = Annotated[float, _ZERO, _AS_TEXT, _ZERO_SCHEMA]
"""A :data:`Duration` that may be ``0s``."""


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value[:70]!r} is not an account name: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit, at most 63 characters"
        )
    return value


def _policy_name(value: str) -> str:
    if not _POLICY_NAME.match(value):
        raise ValueError(
            f"{value[:70]!r} is not a policy name: lowercase letters, digits, '-', '_' and '.', "
            "starting with a letter or digit, at most 63 characters (it is a metric label)"
        )
    return value


def _notification_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value[:70]!r} is not a notification name: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit, at most 63 characters"
        )
    return value


def _webhook(value: object) -> object:
    """An absolute http(s) URL. It is a credential (WeCom's ``key=``, Slack's path): never
    quoted in an error, masked in ``repr`` and dumps."""
    if not isinstance(value, str):
        return value
    if not value:
        raise ValueError("must not be empty")
    if value != value.strip():
        raise ValueError("has leading or trailing whitespace")
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise ValueError("is not a URL with a valid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    return value


def _region(value: str) -> str:
    if not _REGION.match(value):
        raise ValueError(f"{value[:70]!r} is not a region name (e.g. ap-guangzhou)")
    return value


def _endpoint(value: str | None) -> str | None:
    """The rules of ``EndpointPolicy.override``; an empty string means no override."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise ValueError("is not a URL with a valid port") from None
    if parts.username is not None or parts.password is not None:  # never quoted
        raise ValueError("must not carry a user name or password")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} must be an absolute http(s) URL, e.g. http://127.0.0.1:9460")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{value!r} must have no path, query or fragment")
    return value


def _domain(value: str) -> str:
    if not _DOMAIN.match(value):
        raise ValueError(f"{value[:70]!r} is not a lower-case domain name")
    return value


def _client_suffix(value: str | None) -> str | None:
    if not value:
        return None
    if not _CLIENT_SUFFIX.match(value):
        raise ValueError("must be 1 to 128 of the characters 0-9 a-z A-Z - _ , ; .")
    return value


def _path(value: object) -> object:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("must not be empty")
        try:
            return Path(value).expanduser()
        except RuntimeError:
            raise ValueError(f"cannot expand '~' in {value!r}") from None
    return value


def _secret(value: object) -> object:
    """Like ``credentials._checked``, and never quoting the value."""
    if isinstance(value, str):
        if not value:
            raise ValueError("must not be empty")
        if value != value.strip():
            raise ValueError("has leading or trailing whitespace")
    return value


def _optional_secret(value: object) -> object:
    return None if value == "" else _secret(value)  # an empty optional token counts as absent


Name = Annotated[str, AfterValidator(_name), Field(json_schema_extra={"pattern": _NAME.pattern})]
Region = Annotated[
    str, AfterValidator(_region), Field(json_schema_extra={"pattern": _REGION.pattern})
]


# --- models --------------------------------------------------------------------------------------


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


def _limit_key(key: str, info: ValidationInfo) -> str:
    product, dot, action = key.partition(".")
    if not dot or product not in PRODUCT_NAMES or not _ACTION.match(action):
        raise ValueError(
            f"{key[:70]!r} is not a limit key: write product.Action, e.g. mps.DescribeTasks"
        )
    actions: Mapping[str, Collection[str]] | None = (info.context or {}).get("actions")
    if actions is not None and action not in actions.get(product, ()):
        known = ", ".join(sorted(actions.get(product, ())))
        raise ValueError(f"{product} has no action {action!r} (known: {known})")
    return key


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


def _split_listen(value: str) -> tuple[str | None, int]:
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            sep = ""
    else:
        host, sep, port = value.rpartition(":")
        if ":" in host:
            raise ValueError(f"{value!r}: write an IPv6 address in brackets, e.g. [::1]:9464")
        if host and not _HOST.match(host):
            sep = ""
    if not sep or not port.isdigit() or not port.isascii() or int(port) > 65535:
        raise ValueError(f"{value[:70]!r} is not host:port (e.g. 127.0.0.1:9464, [::1]:9464)")
    return host or None, int(port)


def _listen(value: str) -> str:
    _split_listen(value)
    return value


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


_LEASE_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _lease_name(value: str) -> str:
    if not _LEASE_NAME.match(value):
        raise ValueError(
            f"{value[:70]!r} is not a Kubernetes object name: lowercase letters, digits, '-' "
            "and '.', starting and ending with a letter or digit"
        )
    return value


def _namespace(value: str | None) -> str | None:
    if not value:
        return None
    if not _NAMESPACE.match(value):
        raise ValueError(f"{value[:70]!r} is not a Kubernetes namespace name")
    return value


def _identity(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > 128 or not value.isprintable() or value != value.strip():
        raise ValueError("must be 1 to 128 printable characters without surrounding spaces")
    return value


def _whole_seconds(value: float) -> float:
    if value != int(value):
        raise ValueError("must be a whole number of seconds (leaseDurationSeconds is an integer)")
    return value


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

ActionName: TypeAlias = Literal["abort", "cancel", "delete"]
ACTION_NAMES: tuple[ActionName, ...] = ("abort", "cancel", "delete")
"""Kept equal to the values of ``taskwatch.models.ACTIONS_BY_PRODUCT`` by a test."""
OutcomeName: TypeAlias = Literal[
    "done", "would", "already_done", "skipped_cap", "fenced", "failed", "unknown"
]
"""Kept equal to ``taskwatch.models.Outcome`` by a test."""
PolicyName = Annotated[
    str, AfterValidator(_policy_name), Field(json_schema_extra={"pattern": _POLICY_NAME.pattern})
]


def _some_filters(value: tuple[Any, ...]) -> tuple[Any, ...]:
    if not value:
        raise ValueError("must not be empty: a policy without filters would match every task")
    return value


def _listed_once(field: str, values: tuple[Any, ...]) -> None:
    for i, value in enumerate(values):
        if value in values[:i]:
            raise _Invalid(f"{value!r} is listed twice", field, i)


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


# --- loading -------------------------------------------------------------------------------------

_Loc: TypeAlias = tuple[str | int, ...]
_MAX_NODES = 100_000
_MAX_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"
_VARIABLE = re.compile(r"\$\$\{|\$\{(?:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})?")


def _dotted(path: _Loc) -> str:
    """``("accounts", 0, "regions")`` → ``accounts[0].regions``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


class _Budget:
    """Counts visited values, so aliases cannot make a walk exponential (or endless)."""

    def __init__(self, source: str) -> None:
        self.left = _MAX_NODES
        self.source = source

    def spend(self, path: _Loc) -> None:
        self.left -= 1
        if self.left < 0 or len(path) > _MAX_DEPTH:
            raise ConfigError("too large or too deeply nested", file=self.source, key=None)


def _line_index(node: yaml.Node, source: str) -> dict[_Loc, int]:
    """The 1-based line of every key and item; duplicate keys are errors."""
    lines: dict[_Loc, int] = {}
    budget = _Budget(source)

    def walk(node: yaml.Node, path: _Loc) -> None:
        budget.spend(path)
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                    continue
                key, line = key_node.value, key_node.start_mark.line + 1
                if key in first:
                    raise ConfigError(
                        f"duplicate key, at lines {first[key]} and {line}",
                        file=source,
                        key=_dotted((*path, key)),
                    )
                first[key] = lines[(*path, key)] = line
                walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    walk(node, ())
    return lines


def _read_yaml(path: Path, source: str) -> tuple[object, dict[_Loc, int]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(exc.strerror or type(exc).__name__, file=source) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=source) from None
    try:  # the reader rejects control characters as soon as the loader is built
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        reason = getattr(exc, "reason", None) or "a character YAML does not allow"
        raise ConfigError(f"not valid YAML: {reason}", file=source) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines = _line_index(node, source)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        # problem and context only: the snippet would quote the line, which may hold a secret.
        words = "; ".join(str(p) for p in (exc.context, exc.problem) if p)
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"not valid YAML: {words}{where}", file=source) from None
    except (yaml.YAMLError, RecursionError):
        raise ConfigError("not valid YAML", file=source) from None
    finally:
        loader.dispose()


def _expand(data: object, environ: Mapping[str, str], source: str) -> object:
    """A copy of ``data`` with ``${...}`` expanded in string values; keys must be strings."""
    budget = _Budget(source)

    def substitute(text: str, path: _Loc) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name, default = match.group(1), match.group(2)
            if name is None:
                raise ConfigError(
                    "'${' must start ${NAME} or ${NAME:-default} (write $${ for a literal ${)",
                    file=source,
                    key=_dotted(path),
                )
            value = environ.get(name)
            if default is not None and not value:
                return default
            if value is None:
                raise ConfigError(
                    f"environment variable {name} is not set "
                    f"(write ${{{name}:-default}} to give a default)",
                    file=source,
                    key=_dotted(path),
                )
            return value

        return _VARIABLE.sub(one, text)

    def walk(value: object, path: _Loc) -> object:
        budget.spend(path)
        if isinstance(value, str):
            return substitute(value, path) if "${" in value else value
        if isinstance(value, dict):
            out: dict[str, object] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ConfigError(
                        f"key {str(key)[:40]!r} is not a string", file=source, key=_dotted(path)
                    )
                out[key] = walk(item, (*path, key))
            return out
        if isinstance(value, list | tuple):
            return [walk(item, (*path, i)) for i, item in enumerate(value)]
        return value

    return walk(data, ())


@cache
def _schema() -> dict[str, Any]:
    return Settings.model_json_schema(by_alias=True)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file, for editors (``taskwatch schema``)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **copy.deepcopy(_schema()),
        "title": "taskwatch configuration",
    }


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow ``$ref`` and step into the non-null branch of ``X | None``."""
    defs = _schema().get("$defs", {})
    for _ in range(8):
        if "$ref" in node:
            node = defs.get(str(node["$ref"]).rsplit("/", 1)[-1], {})
        elif "anyOf" in node and "discriminator" not in node:
            branches = [b for b in node["anyOf"] if b.get("type") != "null"]
            node = branches[0] if len(branches) == 1 else {}
        else:
            break
    return node


def _locate(loc: _Loc) -> tuple[_Loc, Mapping[str, Any], Mapping[str, Any]]:
    """The loc as the user sees it (union tags removed), its schema node and its parent's."""
    node: Mapping[str, Any] = _schema()
    parent: Mapping[str, Any] = {}
    path: list[str | int] = []
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key, not its value", after the key
            continue
        node = _resolve(node)
        tags = node.get("discriminator", {}).get("mapping", {})
        if isinstance(part, str) and part in tags:
            node = _resolve({"$ref": tags[part]})
            continue
        parent = node
        path.append(part)
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            extra = node.get("additionalProperties")
            node = node.get("properties", {}).get(part, extra if isinstance(extra, dict) else {})
    return tuple(path), _resolve(node), parent


def _suggest(word: object, choices: Collection[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _bounds(node: Mapping[str, Any]) -> str:
    parts = []
    for key, op in (("minimum", ">="), ("exclusiveMinimum", ">")):
        if key in node:
            parts.append(f"{op} {node[key]:g}")
    for key, op in (("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in node:
            parts.append(f"{op} {node[key]:g}")
    return "must be " + " and ".join(parts) if parts else "is out of range"


_TYPES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "path_type": "must be a path",
    "missing": "missing required key",
}


def _describe(error: ErrorDetails) -> tuple[_Loc, str]:
    """The user's key path and a reason that never quotes a secret."""
    kind, ctx = error["type"], error.get("ctx") or {}
    path, node, parent = _locate(tuple(error["loc"]))
    if kind == "value_error" and isinstance(ctx.get("error"), _Invalid):
        at = ctx["error"].at
        return (*path, *at), str(ctx["error"])
    if kind == "value_error":
        return path, str(ctx.get("error", "is invalid"))
    if kind == "extra_forbidden":
        return path, "unknown key" + _suggest(path[-1], parent.get("properties", {}))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        mapping = node.get("discriminator", {}).get("mapping", {})
        field = node.get("discriminator", {}).get("propertyName", "from")
        valid = ", ".join(mapping)
        if kind == "union_tag_not_found":
            return (*path, field), f"missing required key (one of {valid})"
        tag = str(ctx.get("tag"))  # quoted only if it looks like a word, not a pasted key
        shown = repr(tag) if re.fullmatch(r"[a-z][a-z_-]{0,19}", tag) else "the value"
        return (*path, field), f"{shown} is not one of {valid}" + _suggest(tag, mapping)
    if kind == "literal_error":
        choices = node.get("enum") or ([node["const"]] if "const" in node else [])
        return path, f"must be one of {ctx.get('expected', '')}" + _suggest(
            error.get("input"), [str(c) for c in choices]
        )
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return path, _bounds(node)
    if kind == "too_short":
        minimum = ctx.get("min_length", 1)
        return path, "must not be empty" if minimum == 1 else f"needs at least {minimum} items"
    if kind == "string_too_short":
        minimum = ctx.get("min_length", 1)
        return path, "must not be empty" if minimum == 1 else f"is too short (at least {minimum})"
    if kind in ("too_long", "string_too_long"):
        return path, f"is too long (at most {ctx.get('max_length')})"
    if kind == "model_attributes_type" and "discriminator" in node:
        valid = ", ".join(node["discriminator"].get("mapping", {}))
        return path, f"must be a mapping with 'from', or a source name ({valid})"
    if kind in _TYPES:
        return path, _TYPES[kind]
    message = str(error.get("msg", "is invalid"))  # pydantic's msg never includes the input
    return path, message[:1].lower() + message[1:]


def _root_causes(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Without a container's ``too_short`` caused by its items failing (pydantic reports both)."""

    def caused(error: ErrorDetails) -> bool:
        loc = error["loc"]
        return error["type"] == "too_short" and any(
            len(other["loc"]) > len(loc) and other["loc"][: len(loc)] == loc for other in errors
        )

    return [e for e in errors if not caused(e)] or errors


def _near_line(lines: Mapping[_Loc, int], path: _Loc) -> str:
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return f" (line {lines[path[:end]]})"
    return ""


def _policy_of(data: object, path: _Loc) -> str:
    """``rule 'NAME': `` for a problem inside ``policies[i]`` whose name is readable, so every
    policy error names its rule (as ``taskwatch.policy.rules`` does)."""
    if len(path) < 2 or path[0] != "policies" or not isinstance(path[1], int):
        return ""
    policies = data.get("policies") if isinstance(data, dict) else None
    if not isinstance(policies, list) or not 0 <= path[1] < len(policies):
        return ""
    policy = policies[path[1]]
    name = policy.get("name") if isinstance(policy, dict) else None
    if not isinstance(name, str) or not _POLICY_NAME.match(name):
        return ""
    return f"rule {name!r}: "


def _parse(
    data: object,
    source: str,
    environ: Mapping[str, str] | None,
    actions: Mapping[str, Collection[str]] | None,
    lines: Mapping[_Loc, int],
) -> Settings:
    if data is None:
        raise ConfigError("the file is empty (it needs at least 'accounts')", file=source)
    if not isinstance(data, dict):
        raise ConfigError(
            f"the top level must be a mapping of keys, not a {type(data).__name__}", file=source
        )
    expanded = _expand(data, os.environ if environ is None else environ, source)
    try:
        return Settings.model_validate(expanded, context={"actions": actions})
    except ValidationError as exc:
        errors = _root_causes(exc.errors(include_url=False, include_input=True))
        path, reason = _describe(errors[0])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(
            _policy_of(expanded, path) + reason + _near_line(lines, path) + more,
            file=source,
            key=_dotted(path) or None,
        ) from None
    except RecursionError:
        raise ConfigError("too deeply nested", file=source) from None


def parse_settings(
    data: object,
    *,
    source: str,
    environ: Mapping[str, str] | None = None,
    actions: Mapping[str, Collection[str]] | None = None,
) -> Settings:
    """Validate already parsed YAML. ``source`` names it in errors; ``environ`` defaults to
    ``os.environ``; ``actions`` (product → action names) enables the full ``api.limits`` check."""
    return _parse(data, source, environ, actions, {})


def load_settings(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    actions: Mapping[str, Collection[str]] | None = None,
) -> Settings:
    """Read, expand and validate the file at ``path``; every problem is a ``ConfigError``."""
    source = str(path)
    data, lines = _read_yaml(Path(path), source)
    return _parse(data, source, environ, actions, lines)
