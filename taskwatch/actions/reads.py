"""The action journal's reads: records by id, the unresolved intents, the last action on a task,
the per-hour counts and the audit listings (:class:`~taskwatch.actions.journal.Journal` inherits
them; import the journal from :mod:`taskwatch.actions.journal`).

Why apart from the writes: the rules (what refuses an intent, one outcome per intent) are the
journal's point and are read together; the queries here only read, each in one short read of the
backend, and decide nothing. The rows become :class:`~taskwatch.models.AuditRecord` and
:class:`~taskwatch.models.ActionGroup` by :mod:`taskwatch.actions.schema`.

Not guaranteed: that two reads see the same moment (each is its own statement; another writer may
commit in between); a record's shard or term (the audit rows do not carry them).
"""

from __future__ import annotations

from typing import Any

from taskwatch.actions.backend import Connection
from taskwatch.actions.controls import SharedControls
from taskwatch.actions.schema import (
    COUNT,
    COUNTED,
    GROUPED,
    GROUPED_BEFORE_COSTS,
    SAVED,
    SELECT,
    SELECT_BEFORE_COSTS,
    group,
    record,
)
from taskwatch.models import ActionGroup, AuditRecord, Outcome, Saved

__all__ = ["JournalReads"]


class JournalReads(SharedControls):
    """The journal's queries; see the module docstring."""

    def get(self, intent_id: int) -> AuditRecord | None:
        """One record by id."""
        rows = self._query("read a record", f"{self._select} WHERE i.id = ?", (intent_id,))
        return rows[0] if rows else None

    def unresolved(self, *, before: float | None = None) -> list[AuditRecord]:
        """Intents without an outcome (a crash between intent and outcome), oldest first; with
        ``before`` (UTC epoch), only those written before it."""
        where = "o.intent_id IS NULL AND i.mode = 'enforce'"
        if before is None:
            return self._query(
                "list unresolved intents", f"{self._select} WHERE {where} ORDER BY i.id", ()
            )
        return self._query(
            "list unresolved intents",
            f"{self._select} WHERE {where} AND i.time < ? ORDER BY i.id",
            (before,),
        )

    def reconcilable(self) -> list[AuditRecord]:
        """Unresolved intents no writer can still be waiting on: all of them in a journal of one
        process (it is opening), those older than ``in_flight`` in a shared one."""
        return self.unresolved(before=self.in_flight_cutoff())

    def last_action(
        self, account: str, product: str, task_id: str, action: str
    ) -> AuditRecord | None:
        """The live intent of this action on this task (the one that blocks another: in flight,
        in doubt or done), else its latest enforce-mode record, whatever its result. Live first:
        a decision recorded after it (fenced, skipped) must not hide an intent in doubt."""
        rows = self._query(
            "find the last action",
            f"""{self._select} WHERE i.account = ? AND i.product = ? AND i.task_id = ?
                AND i.action = ? AND i.mode = 'enforce' ORDER BY i.live DESC, i.id DESC LIMIT 1""",
            (account, product, task_id, action),
        )
        return rows[0] if rows else None

    def count_since(self, policy: str, since: float, *, include_dry_run: bool) -> int:
        """Records of ``policy`` since ``since`` (UTC epoch) that count toward its per-hour cap."""
        with self._reading("count actions") as conn:
            return self._count(conn, policy, since, include_dry_run=include_dry_run)

    def recent(self, since: float, *, limit: int | None = None) -> list[AuditRecord]:
        """Records since ``since`` (UTC epoch), newest last; with ``limit``, only the newest."""
        sql = f"{self._select} WHERE i.time >= ? ORDER BY i.id DESC"
        args: tuple[Any, ...] = (since,)
        if limit is not None:
            sql, args = f"{sql} LIMIT ?", (since, limit)
        rows = self._query("list recent records", sql, args)
        rows.reverse()
        return rows

    def recent_grouped(self, since: float, *, limit: int) -> list[ActionGroup]:
        """Records since ``since`` folded per (policy, task, action, mode, result), newest group
        first: a streak of failed attempts is one row with its count, not ``limit`` rows."""
        with self._reading("list recent records") as conn:
            grouped = GROUPED if self.costs else GROUPED_BEFORE_COSTS
            rows = conn.execute(grouped, (since, limit)).fetchall()
        return [group(tuple(row)) for row in rows]

    def saved_since(self, since: float) -> list[Saved]:
        """What enforced actions saved since ``since`` (UTC epoch), per policy and currency: a
        ``done`` enforced record with an estimate adds its ``cost_saved``, or, where that is
        unknown (no end known), its ``cost_per_hour`` to the spend per hour stopped (as the
        saved-spend counters do). One aggregate query: the status page used to read every record
        of the day for it. A read-only journal older than the cost columns: none."""
        if not self.costs:
            return []
        with self._reading("sum what actions saved") as conn:
            rows = conn.execute(SAVED, (since,)).fetchall()
        return [Saved(str(p), str(c), float(s), float(h), int(n)) for p, c, s, h, n in rows]

    # -- internals ---------------------------------------------------------------------------

    @property
    def _select(self) -> str:
        return SELECT if self.costs else SELECT_BEFORE_COSTS

    def _query(self, doing: str, sql: str, args: tuple[Any, ...]) -> list[AuditRecord]:
        with self._reading(doing) as conn:
            rows = conn.execute(sql, args).fetchall()
        return [record(tuple(row)) for row in rows]

    def _count(self, conn: Connection, policy: str, since: float, *, include_dry_run: bool) -> int:
        args = (policy, since, *COUNTED, bool(include_dry_run), Outcome.WOULD.value)
        return int(conn.execute(COUNT, args).fetchone()[0])
