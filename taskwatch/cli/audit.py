"""``taskwatch audit``: the journal's recent records, as a table for people or JSON for scripts.

Each record shows the task's cost estimate when the decision was taken (``COST``; JSON
``cost_so_far``, ``cost_per_hour``, ``currency``) and what a ``done`` action saved (``SAVED``;
``cost_saved``): unrounded in JSON, to the cent in the table.

Read-only on purpose: the journal is opened with ``mode=ro``, so the command can run next to the
daemon (WAL readers never block the writer) and never writes, migrates or locks the database. A
missing file is "no journal yet", not an empty one created under the operator's feet. (SQLite may
leave an empty ``-wal``/``-shm`` pair beside a journal the daemon had closed; the daemon reuses it.)

Not guaranteed: that the listing is complete for the window if retention (``Journal.prune``)
already removed older records; records are in journal order, which is time order unless the wall
clock stepped backwards.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taskwatch.actions.opening import journal_for
from taskwatch.actions.sqlite import SqliteJournal
from taskwatch.cli.tables import aligned
from taskwatch.clock import Clock
from taskwatch.durations import parse_duration
from taskwatch.models import AuditRecord
from taskwatch.settings import State

COLUMNS = (
    "TIME",
    "POLICY",
    "PRODUCT",
    "ACCOUNT/REGION",
    "TASK",
    "ACTION",
    "MODE",
    "RESULT",
    "COST",
    "SAVED",
    "CODE",
    "REQUEST ID",
)
"""``COST``: the task's estimated spend so far and per hour when the decision was taken;
``SAVED``: what a ``done`` action saved (rate times the time the task would still have run), when
known. Estimates from list prices, never a bill; ``-`` where there is none."""


def parse_since(text: str) -> float:
    """Seconds in a ``--since`` value such as ``1h``, ``30m`` or ``2d``; ``ValueError`` if not."""
    return parse_duration(text)


def iso(epoch: float, *, timespec: str = "seconds") -> str:
    """UTC epoch seconds as ISO 8601 with a ``Z``: ``2026-01-01T00:00:00Z``."""
    text = datetime.fromtimestamp(epoch, UTC).isoformat(timespec=timespec)
    return text.removesuffix("+00:00") + "Z"


def format_table(records: Sequence[AuditRecord]) -> str:
    """Aligned columns, one record a line, under a header; ``-`` where a value is missing."""
    return "\n".join(aligned([COLUMNS, *(_cells(r) for r in records)]))


def to_json(records: Sequence[AuditRecord]) -> str:
    """A JSON array of objects, one per record; times ISO 8601 UTC with milliseconds."""
    return json.dumps([_object(r) for r in records], indent=2, ensure_ascii=False)


def run_audit(journal_at: State | str | Path, *, since: float, as_json: bool, clock: Clock) -> str:
    """The text ``taskwatch audit`` prints: records of the last ``since`` seconds, from the
    journal of a ``state`` section (SQLite or PostgreSQL) or a SQLite file.

    Raises :class:`~taskwatch.errors.StoreError` when there is no journal there yet, or it
    cannot be read.
    """
    if since < 0:
        raise ValueError("--since must not be negative")
    start = clock.now().timestamp() - since
    if isinstance(journal_at, State):
        journal = journal_for(journal_at, clock=clock, read_only=True)
    else:
        journal = SqliteJournal(journal_at, clock=clock, read_only=True)
    with journal:
        records = journal.recent(start)
    if as_json:
        return to_json(records)
    if not records:
        return f"no journal records since {iso(start)}"
    return format_table(records)


def _cells(record: AuditRecord) -> tuple[str, ...]:
    return tuple(
        _printable(value)
        for value in (
            iso(record.time),
            record.policy,
            record.product,
            f"{record.account}/{record.region}",
            record.task_id,
            record.action,
            record.mode,
            record.result,
            _cost(record),
            _money(record.cost_saved, record.currency),
            record.code,
            record.request_id,
        )
    )


def _money(value: float | None, currency: str | None) -> str | None:
    """A figure rounded to the cent, with its currency; ``None`` for none."""
    return None if value is None else f"{value:.2f} {currency or ''}".rstrip()


def _cost(record: AuditRecord) -> str | None:
    """``12.34 CNY @1.20/h``: the estimate at the decision."""
    so_far = _money(record.cost_so_far, record.currency)
    if so_far is None or record.cost_per_hour is None:
        return so_far
    return f"{so_far} @{record.cost_per_hour:.2f}/h"


def _printable(value: str | None) -> str:
    """``-`` for nothing; control characters (from API-supplied ids) shown as ``?``."""
    if not value:
        return "-"
    return "".join(c if c.isprintable() else "?" for c in value)


def _object(record: AuditRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "time": iso(record.time, timespec="milliseconds"),
        "policy": record.policy,
        "product": record.product,
        "account": record.account,
        "region": record.region,
        "task_id": record.task_id,
        "action": record.action,
        "mode": record.mode,
        "result": record.result,
        "code": record.code,
        "request_id": record.request_id,
        "message": record.message,
        "cost_so_far": record.cost_so_far,
        "cost_per_hour": record.cost_per_hour,
        "cost_saved": record.cost_saved,
        "currency": record.currency,
        "finished_time": (
            None
            if record.finished_time is None
            else iso(record.finished_time, timespec="milliseconds")
        ),
    }
