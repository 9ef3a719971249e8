"""Temporary credentials that renew themselves: the one cache every role source shares.

A role source (``assume-role``, ``cvm-role``, ``oidc``) knows how to *fetch* one set of temporary
credentials and when they expire; :class:`RefreshingCredentials` decides *when* to fetch:

* ahead of expiry: at :data:`REFRESH_AT` of the lifetime the issuer granted, and never later than
  :data:`MIN_MARGIN` seconds before the end, so a call signed just before expiry never travels
  with a token that dies on the way (the API answers ``AuthFailure.TokenFailure`` then);
* single-flight: one fetch at a time (an :class:`asyncio.Lock`), so a cycle's many calls at the
  moment of renewal make one STS or metadata request, not dozens; while it runs, callers get the
  credentials held if they are still valid (a slow STS never stalls a cycle ahead of expiry), and
  wait for it only when nothing valid is left;
* a failed renewal keeps the credentials it has until they expire: it is logged
  (``credentials.refresh_failed``: the source's description, the error's class and its text, which
  :mod:`taskwatch.tencent.errors` has already scrubbed and capped, never a key or token) and
  counted (:attr:`RefreshingCredentials.failures`), and tried again after :data:`RETRY_AFTER`
  seconds (sooner when expiry is closer), not on every call;
* with nothing valid left, ``get()`` raises :class:`CredentialError` with the cause kept.

``invalidate()`` (the client calls it after ``AuthFailure.*``) makes the next ``get()`` fetch; the
old credentials stay the fallback until their own expiry, since the failure may not be theirs.

Every fetched key and token is registered with :func:`taskwatch.logs.register_secret` with its
expiry, read on this source's clock (:class:`~taskwatch.tencent.credentials.Credentials` registered
it when built, before anyone knew when it expires): logs scrub it wherever it appears until
:data:`~taskwatch.logs.SECRET_GRACE` after it expires, and the registry does not grow with every
renewal.

What an operator watches: :attr:`RefreshingCredentials.observer` is told ``"ok"`` or ``"failed"``
after every attempt (``taskwatch_credentials_refreshes_total``), and :attr:`expires_at` says when
what is held expires (``taskwatch_credentials_expiry_timestamp_seconds``); :attr:`kind` is the
source's kind (``assume-role``, ``cvm-role``, ``oidc``), a bounded label, never a role ARN.

Not guaranteed: the clock is trusted; an issuer whose ``ExpiredTime`` is already past is refused,
but a local clock far ahead of the API's makes every fetch look expired (the error says so).
Renewal happens on demand: a process that makes no call (a standby replica) lets what it holds
expire, and counts no failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from taskwatch.clock import Clock, SystemClock
from taskwatch.errors import CredentialError, TaskwatchError
from taskwatch.logs import register_secret
from taskwatch.tencent.credentials import Credentials

log = structlog.get_logger(__name__)

REFRESH_AT = 0.8
"""Fraction of the granted lifetime after which a renewal is started."""
MIN_MARGIN = 60.0
"""Seconds before expiry by which a renewal has started, however short the lifetime."""
RETRY_AFTER = 30.0
"""Seconds between renewal attempts after one failed (halved towards expiry, at least 1 s)."""


@dataclass(frozen=True, slots=True)
class TemporaryCredentials:
    """One set of temporary credentials and the wall-clock second (epoch) they stop working."""

    credentials: Credentials
    expires_at: float


Fetch = Callable[[], Awaitable[TemporaryCredentials]]
RefreshObserver = Callable[[str], None]
"""Told the result of every renewal attempt: ``"ok"`` or ``"failed"``."""


class RefreshingCredentials:
    """A :class:`~taskwatch.tencent.credentials.CredentialSource` over a fetch function."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        describe: str,
        clock: Clock | None = None,
        kind: str = "temporary",
    ) -> None:
        self._fetch = fetch
        self._describe = describe
        self.kind = kind
        """What issues the credentials (``assume-role``, ``cvm-role``, ``oidc``): a metric label."""
        self.observer: RefreshObserver | None = None
        """Told the result of every renewal attempt (the metrics count them)."""
        self._clock: Clock = clock or SystemClock()
        self._lock = asyncio.Lock()
        self._current: TemporaryCredentials | None = None
        self._renew_at = 0.0
        self.fetches = 0
        """Successful fetches since start (the first one included)."""
        self.failures = 0
        """Failed fetches since start: what an operator alerts on."""

    @property
    def expires_at(self) -> float | None:
        """When the credentials held now expire (epoch seconds); None before the first fetch."""
        return None if self._current is None else self._current.expires_at

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _usable(self, now: float) -> Credentials | None:
        current = self._current
        return current.credentials if current is not None and now < current.expires_at else None

    async def get(self) -> Credentials:
        now = self._now()
        usable = self._usable(now)
        if usable is not None and (now < self._renew_at or self._lock.locked()):
            return usable  # fresh, or being renewed by another caller: never wait while valid
        async with self._lock:
            now = self._now()
            usable = self._usable(now)
            if usable is not None and now < self._renew_at:
                return usable  # another caller renewed while this one waited
            return await self._renew(now, usable)

    async def _renew(self, started: float, fallback: Credentials | None) -> Credentials:
        try:
            fresh = await self._fetch()
            now = self._now()
            for secret in (fresh.credentials.secret_key, fresh.credentials.token):
                register_secret(secret, fresh.expires_at, now=now)  # temporary from here on
            if fresh.expires_at <= now:
                raise CredentialError(
                    f"{self._describe}: the credentials received are already expired "
                    "(is the local clock ahead of the API's?)"
                )
        except TaskwatchError as exc:
            return self._failed(exc, fallback)
        lifetime = fresh.expires_at - started
        self._current = fresh
        self._renew_at = min(started + REFRESH_AT * lifetime, fresh.expires_at - MIN_MARGIN)
        self.fetches += 1
        self._observe("ok")
        log.info(
            "credentials.refreshed",
            source=self._describe,
            secret_id=fresh.credentials.masked_id,
            expires_in=round(fresh.expires_at - now),
        )
        return fresh.credentials

    def _observe(self, result: str) -> None:
        if self.observer is not None:
            self.observer(result)

    def _failed(self, exc: TaskwatchError, fallback: Credentials | None) -> Credentials:
        self.failures += 1
        self._observe("failed")
        now = self._now()
        current = self._current
        left = current.expires_at - now if current is not None and fallback is not None else 0.0
        log.warning(
            "credentials.refresh_failed",
            source=self._describe,
            error=type(exc).__name__,
            reason=str(exc),
            failures=self.failures,
            keeping_for=round(left) if fallback is not None else None,
        )
        if fallback is None:
            raise CredentialError(f"{self._describe}: cannot get credentials: {exc}") from exc
        self._renew_at = now + max(1.0, min(RETRY_AFTER, left / 2))
        return fallback

    def invalidate(self) -> None:
        self._renew_at = 0.0

    def describe(self) -> str:
        return self._describe
