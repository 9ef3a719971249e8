"""``TencentClient.call``: one signed, rate-limited, retried Tencent Cloud API call.

Each attempt goes: wait for the rate gate → get credentials → sign exactly the bytes that will be
sent → send → read the envelope. Failures are classified by
:func:`taskwatch.tencent.retry.classify`; destructive actions are never retried blindly (see that
module). Every attempt is reported to an observer (metrics) with its outcome code and duration, and
throttling is fed back to the gate so the limiter can slow down.

The client knows nothing of tasks or policies; products/ build on it.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol

import structlog

from taskwatch import __version__
from taskwatch.clock import Clock, SystemClock
from taskwatch.tencent import catalog
from taskwatch.tencent.credentials import CredentialSource
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.envelope import FORM, JSON, encode_body, encode_query, parse_response
from taskwatch.tencent.errors import (
    ApiError,
    CallSite,
    HttpStatusError,
    TencentError,
    ThrottledError,
)
from taskwatch.tencent.retry import RetryPolicy, Verdict, classify
from taskwatch.tencent.signing import sign_tc3
from taskwatch.tencent.transport import Transport

log = structlog.get_logger(__name__)

Method = Literal["POST", "GET"]
LANGUAGES = ("en-US", "zh-CN")
_CLIENT_SUFFIX = re.compile(r"^[0-9a-zA-Z\-_,;.]{1,128}$")
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_V4 = (0x4000 << 64) | (0x8000 << 48)
"""Version 4 and the RFC 4122 variant, as bits of a 128-bit integer."""


class RateGate(Protocol):
    """What the client needs from a rate limiter (taskwatch.limiter.Limiter is one)."""

    async def acquire(self, account: str, product: str, action: str) -> float:
        """Wait for permission to send; returns the seconds waited."""
        ...

    def on_throttled(self, account: str, product: str, action: str) -> None: ...

    def on_success(self, account: str, product: str, action: str) -> None: ...


class OpenGate:
    """No limit at all: for tests and the emulator's own tools."""

    async def acquire(self, account: str, product: str, action: str) -> float:
        return 0.0

    def on_throttled(self, account: str, product: str, action: str) -> None:
        return None

    def on_success(self, account: str, product: str, action: str) -> None:
        return None


class CallObserver(Protocol):
    """Receives one event per attempt: the metrics module implements it."""

    def attempt_finished(self, site: CallSite, outcome: str, seconds: float) -> None:
        """``outcome`` is ``Success``, an API error code, or a transport failure class name."""
        ...

    def rate_waited(self, site: CallSite, seconds: float) -> None: ...


class SilentObserver:
    """Observes nothing."""

    def attempt_finished(self, site: CallSite, outcome: str, seconds: float) -> None:
        return None

    def rate_waited(self, site: CallSite, seconds: float) -> None:
        return None


def outcome_code(exc: TencentError) -> str:
    """The bounded label value for a failure: API code, ``HTTP5xx``-style, or the class name."""
    if isinstance(exc, ApiError):
        return exc.code
    if isinstance(exc, HttpStatusError):
        return f"HTTP{exc.status}"
    return type(exc).__name__


class TencentClient:
    """Calls the Tencent Cloud API for one account."""

    def __init__(
        self,
        *,
        credentials: CredentialSource,
        transport: Transport,
        account: str = "default",
        endpoints: EndpointPolicy | None = None,
        gate: RateGate | None = None,
        observer: CallObserver | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        language: str = "en-US",
        client_suffix: str | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        if client_suffix is not None and not _CLIENT_SUFFIX.match(client_suffix):
            raise ValueError("client suffix must match [0-9a-zA-Z-_,;.]{1,128}")
        self.account = account
        self._credentials = credentials
        self._transport = transport
        self._endpoints = endpoints or EndpointPolicy()
        self._gate: RateGate = gate or OpenGate()
        self._observer: CallObserver = observer or SilentObserver()
        self._clock: Clock = clock or SystemClock()
        self._retry = retry or RetryPolicy()
        self._language = language
        self._request_client = f"taskwatch/{__version__}" + (
            f"; {client_suffix}" if client_suffix else ""
        )
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._ids = random.Random()  # noqa: S311 - trace ids: unique, not secret
        self._sleep = sleep
        self._skew_reported = False
        """A SignatureExpire was reported at warning; repeats go to debug until a call works."""

    async def call(
        self,
        product: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        region: str | None = None,
        method: Method = "POST",
        version: str | None = None,
    ) -> dict[str, Any]:
        """Call ``action`` of ``product``; returns ``Response`` (with its ``RequestId``).

        Raises a :class:`TencentError` subclass when the call finally fails.
        """
        info = catalog.product(product)
        site = CallSite(product=product, action=action, region=region or None, account=self.account)
        destructive = catalog.is_destructive(product, action)
        trace_id = self._trace_id()
        started = self._clock.monotonic()
        resigned = refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._attempt(
                    info.name,
                    info.version if version is None else version,
                    site,
                    params or {},
                    method,
                    trace_id,
                )
            except TencentError as exc:
                verdict = classify(exc, destructive=destructive)
                if isinstance(exc, ThrottledError):
                    self._gate.on_throttled(self.account, product, action)
                if verdict is Verdict.RESIGN and not resigned:
                    resigned = True
                    self._report_skew(site, exc)
                    continue
                if verdict is Verdict.REFRESH and not refreshed:
                    refreshed = True
                    self._credentials.invalidate()
                    continue
                if verdict is not Verdict.BACKOFF or attempt >= self._retry.attempts:
                    raise
                delay = self._retry.backoff(attempt, exc, self._rng)
                if self._clock.monotonic() + delay - started > self._retry.deadline:
                    raise
                log.info(
                    "api.retry",
                    site=str(site),
                    code=outcome_code(exc),
                    attempt=attempt,
                    delay=round(delay, 3),
                )
                await self._sleep(delay)
                continue
            self._gate.on_success(self.account, product, action)
            if self._skew_reported:
                self._skew_reported = False
                log.warning("api.signature_recovered", site=str(site), account=self.account)
            return response

    def _report_skew(self, site: CallSite, exc: TencentError) -> None:
        """Clock skew, said once: the first SignatureExpire at warning, repeats at debug until a
        call succeeds again (every attempt is still counted by the observer)."""
        emit = log.debug if self._skew_reported else log.warning
        self._skew_reported = True
        emit(
            "api.signature_expired",
            site=str(site),
            account=self.account,
            code=outcome_code(exc),
            local_time=self._clock.now().isoformat(),
            hint="the local clock is more than five minutes off the API's: check NTP",
        )

    def _trace_id(self) -> str:
        """A random (version 4) UUID for ``X-TC-TraceId``, from a PRNG: a trace id
        needs to be unique, not unguessable, and ``uuid.uuid4()`` (``os.urandom`` plus
        ``UUID()``) cost a tenth of this client's own time per call (tests/bench P6). Its own
        PRNG (seeded from the OS), so the retry jitter's sequence is untouched."""
        n = self._ids.getrandbits(128) & _UUID_CLEAR | _UUID_V4
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    async def _attempt(
        self,
        service: str,
        version: str,
        site: CallSite,
        params: Mapping[str, Any],
        method: Method,
        trace_id: str,
    ) -> dict[str, Any]:
        waited = await self._gate.acquire(self.account, site.product, site.action)
        if waited > 0:
            self._observer.rate_waited(site, waited)
        creds = await self._credentials.get()
        endpoint = self._endpoints.resolve(service, site.region)
        if method == "POST":
            body, query, content_type = encode_body(params), "", JSON
        else:
            body, query, content_type = b"", encode_query(params), FORM
        timestamp = int(self._clock.now().timestamp())
        signed = sign_tc3(
            secret_id=creds.secret_id,
            secret_key=creds.secret_key,
            service=service,
            host=endpoint.host,
            method=method,
            content_type=content_type,
            timestamp=timestamp,
            body=body,
            query=query,
        )
        headers = {
            "Host": endpoint.host,
            "Content-Type": content_type,
            "Authorization": signed.authorization,
            "X-TC-Action": site.action,
            "X-TC-Version": version,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Language": self._language,
            "X-TC-RequestClient": self._request_client,
            "X-TC-TraceId": trace_id,
        }
        if site.region:
            headers["X-TC-Region"] = site.region
        if creds.token:
            headers["X-TC-Token"] = creds.token
        url = endpoint.url + (f"?{query}" if query else "")
        t0 = self._clock.monotonic()
        outcome = "Success"
        try:
            raw = await self._transport.send(method, url, headers=headers, body=body, site=site)
            return parse_response(raw, site=site)
        except TencentError as exc:
            outcome = outcome_code(exc)
            raise
        except BaseException as exc:  # cancelled mid-flight (a sibling failed, a stop): not Success
            outcome = type(exc).__name__
            raise
        finally:
            self._observer.attempt_finished(site, outcome, self._clock.monotonic() - t0)
