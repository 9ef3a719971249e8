"""What a rehearsal changes in a configuration, and what it keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskwatch.cli.rehearsal.driver import rehearsal_settings
from taskwatch.emulator.populate import EmulatorCredential
from taskwatch.errors import ConfigError
from taskwatch.settings import Settings, StaticSource, parse_settings
from tests.rehearsal.world import config

FAKE = EmulatorCredential("AKIDTASKWATCHEMULATOR000000000000000", "fake-secret-key-of-the-scenario")
EMULATOR = "http://127.0.0.1:9999"


def production(tmp_path: Path) -> Settings:
    raw = config(endpoint="https://example.invalid", state=tmp_path / "state.db")
    raw["accounts"][0]["credentials"] = {"from": "env"}
    raw["accounts"].append({"name": "other", "credentials": {"from": "env"}})
    raw["state"] = {"url": "postgresql://taskwatch@db.example.com:5432/taskwatch"}
    raw["leader"] = {"enabled": True, "namespace": "media"}
    raw["http"] = {"listen": ":10911", "lifecycle": True}
    raw["actions"] = {"paused": True}
    raw["notifications"] = [{"name": "ops", "url": "https://hooks.example.com/secret-token"}]
    raw["policies"][0]["enforce"] = True
    return parse_settings(raw, source="production.yaml")


def test_a_rehearsal_uses_the_scenarios_keys_a_scratch_journal_and_nothing_shared(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "scratch.db"
    got = rehearsal_settings(
        production(tmp_path), endpoint=EMULATOR, credential=FAKE, journal=journal
    )
    (account,) = got.accounts
    assert account.name == "main"
    assert account.endpoint == EMULATOR
    assert isinstance(account.credentials, StaticSource)
    assert account.credentials.secret_id == FAKE.secret_id
    assert account.credentials.secret_key.get_secret_value() == FAKE.secret_key
    assert (got.state.url, got.state.path) == (None, journal)
    assert not got.leader.enabled
    assert got.notifications == ()
    assert (got.http.listen, got.http.lifecycle) == ("127.0.0.1:0", False)
    assert all(p.enforce for p in got.policies), "every policy enforces"
    assert not got.actions.paused


def test_as_configured_keeps_each_policys_enforce_and_the_kill_switch(tmp_path: Path) -> None:
    prod = production(tmp_path)
    got = rehearsal_settings(
        prod, endpoint=EMULATOR, credential=FAKE, journal=tmp_path / "j.db", as_configured=True
    )
    assert [p.enforce for p in got.policies] == [True, False, False]
    assert got.actions.paused
    assert got.products == prod.products


def test_another_account_can_be_rehearsed_and_an_unknown_one_is_named(tmp_path: Path) -> None:
    prod = production(tmp_path)
    got = rehearsal_settings(
        prod, endpoint=EMULATOR, credential=FAKE, journal=tmp_path / "j.db", account="other"
    )
    assert [a.name for a in got.accounts] == ["other"]
    with pytest.raises(ConfigError, match=r"no account 'nope' .*main, other"):
        rehearsal_settings(
            prod, endpoint=EMULATOR, credential=FAKE, journal=tmp_path / "j.db", account="nope"
        )
