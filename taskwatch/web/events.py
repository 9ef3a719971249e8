"""The notification routes: MPS URL notifications and Live pull-stream callbacks in, hints out.

``POST {events.path}/mps/{account}[?region=R]`` takes MPS notifications (point a task's
``TaskNotifyConfig.NotifyUrl`` here, ``NotifyType: URL``); ``POST
{events.path}/live/{account}/{token}`` takes Live pull-stream callbacks (a task's
``CallbackUrl``). Each body (at most :data:`MAX_BODY`, 64 KiB) is verified
(:mod:`taskwatch.hints.verify`), checked against replays (:mod:`taskwatch.hints.replay`) and put
in the inbox (:mod:`taskwatch.hints.inbox`); the result is counted in
``taskwatch_events_total{source,type,result}`` and answered:

* 200 ``{"result": R}`` for ``accepted``, ``deduplicated``, ``replayed``, ``rate_limited``,
  ``queue_full``, ``not_leading``: the sender must not retry (polling is the net);
* 403 for ``forged``, ``expired``, ``future``, ``unknown_account``, ``not_configured`` (one
  answer for all, so a caller learns nothing about accounts or keys), 400 for ``malformed``, 413
  for a body over 64 KiB (counted as ``malformed``).

These routes authenticate themselves (a signature, a path token), so they skip the web config's
basic auth and rate limit (:func:`exempt`, applied by :class:`~taskwatch.web.server.HttpServer`):
Tencent Cloud sends no credentials. The web config's extra headers still apply. With
``events.listen`` they are served by a listener of their own (:func:`events_app`): the same TLS,
nothing else.

Secrets: no answer echoes the body or a key; logs name the account (a configured one only), the
source, the type and the result, never the path (it holds the Live token) or the body. Every
configured key and token is registered for scrubbing (:func:`taskwatch.logs.register_secret`)
as defence in depth. aiohttp's access log is off (``AppRunner(access_log=None)``). Refusals are
logged at ``info`` at most once per (source, result) a minute (the rest at ``debug``): a flood of
forgeries shows in the counter, not as a flood of lines.

Not guaranteed: a bound on how slowly a client may send its 64 KiB (aiohttp's, not ours); the
mount path and listener are read at start (a reload changes keys, tokens, ``max_age``,
``per_second``, ``queue`` and ``enabled``, not where the routes are).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from taskwatch.clock import Clock
from taskwatch.hints import Inbox, ReplayCache, Verdict, secrets_of, verify_live, verify_mps
from taskwatch.logs import register_secret
from taskwatch.metrics.events import event_type
from taskwatch.metrics.registry import Metrics
from taskwatch.settings import Settings
from taskwatch.settings.events import AccountEvents
from taskwatch.settings.values import REGION_PATTERN
from taskwatch.web.lifecycle import NO_STORE

__all__ = ["EVENTS_ONLY", "MAX_BODY", "STATUS", "EventsRoutes", "events_app", "exempt"]

log = structlog.get_logger(__name__)

MAX_BODY = 64 * 1024
"""Bytes of a notification body at most (real ones are a few KiB)."""
STATUS: Final = {
    "accepted": 200,
    "deduplicated": 200,
    "replayed": 200,
    "rate_limited": 200,
    "queue_full": 200,
    "not_leading": 200,
    "forged": 403,
    "expired": 403,
    "future": 403,
    "unknown_account": 403,
    "not_configured": 403,
    "malformed": 400,
}
"""The HTTP status of every result."""
QUIET_PERIOD = 60.0
"""Seconds of loop time between two ``info`` lines of one (source, result) refusal."""

ROUTE_NAMES = frozenset({"taskwatch-events-mps", "taskwatch-events-live"})
HAS_EVENTS = web.AppKey("has_events", bool)
"""Whether the app serves the events routes (so the server exempts them from basic auth)."""
EVENTS_ONLY = web.AppKey("events_only", bool)
"""Whether the app serves nothing but them (the ``events.listen`` listener)."""


class EventsRoutes:
    """The notification routes over one inbox; ``settings`` gives the current configuration
    (keys, tokens and ``events`` follow reloads)."""

    def __init__(
        self,
        *,
        inbox: Inbox,
        settings: Callable[[], Settings],
        metrics: Metrics,
        clock: Clock,
        replay: ReplayCache | None = None,
    ) -> None:
        self.inbox = inbox
        self.replay = replay if replay is not None else ReplayCache()
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._registered: Settings | None = None
        self._secrets: dict[str, AccountEvents | None] = {}
        """The accounts' ``events`` blocks by name, rebuilt when the settings change."""
        self._told: dict[tuple[str, str], float] = {}
        self._current()  # register the secrets now, not at the first request

    def add_to(self, app: web.Application) -> None:
        """Add both routes under ``events.path`` (read now: a reload does not move them)."""
        path = self._settings().events.path
        app.router.add_post(f"{path}/mps/{{account}}", self._mps, name="taskwatch-events-mps")
        app.router.add_post(
            f"{path}/live/{{account}}/{{token}}", self._live, name="taskwatch-events-live"
        )
        app[HAS_EVENTS] = True

    # --- handlers ---------------------------------------------------------------------------

    async def _mps(self, request: web.Request) -> web.Response:
        received = self._clock.monotonic()
        body = await _read(request)
        if body is None:
            return self._answer("mps", None, "malformed", status=413)
        settings = self._current()
        account = request.match_info["account"]
        region = request.query.get("region") or None
        if not settings.events.enabled:
            return self._answer("mps", None, "not_configured", account=account)
        if region is not None and not REGION_PATTERN.match(region):
            return self._answer("mps", None, "malformed", account=account)
        verdict = verify_mps(
            body,
            account=account,
            secrets=self._secrets,
            now=self._clock.now().timestamp(),
            max_age=settings.events.max_age,
            received=received,
            region=region,
        )
        return self._answer("mps", verdict.kind, self._admit(body, verdict), account=account)

    async def _live(self, request: web.Request) -> web.Response:
        received = self._clock.monotonic()
        body = await _read(request)
        if body is None:
            return self._answer("live", None, "malformed", status=413)
        settings = self._current()
        account = request.match_info["account"]
        if not settings.events.enabled:
            return self._answer("live", None, "not_configured", account=account)
        verdict = verify_live(
            body,
            account=account,
            token=request.match_info["token"],
            secrets=self._secrets,
            now=self._clock.now().timestamp(),
            max_age=settings.events.max_age,
            received=received,
        )
        return self._answer("live", verdict.kind, self._admit(body, verdict), account=account)

    def _admit(self, body: bytes, verdict: Verdict) -> str:
        if verdict.hint is None:
            return verdict.reason or "malformed"
        now = self._clock.now().timestamp()
        if self.replay.seen(body, now=now):
            return "replayed"
        self.replay.remember(body, expires=verdict.expires, now=now)
        result = self.inbox.put(verdict.hint)
        log.debug(
            "events.received",
            source=verdict.hint.product,
            account=verdict.hint.account,
            task=verdict.hint.task_id,
            kind=verdict.hint.kind,
            result=result,
        )
        return result

    def _answer(
        self,
        source: str,
        kind: str | None,
        result: str,
        *,
        account: str | None = None,
        status: int | None = None,
    ) -> web.Response:
        self._metrics.event(source, kind, result)
        code = status if status is not None else STATUS[result]
        if code != 200:
            self._tell(source, kind, result, account)
            text = {400: "malformed", 413: "too large"}.get(code, "forbidden")
            payload = {"error": text}
        else:
            payload = {"result": result}
        return web.Response(
            status=code,
            text=json.dumps(payload),
            content_type="application/json",
            headers=NO_STORE,
        )

    def _tell(self, source: str, kind: str | None, result: str, account: str | None) -> None:
        """Log a refusal: ``info`` once per (source, result) per :data:`QUIET_PERIOD`."""
        known = account if account is not None and account in self._secrets else None
        now = self._clock.monotonic()
        last = self._told.get((source, result))
        quiet = last is not None and now - last < QUIET_PERIOD
        if not quiet:
            self._told[source, result] = now
        emit = log.debug if quiet else log.info
        emit(
            "events.refused",
            source=source,
            account=known,
            type=event_type(source, kind),
            result=result,
        )

    # --- configuration ----------------------------------------------------------------------

    def _current(self) -> Settings:
        settings = self._settings()
        if settings is not self._registered:
            for account in settings.accounts:
                if account.events is None:
                    continue
                for key in account.events.mps_notify_keys:
                    register_secret(key.get_secret_value())
                if account.events.live_token is not None:
                    register_secret(account.events.live_token.get_secret_value())
            self._secrets = secrets_of(settings)
            self._registered = settings
        return settings


async def _read(request: web.Request) -> bytes | None:
    """The body, or ``None`` when it is longer than :data:`MAX_BODY` (not read further)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def events_app(routes: EventsRoutes) -> web.Application:
    """An application serving only the notification routes (the ``events.listen`` listener):
    every request there skips the web config's basic auth and rate limit, TLS stays."""
    app = web.Application()
    routes.add_to(app)
    app[EVENTS_ONLY] = True
    return app


def exempt(app: web.Application, since: int) -> None:
    """Let the notification routes (every route, in an :func:`events_app`) skip the middlewares
    ``app`` has from index ``since`` on: those a web config just installed (basic auth, rate
    limit). A no-op for an app without those routes. Call before the app starts."""
    if not app.get(HAS_EVENTS, False):
        return
    everything = app.get(EVENTS_ONLY, False)
    for i in range(since, len(app.middlewares)):
        app.middlewares[i] = _skipping(app.middlewares[i], everything=everything)


def _skipping(inner: Middleware, *, everything: bool) -> Middleware:
    @web.middleware
    async def skipping(request: web.Request, handler: Handler) -> web.StreamResponse:
        if everything or request.match_info.route.name in ROUTE_NAMES:
            return await handler(request)
        return await inner(request, handler)

    return skipping
