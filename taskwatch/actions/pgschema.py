"""The PostgreSQL journal's schema: the same tables, columns and indexes as the SQLite journal's
(:mod:`taskwatch.actions.schema`), so one set of statements serves both.

Why its own migrations: the SQLite journal grew by three migrations (``ALTER TABLE`` and a
backfill) before PostgreSQL came; a PostgreSQL journal's version 1 is SQLite's schema 3, and its
later versions follow SQLite's (2: the cost columns of SQLite's 4; 3: the terms per shard of
SQLite's 5).
Types differ only where the databases do: ``bigint GENERATED ALWAYS AS IDENTITY`` for
``AUTOINCREMENT`` (ids are never reused; like SQLite's, their order is insertion order within a
writer, and an id is assigned at insert, not at commit, so two writers' ids may commit out of
order), ``double precision`` for ``REAL``. The version lives in ``taskwatch_schema``, with an
application id that tells our tables from someone else's in a shared database.

Migrations run in one transaction each under an advisory lock, so replicas starting together
migrate once and a crash mid-way leaves the previous version (PostgreSQL's DDL is transactional).

Not guaranteed: coexistence with another application's tables named ``intents`` or ``outcomes`` in
the same schema (refused at open: give taskwatch its own database or schema, e.g.
``?options=-csearch_path%3Dtaskwatch``).
"""

from __future__ import annotations

from typing import Final

from taskwatch.actions.schema import (
    APPLICATION_ID,
    LIVE_INDEX,
    cost_columns,
    grace_table,
    shard_terms,
)

PG_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (  # 1: the journal as of SQLite schema 3
        """CREATE TABLE intents (
            id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            time    double precision NOT NULL,
            policy  text NOT NULL,
            product text NOT NULL,
            account text NOT NULL,
            region  text NOT NULL,
            task_id text NOT NULL,
            action  text NOT NULL,
            mode    text NOT NULL CHECK (mode IN ('enforce', 'dry-run')),
            params  text NOT NULL DEFAULT '{}',
            term    bigint,
            live    integer NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE outcomes (
            intent_id  bigint PRIMARY KEY REFERENCES intents (id) ON DELETE CASCADE,
            time       double precision NOT NULL,
            result     text NOT NULL,
            code       text,
            request_id text,
            message    text,
            uncertain  integer NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX intents_task ON intents (account, product, task_id, action)",
        "CREATE INDEX intents_policy_time ON intents (policy, time)",
        "CREATE INDEX intents_time ON intents (time)",
        LIVE_INDEX,
        """CREATE TABLE leadership (
            id     integer PRIMARY KEY CHECK (id = 1),
            term   bigint NOT NULL,
            holder text,
            since  double precision
        )""",
        "INSERT INTO leadership (id, term) VALUES (1, 0)",
        """CREATE TABLE switch_events (
            id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            time   double precision NOT NULL,
            paused integer NOT NULL,
            actor  text NOT NULL,
            reason text NOT NULL DEFAULT ''
        )""",
        grace_table("double precision"),
    ),
    cost_columns("double precision"),  # 2: as SQLite schema 4 (the estimate, the saved spend)
    shard_terms("bigint", "double precision"),  # 3: as SQLite schema 5 (a term per shard)
)
PG_SCHEMA_VERSION: Final = len(PG_MIGRATIONS)
PG_OLDEST_READABLE: Final = 1
PG_COSTS_SINCE: Final = 2
"""The schema that added the cost columns; a read-only journal older than it reads NULLs."""
PG_SHARDS_SINCE: Final = 3
"""The schema that keyed ``leadership`` by shard (SQLite's :data:`~taskwatch.actions.schema.
SHARDS_SINCE`)."""

VERSION_TABLE: Final = "taskwatch_schema"
CREATE_VERSION_TABLE: Final = f"""CREATE TABLE {VERSION_TABLE} (
    application_id bigint NOT NULL,
    version        integer NOT NULL
)"""
INSERT_VERSION: Final = (
    f"INSERT INTO {VERSION_TABLE} (application_id, version) VALUES ({APPLICATION_ID}, 0)"  # noqa: S608
)
