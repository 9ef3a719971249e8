"""The ``accounts`` section: one Tencent Cloud account each, and where its keys come from.

The credential sources (``env``, ``profile``, ``directory``, ``static``, and the role sources
``assume-role``, ``cvm-role``, ``oidc``) are only described here;
:mod:`taskwatch.tencent.credentials` reads them (``to_spec()`` is the block it takes). A source
never quotes a secret in an error: the validators of :mod:`taskwatch.settings.values` say what
is wrong with a value without repeating it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    model_validator,
)

from taskwatch.settings.base import Section
from taskwatch.settings.events import AccountEvents
from taskwatch.settings.values import (
    _FLOAT,
    Interval,
    Name,
    ProductName,
    Region,
    _client_suffix,
    _domain,
    _endpoint,
    _Invalid,
    _optional_secret,
    _secret,
)


class EnvSource(Section):
    """``TENCENTCLOUD_SECRET_ID``, ``TENCENTCLOUD_SECRET_KEY`` and an optional session token."""

    kind: Literal["env"] = Field(alias="from")

    def to_spec(self) -> dict[str, str]:
        """The block ``taskwatch.tencent.credentials.from_config`` takes."""
        return {"from": "env"}


class ProfileSource(Section):
    """The SDK's INI file (``~/.tencentcloud/credentials``, then ``/etc/tencentcloud/...``)."""

    kind: Literal["profile"] = Field(alias="from")
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


class DirectorySource(Section):
    """One file per value (``secret_id``, ``secret_key``, ``token``): systemd, Kubernetes."""

    kind: Literal["directory"] = Field(alias="from")
    path: Annotated[str, AfterValidator(_secret)] | None = None
    """The directory; default: ``$CREDENTIALS_DIRECTORY``."""

    def to_spec(self) -> dict[str, str]:
        """The block ``taskwatch.tencent.credentials.from_config`` takes."""
        spec = {"from": "directory"}
        if self.path is not None:
            spec["path"] = self.path
        return spec


class StaticSource(Section):
    """Keys written in the file: for tests and the emulator demo only."""

    kind: Literal["static"] = Field(alias="from")
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


_ROLE_ARN = re.compile(r"^qcs::cam::uin/\d+:roleName/[\w+=,.@-]{1,128}$")
_SESSION = re.compile(r"^[\w+=,.@-]{2,128}$")
MIN_ROLE_DURATION = 900
MAX_ROLE_DURATION = 43200


def _role_arn(value: str) -> str:
    if not _ROLE_ARN.match(value):
        raise ValueError("must look like qcs::cam::uin/<account id>:roleName/<role name>")
    return value


def _session_name(value: str) -> str:
    if not _SESSION.match(value):
        raise ValueError("must be 2 to 128 of the characters A-Z a-z 0-9 _ + = , . @ -")
    return value


def _role_duration(value: float) -> float:
    if value != int(value) or not MIN_ROLE_DURATION <= value <= MAX_ROLE_DURATION:
        raise ValueError("must be whole seconds from 15m to 12h (STS grants at most 12h)")
    return value


def _metadata_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "must be an absolute http(s) URL, e.g. http://127.0.0.1:9460/latest/meta-data/"
        )
    if parts.username is not None or parts.password is not None:  # never quoted
        raise ValueError("must not carry a user name or password")
    return value


RoleDuration = Annotated[Interval, AfterValidator(_role_duration)]
SessionName = Annotated[str, AfterValidator(_session_name)]
StsEndpoint = Annotated[str | None, AfterValidator(_endpoint)]


class AssumeRoleSource(Section):
    """STS ``AssumeRole``, signed with the credentials of ``source``; renewed before expiry."""

    kind: Literal["assume-role"] = Field(alias="from")
    role_arn: Annotated[str, AfterValidator(_role_arn)]
    """The role to assume: ``qcs::cam::uin/<account id>:roleName/<name>``."""
    session_name: SessionName = "taskwatch"
    """``RoleSessionName``: shows in CloudAudit as who acted."""
    duration: RoleDuration = 7200.0
    """How long each set of temporary credentials lasts (15m to 12h); renewed at 80 %."""
    region: Region = "ap-guangzhou"
    """The STS region (``X-TC-Region``)."""
    endpoint: StsEndpoint = None
    """STS's URL; default: where the account's other calls go (``endpoint``, ``root_domain``)."""
    source: SignerSpec
    """The credentials that sign ``AssumeRole``: any credentials block but
    ``assume-role`` (``cvm-role`` and ``oidc`` included, for a role in another account)."""

    def to_spec(self) -> dict[str, Any]:
        """The block ``taskwatch.tencent.credentials.from_config`` takes (with the source's)."""
        spec: dict[str, Any] = {
            "from": "assume-role",
            "role_arn": self.role_arn,
            "session_name": self.session_name,
            "duration": int(self.duration),
            "region": self.region,
            "source": self.source.to_spec(),
        }
        if self.endpoint is not None:
            spec["endpoint"] = self.endpoint
        return spec


class CvmRoleSource(Section):
    """The CVM instance role, from the instance metadata service; renewed before expiry."""

    kind: Literal["cvm-role"] = Field(alias="from")
    role: Annotated[str, AfterValidator(_secret)] | None = None
    """The role's name; default: the one the metadata service names."""
    endpoint: Annotated[str, AfterValidator(_metadata_url)] | None = None
    """The metadata service; default: ``http://metadata.tencentyun.com/latest/meta-data/``."""

    def to_spec(self) -> dict[str, Any]:
        """The block ``taskwatch.tencent.credentials.from_config`` takes."""
        spec: dict[str, Any] = {"from": "cvm-role"}
        if self.role is not None:
            spec["role"] = self.role
        if self.endpoint is not None:
            spec["endpoint"] = self.endpoint
        return spec


class OidcSource(Section):
    """TKE workload identity: STS ``AssumeRoleWithWebIdentity`` with the projected token.

    Reads ``TKE_REGION``, ``TKE_PROVIDER_ID``, ``TKE_WEB_IDENTITY_TOKEN_FILE`` and ``TKE_ROLE_ARN``
    at each renewal, as TKE's pod identity webhook sets them."""

    kind: Literal["oidc"] = Field(alias="from")
    session_name: SessionName = "taskwatch"
    """``RoleSessionName``: shows in CloudAudit as who acted."""
    duration: RoleDuration = 7200.0
    """How long each set of temporary credentials lasts (15m to 12h); renewed at 80 %."""
    endpoint: StsEndpoint = None
    """STS's URL; default: where the account's other calls go (``endpoint``, ``root_domain``)."""

    def to_spec(self) -> dict[str, Any]:
        """The block ``taskwatch.tencent.credentials.from_config`` takes."""
        spec: dict[str, Any] = {
            "from": "oidc",
            "session_name": self.session_name,
            "duration": int(self.duration),
        }
        if self.endpoint is not None:
            spec["endpoint"] = self.endpoint
        return spec


SignerSpec = Annotated[
    EnvSource | ProfileSource | DirectorySource | StaticSource | CvmRoleSource | OidcSource,
    Field(discriminator="kind"),
    BeforeValidator(_shorthand),
]
"""What may sign ``AssumeRole``: not itself (no chains of roles: the JSON Schema stays flat)."""
AssumeRoleSource.model_rebuild()  # its source is a SignerSpec, defined just above

CredentialSpec = Annotated[
    EnvSource
    | ProfileSource
    | DirectorySource
    | StaticSource
    | AssumeRoleSource
    | CvmRoleSource
    | OidcSource,
    Field(discriminator="kind"),
    BeforeValidator(_shorthand),
]


class Account(Section):
    """One Tencent Cloud account (UIN) and where to watch it."""

    name: Name
    """Label of every metric and log line for this account: ``[a-z0-9][a-z0-9_-]*``, ≤ 63."""
    credentials: CredentialSpec
    """Where the keys come from: ``{from: env}``, ``{from: profile, path, profile}``,
    ``{from: directory, path}``, ``{from: static, secret_id, secret_key, token}``, or role
    credentials renewed before expiry: ``{from: assume-role, role_arn, session_name, duration,
    source}``, ``{from: cvm-role, role}``, ``{from: oidc}``."""
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
    events: AccountEvents | None = None
    """The secrets of this account's task notifications (``events``): MPS ``NotifyKey`` values
    and the Live callback token. Absent: its notifications are refused (``not_configured``)."""

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
