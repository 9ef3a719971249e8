"""STS (``sts``, version ``2018-08-13``): ``AssumeRole`` and ``AssumeRoleWithWebIdentity``.

The two calls that turn something else into temporary credentials (reference §12): ``AssumeRole``
signed with the source credentials by taskwatch's own signer (:func:`sign_tc3`), and
``AssumeRoleWithWebIdentity`` sent unsigned (``Authorization: SKIP``, as the official SDK's
``SkipSign`` does: the web identity token is the proof). Both answer
``Response.Credentials{TmpSecretId, TmpSecretKey, Token}`` and ``Response.ExpiredTime`` (epoch s).

It is not :class:`~taskwatch.tencent.client.TencentClient`: STS is no watched product (no catalog
entry, no rate bucket, no per-call metrics), and one attempt is enough, because the caller
(:class:`~taskwatch.tencent.credentials_refresh.RefreshingCredentials`) keeps the old credentials
and tries again later. The transport and envelope are the client's, so errors are the same typed,
scrubbed :class:`~taskwatch.tencent.errors.TencentError` s.

Not guaranteed: ``Policy`` (a session policy) and ``ExternalId`` are not sent; the answer's
``Expiration`` (ISO text) is ignored in favour of ``ExpiredTime``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskwatch import __version__
from taskwatch.clock import Clock
from taskwatch.errors import CredentialError
from taskwatch.tencent.credentials import Credentials
from taskwatch.tencent.credentials_refresh import TemporaryCredentials
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.envelope import JSON, encode_body, parse_response
from taskwatch.tencent.errors import CallSite
from taskwatch.tencent.signing import sign_tc3
from taskwatch.tencent.transport import Transport

SERVICE = "sts"
VERSION = "2018-08-13"
DEFAULT_REGION = "ap-guangzhou"
MAX_DURATION = 43200
"""The longest lifetime STS grants, in seconds (the SDK's documented maximum)."""


class StsClient:
    """One account's way to STS: the endpoint policy of its other calls, the shared transport."""

    def __init__(
        self,
        *,
        transport: Transport,
        clock: Clock,
        endpoints: EndpointPolicy | None = None,
        region: str = DEFAULT_REGION,
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._endpoints = endpoints or EndpointPolicy()
        self._region = region

    async def assume_role(
        self, source: Credentials, *, role_arn: str, session_name: str, duration: int
    ) -> TemporaryCredentials:
        """``AssumeRole`` signed with ``source``."""
        params = {"RoleArn": role_arn, "RoleSessionName": session_name, "DurationSeconds": duration}
        response = await self._call("AssumeRole", params, source)
        return _temporary(response, "AssumeRole")

    async def assume_role_with_web_identity(
        self,
        *,
        provider_id: str,
        web_identity_token: str,
        role_arn: str,
        session_name: str,
        duration: int,
    ) -> TemporaryCredentials:
        """``AssumeRoleWithWebIdentity``, unsigned: the token proves who asks."""
        params = {
            "ProviderId": provider_id,
            "WebIdentityToken": web_identity_token,
            "RoleArn": role_arn,
            "RoleSessionName": session_name,
            "DurationSeconds": duration,
        }
        response = await self._call("AssumeRoleWithWebIdentity", params, None)
        return _temporary(response, "AssumeRoleWithWebIdentity")

    async def _call(
        self, action: str, params: Mapping[str, Any], signer: Credentials | None
    ) -> dict[str, Any]:
        site = CallSite(product=SERVICE, action=action, region=self._region)
        endpoint = self._endpoints.resolve(SERVICE, self._region)
        body = encode_body(params)
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Host": endpoint.host,
            "Content-Type": JSON,
            "X-TC-Action": action,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self._region,
            "X-TC-Language": "en-US",
            "X-TC-RequestClient": f"taskwatch/{__version__}",
        }
        if signer is None:
            headers["Authorization"] = "SKIP"
        else:
            headers["Authorization"] = sign_tc3(
                secret_id=signer.secret_id,
                secret_key=signer.secret_key,
                service=SERVICE,
                host=endpoint.host,
                method="POST",
                content_type=JSON,
                timestamp=timestamp,
                body=body,
            ).authorization
            if signer.token:
                headers["X-TC-Token"] = signer.token
        raw = await self._transport.send(
            "POST", endpoint.url, headers=headers, body=body, site=site
        )
        return parse_response(raw, site=site)


def _temporary(response: Mapping[str, Any], action: str) -> TemporaryCredentials:
    """The credentials of an STS answer; a malformed one names the field, never a value."""
    creds = response.get("Credentials")
    expired = response.get("ExpiredTime")
    if not isinstance(creds, dict):
        raise CredentialError(f"sts.{action}: the answer has no Credentials object")
    values = {k: creds.get(k) for k in ("TmpSecretId", "TmpSecretKey", "Token")}
    for name, value in values.items():
        if not isinstance(value, str) or not value:
            raise CredentialError(f"sts.{action}: Credentials.{name} is missing or not text")
    if not isinstance(expired, int | float) or isinstance(expired, bool):
        raise CredentialError(f"sts.{action}: ExpiredTime is missing or not a number")
    return TemporaryCredentials(
        Credentials(str(values["TmpSecretId"]), str(values["TmpSecretKey"]), values["Token"]),
        float(expired),
    )
