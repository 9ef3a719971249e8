"""The action journal: an intent row before every destructive call, an outcome row after it.

Why: taskwatch may be killed at any instant (SIGKILL, OOM, power loss), and more than one replica
may believe it leads. An intent is committed *before* the API call is sent, so after a crash
:meth:`Journal.unresolved` lists every call that may or may not have reached Tencent Cloud; the
executor re-describes those tasks instead of acting again. The same rows feed the per-hour caps
(:meth:`Journal.count_since`), the "never twice" check (:meth:`Journal.last_action`) and
``taskwatch audit`` (:meth:`Journal.recent`). The kill switch (:meth:`Journal.switch`) and the
leadership term (:meth:`Journal.begin_term`) live here too, so every process sharing a journal
obeys them.

This class is the rows and the rules; a backend opens the database and runs the statements:
:class:`~taskwatch.actions.sqlite.SqliteJournal` (one process, a file) and
:class:`~taskwatch.actions.postgres.PostgresJournal` (replicas sharing one database). Statements
are written once, with ``?`` placeholders, in the SQL both understand (:mod:`taskwatch.actions.
schema`).

Rules the callers rely on:

* **An intent is refused** (:class:`~taskwatch.errors.IntentRefused`, nothing written) while the
  shared kill switch is on (``paused``); when it carries a leadership term that is no longer the
  journal's current one (``term``: a deposed leader's late write); when the policy's ``per_hour``
  cap is reached, counted over every writer in the same transaction (``cap``); and while another
  intent for the same (account, product, task, action) is *live* (``open``: no outcome yet or
  ``unknown``; ``done``: ``done`` or ``already_done``). Live is enforced by a unique index
  (:data:`~taskwatch.actions.schema.LIVE_INDEX`), not by a read before the write, so two writers
  racing cannot both win. An in-doubt intent may be *superseded* (``supersedes=``): closed as
  ``failed`` and replaced in one transaction, once the fence saw the task still running; an
  intent without outcome in a shared journal only when older than ``in_flight`` seconds (younger,
  its writer may still be waiting for the API's answer).
* At most one outcome per intent. The first one stays, except ``unknown``, which a later result
  (from re-describing the task) replaces; the row then stays ``uncertain``. A ``failed`` outcome
  ends the intent's life (a new intent may follow).
* Per-hour caps count what may have acted: enforce intents that are unresolved, ``done`` or
  ``unknown`` (or ever were unknown). ``failed`` calls did nothing and are not counted, nor are
  ``already_done``, ``fenced`` or ``skipped_cap``. Dry-run ``would`` rows count only on request.
* Order is id order everywhere, not time order: the wall clock may step backwards, ids never do.
* Secrets are never stored: params keys that look like credentials are redacted on the way in.
* The task's cost estimate at the decision is written with the intent or ``would`` (NULL: none),
  the spend a ``done`` action saved with its outcome: estimates from list prices, never a bill.

Not guaranteed: that an outcome is refused for a deposed leader (the call was made; its outcome
is the truth and is kept); that a pause stops a call whose intent was already written (it is in
flight and finishes); exactly-once at the API (it has no idempotency key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from taskwatch.actions.backend import IN_FLIGHT, Connection
from taskwatch.actions.controls import REASON_LIMIT, SharedControls, who
from taskwatch.actions.schema import (
    COUNT,
    COUNTED,
    GROUPED,
    GROUPED_BEFORE_COSTS,
    INSERT,
    SELECT,
    SELECT_BEFORE_COSTS,
    group,
    params_json,
    record,
)
from taskwatch.cost import Estimate
from taskwatch.errors import IntentRefused, StoreError
from taskwatch.models import ActionGroup, AuditRecord, Outcome

__all__ = ["IN_FLIGHT", "ActionGroup", "Journal", "Mode"]

Mode = Literal["enforce", "dry-run"]

MESSAGE_LIMIT: Final = REASON_LIMIT
"""Outcome messages are cut to this many characters."""
_DRY_RUN_RESULTS: Final = frozenset(
    {Outcome.WOULD, Outcome.SKIPPED_CAP, Outcome.FENCED, Outcome.ALREADY_DONE}
)
_ENDS_LIFE: Final = frozenset({Outcome.FAILED})
"""Outcomes after which an intent no longer blocks a new one: it did nothing."""
_LIVE = """SELECT i.id, i.time, o.result FROM intents i LEFT JOIN outcomes o ON o.intent_id = i.id
    WHERE i.account = ? AND i.product = ? AND i.task_id = ? AND i.action = ? AND i.live = 1"""


class Journal(SharedControls):
    """The action journal over some database; see the module docstring. Methods are synchronous,
    each one short transaction; a backend serialises use by threads with a lock."""

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
        term: int | None = None,
        per_hour: tuple[int, float] | None = None,
        supersedes: int | None = None,
        estimate: Estimate | None = None,
    ) -> int:
        """Record that an action is about to be sent; durable when this returns. Its id.

        ``term``: the writer's leadership term (None: no election). ``per_hour``: (cap, since)
        of the policy. ``supersedes``: the in-doubt intent the fence found still running.
        ``estimate``: the task's cost estimate now.
        Raises :class:`IntentRefused` (see the module docstring) and writes nothing then.
        """
        key = (account, product, task_id, action)
        with self._transaction("record an intent") as conn:
            self._lock(conn, "switch", shared=True)
            switch = self._switch(conn)
            if switch.paused:
                raise IntentRefused("paused", f"actions are paused ({who(switch)})")
            if term is not None:
                self._lock(conn, "term", shared=True)
                current = self._term(conn)
                if current != term:
                    raise IntentRefused(
                        "term", f"leadership term {term} is over (the journal is at {current})"
                    )
            if per_hour is not None:
                cap, since = per_hour
                self._lock(conn, f"cap:{policy}", shared=False)
                if self._count(conn, policy, since, include_dry_run=False) >= cap:
                    raise IntentRefused("cap", f"per_hour {cap} of {policy} reached")
            live = conn.execute(_LIVE, key).fetchone()
            if live is not None and live[0] == supersedes:
                self._lock(conn, f"intent:{live[0]}", shared=False)  # no outcome lands meanwhile
                live = conn.execute(_LIVE, key).fetchone()
            if live is not None:
                self._may_supersede(live, supersedes, task_id, action)
                conn.execute("UPDATE intents SET live = 0 WHERE id = ?", (live[0],))
            intent_id = self._insert(
                conn, "enforce", policy, product, account, region, task_id, action, params,
                term=term, live=True, estimate=estimate,
            )  # fmt: skip
            if live is not None:
                self._upsert_outcome(
                    conn, live[0], Outcome.FAILED, None, None,
                    f"superseded by intent {intent_id}: task was still running",
                    uncertain=live[2] is not None,
                )  # fmt: skip
            return intent_id

    def outcome(
        self,
        intent_id: int,
        *,
        result: Outcome | str,
        code: str | None = None,
        request_id: str | None = None,
        message: str | None = None,
        saved: float | None = None,
    ) -> bool:
        """Record what became of an intent. ``False``: it already had a final outcome (kept).

        ``unknown`` may be replaced by a later result; any other outcome is final. ``saved``:
        the spend a ``done`` action saved, onto the intent's ``cost_saved``.
        """
        value = Outcome(result)
        if value is Outcome.WOULD:
            raise ValueError("'would' is recorded with would(), not as the outcome of an intent")
        with self._transaction(f"record the outcome of intent {intent_id}") as conn:
            self._lock(conn, f"intent:{intent_id}", shared=False)  # one settles it at a time
            if conn.execute("SELECT 1 FROM intents WHERE id = ?", (intent_id,)).fetchone() is None:
                raise StoreError(f"{self.target}: no intent {intent_id}", path=self.target)
            previous = conn.execute(
                "SELECT result FROM outcomes WHERE intent_id = ?", (intent_id,)
            ).fetchone()
            if previous is not None and previous[0] != Outcome.UNKNOWN.value:
                return False
            self._upsert_outcome(
                conn, intent_id, value, code, request_id, message, uncertain=previous is not None
            )
            if value in _ENDS_LIFE:
                conn.execute("UPDATE intents SET live = 0 WHERE id = ?", (intent_id,))
            if saved is not None:
                conn.execute("UPDATE intents SET cost_saved = ? WHERE id = ?", (saved, intent_id))
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
        estimate: Estimate | None = None,
    ) -> int:
        """Dry-run: record that the action would have been sent (intent and outcome at once),
        with the task's cost ``estimate`` now."""
        return self.record(
            policy=policy, product=product, account=account, region=region, task_id=task_id,
            action=action, params=params, result=Outcome.WOULD, mode="dry-run", estimate=estimate,
        )  # fmt: skip

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
        estimate: Estimate | None = None,
    ) -> int:
        """A decision that never reached the API (skipped by a cap, fenced, already done), or a
        dry-run one: intent and outcome in one transaction, so the audit is complete. Its id.
        Never live: it blocks no intent.

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
                conn, mode, policy, product, account, region, task_id, action, params,
                term=None, live=False, estimate=estimate,
            )  # fmt: skip
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
            # a streak older than the retention restarts its grace after a restart: the safe way
            conn.execute("DELETE FROM grace_streaks WHERE since < ?", (older_than,))
            return int(cursor.rowcount)

    # -- reads -------------------------------------------------------------------------------

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
        before = self._now() - self.in_flight if self.shared else None
        return self.unresolved(before=before)

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

    def _may_supersede(
        self, live: tuple[Any, ...], supersedes: int | None, task_id: str, action: str
    ) -> None:
        """Refuse a new intent beside a live one unless it supersedes that one, in doubt."""
        live_id, written, result = live[0], float(live[1]), live[2]
        what = f"{action} of {task_id}"
        if result in (Outcome.DONE.value, Outcome.ALREADY_DONE.value):
            raise IntentRefused("done", f"intent {live_id} already did the {what}")
        if supersedes != live_id:
            raise IntentRefused("open", f"intent {live_id} for the {what} is still open")
        in_flight = result is None and self.shared and written > self._now() - self.in_flight
        if in_flight:
            raise IntentRefused("open", f"intent {live_id} for the {what} may be in flight")

    def _insert(
        self,
        conn: Connection,
        mode: Mode,
        policy: str,
        product: str,
        account: str,
        region: str,
        task_id: str,
        action: str,
        params: Mapping[str, Any],
        *,
        term: int | None,
        live: bool,
        estimate: Estimate | None,
    ) -> int:
        e = estimate
        cost = (None,) * 3 if e is None else (e.so_far, e.per_hour, e.currency)
        row = conn.execute(
            INSERT,
            (
                self._now(), policy, product, account, region, task_id, action, mode,
                params_json(params), term, int(live), *cost,
            ),
        ).fetchone()  # fmt: skip
        return int(row[0])

    def _upsert_outcome(
        self,
        conn: Connection,
        intent_id: int,
        result: Outcome,
        code: str | None,
        request_id: str | None,
        message: str | None,
        *,
        uncertain: bool,
    ) -> None:
        conn.execute(
            "INSERT INTO outcomes (intent_id, time, result, code, request_id, message, uncertain)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (intent_id) DO UPDATE SET"
            " time = excluded.time, result = excluded.result, code = excluded.code,"
            " request_id = excluded.request_id, message = excluded.message,"
            " uncertain = excluded.uncertain",
            (
                intent_id, self._now(), result.value, code, request_id,
                None if message is None else message[:MESSAGE_LIMIT],
                int(uncertain or result is Outcome.UNKNOWN),
            ),
        )  # fmt: skip
