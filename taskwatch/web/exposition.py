"""``/metrics``: the exposition rendered in a worker thread, at most once per ``RENDER_TTL`` per
(format, name filter), one rendering shared by every scrape that arrives while it runs.

Why a thread: at 500 accounts a scrape is ≈ 53k series and 0.5 to 2.7 s of CPU (docs/performance.md,
P8). Rendered on the event loop, it stopped every scan loop, deadline timer and notification for
that long. In a worker thread the loop keeps running: the interpreter hands the GIL over every
``sys.getswitchinterval()`` (5 ms), so a scrape slows the loop down instead of stopping it
(``make bench``, P9, measures the difference).

What this asks of collectors, and what every registered one does: prometheus_client's metrics lock
their own children (its own HTTP server renders in a thread too); taskwatch's collectors
(:mod:`taskwatch.metrics.collectors`, :mod:`~taskwatch.metrics.costs`,
:mod:`~taskwatch.metrics.credentials`) read state the loop replaces whole (a source's summary) or
copy it in one step that the GIL does not interrupt (``list(d.items())``, ``sorted(d.items())``);
none iterates, in Python, a dict the loop may change.

Why shared: two Prometheus servers (an HA pair) and a person with ``curl`` would each start a
rendering of the same registry; one is enough. A scrape that gives up (its client went away) does
not cancel the rendering the others wait for.

Not guaranteed: that one scrape is a consistent cut of the daemon's state (families are read at
slightly different moments while the loop runs on; prometheus_client promises no more); that a
scrape is fresher than ``RENDER_TTL``; that the loop is not slowed while a large registry renders
(the thread and the loop share one interpreter).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio.to_thread
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from taskwatch.web.lifecycle import NO_STORE

__all__ = ["RENDER_TTL", "Exposition", "exposition_handler"]

RENDER_TTL = 0.25
"""Seconds a rendered exposition is served again before it is rendered anew."""

Key = tuple[str, tuple[str, ...]]
"""(content type, name filter)."""
Encoder = Callable[[Collector], bytes]


class Exposition:
    """Renderings of one registry, per (content type, name filter); see the module docstring.

    ``offload=False`` renders on the event loop (the behaviour before P9, kept for the benchmark's
    side-by-side figure)."""

    def __init__(
        self, registry: CollectorRegistry, *, ttl: float = RENDER_TTL, offload: bool = True
    ) -> None:
        self.registry = registry
        self.ttl = ttl
        self.offload = offload
        self.renderings = 0
        """Renderings started (the cache and the sharing keep this below the scrapes)."""
        self._cache: dict[Key, tuple[float, bytes]] = {}
        self._running: dict[Key, asyncio.Future[bytes]] = {}

    async def body(self, accept: str, names: tuple[str, ...] = ()) -> tuple[bytes, str]:
        """The exposition for an ``Accept`` header and a name filter, and its content type."""
        encoder, content_type = choose_encoder(accept)
        key = (content_type, names)
        loop = asyncio.get_running_loop()
        hit = self._cache.get(key)
        if hit is not None and loop.time() < hit[0]:
            return hit[1], content_type
        running = self._running.get(key)
        if running is None:
            source = self.registry.restricted_registry(list(names)) if names else self.registry
            running = asyncio.ensure_future(self._render(encoder, source))
            self._running[key] = running
            running.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(running), content_type

    async def _render(self, encoder: Encoder, source: Collector) -> bytes:
        self.renderings += 1
        if not self.offload:
            return encoder(source)
        return await anyio.to_thread.run_sync(encoder, source)

    def _settle(self, key: Key, done: asyncio.Future[bytes]) -> None:
        """Cache a finished rendering (a failed one is not cached: the next scrape retries)."""
        del self._running[key]
        if done.cancelled() or done.exception() is not None:
            return  # every waiter got the error; retrieving it here silences "never retrieved"
        if len(self._cache) > 64:  # name filters are free-form: bound the cache
            self._cache.clear()
        self._cache[key] = (asyncio.get_running_loop().time() + self.ttl, done.result())


def exposition_handler(exposition: Exposition) -> Handler:
    """The ``/metrics`` handler: content negotiation, ``?name[]=`` filter, gzip on request."""

    async def metrics(request: web.Request) -> web.Response:
        accept = ",".join(request.headers.getall(hdrs.ACCEPT, []))
        names = tuple(request.query.getall("name[]", []))
        body, content_type = await exposition.body(accept, names)
        response = web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type, **NO_STORE})
        response.enable_compression()
        return response

    return metrics
