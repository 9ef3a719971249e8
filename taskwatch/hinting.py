"""Task notifications in the daemon: the intake (inbox, routes, listener) and where each goes.

:class:`Intake` is built once per process: the inbox (:mod:`taskwatch.hints`), the routes that
feed it (:mod:`taskwatch.web.events`, on the main listener or on ``events.listen``), and the
router that drains it. ``events.enabled``, ``path`` and ``listen`` are read at start (a reload
that changes them says ``config.restart_needed``); the keys, tokens, rate and bounds follow
reloads.

The inbox (:mod:`taskwatch.hints`) verifies, deduplicates and queues hints; this router hands each
one to the cycle of the source that watches its (account, product) in the current runtime
(:meth:`taskwatch.cycle.Cycle.hint`: describe, merge, apply the policies, replan the timer), so a
reload that swaps the runtime swaps the targets too. MPS and Live task ids are global to their
account: one source each (:meth:`taskwatch.settings.Settings.loops`); a hint for a regional
product names no region, so it goes to the first of the account's sources that tracks the task,
else to every one of them in turn until one knows it.

Not guaranteed: a hint that arrives while this replica does not lead is refused at the door
(``not_leading``, :meth:`HintRouter.accepting`) and one that was queued when leadership was lost
is dropped (``not_leading``): the leader's polling observes the task all the same. With sharded
accounts a replica accepts while it holds any shard, and drops (``not_leading``) a hint whose
account's shard another replica holds: point each account's notifications at the Service, and
about ``1 - 1/replicas`` of them land elsewhere and wait for that replica's poll.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import structlog

from taskwatch.clock import Clock
from taskwatch.hints import Hint, Inbox
from taskwatch.metrics.registry import Metrics
from taskwatch.runtime import Source
from taskwatch.settings import Settings
from taskwatch.web.events import EventsRoutes, events_app
from taskwatch.web.server import HttpServer
from taskwatch.web.webconfig import LiveWebConfig

log = structlog.get_logger(__name__)


class HintRouter:
    """Routes hints to the current runtime's sources; see the module docstring."""

    __slots__ = ("_leading", "_leads", "_sources")

    def __init__(
        self,
        sources: Callable[[], list[Source]],
        *,
        leading: Callable[[], bool],
        leads: Callable[[Source], bool] = lambda source: True,
    ) -> None:
        self._sources = sources
        self._leading = leading
        self._leads = leads

    def targets(self, hint: Hint) -> list[Source]:
        """The sources that may watch the hint's task, the one tracking it first."""
        found = [
            s
            for s in self._sources()
            if s.watcher.source.account == hint.account
            and s.watcher.source.product == hint.product
            and (hint.region is None or s.watcher.source.region in (hint.region, "global"))
        ]
        found.sort(key=lambda s: hint.task_id not in s.watcher.tracker.active)
        return found

    def accepting(self, hint: Hint) -> bool:
        """Whether a hint is worth queueing: this replica leads."""
        return self._leading()

    async def __call__(self, hint: Hint) -> str:
        """Describe the hint's task through its source: ``described``, ``not_found``,
        ``not_leading``, ``unknown_source`` (no source watches that account and product) or
        ``failed``."""
        if not self._leading():
            return "not_leading"
        targets = self.targets(hint)
        if not targets:
            return "unknown_source"
        targets = [s for s in targets if self._leads(s)]  # with shards: the account's shard
        if not targets:
            return "not_leading"
        result = "not_found"
        for source in targets:
            result = await source.cycle.hint(hint.task_id)
            if result != "not_found":
                return result
        return result


class Intake:
    """The process's notification intake; see the module docstring."""

    def __init__(
        self,
        *,
        settings: Callable[[], Settings],
        sources: Callable[[], list[Source]],
        leading: Callable[[], bool],
        leads: Callable[[Source], bool] = lambda source: True,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        first = settings()
        self._started = first.events
        self.router = HintRouter(sources, leading=leading, leads=leads)
        self.inbox = Inbox(settings=first.events, metrics=metrics, clock=clock)
        self.inbox.accepting = self.router.accepting
        self.routes: EventsRoutes | None = None
        if first.events.enabled:
            self.routes = EventsRoutes(
                inbox=self.inbox, settings=settings, metrics=metrics, clock=clock
            )
        self._server: HttpServer | None = None

    def on_main_listener(self) -> EventsRoutes | None:
        """The routes to add to the main application (None: off, or on their own listener)."""
        return self.routes if self._started.listen is None else None

    async def start(self, web_config: LiveWebConfig | None) -> None:
        """Start the own listener, if ``events.listen`` asks for one (TLS of the web config)."""
        if self.routes is None or self._started.listen is None:
            return
        self._server = HttpServer(events_app(self.routes))
        await self._server.start(self._started.listen, web_config=web_config)

    @property
    def url(self) -> str | None:
        """The own listener's base URL, once started."""
        return None if self._server is None else self._server.url

    async def run(self) -> None:
        """Hand the hints to their sources until cancelled (waits for ever when off)."""
        if self.routes is None:
            await anyio.sleep_forever()
        await self.inbox.run(self.router)

    def reload(self, settings: Settings) -> None:
        """A new configuration: its rate and bounds from now; where it listens at restart."""
        new, old = settings.events, self._started
        for key in ("enabled", "path", "listen"):
            if getattr(new, key) != getattr(old, key):
                log.warning("config.restart_needed", key=f"events.{key}")
        self.inbox.reconfigure(new)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None
