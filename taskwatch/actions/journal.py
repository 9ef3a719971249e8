"""The action journal: an intent row before every destructive call, an outcome row after it.

Why: taskwatch may be killed at any instant (SIGKILL, OOM, power loss). An intent is committed and
fsynced *before* the API call is sent, so after a crash :meth:`Journal.unresolved` lists every call
that may or may not have reached Tencent Cloud; the executor re-describes those tasks instead of
acting again. The same rows feed the per-hour caps (:meth:`Journal.count_since`), the "never twice"
check (:meth:`Journal.last_action`) and ``taskwatch audit`` (:meth:`Journal.recent`).

Schema (:mod:`taskwatch.actions.schema`, version in ``PRAGMA user_version``)::

    intents   id INTEGER PRIMARY KEY AUTOINCREMENT (never reused, so id order is journal order)
              time REAL (UTC epoch of the decision), policy, product, account, region, task_id,
              action, mode ('enforce' | 'dry-run'), params TEXT (JSON: the API parameters only)
    outcomes  intent_id PRIMARY KEY -> intents(id) ON DELETE CASCADE, time REAL, result (an
              Outcome value), code, request_id, message, uncertain (1 once the result was unknown)

Durability costs one fsync per write (WAL, ``synchronous=FULL``): a few milliseconds on an SSD,
tens on a slow disk. Actions are rare (bounded by the caps), so the daemon never feels it; WAL also
lets ``taskwatch audit`` read while the daemon writes.

Rules the callers rely on:

* At most one outcome per intent. The first one stays, except ``unknown``, which a later result
  (from re-describing the task) replaces; the row then stays ``uncertain``.
* Per-hour caps count what may have acted: enforce intents that are unresolved, ``done`` or
  ``unknown`` (or ever were unknown). ``failed`` calls did nothing and are not counted, nor are
  ``already_done``, ``fenced`` or ``skipped_cap``. Dry-run ``would`` rows count only on request.
* Order is id order everywhere, not time order: the wall clock may step backwards, ids never do.
* Secrets are never stored: params keys that look like credentials are redacted on the way in.

The file itself (opening, checks, WAL, migrations, the lock, sqlite3 errors as StoreError) is
:mod:`taskwatch.actions.database`'s; this module is the rows and the queries over them.

One writer: a writable journal is locked for its process (``<path>.lock``, see
:mod:`taskwatch.actions.lock`), because ``last_action`` and ``intent`` are separate transactions
and two processes acting on one file would both act; a second writer gets
:class:`~taskwatch.actions.lock.JournalBusyError`. Readers (``read_only``) take no lock.

Not guaranteed: durability on filesystems that ignore fsync or lack shared memory for WAL (network
filesystems: opening fails); that the file shrinks after :meth:`Journal.prune` (freed pages are
reused, not returned).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any, Final, Literal

from taskwatch.actions.database import MEMORY, JournalDatabase
from taskwatch.actions.schema import (
    COUNT,
    COUNTED,
    GROUPED,
    MIGRATIONS,
    SCHEMA_VERSION,
    SELECT,
    group,
    params_json,
    record,
)
from taskwatch.errors import StoreError
from taskwatch.models import ActionGroup, AuditRecord, Outcome

__all__ = ["MEMORY", "MIGRATIONS", "SCHEMA_VERSION", "ActionGroup", "Journal", "Mode"]

Mode = Literal["enforce", "dry-run"]

MESSAGE_LIMIT: Final = 1000
"""Outcome messages are cut to this many characters."""
_DRY_RUN_RESULTS: Final = frozenset(
    {Outcome.WOULD, Outcome.SKIPPED_CAP, Outcome.FENCED, Outcome.ALREADY_DONE}
)


class Journal(JournalDatabase):
    """The SQLite action journal. Methods are synchronous, each one short transaction.

    One connection, guarded by a lock, so a journal may be shared by threads (e.g. calls made
    through ``anyio.to_thread``). ``read_only`` opens an existing file without changing it
    (``taskwatch audit`` next to a running daemon).
    """

    # -- writes ------------------------------------------------------------------------------

    def intent(
        self,
        *,
        policy: str,
        product: str,
        account: str,
        region: str,
        task_id: str,
        action: str,
        params: Mapping[str, Any],
    ) -> int:
        """Record that an action is about to be sent; durable when this returns. Its id."""
        with self._transaction("record an intent") as conn:
            return self._insert(
                conn, "enforce", policy, product, account, region, task_id, action, params
            )

    def outcome(
        self,
        intent_id: int,
        *,
        result: Outcome | str,
        code: str | None = None,
        request_id: str | None = None,
        message: str | None = None,
    ) -> bool:
        """Record what became of an intent. ``False``: it already had a final outcome (kept).

        ``unknown`` may be replaced by a later result; any other outcome is final.
        """
        value = Outcome(result)
        if value is Outcome.WOULD:
            raise ValueError("'would' is recorded with would(), not as the outcome of an intent")
        with self._transaction(f"record the outcome of intent {intent_id}") as conn:
            if conn.execute("SELECT 1 FROM intents WHERE id = ?", (intent_id,)).fetchone() is None:
                raise StoreError(f"{self.path}: no intent {intent_id}", path=self.path)
            previous = conn.execute(
                "SELECT result FROM outcomes WHERE intent_id = ?", (intent_id,)
            ).fetchone()
            if previous is not None and previous[0] != Outcome.UNKNOWN.value:
                return False
            self._upsert_outcome(
                conn, intent_id, value, code, request_id, message, uncertain=previous is not None
            )
            return True

    def would(
        self,
        *,
        policy: str,
        product: str,
        account: str,
        region: str,
        task_id: str,
        action: str,
        params: Mapping[str, Any],
    ) -> int:
        """Dry-run: record that the action would have been sent (intent and outcome at once)."""
        return self.record(
            policy=policy,
            product=product,
            account=account,
            region=region,
            task_id=task_id,
            action=action,
            params=params,
            result=Outcome.WOULD,
            mode="dry-run",
        )

    def record(
        self,
        *,
        policy: str,
        product: str,
        account: str,
        region: str,
        task_id: str,
        action: str,
        params: Mapping[str, Any],
        result: Outcome | str,
        mode: Mode = "enforce",
        code: str | None = None,
        message: str | None = None,
    ) -> int:
        """A decision that never reached the API (skipped by a cap, fenced, already done), or a
        dry-run one: intent and outcome in one transaction, so the audit is complete. Its id.

        Dry-run records may only be ``would``, ``skipped_cap``, ``fenced`` or ``already_done``;
        enforce records anything but ``would``.
        """
        value = Outcome(result)
        if mode not in ("enforce", "dry-run"):
            raise ValueError(f"mode must be 'enforce' or 'dry-run', not {mode!r}")
        if mode == "dry-run" and value not in _DRY_RUN_RESULTS:
            raise ValueError(f"a dry-run record cannot be {value.value!r}")
        if mode == "enforce" and value is Outcome.WOULD:
            raise ValueError("'would' is a dry-run result")
        with self._transaction("record a decision") as conn:
            intent_id = self._insert(
                conn, mode, policy, product, account, region, task_id, action, params
            )
            self._upsert_outcome(conn, intent_id, value, code, None, message, uncertain=False)
            return intent_id

    def prune(self, older_than: float) -> int:
        """Delete records (with their outcomes) older than ``older_than`` (UTC epoch); how many.

        Unresolved intents are kept whatever their age: they still need reconciling.
        """
        with self._transaction("prune") as conn:
            cursor = conn.execute(
                "DELETE FROM intents WHERE time < ? AND id IN (SELECT intent_id FROM outcomes)",
                (older_than,),
            )
            return cursor.rowcount

    # -- reads -------------------------------------------------------------------------------

    def get(self, intent_id: int) -> AuditRecord | None:
        """One record by id."""
        rows = self._query("read a record", f"{SELECT} WHERE i.id = ?", (intent_id,))
        return rows[0] if rows else None

    def unresolved(self) -> list[AuditRecord]:
        """Intents without an outcome (a crash between intent and outcome), oldest first."""
        return self._query(
            "list unresolved intents", f"{SELECT} WHERE o.intent_id IS NULL ORDER BY i.id", ()
        )

    def last_action(
        self, account: str, product: str, task_id: str, action: str
    ) -> AuditRecord | None:
        """The latest enforce-mode record of this action on this task, whatever its result."""
        rows = self._query(
            "find the last action",
            f"""{SELECT} WHERE i.account = ? AND i.product = ? AND i.task_id = ? AND i.action = ?
                AND i.mode = 'enforce' ORDER BY i.id DESC LIMIT 1""",
            (account, product, task_id, action),
        )
        return rows[0] if rows else None

    def count_since(self, policy: str, since: float, *, include_dry_run: bool) -> int:
        """Records of ``policy`` since ``since`` (UTC epoch) that count toward its per-hour cap."""
        args = (policy, since, *COUNTED, include_dry_run, Outcome.WOULD.value)
        with self._errors("count actions"), self._lock:
            row = self._connection().execute(COUNT, args).fetchone()
        return int(row[0])

    def recent(self, since: float, *, limit: int | None = None) -> list[AuditRecord]:
        """Records since ``since`` (UTC epoch), newest last; with ``limit``, only the newest."""
        rows = self._query(
            "list recent records",
            f"{SELECT} WHERE i.time >= ? ORDER BY i.id DESC LIMIT ?",
            (since, -1 if limit is None else limit),
        )
        rows.reverse()
        return rows

    def recent_grouped(self, since: float, *, limit: int) -> list[ActionGroup]:
        """Records since ``since`` folded per (policy, task, action, mode, result), newest group
        first: a streak of failed attempts is one row with its count, not ``limit`` rows."""
        with self._errors("list recent records"), self._lock:
            rows = self._connection().execute(GROUPED, (since, limit)).fetchall()
        return [group(row) for row in rows]

    # -- internals ---------------------------------------------------------------------------

    def _query(self, doing: str, sql: str, args: tuple[Any, ...]) -> list[AuditRecord]:
        with self._errors(doing), self._lock:
            rows = self._connection().execute(sql, args).fetchall()
        return [record(row) for row in rows]

    def _insert(
        self,
        conn: sqlite3.Connection,
        mode: Mode,
        policy: str,
        product: str,
        account: str,
        region: str,
        task_id: str,
        action: str,
        params: Mapping[str, Any],
    ) -> int:
        cursor = conn.execute(
            "INSERT INTO intents (time, policy, product, account, region, task_id, action, mode,"
            " params) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._now(),
                policy,
                product,
                account,
                region,
                task_id,
                action,
                mode,
                params_json(params),
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _upsert_outcome(
        self,
        conn: sqlite3.Connection,
        intent_id: int,
        result: Outcome,
        code: str | None,
        request_id: str | None,
        message: str | None,
        *,
        uncertain: bool,
    ) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO outcomes (intent_id, time, result, code, request_id, message,"
            " uncertain) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                intent_id,
                self._now(),
                result.value,
                code,
                request_id,
                None if message is None else message[:MESSAGE_LIMIT],
                int(uncertain or result is Outcome.UNKNOWN),
            ),
        )

    def _now(self) -> float:
        return self._clock.now().timestamp()
