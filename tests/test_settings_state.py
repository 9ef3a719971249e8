"""The ``state`` section: SQLite by ``path`` or PostgreSQL by ``url``, never both, and never a
password in the file: a URL holding one is refused by an error that does not quote it."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest

from taskwatch.cli.main import main
from taskwatch.errors import ConfigError
from taskwatch.settings import Settings, State, json_schema, load_settings, parse_settings

PASSWORD = "Db-Pw-91c4e7-never-shown"
LEAKS = ("Traceback", "input_value", "pydantic", "Input should", PASSWORD)


def config(**state: Any) -> dict[str, Any]:
    return {"accounts": [{"name": "main", "credentials": {"from": "env"}}], "state": state}


def parse(data: object, environ: dict[str, str] | None = None) -> Settings:
    return parse_settings(data, source="test.yaml", environ=environ or {})


def error(data: object, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(data, environ)
    text = str(info.value)
    for leak in LEAKS:
        assert leak not in text
    assert info.value.__cause__ is None
    assert info.value.file == "test.yaml"
    return info.value


def test_without_a_state_section_the_journal_is_the_sqlite_file() -> None:
    state = parse(config()).state
    assert state.backend == "sqlite"
    assert state.display() == "/var/lib/taskwatch/state.db"
    assert state.url is None
    assert state.url_parameters() == {}


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_url_selects_postgresql_and_names_it_without_its_other_parameters(scheme: str) -> None:
    url = (
        f"{scheme}://taskwatch@db.internal:5432/taskwatch"
        "?application_name=tw-a&sslmode=verify-full&options=-c%20statement_timeout%3D5s"
    )
    state = parse(config(url=url)).state
    assert state.backend == "postgresql"
    assert state.url == url
    assert state.display() == f"{scheme}://taskwatch@db.internal:5432/taskwatch?sslmode=verify-full"
    assert state.url_parameters() == {
        "application_name": "tw-a",
        "sslmode": "verify-full",
        "options": "-c statement_timeout=5s",
    }


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"postgresql://taskwatch:{PASSWORD}@db.internal/taskwatch", id="userinfo"),
        pytest.param(f"postgresql://taskwatch:{PASSWORD.replace('-', '%2D')}@db/tw", id="encoded"),
        pytest.param(f"postgresql://db.internal/taskwatch?password={PASSWORD}", id="query"),
        pytest.param(f"postgresql://db/tw?sslmode=require&sslpassword={PASSWORD}", id="sslkey"),
        pytest.param(f"postgresql://db/tw?oauth_client_secret={PASSWORD}", id="oauth"),
        pytest.param(f"postgresql://taskwatch:{PASSWORD}%zz@db/tw", id="malformed"),
        pytest.param(f"postgresql://db/tw?{PASSWORD}", id="bare-query"),
    ],
)
def test_a_password_in_the_url_is_refused_without_being_quoted(url: str) -> None:
    err = error(config(url=url))
    assert err.key == "state.url"
    assert "password" in err.reason or "libpq" in err.reason


def test_a_state_built_in_code_does_not_quote_a_refused_url_either() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        State(url=f"postgresql://taskwatch:{PASSWORD}@db/tw")
    assert "must not hold a password" in str(info.value)
    assert PASSWORD not in str(info.value)


def test_a_password_expanded_into_the_url_from_the_environment_is_refused_too() -> None:
    environ = {"TASKWATCH_STATE_URL": f"postgresql://tw:{PASSWORD}@db/tw"}
    err = error(config(url="${TASKWATCH_STATE_URL}"), environ)
    assert err.key == "state.url"
    assert "must not hold a password" in err.reason


def test_check_config_refuses_a_password_in_the_url_and_prints_or_logs_none_of_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "taskwatch.yaml"
    path.write_text(
        "accounts: [{name: main, credentials: {from: env}}]\n"
        f"state: {{url: 'postgresql://taskwatch:{PASSWORD}@db.internal:5432/taskwatch'}}\n"
    )
    with caplog.at_level(logging.DEBUG):
        code = main(["check-config", "--config", str(path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert f"{path}: state.url: must not hold a password" in err
    for text in (out, err, caplog.text):
        assert PASSWORD not in text


def test_path_and_url_together_are_refused_naming_the_section() -> None:
    err = error(config(path="/var/lib/taskwatch/state.db", url="postgresql://db/tw"))
    assert err.key == "state"
    assert "either path" in err.reason


@pytest.mark.parametrize("key", ["password_file", "password_env"])
def test_a_password_source_without_a_url_is_refused(key: str) -> None:
    err = error(config(**{key: "TASKWATCH_STATE_PASSWORD"}))
    assert (err.key, err.reason) == (f"state.{key}", "is for PostgreSQL: it needs state.url")


def test_password_file_and_password_env_together_are_refused() -> None:
    err = error(
        config(url="postgresql://db/tw", password_file="/run/pw", password_env="TW_PASSWORD")
    )
    assert err.key == "state.password_env"
    assert "not both" in err.reason


def test_password_env_must_name_a_variable_and_never_quotes_what_it_was_given() -> None:
    err = error(config(url="postgresql://db/tw", password_env=f"{PASSWORD}!"))
    assert err.key == "state.password_env"
    assert "name of an environment variable" in err.reason


def test_the_password_file_is_not_read_when_the_configuration_is_loaded(tmp_path: Path) -> None:
    state = parse(
        config(url="postgresql://db/tw", password_file=str(tmp_path / "mounted-later"))
    ).state
    assert state.password_file == tmp_path / "mounted-later"
    assert state.password_env is None


def test_password_file_expands_the_home_directory() -> None:
    state = parse(config(url="postgresql://db/tw", password_file="~/pg-password")).state
    assert state.password_file == Path.home() / "pg-password"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("host=db dbname=tw", "must be a libpq URI starting postgresql://"),
        ("https://db/tw", "must be a libpq URI starting postgresql://"),
        (" postgresql://db/tw", "has leading or trailing whitespace"),
        ("postgresql://db/tw?sslmod=require", 'invalid URI query parameter: "sslmod"'),
        ("postgresql://db/tw?sslmode=verify", "sslmode must be one of disable, allow"),
        ("postgresql://db:99999/tw", "port that is not a number from 1 to 65535"),
        ("postgresql://db1:5432,db2:x/tw", "port that is not a number from 1 to 65535"),
    ],
)
def test_a_url_libpq_would_refuse_is_refused_at_load(url: str, reason: str) -> None:
    err = error(config(url=url))
    assert err.key == "state.url"
    assert reason in err.reason


def test_an_empty_url_counts_as_absent_so_an_environment_variable_switches_backends() -> None:
    data = config(url="${TASKWATCH_STATE_URL:-}", password_env="${TASKWATCH_PW_VAR:-}")
    assert parse(data).state.backend == "sqlite"
    switched = parse(data, {"TASKWATCH_STATE_URL": "postgresql://db/tw", "TASKWATCH_PW_VAR": "PW"})
    assert switched.state.backend == "postgresql"
    assert switched.state.password_env == "PW"


def test_without_the_driver_a_url_is_refused_with_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` raises ImportError
    monkeypatch.setitem(sys.modules, "psycopg.conninfo", None)
    err = error(config(url="postgresql://db/tw"))
    assert "install taskwatch[postgresql]" in err.reason
    assert parse(config(path="/tmp/state.db")).state.backend == "sqlite"  # SQLite needs none


def test_a_loaded_file_names_the_file_and_line_of_a_bad_url(tmp_path: Path) -> None:
    path = tmp_path / "taskwatch.yaml"
    path.write_text(
        "accounts: [{name: main, credentials: {from: env}}]\n"
        "state:\n"
        f"  url: postgresql://db/tw?password={PASSWORD}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert str(info.value).startswith(f"{path}: state.url: must not hold a password")
    assert "(line 3)" in str(info.value)
    assert PASSWORD not in str(info.value)


def test_the_json_schema_describes_the_new_keys_for_editors() -> None:
    properties = json_schema()["$defs"]["State"]["properties"]
    assert {"path", "url", "password_file", "password_env"} <= set(properties)
    assert all(properties[key].get("description") for key in properties)


def test_state_is_reexported_where_the_other_sections_are() -> None:
    assert Settings.model_fields["state"].annotation is State
