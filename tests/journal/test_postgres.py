"""The PostgreSQL journal only: migrating a database that replicas open together, refusing a
database that is not (or no longer) a journal this version understands, passwords from the
environment that no message ever repeats, and an outage of the server (a call during it fails as a
:class:`StoreError` naming the database; the next call after the restart reconnects).

The server is the session's throwaway cluster (:mod:`tests.postgres`), a fresh database per test;
its :meth:`~tests.postgres.PostgresServer.restart` waits for readiness itself, so no test sleeps.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from taskwatch.actions.pgschema import PG_SCHEMA_VERSION, VERSION_TABLE
from taskwatch.actions.postgres import PostgresJournal
from taskwatch.actions.schema import APPLICATION_ID
from taskwatch.clock import ManualClock
from taskwatch.errors import StoreError
from taskwatch.settings import State
from tests.journal.helpers import ABORT, abort
from tests.postgres import PostgresServer

PASSWORD_VARIABLE = "TASKWATCH_TEST_PG_PASSWORD"


def tables(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " ORDER BY table_name"
        ).fetchall()
    return [str(row[0]) for row in rows]


# -- migrations --------------------------------------------------------------------------------


def test_replicas_opening_an_empty_database_together_migrate_it_once(
    postgres_url: str, clock: ManualClock
) -> None:
    journals = [PostgresJournal(State(url=postgres_url), clock=clock) for _ in range(4)]
    barrier = threading.Barrier(len(journals))

    def open_and_write(journal: PostgresJournal) -> int:
        barrier.wait(timeout=30)
        journal.open()
        return journal.intent(**abort(task_id=f"t{id(journal)}"))

    try:
        with ThreadPoolExecutor(max_workers=len(journals)) as pool:
            ids = list(pool.map(open_and_write, journals))
        assert len(set(ids)) == 4
        assert {j.schema_version() for j in journals} == {PG_SCHEMA_VERSION}
    finally:
        for journal in journals:
            journal.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        versions = conn.execute(f"SELECT application_id, version FROM {VERSION_TABLE}").fetchall()
        assert conn.execute("SELECT term FROM leadership").fetchall() == [(0,)]
    assert versions == [(APPLICATION_ID, PG_SCHEMA_VERSION)]
    assert {"intents", "outcomes", "leadership", "switch_events"} <= set(tables(postgres_url))


def test_a_database_with_a_foreign_intents_table_is_refused_and_left_alone(
    postgres_url: str, clock: ManualClock
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE intents (who text)")
        conn.execute("INSERT INTO intents VALUES ('another application')")
    journal = PostgresJournal(State(url=postgres_url), clock=clock)
    with pytest.raises(StoreError, match="not a taskwatch journal") as caught:
        journal.open()
    assert caught.value.path == journal.target
    assert str(caught.value).startswith(journal.target)
    assert tables(postgres_url) == ["intents"]  # no version table, nothing else created
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT who FROM intents").fetchall() == [("another application",)]


def test_a_version_table_of_another_application_is_refused(
    postgres_url: str, clock: ManualClock
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {VERSION_TABLE} (application_id bigint, version integer)")
        conn.execute(f"INSERT INTO {VERSION_TABLE} VALUES (42, 1)")
    with pytest.raises(StoreError, match="not a taskwatch journal"):
        PostgresJournal(State(url=postgres_url), clock=clock).open()


@pytest.mark.parametrize("read_only", [False, True])
def test_a_journal_from_a_newer_taskwatch_is_refused_naming_the_database(
    postgres_url: str, clock: ManualClock, read_only: bool
) -> None:
    with PostgresJournal(State(url=postgres_url), clock=clock) as journal:
        journal.intent(**ABORT)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version = %s", (PG_SCHEMA_VERSION + 1,))
    newer = PostgresJournal(State(url=postgres_url), clock=clock, read_only=read_only)
    with pytest.raises(StoreError, match="newer taskwatch") as caught:
        newer.open()
    assert newer.target in str(caught.value)


def test_a_read_only_journal_on_an_empty_database_creates_nothing(
    postgres_url: str, clock: ManualClock
) -> None:
    with pytest.raises(StoreError, match="no journal in this database yet"):
        PostgresJournal(State(url=postgres_url), clock=clock, read_only=True).open()
    assert tables(postgres_url) == []


# -- passwords ---------------------------------------------------------------------------------


def password_state(postgres: PostgresServer, postgres_url: str) -> State:
    database = postgres_url.rsplit("/", 1)[1]
    url = postgres.url(database, user=postgres.password_role)
    return State(url=url, password_env=PASSWORD_VARIABLE)


def test_the_password_comes_from_the_environment_and_a_wrong_one_is_never_repeated(
    postgres: PostgresServer,
    postgres_url: str,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = password_state(postgres, postgres_url)
    wrong = postgres.password + "-wrong"
    monkeypatch.setenv(PASSWORD_VARIABLE, wrong)
    journal = PostgresJournal(state, clock=clock)
    with pytest.raises(StoreError, match="password authentication failed") as caught:
        journal.open()
    assert state.display() in str(caught.value)
    for secret in (wrong, postgres.password):
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value.__cause__)
    monkeypatch.setenv(PASSWORD_VARIABLE, postgres.password)  # rotated: read at the next connect
    journal.open()
    try:
        assert journal.intent(**ABORT) > 0
    finally:
        journal.close()


# -- an outage ---------------------------------------------------------------------------------


def test_a_call_during_an_outage_fails_naming_the_database_and_the_next_after_it_reconnects(
    postgres: PostgresServer,
    postgres_url: str,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, postgres.password)
    state = password_state(postgres, postgres_url)
    with PostgresJournal(state, clock=clock) as journal:
        before = journal.intent(**abort(task_id="before"))
        postgres.kill()
        failures = []
        for task in ("during-1", "during-2"):  # the broken connection, then a refused reconnect
            with pytest.raises(StoreError) as caught:
                journal.intent(**abort(task_id=task))
            failures.append(str(caught.value))
            assert caught.value.path == journal.target
        with pytest.raises(StoreError):
            journal.recent(0)
        postgres.start()
        after = journal.intent(**abort(task_id="after"))
        assert journal.outcome(before, result="done")
        assert [(r.id, r.task_id) for r in journal.recent(0)] == [
            (before, "before"),
            (after, "after"),
        ]
    for message in failures:
        assert message.startswith(journal.target + ": cannot ")
        assert postgres.password not in message
    assert "connect" in failures[1]


def test_a_journal_whose_server_restarted_between_calls_just_reconnects(
    postgres: PostgresServer, postgres_url: str, clock: ManualClock
) -> None:
    with PostgresJournal(State(url=postgres_url), clock=clock) as journal:
        journal.set_switch(paused=True, actor="alice")
        postgres.restart()
        # The first call meets the dead connection and fails; it is not retried silently,
        # because an intent must never be written twice by a retry that cannot know.
        with pytest.raises(StoreError):
            journal.switch()
        assert journal.switch().actor == "alice"
