"""The test PostgreSQL of :mod:`tests.postgres` keeps the promises the journal's tests rest on:
each test gets an empty database of its own, the password role needs its password, the server runs
durably (fsync on) as a non-root user on loopback, and a crash and restart keep committed data."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from tests import components
from tests import postgres as module
from tests.postgres import PostgresServer, postgres_fixture, postgres_url_fixture  # noqa: F401


@pytest.fixture
def no_libpq_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No password from libpq's own sources (``PGPASSWORD``, ``~/.pgpass``)."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))


def tables_in(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    rows = conn.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables"
        " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
    ).fetchall()
    return sorted(str(row[0]) for row in rows)


def test_a_fresh_database_is_empty_and_writable(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        assert tables_in(conn) == []
        conn.execute("CREATE TABLE t (id integer PRIMARY KEY, note text)")
        conn.execute("INSERT INTO t VALUES (1, 'written')")
        conn.commit()
        assert conn.execute("SELECT note FROM t WHERE id = 1").fetchone() == ("written",)


@pytest.mark.parametrize("run", ["first", "second"])
def test_no_test_sees_a_table_another_test_created(postgres_url: str, run: str) -> None:
    # Both runs create the same table and keep it: whichever runs second would find it (and fail
    # to create it) if the two were given the same database.
    with psycopg.connect(postgres_url) as conn:
        assert tables_in(conn) == []
        conn.execute("CREATE TABLE left_behind (run text)")
        conn.execute("INSERT INTO left_behind VALUES (%s)", (run,))


def test_the_password_role_is_refused_without_its_password_and_let_in_with_it(
    postgres: PostgresServer, postgres_url: str, no_libpq_password: None
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    url = postgres.url(database, user=postgres.password_role)
    assert postgres.password not in url
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(url, connect_timeout=5)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url, password=postgres.password + "-wrong", connect_timeout=5)
    with psycopg.connect(url, password=postgres.password, connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (postgres.password_role,)
        conn.execute("CREATE TABLE owned_by_the_role (id integer)")  # it owns the database


def test_committed_rows_survive_a_crash_and_restart(
    postgres: PostgresServer, postgres_url: str
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE journal (id integer)")
        conn.execute("INSERT INTO journal SELECT generate_series(1, 100)")
    open_connection = psycopg.connect(postgres_url)
    postgres.kill()
    assert not postgres.running()
    with pytest.raises(psycopg.OperationalError):
        open_connection.execute("SELECT 1")
    open_connection.close()
    postgres.start()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM journal").fetchone() == (100,)


def test_the_server_is_durable_on_loopback_and_not_root(
    postgres: PostgresServer, postgres_url: str
) -> None:
    with psycopg.connect(postgres_url) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings"
                " WHERE name IN ('fsync', 'synchronous_commit', 'listen_addresses')"
            ).fetchall()
        )
    assert settings == {"fsync": "on", "synchronous_commit": "on", "listen_addresses": "127.0.0.1"}
    pid = int((postgres.data / "postmaster.pid").read_text().split()[0])
    assert os.stat(f"/proc/{pid}").st_uid != 0


def test_advisory_locks_in_one_database_do_not_block_another(postgres: PostgresServer) -> None:
    # The journal serialises writers with advisory locks: two tests' databases must not share them.
    first, second = postgres.create_database(), postgres.create_database()
    try:
        with (
            psycopg.connect(postgres.url(first), autocommit=True) as holder,
            psycopg.connect(postgres.url(first), autocommit=True) as same_database,
            psycopg.connect(postgres.url(second), autocommit=True) as other_database,
        ):
            holder.execute("SELECT pg_advisory_lock(42)")
            assert same_database.execute("SELECT pg_try_advisory_lock(42)").fetchone() == (False,)
            assert other_database.execute("SELECT pg_try_advisory_lock(42)").fetchone() == (True,)
    finally:
        postgres.drop_database(first)
        postgres.drop_database(second)


def test_without_the_server_a_test_fails_under_ci_and_is_skipped_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(module, "_bindir", lambda: None)
    monkeypatch.setitem(components._attempted, "postgresql", "apt-get install failed (test)")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install failed"):
        module.require_postgres()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install failed"):
        module.require_postgres()
