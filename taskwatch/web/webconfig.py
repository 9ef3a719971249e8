"""HTTP security from a web config file in the Prometheus exporter-toolkit format.

The same file that secures node_exporter secures taskwatch: ``tls_server_config`` (certificate
and key, files or inline PEM; client certificates; TLS versions; TLS 1.2 cipher suites),
``basic_auth_users`` (user name → bcrypt hash), ``http_server_config.headers`` (the five security
headers the toolkit allows) and ``rate_limit``. :func:`load_web_config` validates all of it up front
(certificate and key are loaded, so a key that does not match its certificate fails at start, not
at the first connection) and raises one :class:`~taskwatch.errors.ConfigError` naming the key.
Error messages never quote a hash, a key or a certificate.

Decisions that differ from the toolkit, on purpose:

- **Probes stay open.** ``GET /healthz`` and ``GET /readyz`` answer without credentials (kubelet
  and systemd watchdogs cannot easily send basic auth, and a probe that gets 401 restarts the
  pod). They expose loop names and error class names, no task data.
  ``public_paths=frozenset()`` protects them too. Everything else (``/``, ``/metrics``, the
  ``POST /-/…`` switches) needs a user.
- **Successful checks are cached.** bcrypt is slow on purpose (about 70 ms at cost 10, seconds at
  cost 18) and Prometheus sends the same credentials on every scrape. A success is remembered in a
  small LRU keyed by an HMAC (per-process random key) of user, password and hash, so neither
  passwords nor fast unsalted digests of them sit in memory. Failures are never cached; bcrypt
  runs in worker threads, two at a time, so wrong-password traffic cannot stall the event loop.
  An unknown user costs one bcrypt as well, so timing does not tell which users exist.
- **Read once.** The toolkit re-reads the file on every request; here it is read when the server
  starts, so a renewed certificate or a changed user list takes a restart.
- **Rate limit** (``rate_limit``): one token bucket for every request that needs credentials
  (wrong passwords included, which slows guessing), 429 with ``Retry-After`` past it; the probes
  are exempt.
- **Not supported:** ``RequestClientCert`` and ``RequireAnyClientCert`` (they accept certificates
  nobody verified) and ``client_allowed_sans`` are refused; TLS 1.0/1.1 are refused (RFC 8996);
  ``curve_preferences`` is ignored with a warning (OpenSSL's defaults are used); ``http2`` is
  ignored (aiohttp serves HTTP/1.1).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import hashlib
import hmac
import os
import re
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import bcrypt
import structlog
import yaml
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from taskwatch.durations import parse_duration
from taskwatch.errors import ConfigError

log = structlog.get_logger(__name__)

__all__ = ["PROBE_PATHS", "Authenticator", "WebConfig", "load_web_config", "parse_web_config"]

PROBE_PATHS = frozenset({"/healthz", "/readyz"})
"""Paths answered without credentials by default (GET and HEAD only)."""
REALM = "taskwatch"

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNVERIFIED_CLIENT_AUTH = frozenset({"RequestClientCert", "RequireAnyClientCert"})
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_OBSOLETE_VERSIONS = frozenset({"TLS10", "TLS11"})
# Go's names (crypto/tls, the ones tls.CipherSuites() lists for TLS 1.0-1.2) → OpenSSL's.
_CIPHERS = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
}
_HEADERS: Mapping[str, frozenset[str] | None] = {
    "Content-Security-Policy": None,
    "X-Frame-Options": frozenset({"deny", "sameorigin"}),
    "X-Content-Type-Options": frozenset({"nosniff"}),
    "X-XSS-Protection": None,
    "Strict-Transport-Security": None,
}
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}")
_TOP_KEYS = frozenset({"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"})
# fmt: off
_TLS_KEYS = frozenset({
    "cert", "key", "client_ca", "cert_file", "key_file", "client_auth_type", "client_ca_file",
    "client_allowed_sans", "min_version", "max_version", "cipher_suites",
    "prefer_server_cipher_suites", "curve_preferences",
})
# fmt: on


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One token bucket for all protected requests (the toolkit's is global too): 429 past it."""

    interval: float
    """Seconds between two requests in the long run."""
    burst: int


@dataclass(frozen=True, slots=True)
class WebConfig:
    """A validated web config; ``ssl_context`` is ``None`` for plain HTTP."""

    file: str
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    users: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    """User name → bcrypt hash; empty means no authentication."""
    headers: Mapping[str, str] = field(default_factory=dict)
    rate_limit: RateLimit | None = None
    public_paths: frozenset[str] = PROBE_PATHS

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None

    def install(self, app: web.Application) -> None:
        """Add authentication, rate limiting and the extra headers to ``app`` (before it starts)."""
        if self.users or self.rate_limit is not None:
            app.middlewares.append(
                _guard(
                    Authenticator(self.users) if self.users else None,
                    _Bucket(self.rate_limit) if self.rate_limit is not None else None,
                    self.public_paths,
                )
            )
        if self.headers:
            headers = dict(self.headers)

            async def add_headers(_request: web.Request, response: web.StreamResponse) -> None:
                response.headers.update(headers)

            app.on_response_prepare.append(add_headers)


def load_web_config(
    path: str | os.PathLike[str], *, public_paths: frozenset[str] = PROBE_PATHS
) -> WebConfig:
    """Read and validate the web config file at ``path``; relative file names in it are relative
    to the file's directory (as in the toolkit)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(exc.strerror or type(exc).__name__, file=source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        # Only the problem and the line: the snippet could quote a hash or a key.
        where = f" at line {exc.problem_mark.line + 1}" if exc.problem_mark else ""
        raise ConfigError(f"not valid YAML: {exc.problem}{where}", file=source) from None
    except (yaml.YAMLError, RecursionError):
        raise ConfigError("not valid YAML", file=source) from None
    return parse_web_config(
        data, file=source, directory=Path(path).parent, public_paths=public_paths
    )


def parse_web_config(
    data: object,
    *,
    file: str,
    directory: Path | None = None,
    public_paths: frozenset[str] = PROBE_PATHS,
) -> WebConfig:
    """Validate already-parsed YAML (``None``, an empty file, means no security at all)."""
    r = _Reader(file, directory or Path.cwd())
    top = r.mapping(data, None, _TOP_KEYS)
    http = r.mapping(top.get("http_server_config"), "http_server_config", {"http2", "headers"})
    if "http2" in http:
        r.boolean(http["http2"], "http_server_config.http2")  # validated, then ignored
    return WebConfig(
        file=file,
        ssl_context=_tls(r, top.get("tls_server_config")),
        users=_users(r, top.get("basic_auth_users")),
        headers=_headers(r, http.get("headers")),
        rate_limit=_rate_limit(r, top.get("rate_limit")),
        public_paths=public_paths,
    )


# --- validation ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reader:
    file: str
    directory: Path

    def error(self, key: str | None, reason: str) -> ConfigError:
        return ConfigError(reason, file=self.file, key=key)

    def mapping(
        self, value: object, key: str | None, allowed: frozenset[str] | set[str]
    ) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(key, f"must be a mapping, not {type(value).__name__}")
        for name in value:
            if not isinstance(name, str):
                raise self.error(key, f"keys must be strings, not {type(name).__name__}")
            if name not in allowed:
                raise self.error(_join(key, name), "unknown key")
        return value

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(key, "must be a non-empty string")
        return value

    def boolean(self, value: object, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def strings(self, value: object, key: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, "must be a list of strings")
        return [self.string(v, f"{key}[{i}]") for i, v in enumerate(value)]

    def path(self, value: object, key: str) -> Path:
        path = Path(self.string(value, key))
        return path if path.is_absolute() else self.directory / path

    def read(self, path: Path, key: str) -> str:
        try:
            return path.read_text(encoding="ascii")
        except OSError as exc:
            raise self.error(
                key, f"cannot read {path}: {exc.strerror or type(exc).__name__}"
            ) from None
        except UnicodeDecodeError:
            raise self.error(key, f"{path} is not PEM text") from None


def _join(prefix: str | None, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _users(r: _Reader, value: object) -> dict[str, bytes]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise r.error("basic_auth_users", "must be a mapping of user name to bcrypt hash")
    users: dict[str, bytes] = {}
    for name, hashed in value.items():
        if not isinstance(name, str) or not name or ":" in name:
            raise r.error(
                "basic_auth_users", f"user names must be strings without ':', not {name!r}"
            )
        key = f"basic_auth_users.{name}"
        if not isinstance(hashed, str) or not _BCRYPT.fullmatch(hashed):
            raise r.error(
                key, "is not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-31, 60 characters)"
            )
        users[name] = hashed.encode("ascii")
    return users


def _headers(r: _Reader, value: object) -> dict[str, str]:
    key = "http_server_config.headers"
    given = r.mapping(value, key, set(_HEADERS))
    headers: dict[str, str] = {}
    for name, text in given.items():
        if text is None or text == "":
            continue  # "Unset if blank"
        text = r.string(text, f"{key}.{name}")
        allowed = _HEADERS[name]
        if allowed is not None and text.lower() not in allowed:
            raise r.error(f"{key}.{name}", f"must be one of {sorted(allowed)}, not {text!r}")
        if "\n" in text or "\r" in text:
            raise r.error(f"{key}.{name}", "must be one line")
        headers[name] = text
    return headers


def _rate_limit(r: _Reader, value: object) -> RateLimit | None:
    given = r.mapping(value, "rate_limit", {"interval", "burst"})
    if not given:
        return None
    try:
        interval = parse_duration(given.get("interval", 0))
    except ValueError as exc:
        raise r.error("rate_limit.interval", str(exc)) from None
    burst = given.get("burst", 0)
    if not isinstance(burst, int) or isinstance(burst, bool) or burst < 0:
        raise r.error("rate_limit.burst", "must be a whole number ≥ 0")
    if interval == 0:
        return None  # the toolkit's "set to 0 to disable"
    if burst == 0:
        raise r.error("rate_limit.burst", "must be ≥ 1 when an interval is set")
    return RateLimit(interval=interval, burst=burst)


def _tls(r: _Reader, value: object) -> ssl.SSLContext | None:
    k = "tls_server_config"
    tls = r.mapping(value, k, _TLS_KEYS)
    if not tls:
        return None
    if "client_allowed_sans" in tls:
        raise r.error(
            f"{k}.client_allowed_sans",
            "not supported by taskwatch: use a client CA "
            "that issues certificates only to allowed clients",
        )
    if "curve_preferences" in tls:
        r.strings(tls["curve_preferences"], f"{k}.curve_preferences")
        log.warning(
            "webconfig.ignored",
            file=r.file,
            key=f"{k}.curve_preferences",
            reason="OpenSSL's default curves are used",
        )

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _version(r, tls.get("min_version", "TLS12"), f"{k}.min_version")
    ctx.maximum_version = _version(r, tls.get("max_version", "TLS13"), f"{k}.max_version")
    if ctx.minimum_version > ctx.maximum_version:
        raise r.error(f"{k}.min_version", "is above max_version")
    _load_chain(r, ctx, tls)

    auth_type = r.string(tls.get("client_auth_type", "NoClientCert"), f"{k}.client_auth_type")
    if auth_type in _UNVERIFIED_CLIENT_AUTH:
        raise r.error(
            f"{k}.client_auth_type",
            f"{auth_type} accepts unverified certificates: "
            "use RequireAndVerifyClientCert (or VerifyClientCertIfGiven)",
        )
    if auth_type not in _CLIENT_AUTH:
        raise r.error(
            f"{k}.client_auth_type", f"unknown {auth_type!r}; one of {sorted(_CLIENT_AUTH)}"
        )
    ctx.verify_mode = _CLIENT_AUTH[auth_type]
    ca = _client_ca(r, tls)
    if ca is None and ctx.verify_mode != ssl.CERT_NONE:
        raise r.error(f"{k}.client_ca_file", f"is required with client_auth_type {auth_type}")
    if ca is not None:
        if ctx.verify_mode == ssl.CERT_NONE:
            raise r.error(
                f"{k}.client_auth_type",
                "client CAs are configured but NoClientCert "
                "would never ask for a client certificate",
            )
        try:
            ctx.load_verify_locations(cadata=ca)
        except (ssl.SSLError, ValueError):
            raise r.error(f"{k}.client_ca_file", "holds no valid PEM certificate") from None

    suites = r.strings(tls.get("cipher_suites"), f"{k}.cipher_suites")
    for i, name in enumerate(suites):
        if name not in _CIPHERS:
            raise r.error(f"{k}.cipher_suites[{i}]", f"unknown TLS 1.2 cipher suite {name!r}")
    if suites:
        try:
            ctx.set_ciphers(":".join(_CIPHERS[s] for s in suites))
        except ssl.SSLError:
            raise r.error(f"{k}.cipher_suites", "none of these suites is available") from None
    if r.boolean(tls.get("prefer_server_cipher_suites", True), f"{k}.prefer_server_cipher_suites"):
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    return ctx


def _version(r: _Reader, value: object, key: str) -> ssl.TLSVersion:
    if value in _OBSOLETE_VERSIONS:
        raise r.error(key, f"{value} is obsolete (RFC 8996); use TLS12 or TLS13")
    if not isinstance(value, str) or value not in _VERSIONS:
        raise r.error(key, f"must be one of {sorted(_VERSIONS)}, not {value!r}")
    return _VERSIONS[value]


def _pem(
    r: _Reader, tls: Mapping[str, Any], inline: str, file_key: str
) -> tuple[str, str, Path | None] | None:
    """(PEM text, the key to blame, the file if given as one); giving both forms is an error."""
    k = "tls_server_config"
    if inline in tls and file_key in tls:
        raise r.error(f"{k}.{inline}", f"give {inline} or {file_key}, not both")
    if inline in tls:
        return r.string(tls[inline], f"{k}.{inline}"), f"{k}.{inline}", None
    if file_key in tls:
        blame = f"{k}.{file_key}"
        path = r.path(tls[file_key], blame)
        return r.read(path, blame), blame, path
    return None


def _client_ca(r: _Reader, tls: Mapping[str, Any]) -> str | None:
    found = _pem(r, tls, "client_ca", "client_ca_file")
    return None if found is None else found[0]


def _load_chain(r: _Reader, ctx: ssl.SSLContext, tls: Mapping[str, Any]) -> None:
    k = "tls_server_config"
    cert = _pem(r, tls, "cert", "cert_file")
    key = _pem(r, tls, "key", "key_file")
    if cert is None:
        raise r.error(f"{k}.cert_file", "is required (or cert, inline)")
    if key is None:
        raise r.error(f"{k}.key_file", "is required (or key, inline)")
    if "-----BEGIN CERTIFICATE-----" not in cert[0]:
        raise r.error(cert[1], "holds no PEM certificate")
    if "PRIVATE KEY-----" not in key[0]:
        raise r.error(key[1], "holds no PEM private key")
    # ssl loads chains from files only: inline PEM goes through a private temporary directory
    # (0700), removed at once. An encrypted key fails instead of prompting on the terminal.
    with contextlib.ExitStack() as stack:
        if cert[2] is not None and key[2] is not None:
            paths = (str(cert[2]), str(key[2]))
        else:
            paths = stack.enter_context(_private_files(cert[0], key[0]))
        try:
            ctx.load_cert_chain(*paths, password=_no_password)
        except (ssl.SSLError, OSError, ValueError):
            raise r.error(
                key[1],
                f"does not match the certificate of {cert[1]}, or is encrypted or not a PEM key",
            ) from None


def _no_password() -> bytes:
    raise ValueError("encrypted private keys are not supported")


@contextlib.contextmanager
def _private_files(cert: str, key: str) -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="taskwatch-tls-") as directory:
        paths = []
        for name, text in (("cert.pem", cert), ("key.pem", key)):
            path = os.path.join(directory, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(text)
            paths.append(path)
        yield paths[0], paths[1]


# --- serving ------------------------------------------------------------------------------------


class Authenticator:
    """Checks basic-auth credentials against bcrypt hashes; caches successes (see the module)."""

    CACHE_SIZE = 64
    CONCURRENCY = 2
    """bcrypt checks running at once, in worker threads."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        self._key = os.urandom(32)
        self._ok: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._threads = anyio.CapacityLimiter(self.CONCURRENCY)
        self._decoy: bytes | None = None

    def __repr__(self) -> str:
        return f"Authenticator(users={sorted(self._users)})"

    async def check(self, username: str, password: str) -> bool:
        """Whether ``username`` exists and ``password`` matches its hash."""
        hashed = self._users.get(username)
        secret = password.encode("utf-8")
        if hashed is None:
            # Spend the same time as for a real user, then refuse.
            await anyio.to_thread.run_sync(self._decoy_check, secret, limiter=self._threads)
            return False
        token = self._token(username, secret, hashed)
        if token in self._ok:
            self._ok.move_to_end(token)
            return True
        ok = await anyio.to_thread.run_sync(_checkpw, secret, hashed, limiter=self._threads)
        if ok:
            self._ok[token] = None
            while len(self._ok) > self.CACHE_SIZE:
                self._ok.popitem(last=False)
        return ok

    async def check_header(self, header: str) -> str | None:
        """The user name if the ``Authorization`` header holds valid basic credentials."""
        credentials = _basic_credentials(header)
        if credentials is not None and await self.check(*credentials):
            return credentials[0]
        return None

    def _token(self, username: str, secret: bytes, hashed: bytes) -> bytes:
        material = b"\0".join([username.encode("utf-8"), hashed, secret])
        return hmac.new(self._key, material, hashlib.sha256).digest()

    def _decoy_check(self, secret: bytes) -> None:
        if self._decoy is None:
            cost = max(int(h[4:6]) for h in self._users.values())
            self._decoy = bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(cost))
        _checkpw(secret, self._decoy)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) from ``Basic base64(user:password)`` (RFC 7617, UTF-8), else None."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip().encode("ascii"), validate=True).decode("utf-8")
    except (ValueError, binascii.Error):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def _checkpw(secret: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(secret, hashed)
    except ValueError:  # e.g. a password over bcrypt's 72 bytes
        return False


class _Bucket:
    """A token bucket on the event loop's clock."""

    def __init__(self, limit: RateLimit) -> None:
        self._limit = limit
        self._tokens = float(limit.burst)
        self._at: float | None = None

    def take(self, now: float) -> float:
        """0 if a request may pass now, else the seconds until one may."""
        if self._at is not None:
            elapsed = max(0.0, now - self._at)
            self._tokens = min(self._limit.burst, self._tokens + elapsed / self._limit.interval)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) * self._limit.interval


def _guard(
    auth: Authenticator | None, bucket: _Bucket | None, public: frozenset[str]
) -> Middleware:
    challenge = {hdrs.WWW_AUTHENTICATE: f'Basic realm="{REALM}"', hdrs.CACHE_CONTROL: "no-store"}

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in ("GET", "HEAD") and request.path in public:
            return await handler(request)
        if bucket is not None:
            wait = bucket.take(_loop_time())
            if wait > 0:
                return web.Response(
                    status=429,
                    text="Too Many Requests\n",
                    headers={hdrs.RETRY_AFTER: str(max(1, round(wait)))},
                )
        if auth is not None:
            header = request.headers.get(hdrs.AUTHORIZATION)
            user = None if header is None else await auth.check_header(header)
            if user is None:
                if header is not None:
                    log.info("http.unauthorized", path=request.path, remote=request.remote)
                return web.Response(status=401, text="Unauthorized\n", headers=challenge)
        return await handler(request)

    return guard


def _loop_time() -> float:
    return asyncio.get_running_loop().time()
