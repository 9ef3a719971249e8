"""P7's harness works on both backends: it times every write, and its rows are well formed with
or without a PostgreSQL. Structure only, never performance: the machine may be anything."""

from __future__ import annotations

import math
from contextlib import contextmanager

from taskwatch.actions.opening import journal_for
from taskwatch.clock import ManualClock
from tests.bench import p7_journal
from tests.bench.table import render
from tests.postgres import PostgresServer, postgres_fixture

__all__ = ["postgres_fixture"]


def test_pairs_time_every_write_and_leave_every_pair_in_the_journal() -> None:
    with contextmanager(p7_journal.sqlite_files)() as state:
        writes, both = p7_journal.pairs(state, 12)
        with journal_for(state, clock=ManualClock(), read_only=True) as journal:
            records = journal.recent(0)
    assert len(writes) == 24
    assert len(both) == 12
    assert all(0 < w < b for w, b in zip(writes[::2], both, strict=True))
    assert [r.result for r in records] == ["intent"] + ["done"] * 12  # the warm-up, then pairs


def test_the_journal_benchmark_reports_p50_and_p99_on_both_backends(
    postgres: PostgresServer,
) -> None:
    sqlite = p7_journal.measure("sqlite", p7_journal.sqlite_files, 10, 2)
    pg = p7_journal.measure("postgresql", p7_journal.postgres_databases(postgres), 10, 1)
    assert (len(sqlite.p50), len(sqlite.p99), len(pg.p50)) == (2, 2, 1)

    rows = p7_journal.rows(sqlite, pg, n=10)

    assert [r.figure.split()[2] for r in rows] == ["p50", "p99"]
    for row in rows:
        assert row.taskwatch is not None
        assert row.taskwatch > 0
        assert math.isfinite(row.peers["PostgreSQL"] or math.nan)
        assert row.notes["pairs"] == 10
        assert "postgresql p99 spread ms" in row.notes
    assert rows[1].met is not None
    assert "| P7 | journal write p99" in render(rows)


def test_without_postgresql_the_rows_say_why() -> None:
    sqlite = p7_journal.measure("sqlite", p7_journal.sqlite_files, 5, 1)
    rows = p7_journal.rows(sqlite, None, n=5, why="no PostgreSQL: not installed")
    assert [r.peers for r in rows] == [{"PostgreSQL": None}] * 2
    assert rows[0].notes["postgresql"] == "no PostgreSQL: not installed"
    assert rows[0].ratio is None
