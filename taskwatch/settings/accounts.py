"""The ``accounts`` section: one Tencent Cloud account each, and where its keys come from.

The credential sources (``env``, ``profile``, ``directory``, ``static``) are only described here;
:mod:`taskwatch.tencent.credentials` reads them (``to_spec()`` is the block it takes). A source
never quotes a secret in an error: the validators of :mod:`taskwatch.settings.values` say what
is wrong with a value without repeating it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    model_validator,
)

from taskwatch.settings.base import Section
from taskwatch.settings.values import (
    _FLOAT,
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

    source: Literal["env"] = Field(alias="from")

    def to_spec(self) -> dict[str, str]:
        """The block ``taskwatch.tencent.credentials.from_config`` takes."""
        return {"from": "env"}


class ProfileSource(Section):
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


class DirectorySource(Section):
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


class StaticSource(Section):
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


class Account(Section):
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
