"""The SQLite journal only: the file (modes, WAL, what is on disk), crashes of a real process
killed by SIGKILL, files of other programs, of a newer taskwatch or corrupt, and the process
lock's single writer beside readers. The migrations of journals written by earlier versions are in
``test_sqlite_migrations.py``.

These have no PostgreSQL counterpart, or a different one (``tests/journal/test_postgres.py``).
The backend-neutral rows, reads and rules are in ``test_rows.py``, ``test_reads.py`` and
``test_rules.py``.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskwatch.actions.lock import JournalBusyError
from taskwatch.actions.schema import SCHEMA_VERSION
from taskwatch.actions.sqlite import SqliteJournal as Journal
from taskwatch.clock import ManualClock
from taskwatch.errors import IntentRefused, StoreError
from tests.journal.helpers import ABORT, TASK_ID, abort

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
def journal(path: Path, clock: ManualClock) -> Iterator[Journal]:
    with Journal(path, clock=clock) as journal:
        yield journal


# -- crashes of a real process -----------------------------------------------------------------


CHILD_ONE = """
import os, signal, sys
from taskwatch.clock import SystemClock
from taskwatch.actions.sqlite import SqliteJournal as Journal

journal = Journal(sys.argv[1], clock=SystemClock())
journal.open()
intent_id = journal.intent(
    policy="p", product="mps", account="a", region="global", task_id=sys.argv[2],
    action="abort", params={"TaskId": sys.argv[2]},
)
print(intent_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""

CHILD_LOOP = """
import sys
from taskwatch.clock import SystemClock
from taskwatch.actions.sqlite import SqliteJournal as Journal

journal = Journal(sys.argv[1], clock=SystemClock())
journal.open()
n = 0
while True:
    n += 1
    task = f"{sys.argv[2]}-{n}"
    intent_id = journal.intent(
        policy="p", product="mps", account="a", region="global", task_id=task,
        action="abort", params={"TaskId": task},
    )
    print(intent_id, flush=True)
    if n % 2 == 0:
        journal.outcome(intent_id, result="done")
"""


def child(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_an_intent_survives_sigkill_right_after_it_returns(path: Path, clock: ManualClock) -> None:
    acknowledged = []
    for round_ in range(4):
        proc = child(CHILD_ONE, str(path), f"task-{round_}")
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        acknowledged.append(int(out))
        with Journal(path, clock=clock) as reopened:
            assert [r.id for r in reopened.unresolved()] == acknowledged
    assert len(set(acknowledged)) == len(acknowledged)


def test_every_acknowledged_record_survives_sigkill_at_a_random_point(
    path: Path, clock: ManualClock
) -> None:
    rng = random.Random(20260101)
    acknowledged: list[int] = []
    for round_ in range(5):
        proc = child(CHILD_LOOP, str(path), f"r{round_}")
        assert proc.stdout is not None
        acknowledged.extend(int(proc.stdout.readline()) for _ in range(rng.randint(1, 40)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()

        with Journal(path, clock=clock) as reopened:  # also: the file is not corrupt
            records = {r.id: r for r in reopened.recent(0)}
            unresolved = {r.id for r in reopened.unresolved()}
        assert set(acknowledged) <= set(records)
        assert len({(r.task_id, r.action) for r in records.values()}) == len(records)
        assert unresolved == {i for i, r in records.items() if r.result == "intent"}
    assert len(set(acknowledged)) == len(acknowledged)


# -- the file ----------------------------------------------------------------------------------


def test_the_file_is_private_and_its_directories_are_created_private(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "a" / "b" / "state.db"
    with Journal(path, clock=clock) as journal:
        journal.intent(**ABORT)
        for file in (path, path.with_name("state.db-wal")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600
    for directory in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_the_journal_is_in_wal_mode(journal: Journal, path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_credentials_in_params_are_never_on_disk(path: Path, clock: ManualClock) -> None:
    params = {
        "TaskId": TASK_ID,
        "SecretKey": "sk-LEAKED",
        "Headers": {"X-TC-Token": "tok-LEAKED", "Authorization": "TC3 LEAKED"},
    }
    with Journal(path, clock=clock) as journal:
        journal.intent(**abort(params=params))
        on_disk = path.read_bytes() + path.with_name("state.db-wal").read_bytes()
        assert b"LEAKED" not in on_disk
        assert TASK_ID.encode() in on_disk
    assert b"LEAKED" not in path.read_bytes()


def test_an_in_memory_journal_works_for_tests(clock: ManualClock) -> None:
    with Journal(":memory:", clock=clock) as journal:
        intent_id = journal.intent(**ABORT)
        assert [r.id for r in journal.unresolved()] == [intent_id]


def test_a_second_writer_on_the_same_file_is_refused_so_rules_are_tested_in_sequence(
    journal: Journal, path: Path, clock: ManualClock
) -> None:
    # Why tests/journal/test_rules.py reopens rather than racing two SQLite journal objects.
    with pytest.raises(JournalBusyError):
        Journal(path, clock=clock).open()
    journal.set_switch(paused=True, actor="alice")
    journal.close()
    with Journal(path, clock=clock) as restarted:
        with pytest.raises(IntentRefused, match="alice"):
            restarted.intent(**ABORT)
        assert restarted.recent(0) == []


# -- schema versions and foreign files ---------------------------------------------------------


@pytest.mark.parametrize("read_only", [False, True])
def test_a_journal_from_a_newer_taskwatch_is_refused_naming_the_file(
    path: Path, clock: ManualClock, read_only: bool
) -> None:
    with Journal(path, clock=clock) as journal:
        journal.intent(**ABORT)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer taskwatch") as caught:
        Journal(path, clock=clock, read_only=read_only).open()
    assert str(path) in str(caught.value)
    assert caught.value.path == str(path)


def test_a_file_that_is_not_sqlite_is_refused_naming_the_file(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "state.db"
    path.write_text("accounts:\n  - name: prod\n" * 200)
    with pytest.raises(StoreError, match="not a taskwatch journal") as caught:
        Journal(path, clock=clock).open()
    assert str(path) in str(caught.value)
    assert path.read_text().startswith("accounts:")  # left untouched


def test_a_corrupt_journal_is_refused_naming_the_file(path: Path, clock: ManualClock) -> None:
    with Journal(path, clock=clock) as journal:
        for n in range(300):
            journal.intent(**abort(task_id=f"task-{n:04}-" + "x" * 40))
    data = bytearray(path.read_bytes())
    for page in (2, 5):
        data[page * 4096 : (page + 1) * 4096] = b"\xa5" * 4096
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupt") as caught:
        Journal(path, clock=clock).open()
    assert str(path) in str(caught.value)


def test_an_sqlite_database_of_another_program_is_refused(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE intents (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="other tables"):
        Journal(path, clock=clock).open()


def test_a_path_that_cannot_be_a_file_is_a_store_error(tmp_path: Path, clock: ManualClock) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match=re.escape(str(tmp_path / "dir.db"))):
        Journal(tmp_path / "dir.db", clock=clock).open()


# -- readers beside the writer -----------------------------------------------------------------


def test_a_reader_sees_committed_records_while_a_writer_holds_a_transaction(
    journal: Journal, path: Path, clock: ManualClock
) -> None:
    committed = journal.intent(**ABORT)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO intents (time, policy, product, account, region, task_id, action, mode)"
            " VALUES (0, 'p', 'mps', 'a', 'global', 'uncommitted', 'abort', 'enforce')"
        )
        with Journal(path, clock=clock, read_only=True) as reader:
            assert [r.id for r in reader.recent(0)] == [committed]
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_the_writer_commits_while_a_reader_holds_a_snapshot(journal: Journal, path: Path) -> None:
    journal.intent(**ABORT)
    reader = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM intents").fetchone()[0] == 1
        journal.intent(**abort(task_id="second"))  # would wait for the reader without WAL
        assert reader.execute("SELECT count(*) FROM intents").fetchone()[0] == 1
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM intents").fetchone()[0] == 2
    finally:
        reader.close()


def test_a_read_only_journal_does_not_create_a_missing_file(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "nothing" / "state.db"
    with pytest.raises(StoreError, match=re.escape(f"no journal at {path} yet")):
        Journal(path, clock=clock, read_only=True).open()
    assert not path.parent.exists()
