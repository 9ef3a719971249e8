"""The SQLite migrations: journals written by earlier taskwatch versions (schema 1 and 2) open
migrated in place, keeping every record, and the rules of schema 3 (one live intent per task and
action, terms, the kill switch) apply to their old records as the backfill decided.

What "live" must be after the backfill: the newest enforce record of a task and action when it
acted or may have (no outcome, ``done``, ``already_done``, ``unknown``); nothing else.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from taskwatch.actions.schema import MIGRATIONS, SCHEMA_VERSION
from taskwatch.actions.sqlite import SqliteJournal as Journal
from taskwatch.clock import ManualClock
from taskwatch.errors import IntentRefused
from tests.journal.helpers import ABORT, abort


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


def test_an_old_schema_is_migrated_in_place_keeping_its_records(
    path: Path, clock: ManualClock
) -> None:
    path.parent.mkdir()
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO intents (time, policy, product, account, region, task_id, action, mode)"
        " VALUES (1.0, 'p', 'mps', 'a', 'global', 'old-task', 'abort', 'enforce')"
    )
    conn.close()

    with Journal(path, clock=clock, read_only=True) as reader:  # readable, left as it is
        assert [r.task_id for r in reader.unresolved()] == ["old-task"]
        assert reader.schema_version() == 1

    with Journal(path, clock=clock) as journal:
        assert journal.schema_version() == SCHEMA_VERSION
        assert [r.task_id for r in journal.unresolved()] == ["old-task"]
        journal.intent(**ABORT)

    conn = sqlite3.connect(path)
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert {"intents_task", "intents_policy_time", "intents_time"} <= indexes


# -- schema 2 to 3: the live flag, terms, the kill switch --------------------------------------

V2_ROWS: list[tuple[str, str, list[str | None]]] = [
    # (task, mode, results of its records in id order; None: no outcome)
    ("t-done", "enforce", ["done"]),
    ("t-already", "enforce", ["already_done"]),
    ("t-unknown", "enforce", ["unknown"]),
    ("t-unresolved", "enforce", [None]),
    ("t-failed", "enforce", ["failed"]),
    ("t-retried", "enforce", ["failed", "done"]),
    ("t-superseded", "enforce", ["failed", None]),
    ("t-fenced", "enforce", ["fenced"]),
    ("t-capped", "enforce", ["skipped_cap"]),
    ("t-would", "dry-run", ["would"]),
]
LIVE_AFTER = ("t-done", "t-already", "t-unknown", "t-unresolved", "t-retried", "t-superseded")
"""Tasks whose newest record must be live after the migration: it acted or may have. No other
record is live (failed ones, older ones, record() rows, dry-run rows)."""


def schema_2_journal(
    path: Path, rows: list[tuple[str, str, list[str | None]]]
) -> dict[str, list[int]]:
    """A journal as taskwatch wrote it at schema 2 (``MIGRATIONS[:2]``), holding ``rows``; the ids
    of each task's records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in (*MIGRATIONS[0], *MIGRATIONS[1]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    ids: dict[str, list[int]] = {}
    for task, mode, results in rows:
        for result in results:
            cursor = conn.execute(
                "INSERT INTO intents (time, policy, product, account, region, task_id, action,"
                " mode) VALUES (1.0, 'long-transcodes', 'mps', 'prod', 'global', ?, 'abort', ?)",
                (task, mode),
            )
            assert cursor.lastrowid is not None
            ids.setdefault(task, []).append(cursor.lastrowid)
            if result is not None:
                conn.execute(
                    "INSERT INTO outcomes (intent_id, time, result, uncertain)"
                    " VALUES (?, 2.0, ?, ?)",
                    (cursor.lastrowid, result, int(result == "unknown")),
                )
    conn.close()
    return ids


def live_after_migration(path: Path, clock: ManualClock) -> set[int]:
    with Journal(path, clock=clock) as journal:
        assert journal.schema_version() == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM intents WHERE live = 1")}
    finally:
        conn.close()


def test_a_schema_2_journal_migrates_to_3_with_live_set_only_where_an_intent_may_have_acted(
    path: Path, clock: ManualClock
) -> None:
    ids = schema_2_journal(path, V2_ROWS)
    with Journal(path, clock=clock, read_only=True) as reader:  # readable before, left as is
        assert reader.schema_version() == 2
        assert [r.task_id for r in reader.unresolved()] == ["t-unresolved", "t-superseded"]

    live = live_after_migration(path, clock)

    assert live == {ids[task][-1] for task in LIVE_AFTER}
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM intents WHERE term IS NOT NULL").fetchone() == (
            0,
        )
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    finally:
        conn.close()
    assert "intents_live" in indexes


def test_a_migrated_journal_applies_the_new_rules_to_its_old_records(
    path: Path, clock: ManualClock
) -> None:
    ids = schema_2_journal(path, V2_ROWS)
    with Journal(path, clock=clock) as journal:
        assert journal.term() == (0, None)
        assert journal.switch().paused is False
        for task, why in [
            ("t-done", "done"), ("t-already", "done"), ("t-retried", "done"),
            ("t-unknown", "open"), ("t-unresolved", "open"), ("t-superseded", "open"),
        ]:  # fmt: skip
            with pytest.raises(IntentRefused) as caught:
                journal.intent(**abort(task_id=task))
            assert (task, caught.value.why) == (task, why)
        for task in ("t-failed", "t-fenced", "t-capped", "t-would"):
            assert journal.intent(**abort(task_id=task)) > max(max(v) for v in ids.values())
        assert [r.task_id for r in journal.reconcilable()][:2] == ["t-unresolved", "t-superseded"]
        superseding = journal.intent(**abort(task_id="t-unknown"), supersedes=ids["t-unknown"][0])
        assert journal.get(ids["t-unknown"][0]).result == "failed"  # type: ignore[union-attr]
        assert superseding > 0


def test_the_migration_keeps_an_unknown_intent_live_behind_a_later_fenced_record(
    path: Path, clock: ManualClock
) -> None:
    # Schema 2's executor: an abort timed out (unknown), then the fence found the task still
    # running but no longer matching and recorded ``fenced``; the first call is still in doubt.
    ids = schema_2_journal(path, [("t-masked", "enforce", ["unknown", "fenced"])])
    assert live_after_migration(path, clock) == {ids["t-masked"][0]}
