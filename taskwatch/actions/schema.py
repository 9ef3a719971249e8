"""The journal's schema, its queries, and what their rows become (:mod:`taskwatch.actions.journal`
runs them).

Kept apart from the :class:`~taskwatch.actions.journal.Journal` class so that readers of the rows
(the status
page's :class:`ActionGroup`) need not import the database code, and so that the schema is read in
one place: ``MIGRATIONS`` are applied in order, one transaction each (``PRAGMA user_version`` is
the version), so a crash mid-migration leaves the previous version intact.

:data:`GROUPED` folds repeated records into one row per (policy, task, action, mode, result) with
a count and the first and last time: a policy whose action keeps failing writes a row per attempt
(the audit keeps every one), and a page listing the newest rows would show nothing else.

Not guaranteed: that a group is one unbroken run. ``failed``, ``unknown``, ``failed`` on one task
make a ``failed`` group of two and an ``unknown`` group of one; the group's columns (code, message,
request id) are those of its newest record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from taskwatch.models import ActionGroup, AuditRecord, Outcome

APPLICATION_ID: Final = 0x74775431
"""``PRAGMA application_id`` of a taskwatch journal ("twT1"): tells our file from someone else's."""

LIVE_BACKFILL: Final = """
    UPDATE intents SET live = 1 WHERE id IN (
        SELECT max(i.id) FROM intents i LEFT JOIN outcomes o ON o.intent_id = i.id
        WHERE i.mode = 'enforce' AND (o.result IS NULL OR o.result NOT IN ('fenced', 'skipped_cap'))
        GROUP BY i.account, i.product, i.task_id, i.action)
    AND id NOT IN (SELECT intent_id FROM outcomes
                   WHERE result NOT IN ('done', 'already_done', 'unknown'))
"""
"""Migration 3 on an existing journal: the newest enforce intent of each task and action (a
``fenced`` or ``skipped_cap`` decision recorded after it does not hide it) is live when it acted
or may have (no outcome, ``done``, ``already_done``, ``unknown``). Records written
by ``record()`` (fenced, skipped) were never live; older ones never need to be."""
LIVE_INDEX: Final = (
    "CREATE UNIQUE INDEX intents_live ON intents (account, product, task_id, action) WHERE live = 1"
)
"""The fence in the database itself: at most one live intent per task and action, whatever
process writes it. An intent is live from its insert until its outcome says it did nothing
(``failed``) or a new intent supersedes it; ``done`` and ``already_done`` stay live for good."""


def grace_table(epoch_type: str) -> str:
    """Open match streaks (:mod:`taskwatch.policy.grace`), so a grace survives a restart or a
    failover instead of starting over; ``epoch_type`` holds an epoch second exactly (SQLite's
    ``REAL``, PostgreSQL's ``double precision``: its ``real`` is 4 bytes, a minute off)."""
    return f"""CREATE TABLE grace_streaks (
    policy  TEXT NOT NULL,
    source  TEXT NOT NULL,
    task_id TEXT NOT NULL,
    since   {epoch_type} NOT NULL,
    PRIMARY KEY (source, policy, task_id)
)"""


GRACE_TABLE: Final = grace_table("REAL")


def cost_columns(money_type: str) -> tuple[str, ...]:
    """The cost estimate of a decision (:mod:`taskwatch.cost`), written with its intent (and with
    a dry-run ``would``), and ``cost_saved``, written with a ``done`` outcome; NULL where the task
    had no estimate, and in rows older than the columns."""
    return tuple(
        f"ALTER TABLE intents ADD COLUMN {column}"
        for column in (
            f"cost_so_far {money_type}",
            f"cost_per_hour {money_type}",
            f"cost_saved {money_type}",
            "currency TEXT",
        )
    )


def shard_terms(term_type: str, epoch_type: str) -> tuple[str, ...]:
    """``leadership`` keyed by shard (accounts sharded across replicas, each shard fenced by its
    own term): the table of one row is rebuilt, its row becoming shard 0 with its term and
    holder; another shard's row is written by its first term (none yet: term 0). Every intent
    records its shard (0: unsharded, and every row older than the column)."""
    return (
        f"""CREATE TABLE leadership_by_shard (
            shard  INTEGER PRIMARY KEY CHECK (shard >= 0),
            term   {term_type} NOT NULL,
            holder TEXT,
            since  {epoch_type}
        )""",
        "INSERT INTO leadership_by_shard (shard, term, holder, since)"
        " SELECT 0, term, holder, since FROM leadership",
        "DROP TABLE leadership",
        "ALTER TABLE leadership_by_shard RENAME TO leadership",
        "ALTER TABLE intents ADD COLUMN shard INTEGER NOT NULL DEFAULT 0",
    )


MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (  # 1: the journal
        """CREATE TABLE intents (
            id      INTEGER PRIMARY KEY AUTOINCREMENT,
            time    REAL NOT NULL,
            policy  TEXT NOT NULL,
            product TEXT NOT NULL,
            account TEXT NOT NULL,
            region  TEXT NOT NULL,
            task_id TEXT NOT NULL,
            action  TEXT NOT NULL,
            mode    TEXT NOT NULL CHECK (mode IN ('enforce', 'dry-run')),
            params  TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE outcomes (
            intent_id  INTEGER PRIMARY KEY REFERENCES intents (id) ON DELETE CASCADE,
            time       REAL NOT NULL,
            result     TEXT NOT NULL,
            code       TEXT,
            request_id TEXT,
            message    TEXT,
            uncertain  INTEGER NOT NULL DEFAULT 0
        )""",
        f"PRAGMA application_id = {APPLICATION_ID}",
    ),
    (  # 2: indexes for last_action, count_since, recent and prune
        "CREATE INDEX intents_task ON intents (account, product, task_id, action)",
        "CREATE INDEX intents_policy_time ON intents (policy, time)",
        "CREATE INDEX intents_time ON intents (time)",
    ),
    (  # 3: fencing (one live intent per task and action, leadership terms), the kill switch
        "ALTER TABLE intents ADD COLUMN term INTEGER",
        "ALTER TABLE intents ADD COLUMN live INTEGER NOT NULL DEFAULT 0",
        LIVE_BACKFILL,
        LIVE_INDEX,
        """CREATE TABLE leadership (
            id     INTEGER PRIMARY KEY CHECK (id = 1),
            term   INTEGER NOT NULL,
            holder TEXT,
            since  REAL
        )""",
        "INSERT INTO leadership (id, term) VALUES (1, 0)",
        """CREATE TABLE switch_events (
            id     INTEGER PRIMARY KEY AUTOINCREMENT,
            time   REAL NOT NULL,
            paused INTEGER NOT NULL,
            actor  TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT ''
        )""",
        GRACE_TABLE,
    ),
    cost_columns("REAL"),  # 4: the estimate at the decision, and the spend an action saved
    shard_terms("INTEGER", "REAL"),  # 5: a leadership term per shard, the shard of each intent
)
SCHEMA_VERSION: Final = len(MIGRATIONS)
INSERT: Final = """INSERT INTO intents (time, policy, product, account, region, task_id, action,
    mode, params, shard, term, live, cost_so_far, cost_per_hour, currency)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"""
"""A new intent or record, with its estimate (``cost_saved`` is written with the outcome)."""
OLDEST_READABLE: Final = 1
"""The oldest schema a read-only journal can be queried at; raise it when a migration changes a
column the queries read."""

COUNTED: Final = (Outcome.DONE.value, Outcome.UNKNOWN.value)
COUNT: Final = """
    SELECT count(*) FROM intents i LEFT JOIN outcomes o ON o.intent_id = i.id
    WHERE i.policy = ? AND i.time >= ? AND (
        (i.mode = 'enforce' AND (o.intent_id IS NULL OR o.result IN (?, ?) OR o.uncertain = 1))
        OR (? AND i.mode = 'dry-run' AND o.result = ?))
"""
_COLUMNS = """i.id, i.time, i.policy, i.product, i.account, i.region, i.task_id, i.action, i.mode,
    coalesce(o.result, 'intent') AS result, o.code, o.request_id, o.message, o.time AS finished"""
_COSTS = "i.cost_so_far, i.cost_per_hour, i.cost_saved, i.currency"
_NO_COSTS = "NULL AS cost_so_far, NULL AS cost_per_hour, NULL AS cost_saved, NULL AS currency"
COSTS_SINCE: Final = 4
"""The schema that added the cost columns; a read-only journal older than it reads NULLs."""
SHARDS_SINCE: Final = 5
"""The schema that keyed ``leadership`` by shard; a read-only journal older than it has one term
(shard 0's)."""


def _select(costs: str) -> str:
    # Constant SQL built from constants: no value is ever formatted into a query.
    return f"SELECT {_COLUMNS}, {costs} FROM intents i LEFT JOIN outcomes o ON o.intent_id = i.id"  # noqa: S608


def _grouped(select: str) -> str:
    return f"""
    WITH r AS ({select} WHERE i.time >= ?),
    g AS (SELECT max(id) AS last, count(*) AS n, min(time) AS first FROM r
          GROUP BY policy, account, product, region, task_id, action, mode, result)
    SELECT r.*, g.n, g.first FROM g JOIN r ON r.id = g.last ORDER BY g.last DESC LIMIT ?
"""  # noqa: S608


SELECT: Final = _select(_COSTS)
SELECT_BEFORE_COSTS: Final = _select(_NO_COSTS)
""":data:`SELECT` of a read-only journal older than :data:`COSTS_SINCE`."""
GROUPED: Final = _grouped(SELECT)
"""Records since a time, one row per (policy, task, action, mode, result): the newest record of
the group, its count and its first time; newest group first, at most a limit."""
GROUPED_BEFORE_COSTS: Final = _grouped(SELECT_BEFORE_COSTS)

SAVED: Final = """
    SELECT i.policy, coalesce(i.currency, ''), sum(coalesce(i.cost_saved, 0)),
        sum(CASE WHEN i.cost_saved IS NULL THEN i.cost_per_hour ELSE 0 END), count(*)
    FROM intents i JOIN outcomes o ON o.intent_id = i.id
    WHERE i.time >= ? AND i.mode = 'enforce' AND o.result = 'done'
        AND i.cost_per_hour IS NOT NULL
    GROUP BY i.policy, coalesce(i.currency, '')
"""
"""What enforced ``done`` actions with an estimate saved since a time, per (policy, currency):
the sum of ``cost_saved``, the sum of ``cost_per_hour`` where ``cost_saved`` is unknown, and how
many actions."""

_SECRET_KEY = re.compile(
    r"secret|token|password|passwd|authori[sz]ation|signature|credential", re.I
)
_REDACTED: Final = "[redacted]"


_FIELDS = (
    "id", "time", "policy", "product", "account", "region", "task_id", "action", "mode", "result",
    "code", "request_id", "message", "finished_time",
    "cost_so_far", "cost_per_hour", "cost_saved", "currency",
)  # fmt: skip
"""The :class:`AuditRecord` fields, in the order of :data:`SELECT`'s columns."""


def record(row: tuple[Any, ...]) -> AuditRecord:
    """An :class:`AuditRecord` from a row of :data:`SELECT`."""
    return AuditRecord(**dict(zip(_FIELDS, row, strict=True)))


def group(row: tuple[Any, ...]) -> ActionGroup:
    """An :class:`ActionGroup` from a row of :data:`GROUPED` (:data:`SELECT`'s, then the group's
    count and first time)."""
    fields = dict(zip(_FIELDS, row[: len(_FIELDS)], strict=True))
    return ActionGroup(**fields, count=row[-2], first_time=row[-1])


def params_json(params: Mapping[str, Any]) -> str:
    """The API parameters as JSON, with anything that looks like a credential redacted."""
    try:
        return json.dumps(_redact(params), sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"journal params must be plain JSON: {e}") from e


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            str(k): _REDACTED if _SECRET_KEY.search(str(k)) else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value
