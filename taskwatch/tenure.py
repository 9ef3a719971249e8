"""This replica's leadership terms in the journal: the fence beyond the Lease, one per shard.

Why: a Lease gives "usually one leader". A leader that stalls (a long GC pause, a frozen VM, a
network partition from the API server) may wake up still believing it leads while its successor
already acts. With election on, each leadership of this replica begins a new term in the shared
journal (:meth:`~taskwatch.actions.controls.SharedControls.begin_term`), every intent carries it,
and the journal refuses intents of a term that is no longer current: the deposed leader's late
writes fail in the database, whatever it believes. With accounts sharded across replicas (one
Lease per shard), each shard is led, and fenced, on its own: this replica keeps a term per shard
it leads, and an intent carries its account's shard and that shard's term. Unsharded, everything
is shard 0 (the journal's one term before shards).

:meth:`Tenure.current` is what the executor asks for each intent: ``None`` without election (no
term check: one process, or replicas the operator runs without a Lease, where the unique live
intent and the shared caps still hold); :data:`NO_TERM` while not leading the shard or when the
journal could not begin a term (such an intent is refused: fail closed); else the shard's term
begun at the first intent of this leadership of the shard (:meth:`Tenure.reset` at each gain of
a shard's leadership forgets its old one).

Not guaranteed: that a term begins the instant leadership is gained; it begins at the first
intent of the new leadership, which is the first moment it matters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import structlog

from taskwatch.actions.journal import Journal
from taskwatch.errors import StoreError

log = structlog.get_logger(__name__)

NO_TERM: Final = -1
"""A term no journal ever has (they start at 0 and grow): an intent carrying it is refused."""


@dataclass(slots=True)
class Tenure:
    """This replica's terms, one per shard; see the module docstring. Safe to call from the
    executor's journal threads: a shard's term is begun once per leadership, and a shard whose
    term is being begun delays no other shard's intents."""

    journal: Journal
    identity: str
    fenced: bool
    """Leader election is on: intents carry a term."""
    leading: Callable[[], bool]
    """Whether this replica leads (one Lease: it leads every shard, i.e. shard 0, or none)."""
    holds: Callable[[int], bool] | None = None
    """Whether this replica leads a shard (one Lease per shard); None: :attr:`leading`."""
    terms: dict[int, int] = field(default_factory=dict)
    """The term begun in each shard led now (none yet: begun at the shard's next intent)."""
    _guards: dict[int, threading.Lock] = field(default_factory=dict, repr=False)

    def reset(self, shard: int | None = None) -> None:
        """Leadership of ``shard`` (None: of every shard) was (re)gained: the next intent of that
        shard begins a new term."""
        if shard is None:
            self.terms.clear()
        else:
            self.terms.pop(shard, None)

    def current(self, shard: int = 0) -> int | None:
        """The term an intent of ``shard`` carries now; see the module docstring."""
        if not self.fenced:
            return None
        guard = self._guards.get(shard) or self._guards.setdefault(shard, threading.Lock())
        with guard:  # setdefault is atomic under the GIL: one lock per shard
            if not (self.leading() if self.holds is None else self.holds(shard)):
                self.terms.pop(shard, None)
                return NO_TERM
            term = self.terms.get(shard)
            if term is None:
                try:
                    term = self.journal.begin_term(self.identity, shard)
                except StoreError as exc:
                    log.error("leader.term_failed", shard=shard, error=str(exc))
                    return NO_TERM
                self.terms[shard] = term
                log.info("leader.term_begun", term=term, holder=self.identity, shard=shard)
            return term
