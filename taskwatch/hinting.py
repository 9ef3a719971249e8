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

With leader election on and a PostgreSQL journal (``events.relay``, on by default), a hint for an
account this replica does not lead (a follower; with shards, another replica's shard) is relayed
to the replica that does (:mod:`taskwatch.hintrelay`, result ``relayed``), which queues it like a
notification of its own. Point each account's notifications at the Service: whichever replica
receives one, the account's leader describes the task.

Not guaranteed: without the relay, a hint that arrives while this replica does not lead is refused
at the door (``not_leading``, :meth:`HintRouter.accepting`) and one for another replica's shard
is dropped (``not_leading``): about ``1 - 1/replicas`` of them wait for that replica's poll. With
it, a relayed hint can still be lost (see :mod:`taskwatch.hintrelay`); polling is the net.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from taskwatch.hintrelay import HintRelay

log = structlog.get_logger(__name__)


def relays(settings: Settings) -> bool:
    """Whether hints are relayed between replicas: notifications on, ``events.relay``, leader
    election on (else there is no other replica to relay to) and a PostgreSQL journal."""
    events = settings.events
    return events.enabled and events.relay and settings.leader.enabled and bool(settings.state.url)


class HintRouter:
    """Routes hints to the current runtime's sources; see the module docstring."""

    __slots__ = ("_leading", "_leads", "_sources", "relay")

    def __init__(
        self,
        sources: Callable[[], list[Source]],
        *,
        leading: Callable[[], bool],
        leads: Callable[[Source], bool] = lambda source: True,
        relay: HintRelay | None = None,
    ) -> None:
        self._sources = sources
        self._leading = leading
        self._leads = leads
        self.relay = relay

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

    def holds(self, hint: Hint) -> bool:
        """Whether this replica leads a source that may watch the hint's task."""
        return self._leading() and any(self._leads(s) for s in self.targets(hint))

    def accepting(self, hint: Hint) -> bool:
        """Whether a hint is worth queueing: this replica leads, or may relay it to the one
        that does; a relayed hint only where its account is led."""
        if hint.relayed:
            return self.holds(hint)
        return self._leading() or self.relay is not None

    async def __call__(self, hint: Hint) -> str:
        """Describe the hint's task through its source: ``described``, ``not_found``,
        ``not_leading``, ``relayed`` (to the replica leading its account), ``unknown_source``
        (no source watches that account and product) or ``failed``."""
        if not self._leading() and self.relay is None:
            return "not_leading"
        targets = self.targets(hint)
        if not targets:
            return "unknown_source"
        # with shards: the account's shard; a follower leads none
        targets = [s for s in targets if self._leads(s)] if self._leading() else []
        if not targets:
            if self.relay is None or hint.relayed:
                return "not_leading"
            return "relayed" if await self.relay.publish(hint) else "failed"
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
        identity: str = "",
    ) -> None:
        first = settings()
        self._started = first.events
        relay = None
        if relays(first):  # psycopg is an optional extra: imported only when relaying
            from taskwatch.hintrelay import HintRelay

            relay = HintRelay(first.state, sender=identity, metrics=metrics, clock=clock)
        self.router = HintRouter(sources, leading=leading, leads=leads, relay=relay)
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
        """Hand the hints to their sources until cancelled (waits for ever when off); with the
        relay, listen for the hints other replicas relay."""
        if self.routes is None:
            await anyio.sleep_forever()
        relay = self.router.relay
        async with anyio.create_task_group() as tg:
            if relay is not None:
                tg.start_soon(relay.run, self._relayed, name="hint-relay")
            await self.inbox.run(self.router)

    def _relayed(self, hint: Hint) -> str:
        """A hint another replica relayed: queued where its account is led (the inbox's answer;
        its door, :meth:`HintRouter.accepting`, takes a relayed hint only there), else
        ``not_held``."""
        result = self.inbox.put(hint)
        return "not_held" if result == "not_leading" else result

    def reload(self, settings: Settings) -> None:
        """A new configuration: its rate and bounds from now; where it listens, and whether it
        relays, at restart."""
        new, old = settings.events, self._started
        for key in ("enabled", "path", "listen", "relay"):
            if getattr(new, key) != getattr(old, key):
                log.warning("config.restart_needed", key=f"events.{key}")
        self.inbox.reconfigure(new)

    async def stop(self) -> None:
        if self.router.relay is not None:
            await self.router.relay.close()
        if self._server is not None:
            await self._server.stop()
            self._server = None
