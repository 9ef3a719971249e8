"""``connect_kwargs``: the ``state`` section as psycopg's keyword arguments, the password read at
connect time from the file or the variable configured, and errors that name the source but never
what it holds; end to end, the real server's password role gets in through it (and only with the
right password)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from taskwatch.actions.dsn import MAX_PASSWORD_BYTES, connect_kwargs
from taskwatch.errors import StoreError
from taskwatch.settings import State
from tests.postgres import PostgresServer, postgres_fixture, postgres_url_fixture  # noqa: F401

URL = "postgresql://taskwatch@db.internal:5432/taskwatch?sslmode=verify-full"
SHOWN = URL  # every parameter of URL is one State.display() keeps
SECRET = "Pw-in-file-5e2b8d"


def state_with_file(path: Path, url: str = URL) -> State:
    return State(url=url, password_file=path)


def store_error(state: State, environ: dict[str, str] | None = None) -> StoreError:
    with pytest.raises(StoreError) as info:
        connect_kwargs(state, environ or {})
    assert SECRET not in str(info.value)
    assert info.value.path == state.display()
    return info.value


def test_a_password_file_gives_its_one_line_and_the_defaults_are_added(tmp_path: Path) -> None:
    (tmp_path / "password").write_text(f"{SECRET}\n")
    assert connect_kwargs(state_with_file(tmp_path / "password"), {}) == {
        "conninfo": URL,
        "application_name": "taskwatch",
        "connect_timeout": "5",
        "password": SECRET,
    }


@pytest.mark.parametrize("content", [SECRET, f"{SECRET}\n", f"{SECRET}\r\n"])
def test_only_the_trailing_newline_of_the_password_file_is_dropped(
    tmp_path: Path, content: str
) -> None:
    (tmp_path / "password").write_bytes(content.encode())
    assert connect_kwargs(state_with_file(tmp_path / "password"), {})["password"] == SECRET


def test_spaces_are_part_of_the_password(tmp_path: Path) -> None:
    (tmp_path / "password").write_text(f" {SECRET} \n")
    assert connect_kwargs(state_with_file(tmp_path / "password"), {})["password"] == f" {SECRET} "


def test_the_password_file_is_read_at_each_connection_so_a_rotation_needs_no_reload(
    tmp_path: Path,
) -> None:
    state = state_with_file(tmp_path / "password")  # not there yet: mounted later
    (tmp_path / "password").write_text("first\n")
    assert connect_kwargs(state, {})["password"] == "first"
    (tmp_path / "password").write_text("rotated\n")
    assert connect_kwargs(state, {})["password"] == "rotated"


def test_a_missing_password_file_names_the_file_and_keeps_the_cause(tmp_path: Path) -> None:
    err = store_error(state_with_file(tmp_path / "absent"))
    assert str(err) == (
        f"cannot read the database password file {tmp_path / 'absent'} "
        "(state.password_file): No such file or directory"
    )
    assert isinstance(err.__cause__, FileNotFoundError)
    assert err.path == SHOWN


def test_an_unreadable_password_file_is_an_error_naming_it(tmp_path: Path) -> None:
    err = store_error(state_with_file(tmp_path))  # a directory: unreadable, even by root
    assert f"cannot read the database password file {tmp_path}" in str(err)
    assert isinstance(err.__cause__, OSError)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "is empty"),
        (b"\n", "is empty"),
        (f"{SECRET}\nsecond line\n".encode(), "holds more than one line"),
        (f"{SECRET}\n\n".encode(), "holds more than one line"),
        (SECRET.encode() + b"\0", "holds a NUL character"),
        (SECRET.encode() + b"\xff\xfe", "is not UTF-8 text"),
        (SECRET.encode() * (MAX_PASSWORD_BYTES // len(SECRET) + 1), "is larger than 4096 bytes"),
    ],
)
def test_a_password_file_that_holds_no_usable_password_is_refused_without_quoting_it(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    (tmp_path / "password").write_bytes(content)
    err = store_error(state_with_file(tmp_path / "password"))
    assert f"the database password file {tmp_path / 'password'} (state.password_file)" in str(err)
    assert reason in str(err)


def test_password_env_names_a_variable_read_when_connecting() -> None:
    state = State(url=URL, password_env="TASKWATCH_STATE_PASSWORD")
    kwargs = connect_kwargs(state, {"TASKWATCH_STATE_PASSWORD": SECRET})
    assert kwargs["password"] == SECRET


@pytest.mark.parametrize(("environ", "reason"), [({}, "is not set"), ({"TW_PW": ""}, "is empty")])
def test_an_unset_or_empty_password_variable_is_an_error_naming_it(
    environ: dict[str, str], reason: str
) -> None:
    err = store_error(State(url=URL, password_env="TW_PW"), environ)
    assert str(err).startswith(f"the environment variable TW_PW (state.password_env) {reason}")


def test_without_a_password_source_no_password_is_passed_and_libpq_finds_its_own() -> None:
    kwargs = connect_kwargs(State(url=URL), {"PGPASSWORD": SECRET})
    assert "password" not in kwargs  # libpq reads PGPASSWORD or ~/.pgpass itself


def test_what_the_url_or_libpq_environment_sets_is_not_overridden() -> None:
    own = State(url="postgresql://db/tw?connect_timeout=30&application_name=tw-replica-a")
    assert connect_kwargs(own, {}) == {"conninfo": own.url}
    environ = {"PGCONNECT_TIMEOUT": "12", "PGAPPNAME": "from-env"}
    assert connect_kwargs(State(url="postgresql://db/tw"), environ) == {
        "conninfo": "postgresql://db/tw"
    }


def test_a_sqlite_state_has_nothing_to_connect_to() -> None:
    with pytest.raises(ValueError, match="SQLite"):
        connect_kwargs(State(), {})


# --- end to end, on the real server ---------------------------------------------------------------


@pytest.fixture
def role_url(
    postgres: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    """The fresh database's URL as the password role; libpq's own sources hold no password."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    return postgres.url(postgres_url.rsplit("/", 1)[1], user=postgres.password_role)


def who_is_connected(state: State, environ: dict[str, str]) -> tuple[str, str]:
    with psycopg.connect(**connect_kwargs(state, environ)) as conn:
        row = conn.execute(
            "SELECT current_user, application_name FROM pg_stat_activity"
            " WHERE pid = pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


def test_the_password_role_connects_with_its_password_from_a_file(
    postgres: PostgresServer, role_url: str, tmp_path: Path
) -> None:
    (tmp_path / "password").write_text(f"{postgres.password}\n")
    state = State(url=role_url, password_file=tmp_path / "password")
    assert who_is_connected(state, {}) == (postgres.password_role, "taskwatch")


def test_the_password_role_connects_with_its_password_from_a_variable(
    postgres: PostgresServer, role_url: str
) -> None:
    state = State(url=role_url, password_env="TW_STATE_PASSWORD")
    environ = {"TW_STATE_PASSWORD": postgres.password}
    assert who_is_connected(state, environ) == (postgres.password_role, "taskwatch")


def test_a_wrong_password_is_refused_by_the_server_and_not_quoted(
    postgres: PostgresServer, role_url: str, tmp_path: Path
) -> None:
    wrong = f"{postgres.password}-{SECRET}"
    (tmp_path / "password").write_text(f"{wrong}\n")
    state = State(url=role_url, password_file=tmp_path / "password")
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(**connect_kwargs(state, {}))
    assert "password authentication failed" in str(info.value)
    assert SECRET not in str(info.value)
    assert postgres.password not in str(info.value)
