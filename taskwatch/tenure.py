"""This replica's leadership term in the journal: the fence beyond the Lease.

Why: a Lease gives "usually one leader". A leader that stalls (a long GC pause, a frozen VM, a
network partition from the API server) may wake up still believing it leads while its successor
already acts. With election on, each leadership of this replica begins a new term in the shared
journal (:meth:`~taskwatch.actions.controls.SharedControls.begin_term`), every intent carries it,
and the journal refuses intents of a term that is no longer current: the deposed leader's late
writes fail in the database, whatever it believes.

:meth:`Tenure.current` is what the executor asks for each intent: ``None`` without election (no
term check: one process, or replicas the operator runs without a Lease, where the unique live
intent and the shared caps still hold); :data:`NO_TERM` while not leading or when the journal
could not begin a term (such an intent is refused: fail closed); else the term begun at the first
intent of this leadership (:meth:`Tenure.reset` at each gain of leadership forgets the old one).

Not guaranteed: that the term begins the instant leadership is gained; it begins at the first
intent of the new leadership, which is the first moment it matters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import structlog

from taskwatch.actions.journal import Journal
from taskwatch.errors import StoreError

log = structlog.get_logger(__name__)

NO_TERM: Final = -1
"""A term no journal ever has (they start at 0 and grow): an intent carrying it is refused."""


@dataclass(slots=True)
class Tenure:
    """This replica's term; see the module docstring."""

    journal: Journal
    identity: str
    fenced: bool
    """Leader election is on: intents carry a term."""
    leading: Callable[[], bool]
    term: int | None = None

    def reset(self) -> None:
        """Leadership was (re)gained: the next intent begins a new term."""
        self.term = None

    def current(self) -> int | None:
        """The term an intent carries now; see the module docstring."""
        if not self.fenced:
            return None
        if not self.leading():
            self.term = None
            return NO_TERM
        if self.term is None:
            try:
                self.term = self.journal.begin_term(self.identity)
            except StoreError as exc:
                log.error("leader.term_failed", error=str(exc))
                return NO_TERM
            log.info("leader.term_begun", term=self.term, holder=self.identity)
        return self.term
