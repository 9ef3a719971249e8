"""The source loops of the current runtime, run while this replica leads, swapped on a reload.

:meth:`Leading.run` runs, until :meth:`Leading.stop`, the loops of whatever runtime is current:
each time the elector says this replica leads (with sharded accounts: leads the shard of the
source's account, ``shard_of`` and ``elector_of``), one task per source runs its
:class:`~taskwatch.scheduler.Loop` (which calls the source's :class:`~taskwatch.cycle.Cycle`); when
leadership is lost they are cancelled at once (an action already past its last leadership check
finishes: the executor shields it). A beat from an earlier term is cleared first, so it cannot
read as a stalled loop.

:meth:`Leading.swap` (a reload has installed a new runtime) retires the running loops: each
finishes the cycle in flight (``Loop.retire``: a cut cycle would be lost until the next tick),
then the new runtime's loops start, each on the tick its source had due. :meth:`Leading.stop`
cancels at once, a retirement in progress included. A source's deadline timers
(:mod:`taskwatch.timers`) run beside its loop and stop with it: a follower fires none.

Not guaranteed: a swap does not wait for a follower: it has no loop running, and the new loops
start when it leads.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import anyio

from taskwatch.clock import Clock
from taskwatch.leader.election import Elector
from taskwatch.runtime import Source


class Leading:
    """Runs the current runtime's loops while this replica leads; see the module docstring."""

    def __init__(
        self,
        sources: Callable[[], list[Source]],
        *,
        elector: Elector,
        clock: Clock,
        rng: random.Random,
        on_lead: Callable[[int], None] = lambda shard: None,
        shard_of: Callable[[Source], int] = lambda source: 0,
        elector_of: Callable[[int], Elector] | None = None,
    ) -> None:
        self._sources = sources
        self._on_lead = on_lead
        self._elector = elector
        self._shard_of = shard_of
        self._elector_of = elector_of or (lambda shard: elector)
        self._running: dict[int, anyio.Event] = {}
        """Shards whose loops run now → set when they have stopped."""
        self._clock = clock
        self._rng = rng
        self._stop = anyio.Event()
        self._wake = anyio.Event()
        self._retiring: anyio.CancelScope | None = None

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Stop at once: the loops are cancelled, :meth:`run` returns."""
        self._stop.set()
        self._wake.set()
        if self._retiring is not None:
            self._retiring.cancel()

    def swap(self) -> None:
        """A new runtime is current: retire the running loops, then run the new ones."""
        self._wake.set()

    async def run(self) -> None:
        """Run the current runtime's loops (while leading) until :meth:`stop`."""
        while not self.stopped:
            await self._run_current()

    async def _run_current(self) -> None:
        self._wake = anyio.Event()
        sources = list(self._sources())
        shards: dict[int, list[Source]] = {}
        for source in sources:
            shards.setdefault(self._shard_of(source), []).append(source)
        async with anyio.create_task_group() as inner:
            for shard, members in sorted(shards.items()):
                inner.start_soon(self._lead, shard, members, name=f"leadership:{shard}")
            await self._wake.wait()
            with anyio.CancelScope() as self._retiring:  # stop() cancels it
                if not self.stopped:
                    async with anyio.create_task_group() as retiring:
                        for s in sources:
                            retiring.start_soon(s.loop.retire, name=f"retire:{s.name}")
            self._retiring = None
            inner.cancel_scope.cancel()

    async def _lead(self, shard: int, sources: list[Source]) -> None:
        """Each time this replica gains the leadership of ``shard`` (the one shard when accounts
        are not sharded), run its sources' loops until it loses it."""
        elector = self._elector_of(shard)
        while True:
            await elector.wait_until(True)
            self._on_lead(shard)  # a new leadership: the shard's next intent begins a new term
            for s in sources:  # a beat from an earlier term must not read as a stalled loop
                s.loop.heartbeat.last = s.loop.heartbeat.in_cycle_since = None
            stopped = self._running[shard] = anyio.Event()
            try:
                async with anyio.create_task_group() as loops:
                    for s in sources:
                        loops.start_soon(self._loop, s, name=f"loop:{s.name}")
                    await elector.wait_until(False)
                    loops.cancel_scope.cancel()
            finally:
                stopped.set()
                if self._running.get(shard) is stopped:
                    del self._running[shard]

    async def until_stopped(self, shard: int) -> None:
        """Return once no loop of ``shard`` runs (at once if none does): a replica handing a
        shard back releases its Lease only then."""
        running = self._running.get(shard)
        if running is not None:
            await running.wait()

    async def _loop(self, source: Source) -> None:
        """The source's loop and, beside it, its deadline timers: both end together."""
        rng = random.Random(self._rng.random())  # noqa: S311 - jitter
        async with anyio.create_task_group() as timers:
            timers.start_soon(source.cycle.run_timers, name=f"timers:{source.name}")
            await source.loop.run(clock=self._clock, rng=rng)
            timers.cancel_scope.cancel()
