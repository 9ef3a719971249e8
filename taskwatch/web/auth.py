"""Who may see the web pages, and how often: basic authentication against bcrypt hashes and one
token bucket, as an aiohttp middleware, for the settings :mod:`taskwatch.web.webconfig` read.

Why it is built this way (see also the web config module's docstring):

- **Successful checks are cached.** bcrypt is slow on purpose (about 70 ms at cost 10, seconds at
  cost 18) and Prometheus sends the same credentials on every scrape. A success is remembered in a
  small LRU keyed by an HMAC (per-process random key) of user, password and hash, so neither
  passwords nor fast unsalted digests of them sit in memory. Failures are never cached; bcrypt
  runs in worker threads, two at a time, so wrong-password traffic cannot stall the event loop.
  An unknown user costs one bcrypt as well, so timing does not tell which users exist.
- **Rate limit**: one token bucket for every request that needs credentials (wrong passwords
  included, which slows guessing), 429 with ``Retry-After`` past it; the probes are exempt.

This is the only module that imports bcrypt (``.importlinter`` enforces it). Not guaranteed:
constant time beyond bcrypt's own (the cache answers a repeated success faster, by design); the
bucket is per process, not per client.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import anyio
import bcrypt
import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

log = structlog.get_logger(__name__)

__all__ = ["REALM", "Authenticator", "RateLimit", "guard"]

REALM = "taskwatch"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One token bucket for all protected requests (the toolkit's is global too): 429 past it."""

    interval: float
    """Seconds between two requests in the long run."""
    burst: int


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


USER: Final = web.RequestKey("user", str)
"""The authenticated user's name, set on the request for handlers that record who acted."""


def guard(
    users: Mapping[str, bytes], rate_limit: RateLimit | None, public: frozenset[str]
) -> Middleware:
    """The middleware that asks for credentials (when there are ``users``) and applies the rate
    limit (when there is one) to every request but GET/HEAD of a ``public`` path."""
    auth = Authenticator(users) if users else None
    bucket = _Bucket(rate_limit) if rate_limit is not None else None
    challenge = {hdrs.WWW_AUTHENTICATE: f'Basic realm="{REALM}"', hdrs.CACHE_CONTROL: "no-store"}

    @web.middleware
    async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
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
            request[USER] = user
        return await handler(request)

    return guarded


def _loop_time() -> float:
    return asyncio.get_running_loop().time()
