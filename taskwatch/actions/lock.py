"""The journal's files on disk: private directories, durable directory entries, and the lock that
makes a writable journal the journal of one process.

Why a lock: "never twice" reads the journal's last record for a task, then writes an intent, then
calls the API. Two processes on one journal (``run`` + ``run``, or ``run`` + ``once``) both read
"nothing yet" before either writes, so both act: 20 aborts for 10 tasks. No SQLite transaction can
cover a check, an API call and a write, so the journal belongs to one writing process at a time.

How: ``fcntl.flock(LOCK_EX | LOCK_NB)`` on a sidecar file, ``<journal>.lock`` (mode 0600), which
then holds the holder's pid for the next process's error message. The kernel drops a flock when
its holder dies, however it dies (SIGKILL, OOM, power loss), so a crash never leaves a stale lock
to clean up by hand. The file is never deleted: unlinking it would let a third process lock a new
file while a second one still holds the old one.

Why not SQLite's ``PRAGMA locking_mode = EXCLUSIVE``: in WAL mode it shuts out readers too
(``taskwatch audit`` beside the daemon would fail), and it is taken at the first write, not at
start, so a second daemon would start, serve and scan before failing.

Not guaranteed: exclusion on a network filesystem (flock may be local to one host there; such a
journal is refused anyway, since WAL needs shared memory), against a program that opens the
database without :class:`~taskwatch.actions.journal.Journal`, or that the pid named in the error is
still the holder a moment later.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from taskwatch.errors import StoreError

LOCK_SUFFIX = ".lock"


class JournalBusyError(StoreError):
    """Another process holds the journal for writing. ``holder`` is its pid when known."""

    def __init__(self, path: str, *, holder: int | None) -> None:
        self.holder = holder
        who = f"pid {holder}" if holder is not None else "a process whose pid is not known yet"
        super().__init__(
            f"{path}: in use by another taskwatch process ({who}; lock {lock_path(path)}): only"
            " one process may act on a journal, two would act twice on the same tasks",
            path=path,
        )


def lock_path(journal: str) -> Path:
    """The sidecar lock file of the journal at ``journal``."""
    return Path(journal + LOCK_SUFFIX)


class ProcessLock:
    """An exclusive, non-blocking ``flock`` on ``<journal>.lock`` for as long as it is held."""

    def __init__(self, journal: str) -> None:
        self.journal = journal
        self.path = lock_path(journal)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`JournalBusyError` (or :class:`StoreError` when the lock
        file cannot be opened). Idempotent while held."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise StoreError(
                f"{self.journal}: cannot open the lock file {self.path}: {e.strerror or e}",
                path=self.journal,
            ) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            holder = _read_pid(fd)
            os.close(fd)
            raise JournalBusyError(self.journal, holder=holder) from e
        except OSError as e:
            os.close(fd)
            raise StoreError(
                f"{self.journal}: cannot lock {self.path}: {e.strerror or e}", path=self.journal
            ) from e
        with contextlib.suppress(OSError):  # the pid is for messages only
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (closing the file releases the flock); idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents, each mode 0700; existing ones are untouched."""
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created meanwhile by another process
            created.mkdir(mode=0o700)


def fsync_dir(directory: Path) -> None:
    """Make a newly created file's directory entry durable (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
