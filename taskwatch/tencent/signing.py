"""TC3-HMAC-SHA256 (API 3.0 signature v3) and the legacy v1 HMAC signature, as pure functions.

Both sides use this module: taskwatch signs with it and the emulator verifies with it, so one set
of known-answer vectors (reference §2.6, computed with the official SDK) pins both. Nothing here
does I/O or reads a clock: the caller passes the timestamp.

What is signed is exactly what is sent: the body bytes (not a re-serialisation), the raw query
string as it will appear on the wire (not re-sorted), and the ``content-type`` and ``host`` header
values. The session token (``X-TC-Token``) is not signed, as in every official SDK.

Not guaranteed: signing extra headers beyond ``content-type;host`` on the client side (no SDK
does); the verifier accepts any signed-header list that contains both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

ALGORITHM = "TC3-HMAC-SHA256"
SIGNED_HEADERS = "content-type;host"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def scope_date(timestamp: int) -> str:
    """The credential-scope date: the UTC date of the timestamp, never local time."""
    return _utc_date(timestamp // 86400)


@lru_cache(maxsize=8)
def _utc_date(day: int) -> str:
    """Cached per UTC day: formatting a datetime was a tenth of the signing cost."""
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")


def canonical_request(
    *,
    method: str,
    query: str,
    headers: dict[str, str],
    signed_headers: str,
    payload_hash: str,
) -> str:
    """The canonical request (reference §2.2).

    ``headers`` maps lower-case names to values for every name listed in ``signed_headers``;
    values are trimmed and lower-cased here, as the specification says.
    """
    names = signed_headers.split(";")
    canonical_headers = "".join(f"{n}:{headers[n].strip().lower()}\n" for n in names)
    return "\n".join((method.upper(), "/", query, canonical_headers, signed_headers, payload_hash))


def credential_scope(date: str, service: str) -> str:
    """``<date>/<service>/tc3_request``."""
    return f"{date}/{service}/tc3_request"


def string_to_sign(timestamp: int, scope: str, canonical: str) -> str:
    """The string to sign (reference §2.3)."""
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{sha256_hex(canonical.encode())}"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


@lru_cache(maxsize=64)
def signing_key(secret_key: str, date: str, service: str) -> bytes:
    """The derived key (reference §2.4). Cached: it changes once a day per service."""
    secret_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    secret_service = _hmac(secret_date, service)
    return _hmac(secret_service, "tc3_request")


def signature(key: bytes, to_sign: str) -> str:
    """Lower-case hex HMAC-SHA256 of the string to sign."""
    return hmac.digest(key, to_sign.encode("utf-8"), "sha256").hex()


def authorization(
    secret_id: str, scope: str, sig: str, signed_headers: str = SIGNED_HEADERS
) -> str:
    """The ``Authorization`` header value, spaces exactly as the API expects."""
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={sig}"
    )


@dataclass(frozen=True, slots=True)
class Tc3Signature:
    """Every intermediate value of one signature, so tests can compare each step."""

    canonical_request: str
    string_to_sign: str
    scope: str
    signature: str
    authorization: str


def sign_tc3(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    method: str,
    content_type: str,
    timestamp: int,
    body: bytes = b"",
    query: str = "",
    unsigned_payload: bool = False,
) -> Tc3Signature:
    """Sign one request. ``body`` is the exact bytes sent; ``query`` the raw query string."""
    payload_hash = sha256_hex(UNSIGNED_PAYLOAD.encode() if unsigned_payload else body)
    # canonical_request() spelled out for the two fixed signed headers: the same string, built
    # without the generic header loop (this function runs once per call; tests/bench P6).
    canonical = (
        f"{method.upper()}\n/\n{query}\ncontent-type:{content_type.strip().lower()}\n"
        f"host:{host.strip().lower()}\n\n{SIGNED_HEADERS}\n{payload_hash}"
    )
    date = scope_date(timestamp)
    scope = f"{date}/{service}/tc3_request"
    to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{sha256_hex(canonical.encode())}"
    sig = signature(signing_key(secret_key, date, service), to_sign)
    return Tc3Signature(
        canonical_request=canonical,
        string_to_sign=to_sign,
        scope=scope,
        signature=sig,
        authorization=authorization(secret_id, scope, sig),
    )


_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<sid>[^/\s,]+)/(?P<date>\d{4}-\d{2}-\d{2})/"
    r"(?P<service>[a-z0-9-]+)/tc3_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
    r"Signature=(?P<sig>[0-9a-f]{64})$"
)


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    """The parts of a TC3 ``Authorization`` header, for a verifier."""

    secret_id: str
    date: str
    service: str
    signed_headers: str
    signature: str


def parse_authorization(header: str) -> ParsedAuthorization | None:
    """Split a TC3 ``Authorization`` header; ``None`` when it is malformed."""
    m = _AUTH_RE.match(header.strip())
    if m is None:
        return None
    return ParsedAuthorization(
        secret_id=m["sid"],
        date=m["date"],
        service=m["service"],
        signed_headers=m["signed"],
        signature=m["sig"],
    )


def verify_tc3(
    parsed: ParsedAuthorization,
    *,
    secret_key: str,
    method: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    timestamp: int,
) -> bool:
    """Recompute a received request's signature from what was received, byte for byte.

    ``headers`` holds the received headers with lower-case names; the signed-header list comes from
    the request itself. ``X-TC-Content-SHA256: UNSIGNED-PAYLOAD`` switches the payload hash.
    """
    if parsed.date != scope_date(timestamp):
        return False  # the scope date must be the UTC date of X-TC-Timestamp (reference §9.2)
    names = parsed.signed_headers.split(";")
    if "content-type" not in names or "host" not in names or any(n not in headers for n in names):
        return False
    unsigned = headers.get("x-tc-content-sha256", "").strip() == UNSIGNED_PAYLOAD
    payload_hash = sha256_hex(UNSIGNED_PAYLOAD.encode() if unsigned else body)
    canonical = canonical_request(
        method=method,
        query=query,
        headers=headers,
        signed_headers=parsed.signed_headers,
        payload_hash=payload_hash,
    )
    scope = credential_scope(parsed.date, parsed.service)
    to_sign = string_to_sign(timestamp, scope, canonical)
    expected = signature(signing_key(secret_key, parsed.date, parsed.service), to_sign)
    return hmac.compare_digest(expected, parsed.signature)


def v1_string_to_sign(method: str, host: str, params: dict[str, str], path: str = "/") -> str:
    """Legacy v1: ``<METHOD><host><path>?k=v&...`` sorted by key, values raw (not URL-encoded)."""
    joined = "&".join(f"{k}={params[k]}" for k in sorted(params))
    return f"{method.upper()}{host}{path}?{joined}"


def sign_v1(secret_key: str, to_sign: str, method: str = "HmacSHA256") -> str:
    """Legacy v1 signature: base64 of HMAC-SHA1/SHA256 over the string to sign."""
    digest = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}[method]
    mac = hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), digest)
    return base64.b64encode(mac.digest()).decode("ascii")
