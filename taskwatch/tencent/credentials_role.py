"""Role credentials: ``assume-role``, ``cvm-role`` and ``oidc``, each renewed before it expires.

Each source here is a :class:`~taskwatch.tencent.credentials_refresh.RefreshingCredentials` over
one fetch (reference §12, read from the official SDK's ``credential.py``):

* ``assume-role``: STS ``AssumeRole`` (:mod:`taskwatch.tencent.sts`), signed with the credentials
  of another source (``source:``, any spec, static keys or a role itself), asked at each renewal;
* ``cvm-role``: the CVM instance metadata service, ``GET <metadata>cam/security-credentials/``
  for the role name (unless ``role`` is given) and ``…/<role>`` for
  ``{Code, TmpSecretId, TmpSecretKey, Token, ExpiredTime}``; plain HTTP to a link-local address,
  as on every CVM;
* ``oidc``: TKE's workload identity, STS ``AssumeRoleWithWebIdentity`` with the environment the
  TKE webhook sets, read at *every* renewal as the SDK's ``DefaultTkeOIDCRoleArnProvider`` does
  (the projected token file is rotated by the kubelet): ``TKE_REGION``, ``TKE_PROVIDER_ID``,
  ``TKE_WEB_IDENTITY_TOKEN_FILE``, ``TKE_ROLE_ARN``.

STS goes where the account's other calls go (its ``endpoint`` or ``root_domain``) unless the spec
names its own ``endpoint``: an account pointed at the emulator or a proxy never sends its source
keys to the real STS.

Not guaranteed: no fallback chain between sources; the metadata service's answer is trusted as
the SDK trusts it (no IMDS session token exists for CVM), and reached like every call, through
``HTTP_PROXY`` when one is set (as the SDK's ``urlopen``): list ``metadata.tencentyun.com`` in
``NO_PROXY``; without a shared transport (the
``taskwatch api`` command) a source opens its own, closed with the process.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskwatch.clock import Clock, SystemClock
from taskwatch.errors import CredentialError
from taskwatch.logs import register_secret
from taskwatch.tencent.credentials import Credentials, CredentialSource
from taskwatch.tencent.credentials_refresh import RefreshingCredentials, TemporaryCredentials
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.errors import AuthError, CallSite, snippet
from taskwatch.tencent.sts import DEFAULT_REGION, MAX_DURATION, StsClient
from taskwatch.tencent.transport import Transport

METADATA_URL = "http://metadata.tencentyun.com/latest/meta-data/"
"""The CVM metadata service, as the SDK's ``CVMRoleCredential`` addresses it."""
ROLE_PATH = "cam/security-credentials/"
TKE_ENV = ("TKE_REGION", "TKE_PROVIDER_ID", "TKE_WEB_IDENTITY_TOKEN_FILE", "TKE_ROLE_ARN")
"""What TKE's pod identity webhook sets, in the order the SDK checks it."""
DEFAULT_DURATION = 7200
DEFAULT_SESSION = "taskwatch"
_MAX_TOKEN_FILE = 64 * 1024


@dataclass(slots=True)
class RoleContext:
    """What a role source needs from the account: its clock, transport and endpoint policy."""

    clock: Clock = field(default_factory=SystemClock)
    transport: Transport | None = None
    endpoints: EndpointPolicy | None = None

    def transport_or_own(self) -> Transport:
        if self.transport is None:
            self.transport = Transport()
        return self.transport

    def sts(self, endpoint: str | None, region: str) -> StsClient:
        endpoints = EndpointPolicy(override=endpoint) if endpoint else self.endpoints
        return StsClient(
            transport=self.transport_or_own(), clock=self.clock, endpoints=endpoints, region=region
        )


def assume_role(
    source: CredentialSource,
    *,
    role_arn: str,
    session_name: str = DEFAULT_SESSION,
    duration: int = DEFAULT_DURATION,
    region: str = DEFAULT_REGION,
    endpoint: str | None = None,
    context: RoleContext | None = None,
) -> RefreshingCredentials:
    """STS ``AssumeRole`` with ``source``'s credentials, renewed ahead of expiry."""
    ctx = context or RoleContext()
    sts = ctx.sts(endpoint, region)

    async def fetch() -> TemporaryCredentials:
        signer = await source.get()
        try:
            return await sts.assume_role(
                signer, role_arn=role_arn, session_name=session_name, duration=duration
            )
        except AuthError:
            source.invalidate()  # the source's own keys were refused: re-read them next time
            raise

    describe = f"assume-role {role_arn} (source: {source.describe()})"
    return RefreshingCredentials(fetch, describe=describe, clock=ctx.clock, kind="assume-role")


def cvm_role(
    *, role: str | None = None, endpoint: str | None = None, context: RoleContext | None = None
) -> RefreshingCredentials:
    """The instance role's credentials from the CVM metadata service."""
    ctx = context or RoleContext()
    base = (endpoint or METADATA_URL).rstrip("/") + "/"
    site = CallSite(product="metadata", action="security-credentials")

    async def get_text(url: str) -> str:
        raw = await ctx.transport_or_own().send("GET", url, headers={}, site=site)
        if raw.status != 200:
            raise CredentialError(f"metadata service: {url} answered HTTP {raw.status}")
        try:
            return raw.body.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise CredentialError(f"metadata service: {url} answered non-UTF-8 text") from None

    async def fetch() -> TemporaryCredentials:
        name = role or next(iter((await get_text(base + ROLE_PATH)).split()), "")
        if not name:
            raise CredentialError("metadata service: this instance has no CAM role")
        text = await get_text(base + ROLE_PATH + name)
        try:
            doc = json.loads(text)
        except ValueError:
            raise CredentialError(f"metadata service: role {name!r}: answer is not JSON") from None
        if not isinstance(doc, dict) or doc.get("Code") != "Success":
            code = doc.get("Code") if isinstance(doc, dict) else None
            raise CredentialError(
                f"metadata service: role {name!r}: Code is {snippet(str(code), 64)!r}"
            )
        return _from_fields(doc, f"metadata service: role {name!r}")

    describe = f"cvm-role {role or '(the instance role)'} via {base}"
    return RefreshingCredentials(fetch, describe=describe, clock=ctx.clock, kind="cvm-role")


def _from_fields(doc: Mapping[str, object], where: str) -> TemporaryCredentials:
    values = {k: doc.get(k) for k in ("TmpSecretId", "TmpSecretKey", "Token")}
    for name, value in values.items():
        if not isinstance(value, str) or not value:
            raise CredentialError(f"{where}: {name} is missing or not text")
    expired = doc.get("ExpiredTime")
    if not isinstance(expired, int | float) or isinstance(expired, bool):
        raise CredentialError(f"{where}: ExpiredTime is missing or not a number")
    return TemporaryCredentials(
        Credentials(str(values["TmpSecretId"]), str(values["TmpSecretKey"]), str(values["Token"])),
        float(expired),
    )


def read_tke_environment(
    environ: Mapping[str, str], *, now: float | None = None
) -> tuple[str, str, str, str]:
    """Region, provider id, web identity token and role ARN, as the SDK reads them.

    The token is registered for scrubbing; with ``now`` (epoch seconds on the source's clock),
    until its ``exp`` claim (:func:`token_expiry`) and the grace, since the kubelet rotates it,
    else for good."""
    values: list[str] = []
    for name in TKE_ENV:
        value = environ.get(name, "")
        if not value:
            raise CredentialError(f"oidc: environment variable {name} is not set")
        values.append(value)
    region, provider, token_file, role_arn = values
    path = Path(token_file)
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_TOKEN_FILE + 1)
    except OSError as exc:
        raise CredentialError(f"oidc: {path}: cannot read: {exc.strerror or 'error'}") from None
    if len(data) > _MAX_TOKEN_FILE:
        raise CredentialError(f"oidc: {path}: larger than {_MAX_TOKEN_FILE} bytes")
    try:
        token = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CredentialError(f"oidc: {path}: not UTF-8 text") from None
    if not token:
        raise CredentialError(f"oidc: {path}: empty")
    # It proves who we are until it expires: never logged.
    expires = token_expiry(token)
    if now is None or expires is None:
        register_secret(token)
    else:
        register_secret(token, max(expires, now), now=now)
    return region, provider, token, role_arn


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying it (only to know how long to scrub
    it); None when the token is not a JWT with a numeric ``exp``."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:  # bad base64, bad UTF-8, bad JSON
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None
    return float(exp)


def oidc(
    *,
    session_name: str = DEFAULT_SESSION,
    duration: int = DEFAULT_DURATION,
    endpoint: str | None = None,
    environ: Mapping[str, str] | None = None,
    context: RoleContext | None = None,
) -> RefreshingCredentials:
    """TKE OIDC: ``AssumeRoleWithWebIdentity`` with the token file, re-read at each renewal."""
    ctx = context or RoleContext()

    async def fetch() -> TemporaryCredentials:
        region, provider, token, role_arn = read_tke_environment(
            os.environ if environ is None else environ, now=ctx.clock.now().timestamp()
        )
        return await ctx.sts(endpoint, region).assume_role_with_web_identity(
            provider_id=provider,
            web_identity_token=token,
            role_arn=role_arn,
            session_name=session_name,
            duration=duration,
        )

    describe = "oidc (TKE_ROLE_ARN, TKE_WEB_IDENTITY_TOKEN_FILE)"
    return RefreshingCredentials(fetch, describe=describe, clock=ctx.clock, kind="oidc")


def _duration(spec: Mapping[str, Any]) -> int:
    value = spec.get("duration", DEFAULT_DURATION)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_DURATION:
        raise CredentialError(f"credentials: duration must be whole seconds, 1 to {MAX_DURATION}")
    return value


def role_from_config(
    kind: str,
    spec: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    context: RoleContext | None = None,
) -> RefreshingCredentials:
    """The role source of a checked ``credentials`` block (keys: ``credentials.from_config``)."""
    from taskwatch.tencent.credentials import from_config, string_key

    ctx = context or RoleContext()
    endpoint = string_key(spec, "endpoint")
    session = string_key(spec, "session_name") or DEFAULT_SESSION
    if kind == "cvm-role":
        return cvm_role(role=string_key(spec, "role"), endpoint=endpoint, context=ctx)
    if kind == "oidc":
        return oidc(
            session_name=session,
            duration=_duration(spec),
            endpoint=endpoint,
            environ=environ,
            context=ctx,
        )
    role_arn = string_key(spec, "role_arn")
    source = spec.get("source")
    if not role_arn:
        raise CredentialError("credentials: assume-role needs role_arn")
    if not isinstance(source, Mapping):
        raise CredentialError("credentials: assume-role needs source, another credentials block")
    return assume_role(
        from_config(source, environ=environ, context=ctx),
        role_arn=role_arn,
        session_name=session,
        duration=_duration(spec),
        region=string_key(spec, "region") or DEFAULT_REGION,
        endpoint=endpoint,
        context=ctx,
    )
