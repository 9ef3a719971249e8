"""One acting process per journal: a second writer is refused, naming the file and the holder.

Two processes on one journal both pass the "never twice" check before either writes its intent,
so both act. The lock is a real ``flock`` held by a real child process here; it must go away with
its holder however the holder dies, and must never shut out a read-only reader (``taskwatch
audit`` next to the daemon).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskwatch.actions.lock import JournalBusyError, lock_path
from taskwatch.actions.sqlite import SqliteJournal as Journal
from taskwatch.clock import ManualClock
from taskwatch.errors import StoreError

ROOT = Path(__file__).resolve().parents[1]

HOLDER = """
import sys
from taskwatch.clock import SystemClock
from taskwatch.actions.sqlite import SqliteJournal as Journal

journal = Journal(sys.argv[1], clock=SystemClock())
journal.open()
print("open", flush=True)
sys.stdin.readline()  # hold the journal until the test closes our stdin (or kills us)
journal.close()
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
def holder(path: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process that holds ``path`` open for writing until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "open\n"
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def test_a_second_writer_is_refused_naming_the_journal_and_the_pid_of_its_holder(
    path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(JournalBusyError) as caught:
        Journal(path, clock=ManualClock()).open()
    error = caught.value
    assert isinstance(error, StoreError)  # the CLI's "one line, exit 1" path
    assert error.holder == holder.pid
    assert str(path) in str(error)
    assert f"pid {holder.pid}" in str(error)


def test_the_writer_that_was_refused_opens_once_the_holder_has_closed(
    path: Path, clock: ManualClock, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(JournalBusyError):
        Journal(path, clock=clock).open()
    assert holder.stdin is not None
    holder.stdin.close()
    assert holder.wait(timeout=30) == 0
    with Journal(path, clock=clock) as journal:
        assert journal.unresolved() == []


def test_the_lock_goes_away_with_a_holder_killed_by_sigkill(
    path: Path, clock: ManualClock, holder: subprocess.Popen[str]
) -> None:
    os.kill(holder.pid, signal.SIGKILL)
    assert holder.wait(timeout=30) == -signal.SIGKILL
    with Journal(path, clock=clock) as journal:  # no stale lock to clean up by hand
        assert journal.schema_version() > 0
    assert lock_path(str(path)).exists()  # the file stays: deleting it would race a new holder


def test_a_read_only_reader_is_never_locked_out(
    path: Path, clock: ManualClock, holder: subprocess.Popen[str]
) -> None:
    with Journal(path, clock=clock, read_only=True) as reader:
        assert reader.recent(0) == []


def test_a_second_writer_in_the_same_process_is_refused_too(path: Path, clock: ManualClock) -> None:
    with Journal(path, clock=clock):
        with pytest.raises(JournalBusyError) as caught:
            Journal(path, clock=clock).open()
        assert caught.value.holder == os.getpid()
    with Journal(path, clock=clock):  # closing released it
        pass


def test_the_lock_file_is_private(path: Path, clock: ManualClock) -> None:
    with Journal(path, clock=clock):
        mode = lock_path(str(path)).stat().st_mode & 0o777
    assert mode == 0o600


def test_an_in_memory_journal_takes_no_lock(clock: ManualClock) -> None:
    with Journal(":memory:", clock=clock), Journal(":memory:", clock=clock):
        pass
