"""Which journal a configuration's ``state`` section opens: SQLite at ``state.path`` or PostgreSQL
at ``state.url``.

Why a function apart from both backends: the daemon, ``taskwatch once`` and ``taskwatch audit``
open a journal from settings without caring which, and the PostgreSQL backend needs its driver
(the ``postgresql`` extra: ``pip install 'taskwatch[postgresql]'``), which a SQLite-only install
must not need. The driver is imported only when ``state.url`` is set, and its absence is a clear
:class:`~taskwatch.errors.StoreError`, not an ``ImportError`` traceback.

Not guaranteed: that the journal can be opened; this builds it, :meth:`Journal.open` connects.
"""

from __future__ import annotations

from taskwatch.actions.backend import IN_FLIGHT
from taskwatch.actions.journal import Journal
from taskwatch.actions.sqlite import SqliteJournal
from taskwatch.clock import Clock
from taskwatch.errors import StoreError
from taskwatch.settings import State

__all__ = ["journal_for"]


def journal_for(
    state: State,
    *,
    clock: Clock,
    read_only: bool = False,
    in_flight: float = IN_FLIGHT,
    exclusive: bool = True,
) -> Journal:
    """The journal ``state`` selects, not yet opened. ``exclusive=False``: a SQLite journal
    written without its process lock (controls only, see
    :class:`~taskwatch.actions.sqlite.SqliteJournal`); PostgreSQL has no such lock."""
    if state.url is None:
        return SqliteJournal(
            state.path,
            clock=clock,
            read_only=read_only,
            in_flight=in_flight,
            exclusive=exclusive,
        )
    try:
        from taskwatch.actions.postgres import PostgresJournal
    except ImportError as exc:
        raise StoreError(
            f"{state.display()}: a PostgreSQL journal needs the psycopg driver: install"
            " 'taskwatch[postgresql]'",
            path=state.display(),
        ) from exc
    return PostgresJournal(state, clock=clock, read_only=read_only, in_flight=in_flight)
