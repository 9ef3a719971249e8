"""The HTTP face of the daemon: ``/metrics``, ``/healthz``, ``/readyz`` and a small index at ``/``.

Probes are polled often (every few seconds by kubelet, every scrape by Prometheus), so every handler
only reads state that is already in memory: the metrics registry and the :class:`HealthView` the
supervisor keeps up to date. No handler calls an API, touches the disk or blocks. Nothing served
here carries a secret or a task id: the registry holds none (see :mod:`taskwatch.metrics`), and the
health details are whatever the supervisor chose to expose, which must hold to the same rule.

``/metrics`` negotiates like Prometheus' own client: OpenMetrics when the ``Accept`` header asks for
``application/openmetrics-text`` (Prometheus 2.x does, by default), the classic text format
otherwise; gzip when ``Accept-Encoding`` allows it; ``?name[]=...`` restricts the output to some
metric families.

Not guaranteed: the exposition is rendered on the event loop (so collectors read consistent state
without locks); a registry of many thousands of series would delay the loop for that long.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

import taskwatch
from taskwatch.metrics import Metrics

log = structlog.get_logger(__name__)

NO_STORE = {hdrs.CACHE_CONTROL: "no-store"}

Check = Callable[[], tuple[bool, Mapping[str, Any]]]


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


class Controls(Protocol):
    """Operator switches exposed over HTTP: the global kill switch for actions."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...


def build_app(
    *, metrics: Metrics, health: HealthView, controls: Controls | None = None
) -> web.Application:
    """The aiohttp application: routes only, no background work."""
    app = web.Application()
    app.router.add_get("/", _index)
    app.router.add_get("/metrics", _exposition(metrics.registry))
    app.router.add_get("/healthz", _probe("liveness", health.liveness))
    app.router.add_get("/readyz", _probe("readiness", health.readiness))
    if controls is not None:
        app.router.add_post("/-/pause", _switch(controls.pause, paused=True))
        app.router.add_post("/-/resume", _switch(controls.resume, paused=False))
    return app


def _switch(flip: Callable[[], None], *, paused: bool) -> Handler:
    """POST only (never GET: a crawler or a prefetching browser must not flip it)."""

    async def handler(request: web.Request) -> web.Response:
        flip()
        return web.json_response({"actions_paused": paused}, headers=NO_STORE)

    return handler


def _exposition(registry: CollectorRegistry) -> Handler:
    async def metrics(request: web.Request) -> web.Response:
        accept = ",".join(request.headers.getall(hdrs.ACCEPT, []))
        encoder, content_type = choose_encoder(accept)
        names = request.query.getall("name[]", [])
        source = registry.restricted_registry(names) if names else registry
        response = web.Response(
            body=encoder(source), headers={hdrs.CONTENT_TYPE: content_type, **NO_STORE}
        )
        response.enable_compression()
        return response

    return metrics


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
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        self._port: int | None = None
        self._host = ""

    async def start(self, listen: str) -> None:
        """Bind ``listen`` (port 0 picks a free one, see :attr:`port`) and start serving."""
        host, port = parse_listen(listen)
        await self._runner.setup()
        try:
            site = web.TCPSite(self._runner, host, port, reuse_address=True)
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self._host = host or "0.0.0.0"  # noqa: S104 - naming what ":port" means, not binding
        self._port = int(self._runner.addresses[0][1])
        log.info("http.listening", host=self._host, port=self._port)

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
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting, finish in-flight requests (one second at most), release the port."""
        await self._runner.cleanup()
        self._port = None


@asynccontextmanager
async def serve(app: web.Application, listen: str) -> AsyncIterator[HttpServer]:
    """Serve ``app`` on ``listen`` for the duration of the block."""
    server = HttpServer(app)
    await server.start(listen)
    try:
        yield server
    finally:
        await server.stop()
