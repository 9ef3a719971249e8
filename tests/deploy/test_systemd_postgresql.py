"""deploy/systemd with the journal in PostgreSQL: the example configuration's variant and the
unit's hints fit together (deploy/systemd/README.md, "PostgreSQL instead of SQLite").

* The example configuration as shipped is its SQLite variant (the lines between ``# [variant
  sqlite]`` markers); its PostgreSQL variant (those between ``# [variant postgresql]`` markers
  uncommented, the SQLite ones dropped) loads with taskwatch's own loader, as the service loads
  it (``$CREDENTIALS_DIRECTORY`` set) and as root does by hand (unset), and reads its password
  from the file the unit's commented ``LoadCredential=`` line provides, under the same name.
* ``password_env`` instead names a variable of the env file example.

The unit with those hints switched on passes ``systemd-analyze`` in test_systemd.py. Not tested
here: a connection (tests/actions/test_dsn.py reads a password file and connects).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from taskwatch.settings import load_settings
from tests.deploy.test_prometheus_rules import variant
from tests.deploy.test_systemd import CONFIG, ENV_FILE, UNIT, unit_directives, with_postgresql_hints


def test_the_sqlite_variant_of_the_example_config_is_the_file_as_shipped() -> None:
    text = CONFIG.read_text()
    assert yaml.safe_load(variant(text, "sqlite")) == yaml.safe_load(text)
    assert "url" not in yaml.safe_load(text)["state"]


def postgresql_variant(tmp_path: Path) -> Path:
    path = tmp_path / "taskwatch.yaml"
    path.write_text(variant(CONFIG.read_text(), "postgresql"))
    return path


def test_the_postgresql_variant_reads_the_password_the_units_credential_hint_loads(
    tmp_path: Path,
) -> None:
    """``password_file`` points into ``$CREDENTIALS_DIRECTORY`` at the name the commented
    ``LoadCredential=`` gives the file, and falls back to the directory systemd uses for a
    system service when the variable is unset (``taskwatch check-config`` run by hand)."""
    unit = unit_directives(with_postgresql_hints(UNIT.read_text()))
    credentials = dict(value.split(":", 1) for value in unit["LoadCredential"])
    path = postgresql_variant(tmp_path)
    for environ, directory in [
        ({"CREDENTIALS_DIRECTORY": "/run/credentials/x"}, "/run/credentials/x"),
        ({}, "/run/credentials/taskwatch.service"),
    ]:
        state = load_settings(path, environ=environ).state
        assert state.backend == "postgresql"
        assert state.url == "postgresql://taskwatch@127.0.0.1:5432/taskwatch"
        assert state.password_file is not None
        assert state.password_file.parent == Path(directory)
        assert state.password_file.name in credentials
        assert credentials[state.password_file.name] == (
            f"/etc/taskwatch/credentials/{state.password_file.name}"
        )


def test_the_postgresql_variant_can_take_the_password_from_the_env_file_instead(
    tmp_path: Path,
) -> None:
    path = postgresql_variant(tmp_path)
    text = re.sub(
        r"(?m)^(\s*)password_file: .*$",
        r"\1password_env: TASKWATCH_STATE_PASSWORD",
        path.read_text(),
    )
    path.write_text(text)
    state = load_settings(path, environ={}).state
    assert state.password_env == "TASKWATCH_STATE_PASSWORD"
    assert state.password_file is None
    assert "TASKWATCH_STATE_PASSWORD=" in ENV_FILE.read_text()
