"""The migration to leadership terms per shard (SQLite schema 5, PostgreSQL schema 3), on both
backends: a journal the previous taskwatch wrote (SQLite 4, PostgreSQL 2: one leadership row)
opens migrated in place, its one term becoming shard 0's with its holder, its intents shard 0's;
before that, a read-only reader reads it as it is; after it, the previous taskwatch refuses it.

The previous schema is built from the migrations themselves (``MIGRATIONS[:4]``,
``PG_MIGRATIONS[:2]``), as that taskwatch ran them, by a connection of the test's own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from itertools import chain
from typing import Any

import psycopg
import pytest

from taskwatch.actions.pgschema import (
    CREATE_VERSION_TABLE,
    INSERT_VERSION,
    PG_MIGRATIONS,
    PG_SCHEMA_VERSION,
    PG_SHARDS_SINCE,
    VERSION_TABLE,
)
from taskwatch.actions.schema import MIGRATIONS, SCHEMA_VERSION, SHARDS_SINCE
from taskwatch.errors import StoreError
from taskwatch.settings import State
from tests.journal.conftest import MakeJournal
from tests.journal.helpers import abort, raw
from tests.journal.test_rules import refused

Execute = Callable[..., Any]


def fill(execute: Execute) -> None:
    """What the previous taskwatch left: two terms begun (pod-a holds the second), an intent
    of each, the first done, the second unresolved."""
    execute("UPDATE leadership SET term = 2, holder = 'pod-a', since = 5.0")
    for task, term in (("t-old", 1), ("t-in-doubt", 2)):
        execute(
            "INSERT INTO intents (time, policy, product, account, region, task_id, action, mode,"
            " term, live) VALUES (1.0, 'p', 'mps', 'prod', 'global', ?, 'abort', 'enforce', ?, 1)",
            (task, term),
        )
    execute(
        "INSERT INTO outcomes (intent_id, time, result) SELECT id, 2.0, 'done' FROM intents"
        " WHERE task_id = 't-old'"
    )


def previous_schema(state: State) -> int:
    """The journal of ``state`` as the previous taskwatch wrote it; that schema's version."""
    if state.url is None:
        state.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(state.path, isolation_level=None)
        try:
            for statement in chain(*MIGRATIONS[: SHARDS_SINCE - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SHARDS_SINCE - 1}")
            fill(conn.execute)
        finally:
            conn.close()
        return SHARDS_SINCE - 1
    with psycopg.connect(state.url, autocommit=True) as pg:
        pg.execute(CREATE_VERSION_TABLE)
        pg.execute(INSERT_VERSION)
        for statement in chain(*PG_MIGRATIONS[: PG_SHARDS_SINCE - 1]):
            pg.execute(statement)
        pg.execute(f"UPDATE {VERSION_TABLE} SET version = %s", (PG_SHARDS_SINCE - 1,))
        fill(lambda sql, args=(): pg.execute(sql.replace("?", "%s"), args))
    return PG_SHARDS_SINCE - 1


def test_the_previous_schema_migrates_its_one_term_to_shard_0_keeping_term_holder_and_intents(
    state: State, make_journal: MakeJournal
) -> None:
    previous = previous_schema(state)
    reader = make_journal(read_only=True)  # readable before, left as it is
    assert reader.schema_version() == previous
    assert (reader.term(), reader.term(1)) == ((2, "pod-a"), (0, None))
    assert [r.task_id for r in reader.unresolved()] == ["t-in-doubt"]
    reader.close()

    journal = make_journal()

    assert journal.schema_version() == (SCHEMA_VERSION if state.url is None else PG_SCHEMA_VERSION)
    assert raw(journal, "SELECT shard, term, holder, since FROM leadership") == [
        (0, 2, "pod-a", 5.0)
    ]
    assert raw(journal, "SELECT task_id, shard, term FROM intents ORDER BY id") == [
        ("t-old", 0, 1), ("t-in-doubt", 0, 2),
    ]  # fmt: skip
    assert [r.task_id for r in journal.unresolved()] == ["t-in-doubt"]
    refused(journal, "term", task_id="t-new", term=1)  # the old term 1 stays over
    refused(journal, "open", task_id="t-in-doubt", term=2)  # its live intent still blocks
    assert journal.begin_term("pod-b", shard=1) == 1
    journal.intent(**abort(task_id="t-new"), term=2)  # pod-a's term goes on in shard 0
    assert journal.begin_term("pod-b") == 3


def test_the_previous_taskwatch_refuses_the_migrated_journal_as_written_by_a_newer_one(
    state: State, make_journal: MakeJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = previous_schema(state)
    make_journal().close()  # migrated
    if state.url is None:
        monkeypatch.setattr("taskwatch.actions.sqlite.SCHEMA_VERSION", previous)
    else:
        monkeypatch.setattr("taskwatch.actions.postgres.PG_SCHEMA_VERSION", previous)
    for read_only in (False, True):
        with pytest.raises(StoreError, match="written by a newer taskwatch") as caught:
            make_journal(read_only=read_only)
        assert f"(schema {previous + 1}; this version knows up to {previous})" in str(caught.value)
