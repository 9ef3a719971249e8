"""The HTTP face of the daemon: ``/metrics``, ``/healthz``, ``/readyz`` and a status page at ``/``.

Probes are polled often (every few seconds by kubelet, every scrape by Prometheus), so their
handlers only read state that is already in memory: the metrics registry and the
:class:`HealthView` the supervisor keeps up to date. They call no API, touch no disk and never
block. Nothing they serve carries a secret or a task id: the registry holds none (see
:mod:`taskwatch.metrics.registry`), and the health details are whatever the supervisor chose to
expose,
which must hold to the same rule. The status page is for people, not pollers: it shows task ids
(escaped) and may read the journal's recent records; protect it with the web config's basic auth
where task ids are sensitive.

``/metrics`` negotiates like Prometheus' own client: OpenMetrics when the ``Accept`` header asks for
``application/openmetrics-text`` (Prometheus 2.x does, by default), the classic text format
otherwise; gzip when ``Accept-Encoding`` allows it; ``?name[]=...`` restricts the output to some
metric families.

``/`` is the status page (:mod:`taskwatch.web.statuspage`) when the app is given a
:class:`StatusView`,
else a small index of the endpoints. ``POST /-/pause``, ``/-/resume`` and ``/-/reload`` are the
operator's switches (POST only, so a crawler or a prefetching browser never flips one), off unless
``http.lifecycle`` and refused cross-site (:mod:`taskwatch.web.lifecycle`). TLS, basic auth and
extra headers come from an optional web config (:mod:`taskwatch.web.webconfig`) given to
:meth:`HttpServer.start`. With ``events``, the task notification routes
(:mod:`taskwatch.web.events`), which authenticate themselves and so skip basic auth.

The exposition is rendered in a worker thread, shared by concurrent scrapes
(:mod:`taskwatch.web.exposition`, which says what that asks of collectors). To keep a burst of
requests from starving the scan loops, ``/metrics`` (per format and name filter) and the status
page are rendered at most once per ``RENDER_TTL`` (0.25 s) and served from that copy in between: a
scrape may be up to a quarter of a second stale. Measured before (tests/reliability/
test_load.py): ~5 ms per exposition and ~4 ms per status page, so 200 requests/s took ~90 % of the
loop.

Not guaranteed: the status page is rendered on the event loop (it reads the supervisor's state,
which only the loop may read); a very large one delays the loop for that long.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

import taskwatch
from taskwatch.metrics.registry import Metrics
from taskwatch.web.events import EVENTS_ONLY, EventsRoutes, exempt
from taskwatch.web.exposition import RENDER_TTL, Exposition, exposition_handler
from taskwatch.web.lifecycle import NO_STORE, Controls, add_routes, warn_if_unprotected
from taskwatch.web.statuspage import STYLESHEET, StatusView, render
from taskwatch.web.webconfig import LiveWebConfig, WebConfig

log = structlog.get_logger(__name__)

Check = Callable[[], tuple[bool, Mapping[str, Any]]]

LIFECYCLE = web.AppKey("lifecycle", bool)
"""Whether the app serves the lifecycle switches (so the server can warn when they are open)."""

__all__ = ["Controls", "HealthView", "HttpServer", "build_app", "parse_listen", "serve"]


class HealthView(Protocol):
    """What the probes ask; the supervisor answers from state it already holds.

    Each method returns whether the check passes and JSON-able details for a human reading the
    response (``status`` is set by the server and overrides a detail of that name).
    """

    def liveness(self) -> tuple[bool, Mapping[str, Any]]:
        """Whether the process works at all (restart it if not): its loops are not wedged."""
        ...

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        """Whether it does its job now: config loaded, scans succeeding (no traffic if not)."""
        ...


def build_app(
    *,
    metrics: Metrics,
    health: HealthView,
    controls: Controls | None = None,
    status: StatusView | None = None,
    lifecycle: bool = False,
    events: EventsRoutes | None = None,
) -> web.Application:
    """The aiohttp application: routes only, no background work. With ``controls``, the
    lifecycle routes (:mod:`taskwatch.web.lifecycle`): guarded if ``lifecycle``, else 403. With
    ``events``, the notification routes (pass them here only when ``events.listen`` is unset;
    else serve :func:`taskwatch.web.events.events_app` on that address)."""
    app = web.Application()
    app[LIFECYCLE] = controls is not None and lifecycle
    if status is not None:
        app.router.add_get("/", _status_page(status))
        app.router.add_get("/status.css", _stylesheet)
    else:
        app.router.add_get("/", _index)
    app.router.add_get("/metrics", exposition_handler(Exposition(metrics.registry)))
    app.router.add_get("/healthz", _probe("liveness", health.liveness))
    app.router.add_get("/readyz", _probe("readiness", health.readiness))
    if controls is not None:
        add_routes(app, controls, enabled=lifecycle)
    if events is not None:
        events.add_to(app)
    return app


class _Rendered:
    """The last rendering per key, reused for ``RENDER_TTL`` seconds of loop time (the status
    page's; the exposition has its own, :class:`~taskwatch.web.exposition.Exposition`)."""

    def __init__(self) -> None:
        self._cache: dict[object, tuple[float, Any]] = {}

    def get(self, key: object, make: Callable[[], Any]) -> Any:
        now = asyncio.get_running_loop().time()
        hit = self._cache.get(key)
        if hit is not None and now < hit[0]:
            return hit[1]
        value = make()
        if len(self._cache) > 64:  # name filters are free-form: bound the cache
            self._cache.clear()
        self._cache[key] = (now + RENDER_TTL, value)
        return value


def _status_page(view: StatusView) -> Handler:
    cache = _Rendered()

    async def page(request: web.Request) -> web.Response:
        text = cache.get("page", lambda: render(view.status_snapshot()))
        response = web.Response(text=text, content_type="text/html", headers=NO_STORE)
        response.enable_compression()
        return response

    return page


async def _stylesheet(request: web.Request) -> web.Response:
    return web.Response(
        text=STYLESHEET, content_type="text/css", headers={hdrs.CACHE_CONTROL: "max-age=300"}
    )


def _probe(name: str, check: Check) -> Handler:
    async def probe(request: web.Request) -> web.Response:
        try:
            ok, details = check()
        except Exception as exc:
            # A probe that crashes is a failed probe with a reason, not an HTTP 500 page.
            log.exception("http.probe_failed", probe=name)
            ok, details = False, {"error": type(exc).__name__}
        body = {"status": "ok" if ok else "unavailable"}
        body.update((k, v) for k, v in details.items() if k != "status")
        return web.Response(
            status=200 if ok else 503,
            text=json.dumps(body, default=str, sort_keys=False),
            content_type="application/json",
            headers=NO_STORE,
        )

    return probe


_INDEX = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>taskwatch</title></head>
<body>
<h1>taskwatch {version}</h1>
<ul>
<li><a href="metrics">/metrics</a>: Prometheus metrics</li>
<li><a href="healthz">/healthz</a>: liveness</li>
<li><a href="readyz">/readyz</a>: readiness</li>
</ul>
</body>
</html>
"""


async def _index(request: web.Request) -> web.Response:
    page = _INDEX.format(version=html.escape(taskwatch.__version__))
    return web.Response(text=page, content_type="text/html", headers=NO_STORE)


def parse_listen(listen: str) -> tuple[str | None, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` (all interfaces) into (host or None, port)."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"listen address must be host:port, not {listen!r}")
    host = host.removeprefix("[").removesuffix("]")
    return host or None, int(port_text)


class HttpServer:
    """Serves one application until stopped."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        self._port: int | None = None
        self._host = ""
        self._scheme = "http"

    async def start(
        self, listen: str, *, web_config: WebConfig | LiveWebConfig | None = None
    ) -> None:
        """Bind ``listen`` (port 0 picks a free one, see :attr:`port`) and start serving.

        With ``web_config``: TLS if it has a certificate, basic auth if it has users, its extra
        headers on every response (see :mod:`taskwatch.web.webconfig`); a
        :class:`~taskwatch.web.webconfig.LiveWebConfig` can be swapped while serving.
        """
        host, port = parse_listen(listen)
        ssl_context = None
        if web_config is not None:
            installed = len(self._app.middlewares)
            web_config.install(self._app)
            exempt(self._app, installed)  # the events routes authenticate themselves
            ssl_context = web_config.ssl_context
        await self._runner.setup()
        try:
            site = web.TCPSite(
                self._runner, host, port, reuse_address=True, ssl_context=ssl_context
            )
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self._host = host or "0.0.0.0"  # noqa: S104 - naming what ":port" means, not binding
        self._port = int(self._runner.addresses[0][1])
        self._scheme = "https" if ssl_context is not None else "http"
        log.info(
            "http.listening",
            host=self._host,
            port=self._port,
            tls=ssl_context is not None,
            basic_auth=bool(web_config is not None and web_config.users)
            and not self._app.get(EVENTS_ONLY, False),
            controls=self._app.get(LIFECYCLE, False),  # POST /-/pause, resume, reload
        )
        if self._app.get(LIFECYCLE, False):
            warn_if_unprotected(
                self._runner.addresses,
                users=bool(web_config is not None and web_config.users),
                ssl_context=ssl_context,
            )

    @property
    def port(self) -> int:
        """The bound port (the first one, if an all-interfaces bind got several)."""
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, for tests and logs."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{self._scheme}://{host}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting, finish in-flight requests (one second at most), release the port."""
        await self._runner.cleanup()
        self._port = None


@asynccontextmanager
async def serve(
    app: web.Application, listen: str, *, web_config: WebConfig | None = None
) -> AsyncIterator[HttpServer]:
    """Serve ``app`` on ``listen`` for the duration of the block."""
    server = HttpServer(app)
    await server.start(listen, web_config=web_config)
    try:
        yield server
    finally:
        await server.stop()
