"""One notifier for the whole life of the daemon, swapped only when the notifications change.

Why a host: the source loops stop and start again on every reload and every change of
leadership, but a :class:`~taskwatch.actions.notify.delivery.Notifier` runs once and its queues hold
events not yet sent. Running it beside the loops tied its life to theirs: the first reload closed
it and ran it again, which killed the daemon. The host is one task beside the HTTP server, from
start to stop; the loops never touch it.

:meth:`NotifierHost.replace` swaps in a new notifier (a reload changed ``notifications``): the old
one's queued events move to the new one's targets of the same name, keeping when each was queued
(:meth:`Notifier.hand_over`), the new one starts, and the old one is closed in the background (an
attempt in flight finishes; whatever it still holds gets one last try within its drain timeout).
A reload that leaves ``notifications`` alone changes nothing here.

Not guaranteed: events of a target that a reload removed (or that no longer wants their result)
get only that one last try, and a batch in flight at the swap stays with the old notifier.
"""

from __future__ import annotations

import anyio
import structlog
from anyio.abc import TaskGroup

from taskwatch.actions.notify.delivery import Notifier

log = structlog.get_logger(__name__)


class NotifierHost:
    """Runs :attr:`current` from :meth:`run` until :meth:`aclose`; see the module docstring."""

    def __init__(self, notifier: Notifier | None) -> None:
        self._current = notifier
        self._retired: list[Notifier] = []
        """Replaced before :meth:`run` started: closed as soon as it does."""
        self._group: TaskGroup | None = None
        self._closing = False
        self._done = anyio.Event()

    @property
    def current(self) -> Notifier | None:
        """The notifier events go to now (None: no notifications configured)."""
        return self._current

    def replace(self, notifier: Notifier | None) -> None:
        """Swap in ``notifier`` (None: notifications removed). Never waits. Ignored once
        :meth:`aclose` has begun: the daemon is stopping, the current one is being flushed."""
        if self._closing:
            log.warning("notifier.replace_ignored", reason="stopping")
            return
        old, self._current = self._current, notifier
        moved = old.hand_over(notifier) if old is not None and notifier is not None else 0
        log.info(
            "notifier.replaced",
            targets=[t.name for t in notifier.targets] if notifier is not None else [],
            handed_over=moved,
        )
        group = self._group
        if group is None:
            if old is not None:
                self._retired.append(old)
            return
        if notifier is not None:
            group.start_soon(notifier.run, name="notifier")
        if old is not None:
            group.start_soon(old.aclose, name="notifier.retire")

    async def run(self) -> None:
        """Run the current notifier, and each replacement, until :meth:`aclose`; return once
        every one of them has stopped."""
        try:
            async with anyio.create_task_group() as group:
                self._group = group
                if self._current is not None:
                    group.start_soon(self._current.run, name="notifier")
                for old in self._retired:
                    group.start_soon(old.aclose, name="notifier.retire")
                self._retired.clear()
                await self._done.wait()
        finally:
            self._group = None

    async def aclose(self) -> None:
        """Flush and stop the current notifier (:meth:`Notifier.aclose`: bounded by its drain
        timeout, shielded). Idempotent."""
        if self._closing:
            return
        self._closing = True
        try:
            for old in self._retired:  # replaced, and run() never started
                await old.aclose()
            self._retired.clear()
            if self._current is not None:
                await self._current.aclose()
        finally:
            self._done.set()
