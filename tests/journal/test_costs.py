"""The estimate in the journal: written with the intent and the dry-run ``would``, the saved spend
with a ``done`` outcome, read back into :class:`AuditRecord` (SQLite and PostgreSQL), and a
read-only journal older than the columns still readable (SQLite)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from taskwatch.actions.schema import MIGRATIONS, SCHEMA_VERSION
from taskwatch.actions.sqlite import SqliteJournal
from taskwatch.clock import ManualClock
from taskwatch.cost import Estimate
from taskwatch.models import AuditRecord
from tests.journal.conftest import MakeJournal
from tests.journal.helpers import ABORT, abort, raw

RUNNING = Estimate(so_far=40.0, per_hour=10.0, currency="CNY", basis="running 4.00 h x 10/h")


def costs(record: AuditRecord | None) -> tuple[object, ...]:
    assert record is not None
    return (record.cost_so_far, record.cost_per_hour, record.cost_saved, record.currency)


def test_an_intent_holds_the_estimate_and_its_done_outcome_the_saving(
    make_journal: MakeJournal,
) -> None:
    journal = make_journal()
    intent = journal.intent(**ABORT, estimate=RUNNING)
    assert costs(journal.get(intent)) == (40.0, 10.0, None, "CNY")
    assert journal.outcome(intent, result="done", saved=20.0)
    assert costs(journal.get(intent)) == (40.0, 10.0, 20.0, "CNY")
    assert raw(journal, "SELECT cost_saved FROM intents WHERE id = ?", (intent,)) == [(20.0,)]
    assert not journal.outcome(intent, result="failed", saved=99.0)  # final: nothing changes
    assert costs(journal.get(intent)) == (40.0, 10.0, 20.0, "CNY")
    reader = make_journal(read_only=True)
    assert [costs(r) for r in reader.recent(0.0)] == [(40.0, 10.0, 20.0, "CNY")]
    (grouped,) = reader.recent_grouped(0.0, limit=10)
    assert costs(grouped) == (40.0, 10.0, 20.0, "CNY")


def test_a_would_holds_the_estimate_and_no_saving(make_journal: MakeJournal) -> None:
    journal = make_journal()
    would = journal.would(**abort(task_id="t-2"), estimate=RUNNING)
    assert costs(journal.get(would)) == (40.0, 10.0, None, "CNY")


def test_without_an_estimate_the_columns_are_null(make_journal: MakeJournal) -> None:
    journal = make_journal()
    intent = journal.intent(**ABORT)
    journal.outcome(intent, result="done")
    would = journal.would(**abort(task_id="t-2"))
    assert costs(journal.get(intent)) == costs(journal.get(would)) == (None, None, None, None)


def test_a_read_only_journal_older_than_the_columns_reads_without_estimates(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in (s for migration in MIGRATIONS[:3] for s in migration):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.execute(
        "INSERT INTO intents (time, policy, product, account, region, task_id, action, mode)"
        " VALUES (1.0, 'p', 'mps', 'a', 'global', 'old-task', 'abort', 'enforce')"
    )
    conn.close()
    clock = ManualClock()
    with SqliteJournal(path, clock=clock, read_only=True) as reader:
        (old,) = reader.recent(0.0)
        assert (old.task_id, costs(old)) == ("old-task", (None, None, None, None))
        assert reader.schema_version() == 3
        assert reader.saved_since(0.0) == []  # no estimates, no savings
    with SqliteJournal(path, clock=clock) as journal:  # the daemon migrates it
        assert journal.schema_version() == SCHEMA_VERSION
        intent = journal.intent(**ABORT, estimate=RUNNING)
        assert costs(journal.get(intent)) == (40.0, 10.0, None, "CNY")


def test_a_postgresql_journal_of_schema_1_reads_without_estimates_then_migrates(
    postgres_url: str,
) -> None:
    import psycopg

    from taskwatch.actions.pgschema import (
        CREATE_VERSION_TABLE,
        INSERT_VERSION,
        PG_MIGRATIONS,
        PG_SCHEMA_VERSION,
        VERSION_TABLE,
    )
    from taskwatch.actions.postgres import PostgresJournal
    from taskwatch.settings import State

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(CREATE_VERSION_TABLE)
        conn.execute(INSERT_VERSION)
        for statement in PG_MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute(f"UPDATE {VERSION_TABLE} SET version = 1")
        conn.execute(
            "INSERT INTO intents (time, policy, product, account, region, task_id, action, mode)"
            " VALUES (1.0, 'p', 'mps', 'a', 'global', 'old-task', 'abort', 'enforce')"
        )
    clock = ManualClock()
    with PostgresJournal(State(url=postgres_url), clock=clock, read_only=True) as reader:
        (old,) = reader.recent(0.0)
        assert (old.task_id, costs(old)) == ("old-task", (None, None, None, None))
        assert reader.schema_version() == 1
    with PostgresJournal(State(url=postgres_url), clock=clock) as journal:
        assert journal.schema_version() == PG_SCHEMA_VERSION
        intent = journal.intent(**ABORT, estimate=RUNNING)
        journal.outcome(intent, result="done", saved=5.0)
        assert costs(journal.get(intent)) == (40.0, 10.0, 5.0, "CNY")


def test_the_savings_are_summed_per_policy_and_currency_by_the_database(
    make_journal: MakeJournal, clock: ManualClock
) -> None:
    """Only enforced ``done`` actions with an estimate count: their ``cost_saved``, or their rate
    where no end was known; a failed call, a dry-run ``would``, an action without estimate and
    one before the window do not."""
    journal = make_journal()
    old = journal.intent(**abort(task_id="before"), estimate=RUNNING)
    journal.outcome(old, result="done", saved=1000.0)
    clock.advance(60)
    since = clock.now().timestamp()
    usd = Estimate(so_far=1.0, per_hour=2.5, currency="USD", basis="b")
    for task, saved, estimate in [
        ("t-1", 20.0, RUNNING), ("t-2", 5.5, RUNNING), ("t-3", None, RUNNING),
        ("t-4", None, usd), ("t-5", 3.0, None),
    ]:  # fmt: skip
        journal.outcome(
            journal.intent(**abort(task_id=task), estimate=estimate), result="done", saved=saved
        )
    journal.outcome(journal.intent(**abort(task_id="t-6"), estimate=RUNNING), result="failed")
    journal.would(**abort(task_id="t-7"), estimate=RUNNING)
    other = journal.intent(**{**abort(task_id="t-8"), "policy": "other"}, estimate=RUNNING)
    journal.outcome(other, result="done", saved=7.0)
    totals = sorted(journal.saved_since(since), key=lambda s: (s.policy, s.currency))
    assert [(s.policy, s.currency, s.saved, s.per_hour, s.actions) for s in totals] == [
        (ABORT["policy"], "CNY", 25.5, 10.0, 3),
        (ABORT["policy"], "USD", 0.0, 2.5, 1),
        ("other", "CNY", 7.0, 0.0, 1),
    ]
    assert make_journal(read_only=True).saved_since(since) == journal.saved_since(since)
