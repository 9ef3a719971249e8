"""The SQLite journal: one file, one writing process (``state.path``, the default).

:class:`SqliteJournal` is the :class:`~taskwatch.actions.journal.Journal` backend for a daemon
alone with its journal (systemd, one Kubernetes replica on a volume): it opens the file (creating
it private, 0600, when writable), refuses files that are not a journal this version understands
(another application, a newer schema, corruption), sets WAL and ``synchronous=FULL``, runs the
migrations of :mod:`taskwatch.actions.schema`, holds the process lock of
:mod:`taskwatch.actions.lock` while writable, and turns every sqlite3 error into a
:class:`~taskwatch.errors.StoreError` naming the file. The rows and rules are the journal's.

Durability costs one fsync per write (WAL, ``synchronous=FULL``): a few milliseconds on an SSD,
tens on a slow disk. Actions are rare (bounded by the caps), so the daemon never feels it; WAL also
lets ``taskwatch audit`` read while the daemon writes. Every write transaction is ``BEGIN
IMMEDIATE``, so writers are serialised by SQLite itself and :meth:`_lock` has nothing to do.

Not guaranteed: durability on filesystems that ignore fsync or lack shared memory for WAL
(network filesystems: opening fails); that the file shrinks after a prune (freed pages are reused,
not returned).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, NoReturn

from taskwatch.actions.backend import IN_FLIGHT, Connection
from taskwatch.actions.journal import Journal
from taskwatch.actions.lock import ProcessLock, fsync_dir, make_private_dirs
from taskwatch.actions.schema import (
    APPLICATION_ID,
    COSTS_SINCE,
    MIGRATIONS,
    OLDEST_READABLE,
    SCHEMA_VERSION,
    SHARDS_SINCE,
)
from taskwatch.clock import Clock
from taskwatch.errors import IntentRefused, StoreError

__all__ = ["BUSY_TIMEOUT", "MEMORY", "SqliteJournal"]

MEMORY: Final = ":memory:"
BUSY_TIMEOUT: Final = 5.0
"""Seconds a write waits for another connection's write transaction before failing."""


class SqliteJournal(Journal):
    """One SQLite connection to a journal file, guarded by a lock, so a journal may be shared by
    threads (e.g. calls made through ``anyio.to_thread``). ``read_only`` opens an existing file
    without changing it and takes no process lock; ``exclusive=False`` writes without it, for a
    process that only flips the kill switch beside a running daemon (``taskwatch pause``): it
    never acts, and SQLite serialises its writes with the daemon's."""

    shared = False

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock,
        read_only: bool = False,
        in_flight: float = IN_FLIGHT,
        exclusive: bool = True,
    ) -> None:
        super().__init__(clock=clock, read_only=read_only, in_flight=in_flight)
        self.path = path if path == MEMORY else str(Path(path).expanduser())
        self.exclusive = exclusive
        self._conn: sqlite3.Connection | None = None
        self._guard = threading.Lock()
        self._process_lock: ProcessLock | None = None

    @property
    def target(self) -> str:
        return self.path

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Open (creating and migrating when writable); a no-op when already open. A writable
        file journal is locked first: :class:`~taskwatch.actions.lock.JournalBusyError` while
        another process (or another open :class:`Journal`) holds it."""
        if self._conn is not None:
            return
        writer = not self.read_only and self.path != MEMORY
        if writer and self.exclusive:
            self._hold()
        try:
            conn = self._connect()
            try:
                with self._errors("open"):
                    self._check(conn)
                    if not self.read_only:
                        self._setup(conn)
                        self._migrate(conn)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._let_go()
            raise
        if writer:
            fsync_dir(Path(self.path).parent)  # the new file and its -wal survive power loss
        self._conn = conn

    def close(self) -> None:
        """Close and let the lock go; idempotent. The last connection to close checkpoints and
        removes the WAL."""
        with self._guard:
            conn, self._conn = self._conn, None
        try:
            if conn is not None:
                with self._errors("close"):
                    conn.close()
        finally:
            self._let_go()

    def _hold(self) -> None:
        try:
            make_private_dirs(Path(self.path).parent)
        except OSError as e:
            self._fail(f"cannot create its directory: {e.strerror or e}")
        lock = ProcessLock(self.path)
        lock.acquire()
        self._process_lock = lock

    def _let_go(self) -> None:
        lock, self._process_lock = self._process_lock, None
        if lock is not None:
            lock.release()

    def schema_version(self) -> int:
        """The schema version of the open file."""
        with self._errors("read the schema version"), self._guard:
            return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    # -- internals ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        try:
            if path == MEMORY:
                target, uri = MEMORY, False
            elif self.read_only:
                if not Path(path).exists():
                    raise StoreError(f"no journal at {path} yet", path=path)
                target, uri = Path(path).resolve().as_uri() + "?mode=ro", True
            else:
                make_private_dirs(Path(path).parent)
                os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
                target, uri = path, False
        except OSError as e:
            raise StoreError(
                f"{path}: cannot open the journal: {e.strerror or e}", path=path
            ) from e
        with self._errors("open"):
            return sqlite3.connect(
                target,
                uri=uri,
                timeout=BUSY_TIMEOUT,
                isolation_level=None,  # autocommit: transactions are explicit
                check_same_thread=False,  # the lock serialises use
            )

    def _check(self, conn: sqlite3.Connection) -> None:
        """Refuse files that are not (or no longer) a journal this version understands."""
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        if app_id not in (0, APPLICATION_ID):
            self._fail(f"not a taskwatch journal (application id {app_id:#x})")
        if version > SCHEMA_VERSION:
            self._fail(
                f"written by a newer taskwatch (schema {version}; this version knows up to"
                f" {SCHEMA_VERSION}): upgrade taskwatch or use another state path"
            )
        if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            self._fail("not a taskwatch journal (an SQLite database with other tables)")
        self.costs = not self.read_only or version >= COSTS_SINCE
        self.shard_terms = not self.read_only or version >= SHARDS_SINCE
        if self.read_only and version < OLDEST_READABLE:
            self._fail(
                f"the journal's schema {version} is too old to read; start the daemon once to"
                " migrate it"
            )
        problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            self._fail(f"the journal is corrupt: {problems[0]}")

    def _setup(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal" and not (self.path == MEMORY and mode == "memory"):
            self._fail(f"cannot use WAL mode here (got {mode!r}; a network filesystem?)")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        while True:
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if version >= SCHEMA_VERSION:  # another process may have migrated meanwhile
                    conn.execute("COMMIT")
                    return
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    def _fail(self, reason: str) -> NoReturn:
        raise StoreError(f"{self.path}: {reason}", path=self.path)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: the journal is not open", path=self.path)
        return self._conn

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Translate sqlite3 errors into :class:`StoreError` naming the file (a duplicate live
        intent into :class:`IntentRefused`)."""
        try:
            yield
        except sqlite3.IntegrityError as e:
            if "intents.account" in str(e) and "UNIQUE" in str(e):
                raise IntentRefused("open", "another intent for this task is live") from e
            raise StoreError(f"{self.path}: cannot {doing}: {e}", path=self.path) from e
        except sqlite3.DatabaseError as e:
            text = str(e)
            if "not a database" in text or "malformed" in text:
                text = f"not a taskwatch journal, or corrupt ({text})"
            raise StoreError(f"{self.path}: cannot {doing}: {text}", path=self.path) from e
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot {doing}: {e}", path=self.path) from e

    @contextmanager
    def _reading(self, doing: str) -> Iterator[Connection]:
        with self._errors(doing), self._guard:
            yield self._connection()

    def _lock(self, conn: Connection, name: str, *, shared: bool) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already excludes every other writer."""

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (fsynced), rolled back on any error."""
        with self._errors(doing), self._guard:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise


def _rollback(conn: sqlite3.Connection) -> None:
    """Leave a failed transaction; the error that caused it is the one worth reporting."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
