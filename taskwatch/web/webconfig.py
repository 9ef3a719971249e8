"""HTTP security from a web config file in the Prometheus exporter-toolkit format.

The same file that secures node_exporter secures taskwatch: ``tls_server_config`` (certificate
and key, files or inline PEM; client certificates; TLS versions; TLS 1.2 cipher suites),
``basic_auth_users`` (user name → bcrypt hash), ``http_server_config.headers`` (the five security
headers the toolkit allows) and ``rate_limit``. :func:`load_web_config` validates all of it up front
(certificate and key are loaded, so a key that does not match its certificate fails at start, not
at the first connection) and raises one :class:`~taskwatch.errors.ConfigError` naming the key.
Error messages never quote a hash, a key or a certificate. This module reads and validates the
file; checking credentials and the rate limit at request time is :mod:`taskwatch.web.auth`'s (the
only module that imports bcrypt).

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
- **Re-read on reload, not per request.** The toolkit re-reads the file on every request; here it
  is read at start and again on every reload (SIGHUP, ``POST /-/reload``), through
  :class:`LiveWebConfig`: users, hashes, rate limit and headers apply to the next request; a new
  certificate and key (rotated by cert-manager, say) to the next TLS handshake (an SNI callback on
  the listening context hands each new connection the newest context; open connections keep
  theirs). A bad file keeps the last good one. Turning TLS on or off takes a restart (the socket
  is bound with or without TLS); so may other ``tls_server_config`` changes (client CA, versions,
  cipher suites): only the certificate and key are guaranteed to follow a reload.
- **Rate limit** (``rate_limit``): one token bucket for every request that needs credentials
  (wrong passwords included, which slows guessing), 429 with ``Retry-After`` past it; the probes
  are exempt.
- **Not supported:** ``RequestClientCert`` and ``RequireAnyClientCert`` (they accept certificates
  nobody verified) and ``client_allowed_sans`` are refused; TLS 1.0/1.1 are refused (RFC 8996);
  ``curve_preferences`` is ignored with a warning (OpenSSL's defaults are used); ``http2`` is
  ignored (aiohttp serves HTTP/1.1).
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog
import yaml
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from taskwatch.durations import parse_duration
from taskwatch.errors import ConfigError
from taskwatch.web.auth import RateLimit, guard
from taskwatch.web.tls import Reader, tls_context

log = structlog.get_logger(__name__)

__all__ = [
    "PROBE_PATHS",
    "LiveWebConfig",
    "RateLimit",
    "WebConfig",
    "load_web_config",
    "parse_web_config",
]

PROBE_PATHS = frozenset({"/healthz", "/readyz"})
"""Paths answered without credentials by default (GET and HEAD only)."""

_HEADERS: Mapping[str, frozenset[str] | None] = {
    "Content-Security-Policy": None,
    "X-Frame-Options": frozenset({"deny", "sameorigin"}),
    "X-Content-Type-Options": frozenset({"nosniff"}),
    "X-XSS-Protection": None,
    "Strict-Transport-Security": None,
}
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}")
_TOP_KEYS = frozenset({"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"})


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
            app.middlewares.append(guard(self.users, self.rate_limit, self.public_paths))
        if self.headers:
            headers = dict(self.headers)

            async def add_headers(_request: web.Request, response: web.StreamResponse) -> None:
                response.headers.update(headers)

            app.on_response_prepare.append(add_headers)


class LiveWebConfig:
    """The web config a running server uses, replaced by :meth:`swap` on reload (see the module).

    Not guaranteed: that a connection open before the swap sees the new certificate, or that the
    success cache and the rate limit's bucket survive a swap (both start afresh).
    """

    def __init__(self, config: WebConfig) -> None:
        self.current = config
        self._guard = _guard_of(config)
        self.ssl_context = config.ssl_context
        """The listening socket's context: fixed for the process, it defers to the newest."""
        if self.ssl_context is not None:
            self.ssl_context.sni_callback = self._newest_context

    @property
    def users(self) -> Mapping[str, bytes]:
        return self.current.users

    def swap(self, config: WebConfig) -> None:
        """Use ``config`` from the next request and the next TLS handshake."""
        if (config.ssl_context is None) != (self.ssl_context is None):
            log.warning("config.restart_needed", key="http.web_config.tls_server_config")
        self.current = config
        self._guard = _guard_of(config)
        log.info("webconfig.reloaded", file=config.file, tls=config.tls, users=len(config.users))

    def install(self, app: web.Application) -> None:
        """One middleware and one header hook that defer to the current config."""

        @web.middleware
        async def current_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            guarded = self._guard
            return await (handler(request) if guarded is None else guarded(request, handler))

        async def add_headers(_request: web.Request, response: web.StreamResponse) -> None:
            response.headers.update(self.current.headers)

        app.middlewares.append(current_guard)
        app.on_response_prepare.append(add_headers)

    def _newest_context(
        self, sslobj: ssl.SSLObject, _name: str | None, ctx: ssl.SSLContext
    ) -> None:
        newest = self.current.ssl_context
        if newest is not None and newest is not ctx:
            sslobj.context = newest


def _guard_of(config: WebConfig) -> Middleware | None:
    if config.users or config.rate_limit is not None:
        return guard(config.users, config.rate_limit, config.public_paths)
    return None


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
    r = Reader(file, directory or Path.cwd())
    top = r.mapping(data, None, _TOP_KEYS)
    http = r.mapping(top.get("http_server_config"), "http_server_config", {"http2", "headers"})
    if "http2" in http:
        r.boolean(http["http2"], "http_server_config.http2")  # validated, then ignored
    return WebConfig(
        file=file,
        ssl_context=tls_context(r, top.get("tls_server_config")),
        users=_users(r, top.get("basic_auth_users")),
        headers=_headers(r, http.get("headers")),
        rate_limit=_rate_limit(r, top.get("rate_limit")),
        public_paths=public_paths,
    )


# --- validation (TLS: taskwatch.web.tls) ------------------------------------------------------


def _users(r: Reader, value: object) -> dict[str, bytes]:
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


def _headers(r: Reader, value: object) -> dict[str, str]:
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


def _rate_limit(r: Reader, value: object) -> RateLimit | None:
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
