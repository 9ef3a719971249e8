"""What the journal tests share: one abort's arguments, and raw reads beside the journal.

Raw reads go around the journal on purpose (sqlite3 or psycopg on the same database): a test of
"nothing written" or "live only where it must be" must not trust the code it checks.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from taskwatch.actions.journal import Journal
from taskwatch.actions.postgres import PostgresJournal
from taskwatch.actions.sqlite import SqliteJournal

TASK_ID = "2600011111-WorkflowTask-9f3c0b1e2d"
POLICY = "long-transcodes"
ABORT: dict[str, Any] = {
    "policy": POLICY,
    "product": "mps",
    "account": "prod",
    "region": "global",
    "task_id": TASK_ID,
    "action": "abort",
    "params": {"TaskId": TASK_ID, "OperationType": "Abort"},
}
KEY = ("prod", "mps", TASK_ID, "abort")
"""``ABORT``'s (account, product, task, action): what ``last_action`` takes."""


def abort(**changes: Any) -> dict[str, Any]:
    """The keyword arguments of one abort, with some changed."""
    return {**ABORT, **changes}


def raw(journal: Journal, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` placeholders) read from the journal's database by a connection of
    its own, not the journal's."""
    if isinstance(journal, SqliteJournal):
        conn = sqlite3.connect(journal.path)
        try:
            return [tuple(row) for row in conn.execute(sql, args).fetchall()]
        finally:
            conn.close()
    assert isinstance(journal, PostgresJournal)
    import psycopg

    with psycopg.connect(journal._state.url or "", autocommit=True) as pg:
        return [tuple(row) for row in pg.execute(sql.replace("?", "%s"), args).fetchall()]


def live_ids(journal: Journal) -> list[int]:
    """The ids of the live intents, as the database holds them."""
    return [
        int(row[0]) for row in raw(journal, "SELECT id FROM intents WHERE live = 1 ORDER BY id")
    ]


def intent_count(journal: Journal) -> int:
    """Every row of ``intents``, read by a connection of its own."""
    return int(raw(journal, "SELECT count(*) FROM intents")[0][0])
