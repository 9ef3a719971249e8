"""``taskwatch pause``, ``resume`` and ``switch``: the journal's kill switch from a shell.

The commands run in-process through :func:`taskwatch.cli.main` (their output read from capsys)
against a real SQLite file, one of them while a daemon's journal holds the file's process lock,
and against a real PostgreSQL database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskwatch.actions.opening import journal_for
from taskwatch.actions.sqlite import SqliteJournal
from taskwatch.cli import main
from taskwatch.cli.switch import default_actor, describe
from taskwatch.clock import ManualClock
from taskwatch.models import Switch
from taskwatch.settings import State
from tests.postgres import postgres_fixture, postgres_url_fixture  # noqa: F401

CONFIG = """
accounts:
  - name: main
    credentials: {from: static, secret_id: AKIDexample, secret_key: not-a-real-key}
    regions: [ap-guangzhou]
state: %s
"""


def config(tmp_path: Path, state: str) -> str:
    path = tmp_path / "taskwatch.yaml"
    path.write_text(CONFIG % state)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_pause_beside_a_running_daemon_is_kept_in_its_sqlite_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "state" / "state.db"
    cfg = config(tmp_path, f"{{path: {db}}}")
    with SqliteJournal(db, clock=ManualClock()) as daemon:  # holds the process lock, as `run` does
        code, out, err = run(capsys, "pause", "-c", cfg, "--reason", "INC-42 runaway aborts")
        assert (code, err) == (0, "")
        assert out.startswith("actions paused since ")
        assert "INC-42 runaway aborts" in out
        switch = daemon.switch()  # the daemon sees it at its next read
        assert switch.paused
        assert switch.actor == default_actor()
        assert switch.reason == "INC-42 runaway aborts"
        assert switch.actor.startswith("cli:")
        code, out, _ = run(capsys, "resume", "-c", cfg, "--by", "oncall-bob")
        assert code == 0
        assert out.startswith("actions on since ")
        assert daemon.switch() == Switch(False, "oncall-bob", daemon.switch().time, "")


def test_switch_shows_the_state_and_its_history_newest_first_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, f"{{path: {tmp_path / 'state.db'}}}")
    code, out, _ = run(capsys, "switch", "-c", cfg, "--json")
    assert code == 0
    assert json.loads(out) == {
        "actions_paused": False, "by": None, "at": None, "reason": "", "history": [],
    }  # fmt: skip
    run(capsys, "pause", "-c", cfg, "--by", "a", "--reason", "one")
    run(capsys, "resume", "-c", cfg, "--by", "b")
    run(capsys, "pause", "-c", cfg, "--by", "c", "--reason", "three")
    code, out, _ = run(capsys, "switch", "-c", cfg, "--json")
    shown = json.loads(out)
    assert (shown["actions_paused"], shown["by"], shown["reason"]) == (True, "c", "three")
    assert [(h["by"], h["actions_paused"]) for h in shown["history"]] == [
        ("c", True), ("b", False), ("a", True),
    ]  # fmt: skip
    code, out, _ = run(capsys, "switch", "-c", cfg)
    lines = out.splitlines()
    assert lines[0].startswith("actions paused since")
    assert lines[0].endswith("by c: three")
    assert len(lines) == 3  # the state, then the two earlier changes


def test_a_journal_that_cannot_be_opened_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cfg = config(tmp_path, f"{{path: {blocker / 'state.db'}}}")
    code, out, err = run(capsys, "pause", "-c", cfg)
    assert code == 1
    assert out == ""
    assert str(blocker) in err


def test_pause_and_resume_on_a_postgresql_journal_are_seen_by_another_process_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_url: str
) -> None:
    cfg = config(tmp_path, f'{{url: "{postgres_url}"}}')
    code, _out, err = run(capsys, "pause", "-c", cfg, "--reason", "maintenance")
    assert (code, err) == (0, "")
    with journal_for(State(url=postgres_url), clock=ManualClock()) as replica:
        assert replica.switch().paused
        assert replica.switch().reason == "maintenance"
        run(capsys, "resume", "-c", cfg)
        assert not replica.switch().paused
        assert len(replica.switch_history()) == 2


def test_describe_says_when_the_switch_was_never_used() -> None:
    assert describe(Switch()) == "actions on (the kill switch was never used)"
    assert (
        describe(Switch(True, "ops", 0.0, "")) == "actions paused since 1970-01-01T00:00:00Z by ops"
    )
