"""The PostgreSQL journal: one database shared by every replica (``state.url``).

Why PostgreSQL, and why psycopg 3: the safety promises (never twice, per-hour caps, the kill
switch, the audit) count rows, so replicas that fail over into each other must count the same
rows; a file on each pod resets them on every failover. psycopg 3 rather than asyncpg because the
journal's interface is synchronous (SQLite's is, and one interface serves both backends: psycopg's
sync connection maps onto it call for call), and because psycopg uses libpq: the URL, ``sslmode``,
``PGPASSWORD``, ``~/.pgpass`` and service files behave exactly as they do for ``psql``, which is
what an operator debugging a connection tries first.

What this module adds to :class:`~taskwatch.actions.journal.Journal`:

* connecting (:func:`~taskwatch.actions.dsn.connect_kwargs`: the password from the file or the
  variable, read at each connect), with ``statement_timeout`` and ``lock_timeout`` so a stuck
  database fails a journal call in seconds rather than hanging the daemon;
* checking and migrating (:mod:`taskwatch.actions.pgschema`) under an advisory lock;
* transactions: autocommit off for a write, ``COMMIT`` durable with PostgreSQL's default
  ``synchronous_commit = on``; ``READ COMMITTED``, with transaction-scoped advisory locks
  (:meth:`_lock`) ordering the writers where a rule reads before it writes (the kill switch, the
  term, a policy's per-hour count); the unique live index does the rest;
* reconnecting: a broken connection (the server restarted, the network dropped) fails the call in
  progress as a :class:`~taskwatch.errors.StoreError`, and the next call connects again.

Not guaranteed: that a call is not blocked for up to ``connect_timeout`` plus
``statement_timeout`` while the database is unreachable (the journal is synchronous; calls are
rare and bounded by the caps); ordering by id across writers (see :mod:`taskwatch.actions.
pgschema`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, NoReturn

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import make_conninfo

from taskwatch.actions.backend import IN_FLIGHT, Connection, Cursor
from taskwatch.actions.dsn import connect_kwargs
from taskwatch.actions.journal import Journal
from taskwatch.actions.pgschema import (
    CREATE_VERSION_TABLE,
    INSERT_VERSION,
    PG_COSTS_SINCE,
    PG_MIGRATIONS,
    PG_OLDEST_READABLE,
    PG_SCHEMA_VERSION,
    PG_SHARDS_SINCE,
    VERSION_TABLE,
)
from taskwatch.actions.schema import APPLICATION_ID
from taskwatch.clock import Clock
from taskwatch.errors import IntentRefused, StoreError
from taskwatch.settings import State

__all__ = ["STATEMENT_TIMEOUT_MS", "PostgresJournal"]

STATEMENT_TIMEOUT_MS: Final = 5000
"""A journal statement (or a lock it waits for) that takes longer fails as a StoreError."""
_LOCK_NAMESPACE: Final = "taskwatch:"


class _Placeholders:
    """A psycopg connection that takes the journal's ``?`` placeholders."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, args: tuple[Any, ...] = (), /) -> Cursor:
        assert "%" not in sql, "journal SQL must not contain '%'"
        # PostgreSQL's text cannot hold NUL (SQLite's can): an API message carrying one must not
        # cost the outcome of a call that was made. U+FFFD in its place, on writes and reads.
        clean = tuple(a.replace("\x00", "\ufffd") if isinstance(a, str) else a for a in args)
        return self._conn.execute(sql.replace("?", "%s"), clean)


class PostgresJournal(Journal):
    """The journal in a PostgreSQL database shared by replicas; see the module docstring."""

    shared = True

    def __init__(
        self,
        state: State,
        *,
        clock: Clock,
        read_only: bool = False,
        in_flight: float = IN_FLIGHT,
    ) -> None:
        super().__init__(clock=clock, read_only=read_only, in_flight=in_flight)
        if state.url is None:
            raise ValueError("state selects the SQLite journal")
        self._state = state
        self._display = state.display()
        self._conn: psycopg.Connection[Any] | None = None
        self._guard = threading.Lock()
        self._opened = False

    @property
    def target(self) -> str:
        return self._display

    @property
    def is_open(self) -> bool:
        return self._opened

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, check and (when writable) migrate; a no-op when already open."""
        with self._guard:
            if self._opened:
                return
            self._connection()
            self._opened = True

    def close(self) -> None:
        with self._guard:
            conn, self._conn = self._conn, None
            self._opened = False
        if conn is not None:
            conn.close()

    def schema_version(self) -> int:
        with self._reading("read the schema version"):
            return self._version(self._connection())  # psycopg's own %s, not the ? wrapper

    # -- the backend contract ----------------------------------------------------------------

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[Connection]:
        with self._errors(doing), self._guard:
            conn = self._connection(doing)
            with conn.transaction():
                yield _Placeholders(conn)

    @contextmanager
    def _reading(self, doing: str) -> Iterator[Connection]:
        with self._errors(doing), self._guard:
            yield _Placeholders(self._connection(doing))

    def _lock(self, conn: Connection, name: str, *, shared: bool) -> None:
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.execute(f"SELECT {function}(hashtextextended(?, 0))", (_LOCK_NAMESPACE + name,))

    # -- internals ---------------------------------------------------------------------------

    def _connection(self, doing: str | None = None) -> psycopg.Connection[Any]:
        """The open connection, (re)connecting when there is none or it broke. ``doing``: a
        call after :meth:`close` (or before :meth:`open`) fails instead of connecting again."""
        if doing is not None and not self._opened:
            self._fail(f"cannot {doing}: the journal is not open")
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._conn = None
        if conn is not None:
            conn.close()
        with self._errors("connect"):
            kwargs = connect_kwargs(self._state)
            conninfo = make_conninfo(kwargs.pop("conninfo"), **kwargs)
            conn = psycopg.Connection.connect(conninfo, autocommit=True)
            try:
                conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
                conn.execute(f"SET lock_timeout = {STATEMENT_TIMEOUT_MS}")
                if self.read_only:
                    conn.execute("SET default_transaction_read_only = on")
                if self.read_only:
                    self._check(conn)
                else:  # checked under the migration lock: another replica may be migrating
                    self._migrate(conn)
            except BaseException:
                conn.close()
                raise
        self._conn = conn
        return conn

    def _version(self, conn: Any) -> int:
        present = conn.execute(  # pg_class itself: to_regclass's cache may miss a new table
            "SELECT max(oid::bigint) FROM pg_catalog.pg_class WHERE relname = %s"
            " AND pg_catalog.pg_table_is_visible(oid)",
            (VERSION_TABLE,),
        ).fetchone()[0]
        if present is None:
            return 0
        row = conn.execute(f"SELECT application_id, version FROM {VERSION_TABLE}").fetchone()  # noqa: S608
        if row is None or int(row[0]) != APPLICATION_ID:
            self._fail(f"{VERSION_TABLE} is not a taskwatch journal's")
        return int(row[1])

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        version = self._version(conn)
        if version > PG_SCHEMA_VERSION:
            self._fail(
                f"written by a newer taskwatch (schema {version}; this version knows up to"
                f" {PG_SCHEMA_VERSION}): upgrade taskwatch or use another database"
            )
        if version == 0:
            foreign = conn.execute("SELECT to_regclass('intents')").fetchone()
            if foreign is not None and foreign[0] is not None:
                self._fail("not a taskwatch journal (a table 'intents' exists already)")
            if self.read_only:
                self._fail("no journal in this database yet")
        self.costs = not self.read_only or version >= PG_COSTS_SINCE
        self.shard_terms = not self.read_only or version >= PG_SHARDS_SINCE
        if self.read_only and version < PG_OLDEST_READABLE:
            self._fail(
                f"the journal's schema {version} is too old to read; start the daemon once to"
                " migrate it"
            )

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        """Every pending migration, each in its own transaction, under an advisory lock so that
        replicas starting together migrate once."""
        while True:
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    (_LOCK_NAMESPACE + "migrate",),
                )
                self._check(conn)
                version = self._version(conn)
                if version >= PG_SCHEMA_VERSION:
                    return
                if version == 0:
                    conn.execute(CREATE_VERSION_TABLE)
                    conn.execute(INSERT_VERSION)
                for statement in PG_MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(f"UPDATE {VERSION_TABLE} SET version = %s", (version + 1,))  # noqa: S608

    def _fail(self, reason: str) -> NoReturn:
        raise StoreError(f"{self._display}: {reason}", path=self._display)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Translate psycopg errors into :class:`StoreError` naming the database (a duplicate
        live intent into :class:`IntentRefused`). libpq's messages name host and user, never
        the password."""
        try:
            yield
        except pg_errors.UniqueViolation as e:
            if e.diag.constraint_name == "intents_live":
                raise IntentRefused("open", "another intent for this task is live") from e
            raise StoreError(
                f"{self._display}: cannot {doing}: {_first(e)}", path=self._display
            ) from e
        except psycopg.Error as e:
            raise StoreError(
                f"{self._display}: cannot {doing}: {_first(e)}", path=self._display
            ) from e


def _first(error: BaseException) -> str:
    """The first line of a driver message (libpq adds hints and context lines)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
