"""Emulated STS (``sts``, ``2018-08-13``): ``AssumeRole`` and ``AssumeRoleWithWebIdentity``.

Both issue a :class:`TemporaryKey` (a fresh SecretId, key and session token) that the emulator
accepts until it expires on the emulator's clock; after that a call signed with it answers
``AuthFailure.TokenFailure`` (:mod:`taskwatch.emulator.auth`), as the API does (reference §12).
The answer has the documented shape: ``Credentials{Token, TmpSecretId, TmpSecretKey}``,
``ExpiredTime`` (epoch seconds) and ``Expiration`` (ISO 8601, UTC).

* ``AssumeRole`` is signed by a key the emulator accepts (temporary keys included, so roles chain);
* ``AssumeRoleWithWebIdentity`` is unsigned (the SDK sends ``Authorization: SKIP``); the token
  must be JWT-shaped with a numeric ``exp`` claim still in the future on the emulator's clock. No
  issuer or signature is checked: the emulator has no identity provider. [inferred]

Checks and codes [inferred from the SDK's error lists]: a missing parameter → ``MissingParameter``;
a ``RoleArn`` not shaped ``qcs::cam::uin/<digits>:roleName/<name>`` →
``InvalidParameter.ResouceError`` (sic); a ``RoleSessionName`` outside ``[\\w+=,.@-]{2,128}`` →
``InvalidParameter.ParamError``; ``DurationSeconds`` outside 1..43200 →
``InvalidParameter.OverTimeError``; a bad web identity token →
``InvalidParameter.WebIdentityTokenError``. Every role exists and may be assumed by every key.

Expired temporary keys are dropped from the key table at each issuance, so it stays small.

Not emulated: STS's rate limits and injected faults (the product pipeline's, which STS bypasses),
session policies, ``ExternalId``, and any check that the caller may assume the role.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from taskwatch.emulator.auth import Key, authenticate
from taskwatch.emulator.wire import EmulatedError, missing, type_error

SERVICE = "sts"
VERSION = "2018-08-13"
MAX_DURATION = 43200
DEFAULT_DURATION = 7200
_ROLE_ARN = re.compile(r"^qcs::cam::uin/\d+:roleName/[\w+=,.@-]{1,128}$")
_SESSION = re.compile(r"^[\w+=,.@-]{2,128}$")


@dataclass(frozen=True, slots=True)
class TemporaryKey:
    """A key STS or the metadata service issued; accepted until ``expires`` (epoch seconds)."""

    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    expires: float = 0.0


def addressed(host: str, version: str) -> bool:
    """Whether a request is for STS: by its host (``sts.tencentcloudapi.com``) or version."""
    name = host.split(":", 1)[0].lower()
    if name.endswith("tencentcloudapi.com"):
        return name.split(".", 1)[0] == SERVICE
    return version == VERSION


def issue(keys: MutableMapping[str, Key], now: float, duration: int) -> TemporaryKey:
    """A fresh temporary key valid for ``duration`` seconds, added to ``keys``."""
    for sid in [s for s, k in keys.items() if 0 < getattr(k, "expires", 0) <= now]:
        del keys[sid]
    key = TemporaryKey(
        secret_id="AKIDTMP" + secrets.token_hex(14).upper(),
        secret_key=secrets.token_urlsafe(30),
        token=secrets.token_urlsafe(96),
        expires=float(int(now) + duration),
    )
    keys[key.secret_id] = key
    return key


def described(key: TemporaryKey) -> dict[str, Any]:
    """The ``Credentials`` / ``ExpiredTime`` / ``Expiration`` fields for ``key``."""
    return {
        "Credentials": {
            "Token": key.token,
            "TmpSecretId": key.secret_id,
            "TmpSecretKey": key.secret_key,
        },
        "ExpiredTime": int(key.expires),
        "Expiration": datetime.fromtimestamp(key.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _text(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise missing(name)
    if not isinstance(value, str):
        raise type_error(name)
    return value


def _common(params: Mapping[str, Any]) -> int:
    if not _ROLE_ARN.match(_text(params, "RoleArn")):
        raise EmulatedError("InvalidParameter.ResouceError", "The RoleArn is malformed.")
    if not _SESSION.match(_text(params, "RoleSessionName")):
        raise EmulatedError("InvalidParameter.ParamError", "The RoleSessionName is invalid.")
    raw = params.get("DurationSeconds", DEFAULT_DURATION)
    try:
        duration = int(raw)
    except (TypeError, ValueError):
        raise type_error("DurationSeconds") from None
    if not 0 < duration <= MAX_DURATION:
        raise EmulatedError(
            "InvalidParameter.OverTimeError",
            f"DurationSeconds must be between 1 and {MAX_DURATION}.",
        )
    return duration


def _check_web_identity(token: str, now: float) -> None:
    bad = EmulatedError(
        "InvalidParameter.WebIdentityTokenError", "The WebIdentityToken is invalid or expired."
    )
    parts = token.split(".")
    if len(parts) != 3:
        raise bad
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        raise bad from None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now:
        raise bad


def answer(
    action: str,
    params: Mapping[str, Any],
    *,
    method: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: MutableMapping[str, Key],
    now: float,
) -> tuple[dict[str, Any], str]:
    """The ``Response`` of one STS call (without ``RequestId``) and the caller's SecretId."""
    if action == "AssumeRole":
        caller = authenticate(
            method=method,
            query=query,
            headers=headers,
            body=body,
            keys=keys,
            product=SERVICE,
            now=now,
        )
        return described(issue(keys, now, _common(params))), caller
    if action == "AssumeRoleWithWebIdentity":
        _text(params, "ProviderId")
        _check_web_identity(_text(params, "WebIdentityToken"), now)
        return described(issue(keys, now, _common(params))), ""
    raise EmulatedError("InvalidAction", f"The request `Action` is invalid or not found: {action}.")
