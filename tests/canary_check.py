"""Where the suite looks for the canary SecretKey (:mod:`tests.canary`), and what it found.

Covered, for every test of the run:

- everything a test printed or logged, as pytest captured it (stdout, stderr, the ``logging``
  records), from each test's report (so structlog output is covered whatever renderer a test
  configured); with ``-s`` nothing is captured, and only the stdlib ``logging`` handler installed
  here still sees records;
- texts handed to :func:`record` by tests that produce output on purpose (test_secrets: metric
  exposition, status page, health endpoints, error messages, audit output);
- files taskwatch writes under the session's temporary directories and the ``taskwatch-e2e-*``
  state directories: journal databases (with WAL and SHM), logs, JSON, HTML.

Not covered: configuration files and credential files that tests themselves write (they hold the
key by design), output of subprocesses sent to ``DEVNULL``, and anything a test keeps only in
memory without logging or recording it.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from tests.canary import CANARY_SECRET_KEY

WRITTEN = (".db", ".db-wal", ".db-shm", ".db-journal", ".log", ".json", ".jsonl", ".html", ".prom")
_leaks: list[str] = []
_started = time.time()
_roots: list[Path] = []


class _Catch(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            text = str(record.msg)
        if CANARY_SECRET_KEY in text:
            _leaks.append(f"logging record {record.name}: {text[:120]!r}")


def install() -> None:
    logging.getLogger().addHandler(_Catch(level=logging.DEBUG))


def add_root(path: Path) -> None:
    """A directory whose written files are checked at the end."""
    _roots.append(path)


def record(where: str, text: str | bytes) -> None:
    """Output a test produced on purpose; a leak is remembered for the final report."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    if CANARY_SECRET_KEY.encode() in data:
        _leaks.append(where)


def scan_sections(nodeid: str, sections: list[tuple[str, str]]) -> None:
    for name, content in sections:
        if CANARY_SECRET_KEY in content:
            _leaks.append(f"{nodeid}: {name}")


def _files() -> list[Path]:
    roots = list(_roots)
    roots += [
        p
        for p in Path(tempfile.gettempdir()).glob("taskwatch-e2e-*")
        if p.stat().st_mtime >= _started - 1
    ]
    out: list[Path] = []
    for root in roots:
        if root.is_dir():
            out += [p for p in root.rglob("*") if p.is_file() and p.name.endswith(WRITTEN)]
    return out


def scan_files() -> list[Path]:
    """Check the files taskwatch wrote; the list of files checked."""
    files = _files()
    for path in files:
        try:
            if CANARY_SECRET_KEY.encode() in path.read_bytes():
                _leaks.append(f"file {path}")
        except OSError:
            continue
    return files


def leaks() -> list[str]:
    scan_files()
    return list(dict.fromkeys(_leaks))
