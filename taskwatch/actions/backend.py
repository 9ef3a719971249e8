"""What a journal backend provides: a connection that takes ``?`` placeholders, transactions that
commit durably, locks that serialise writers on a name, and what messages call the database.

Why a contract this small: the journal's rules (:mod:`taskwatch.actions.journal`) and shared
controls (:mod:`taskwatch.actions.controls`) are the same on every database; only opening,
checking, migrating, transactions and the translation of driver errors differ. SQLite
(:mod:`taskwatch.actions.sqlite`) serialises every write transaction already (``BEGIN
IMMEDIATE``), so its :meth:`Backend._lock` does nothing; PostgreSQL
(:mod:`taskwatch.actions.postgres`) takes transaction-scoped advisory locks.

Not guaranteed: that a backend is safe to use from several threads at once without its own lock
(each one holds one connection and a lock around it).
"""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from typing import Any, Final, Protocol, Self

from taskwatch.clock import Clock

__all__ = ["IN_FLIGHT", "Backend", "Connection", "Cursor"]

IN_FLIGHT: Final = 120.0
"""Seconds an intent without outcome in a shared journal is taken to be a call still in flight
(far beyond the API timeout): younger, no other writer may supersede or reconcile it."""


class Cursor(Protocol):
    """What a backend's ``execute`` returns (sqlite3's and psycopg's cursors both are)."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


class Connection(Protocol):
    """What the rules need of a backend's connection: ``?`` placeholders, whatever the driver."""

    def execute(self, sql: str, args: tuple[Any, ...] = ..., /) -> Cursor: ...


class Backend(abc.ABC):
    """A journal's database; see the module docstring."""

    shared: bool = False
    """More than one process may write (in-flight intents of others may exist)."""
    costs: bool = True
    """The intents have the cost columns (``False``: a read-only journal of an older schema,
    whose records read without estimates)."""
    shard_terms: bool = True
    """``leadership`` is keyed by shard (``False``: a read-only journal of an older schema, whose
    one term is shard 0's)."""

    def __init__(
        self, *, clock: Clock, read_only: bool = False, in_flight: float = IN_FLIGHT
    ) -> None:
        self.read_only = read_only
        self.in_flight = in_flight
        self._clock = clock

    @property
    @abc.abstractmethod
    def target(self) -> str:
        """What messages name: the file, or the database URL (which never holds a password)."""

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """Whether :meth:`open` was called and :meth:`close` not since."""

    @abc.abstractmethod
    def open(self) -> None:
        """Open (creating and migrating when writable); a no-op when already open."""

    def in_flight_cutoff(self, now: float | None = None) -> float | None:
        """The time (UTC epoch; default: the clock's now) before which an intent without outcome
        can no longer be waiting for the API's answer at another writer: ``now - in_flight`` in
        a shared journal; ``None`` in a journal of one process (none can be, after a restart)."""
        if not self.shared:
            return None
        return (self._now() if now is None else now) - self.in_flight

    def may_be_in_flight(self, written: float) -> bool:
        """Whether an intent without outcome written at ``written`` (UTC epoch) may still be
        waiting for the API's answer at another writer: only in a shared journal, and only
        younger than ``in_flight``. Such an intent is its writer's to settle, not a reader's."""
        cutoff = self.in_flight_cutoff()
        return cutoff is not None and written > cutoff

    @abc.abstractmethod
    def close(self) -> None:
        """Close; idempotent."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The schema version of the open database."""

    @abc.abstractmethod
    def _transaction(self, doing: str) -> AbstractContextManager[Connection]:
        """A write transaction, committed (durably) on exit, rolled back on any error. Database
        errors become :class:`~taskwatch.errors.StoreError`; a unique violation of the live
        index becomes :class:`~taskwatch.errors.IntentRefused`."""

    @abc.abstractmethod
    def _reading(self, doing: str) -> AbstractContextManager[Connection]:
        """A connection for one read; database errors become
        :class:`~taskwatch.errors.StoreError`."""

    @abc.abstractmethod
    def _lock(self, conn: Connection, name: str, *, shared: bool) -> None:
        """Serialise writers on ``name`` until the transaction ends (a no-op where every write
        transaction is already exclusive)."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r}, read_only={self.read_only})"

    def _now(self) -> float:
        return self._clock.now().timestamp()
