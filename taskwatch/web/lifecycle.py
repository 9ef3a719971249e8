"""The operator's switches over HTTP, ``POST /-/pause``, ``/-/resume`` and ``/-/reload``, guarded.

They change what the daemon does (a resumed kill switch lets actions through), so they are off
unless ``http.lifecycle: true``, as Prometheus keeps its own behind ``--web.enable-lifecycle``.
Off, they answer **403** with a JSON body saying how to turn them on, and change nothing: 403
rather than 404 because the path exists and is refused on purpose, and an operator who gets 404
would look for a typo (Prometheus answers 403 too). SIGHUP and ``actions.paused`` in the file do
not depend on it.

The kill switch they flip is the journal's (:mod:`taskwatch.actions.controls`): it holds for every
replica sharing the journal and across restarts, until resumed, and records who flipped it (the
authenticated user, else ``anonymous@<address>``) and why (``{"reason": "..."}``, optional). The
answer is the switch's state; 503 when the journal refused the write (a pause still holds this
process; a refused resume changed nothing).

On, every request must also pass :func:`cross_site_reason`, which refuses what a web page the
operator happens to open could send (a cross-site request rides on the browser's cached basic
auth credentials too, so authentication alone does not stop it):

- an ``Origin`` header that is not the daemon's own ``scheme://host:port`` (as the request
  addressed it, ``Host`` header included), ``Origin: null`` included;
- ``Sec-Fetch-Site`` other than ``same-origin`` or ``none`` (``cross-site`` and ``same-site``:
  another port of the same host is another application);
- a form content type (``application/x-www-form-urlencoded``, ``multipart/form-data``,
  ``text/plain``: what a page may send without a CORS preflight), even with an empty body, and a
  body of any type but ``application/json`` (none is needed).

``curl -X POST`` (no ``Origin``, no body) passes. Users, when the web config has some, are
checked before (:mod:`taskwatch.web.auth`: every request but GET/HEAD of a probe needs one).

Not guaranteed: a DNS-rebinding page (its own name pointed at the daemon's address) is
same-origin by every header the daemon sees; it has no cached credentials for the daemon, so
basic auth stops it, and a daemon on loopback without users does not. A proxy in front that
terminates TLS or rewrites ``Host`` makes browser requests look foreign (refused, never let
through).
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from yarl import URL

from taskwatch.errors import StoreError
from taskwatch.web.auth import USER

log = structlog.get_logger(__name__)

__all__ = ["PATHS", "Controls", "add_routes", "cross_site_reason", "warn_if_unprotected"]

PATHS = ("/-/pause", "/-/resume", "/-/reload")
REASON_LIMIT: Final = 1000
NO_STORE = {hdrs.CACHE_CONTROL: "no-store"}
_SAME = frozenset({"same-origin", "none"})
_JSON = "application/json"
_FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
"""What an HTML form (or a no-preflight fetch) sends: refused even with an empty body."""


class Controls(Protocol):
    """Operator switches exposed over HTTP: the global kill switch for actions, and reload."""

    def pause(self, *, actor: str, reason: str) -> Mapping[str, Any]:
        """Hold every action back, everywhere the journal is shared; the switch's state. Raises
        :class:`~taskwatch.errors.StoreError` when the journal refused it (this process is
        paused all the same)."""
        ...

    def resume(self, *, actor: str, reason: str) -> Mapping[str, Any]:
        """Let actions through again; the switch's state. Raises
        :class:`~taskwatch.errors.StoreError` when the journal refused it (nothing changed)."""
        ...

    async def reload(self) -> tuple[bool, str]:
        """Read the configuration again: (whether it was applied, why not or what changed)."""
        ...


def add_routes(app: web.Application, controls: Controls, *, enabled: bool) -> None:
    """``POST`` routes for the three switches: guarded handlers, or 403 for each when off."""
    if not enabled:
        for path in PATHS:
            app.router.add_post(path, _disabled)
        return
    app.router.add_post("/-/pause", _guarded(_switch(controls.pause, paused=True)))
    app.router.add_post("/-/resume", _guarded(_switch(controls.resume, paused=False)))
    app.router.add_post("/-/reload", _guarded(_reload(controls)))


async def _disabled(request: web.Request) -> web.Response:
    body = {"error": "the lifecycle endpoints are disabled (set http.lifecycle: true)"}
    return web.json_response(body, status=403, headers=NO_STORE)


def cross_site_reason(request: web.Request) -> str | None:
    """Why ``request`` may come from another site's page, or ``None`` (see the module)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.strip().lower() not in _SAME:
        return "Sec-Fetch-Site is not same-origin"
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and not _same_origin(origin, request):
        return "Origin is not this server"
    if hdrs.CONTENT_TYPE in request.headers and request.content_type in _FORMS:
        return f"a form content type ({request.content_type})"
    if request.body_exists and (
        hdrs.CONTENT_TYPE not in request.headers or request.content_type != _JSON
    ):
        return "a body needs Content-Type: application/json"
    return None


def _same_origin(origin: str, request: web.Request) -> bool:
    try:
        theirs = URL(origin.strip())
        ours = URL.build(scheme=request.scheme, authority=request.host)
    except (ValueError, TypeError):
        return False
    if not theirs.is_absolute() or theirs.path not in ("", "/") or theirs.query_string:
        return False
    return (theirs.scheme.lower(), theirs.host, theirs.port) == (
        ours.scheme.lower(),
        ours.host,
        ours.port,
    )


def _guarded(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        reason = cross_site_reason(request)
        if reason is not None:
            log.warning("http.lifecycle_refused", path=request.path, reason=reason)
            body = {"error": f"cross-site request refused: {reason}"}
            return web.json_response(body, status=403, headers=NO_STORE)
        return await handler(request)

    return guarded


def _switch(flip: Callable[..., Mapping[str, Any]], *, paused: bool) -> Handler:
    """POST only (never GET: a crawler or a prefetching browser must not flip it). Who: the
    authenticated user, else ``anonymous@<address>``; why: ``{"reason": "..."}`` in a JSON body
    (optional). 503 when the journal refused to keep it."""

    async def handler(request: web.Request) -> web.Response:
        actor = request.get(USER) or f"anonymous@{request.remote or 'unknown'}"
        try:
            reason = await _reason(request)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400, headers=NO_STORE)
        log.info("http.lifecycle", path=request.path, remote=request.remote, actor=actor)
        try:
            state = flip(actor=actor, reason=reason)
        except StoreError as exc:
            body = {"actions_paused": paused, "shared": False, "error": str(exc)}
            if not paused:
                body["actions_paused"] = True  # a resume the journal refused changed nothing
            return web.json_response(body, status=503, headers=NO_STORE)
        return web.json_response(dict(state), headers=NO_STORE)

    return handler


async def _reason(request: web.Request) -> str:
    """The optional ``reason`` of a JSON body (at most 1,000 characters)."""
    if not request.body_exists:
        return ""
    try:
        body = await request.json()
    except ValueError as exc:
        raise ValueError("the body is not JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("reason", ""), str):
        raise ValueError('the body must be {"reason": "..."}')
    reason: str = body.get("reason", "")
    if len(reason) > REASON_LIMIT:
        raise ValueError(f"the reason is longer than {REASON_LIMIT} characters")
    return reason


def _reload(controls: Controls) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        try:
            ok, message = await controls.reload()
        except Exception as exc:
            log.exception("http.reload_failed")
            body: dict[str, Any] = {"reloaded": False, "error": type(exc).__name__}
            return web.json_response(body, status=500, headers=NO_STORE)
        body = {"reloaded": True} if ok else {"reloaded": False, "error": message}
        return web.json_response(body, status=200 if ok else 400, headers=NO_STORE)

    return handler


def warn_if_unprotected(
    addresses: Iterable[Any],
    *,
    users: bool,
    ssl_context: ssl.SSLContext | None,
) -> bool:
    """Log ``http.lifecycle_unauthenticated`` (and return True) when the switches are reachable
    beyond loopback with no authentication: no basic-auth users and no required client
    certificate. ``addresses`` are the bound sockets' (host, port, ...) tuples."""
    client_certs = ssl_context is not None and ssl_context.verify_mode == ssl.CERT_REQUIRED
    if users or client_certs:
        return False
    exposed = sorted({str(a[0]) for a in addresses if not _loopback(str(a[0]))})
    if not exposed:
        return False
    log.warning(
        "http.lifecycle_unauthenticated",
        addresses=exposed,
        hint="anyone who reaches these addresses can pause, resume and reload: "
        "add basic_auth_users to http.web_config, listen on loopback, or set "
        "http.lifecycle: false",
    )
    return True


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return host == "localhost"
