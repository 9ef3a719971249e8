"""Who is calling, proven byte for byte: the emulator's TC3 verification and clock-skew check.

Verification is recomputed from what was received (method, raw query string, the signed headers'
values as sent, the raw body) with taskwatch's own :mod:`taskwatch.tencent.signing`, so the signer
and the verifier are pinned by the same known-answer vectors. The checks and their codes follow
reference §2.7 and §9.2, in this order:

1. no or malformed ``Authorization`` → ``AuthFailure.InvalidAuthorization``;
2. no ``X-TC-Timestamp`` → ``MissingParameter``; not an integer → ``InvalidParameter``;
3. more than 300 s off the emulator's clock → ``AuthFailure.SignatureExpire``;
4. unknown SecretId → ``AuthFailure.SecretIdNotFound``;
5. scope service other than the product addressed, or a signature that does not verify (which
   includes a scope date that is not the UTC date of the timestamp) →
   ``AuthFailure.SignatureFailure``;
6. [inferred] a key issued with a session token and a request without it, or with another one, and
   a request carrying a token for a permanent key, or a temporary key past its expiry →
   ``AuthFailure.TokenFailure``.

Legacy v1 (HmacSHA1/HmacSHA256 form signing) is not emulated: such a request has no TC3
``Authorization`` header and gets ``AuthFailure.InvalidAuthorization``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from taskwatch.emulator.wire import EmulatedError, missing, type_error
from taskwatch.tencent.signing import parse_authorization, verify_tc3

SKEW_LIMIT = 300


class Key(Protocol):
    """A key pair the emulator accepts."""

    @property
    def secret_id(self) -> str: ...

    @property
    def secret_key(self) -> str: ...

    @property
    def token(self) -> str | None: ...


def _fail(code: str, message: str, message_zh: str | None = None) -> EmulatedError:
    return EmulatedError(code, message, message_zh)


def authenticate(
    *,
    method: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, Key],
    product: str,
    now: float,
) -> str:
    """The SecretId of a correctly signed request; raises :class:`EmulatedError` otherwise.

    ``headers`` has lower-case names.
    """
    parsed = parse_authorization(headers.get("authorization", ""))
    if parsed is None:
        raise _fail(
            "AuthFailure.InvalidAuthorization",
            "The Authorization header is missing or malformed.",
            "请求头部的 Authorization 不符合腾讯云标准。",
        )
    raw_ts = headers.get("x-tc-timestamp")
    if raw_ts is None or raw_ts == "":
        raise missing("Timestamp")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise type_error("Timestamp") from None
    if abs(now - timestamp) > SKEW_LIMIT:
        raise _fail(
            "AuthFailure.SignatureExpire",
            "The signature is expired, please request again.",
            "签名过期。Timestamp 和服务器时间相差不得超过五分钟，"
            "请检查本地时间是否和标准时间同步。",
        )
    key = keys.get(parsed.secret_id)
    if key is None:
        raise _fail(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found, please ensure that your SecretId is correct.",
            "密钥不存在。请在控制台检查密钥是否已被删除或者禁用，"
            "如状态正常，请检查密钥是否填写正确。",
        )
    signature_failure = _fail(
        "AuthFailure.SignatureFailure",
        "The provided credentials could not be validated. Please check your signature is correct.",
        "请求签名验证失败，请检查您的签名计算是否正确。",
    )
    if parsed.service != product:
        raise signature_failure
    if not verify_tc3(
        parsed,
        secret_key=key.secret_key,
        method=method,
        query=query,
        headers=dict(headers),
        body=body,
        timestamp=timestamp,
    ):
        raise signature_failure
    sent_token = headers.get("x-tc-token") or None
    expires = getattr(key, "expires", None)  # temporary keys (emulator/sts.py) expire
    if sent_token != key.token or (expires is not None and now >= expires):
        raise _fail(
            "AuthFailure.TokenFailure",
            "The token is invalid or expired.",
            "token 错误。",
        )
    return parsed.secret_id
