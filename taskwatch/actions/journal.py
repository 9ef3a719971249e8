"""The action journal: an intent row before every destructive call, an outcome row after it.

Why: taskwatch may be killed at any instant (SIGKILL, OOM, power loss), and more than one replica
may believe it leads. An intent is committed *before* the API call is sent, so after a crash
:meth:`Journal.unresolved` lists every call that may or may not have reached Tencent Cloud; the
executor re-describes those tasks instead of acting again. The same rows feed the per-hour caps
(:meth:`Journal.count_since`), the "never twice" check (:meth:`Journal.last_action`) and
``taskwatch audit`` (:meth:`Journal.recent`). The kill switch (:meth:`Journal.switch`) and the
leadership terms, one per shard (:meth:`Journal.begin_term`), live here too, so every process
sharing a journal obeys them.

This class is the rows and the rules (its reads are :mod:`taskwatch.actions.reads`'); a backend
opens the database and runs the statements: :class:`~taskwatch.actions.sqlite.SqliteJournal` (one
process, a file) and :class:`~taskwatch.actions.postgres.PostgresJournal` (replicas sharing one
database). Statements are written once, with ``?`` placeholders, in the SQL both understand
(:mod:`taskwatch.actions.schema`).

Rules the callers rely on:

* **An intent is refused** (:class:`~taskwatch.errors.IntentRefused`, nothing written) while the
  shared kill switch is on (``paused``); when it carries a leadership term that is no longer its
  shard's current one (``term``: a deposed leader's late write; shard 0 without sharding); when
  the policy's ``per_hour`` cap is reached, counted over every writer in the same transaction
  (``cap``); and while another intent for the same (account, product, task, action) is *live*
  (``open``: no outcome yet or ``unknown``; ``done``: ``done`` or ``already_done``). Live is
  enforced by a unique index (:data:`~taskwatch.actions.schema.LIVE_INDEX`), not by a read
  before the write, so two writers racing cannot both win. An in-doubt intent may be
  *superseded* (``supersedes=``): closed as ``failed`` and replaced in one transaction, once the
  fence saw the task still running; an intent without outcome in a shared journal only when
  older than ``in_flight`` seconds (younger, its writer may still be waiting for the API's
  answer).
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
from taskwatch.actions.controls import REASON_LIMIT, term_lock, valid_shard, who
from taskwatch.actions.reads import JournalReads
from taskwatch.actions.schema import INSERT, params_json
from taskwatch.cost import Estimate
from taskwatch.errors import IntentRefused, StoreError
from taskwatch.models import ActionGroup, Outcome

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


class Journal(JournalReads):
    """The action journal over some database; see the module docstring. Methods are synchronous,
    each one short transaction; a backend serialises use by threads with a lock. The reads
    (:meth:`get`, :meth:`unresolved`, :meth:`recent` …) are :class:`~taskwatch.actions.reads.
    JournalReads`'."""

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
        shard: int = 0,
        per_hour: tuple[int, float] | None = None,
        supersedes: int | None = None,
        estimate: Estimate | None = None,
    ) -> int:
        """Record that an action is about to be sent; durable when this returns. Its id.

        ``term``: the writer's leadership term of ``shard`` (the account's shard; 0 unsharded),
        None without election; the shard is recorded with the intent either way.
        ``per_hour``: (cap, since) of the policy. ``supersedes``: the in-doubt intent the fence
        found still running. ``estimate``: the task's cost estimate now.
        Raises :class:`IntentRefused` (see the module docstring) and writes nothing then.
        """
        key, shard = (account, product, task_id, action), valid_shard(shard)
        with self._transaction("record an intent") as conn:
            self._lock(conn, "switch", shared=True)
            switch = self._switch(conn)
            if switch.paused:
                raise IntentRefused("paused", f"actions are paused ({who(switch)})")
            if term is not None:
                self._lock(conn, term_lock(shard), shared=True)
                current = self._term(conn, shard)
                if current != term:
                    of = f" of shard {shard}" if shard else ""
                    raise IntentRefused(
                        "term", f"leadership term {term}{of} is over (the journal is at {current})"
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
                shard=shard, term=term, live=True, estimate=estimate,
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
                shard=0, term=None, live=False, estimate=estimate,
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

    # -- internals ---------------------------------------------------------------------------

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
        if result is None and self.may_be_in_flight(written):
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
        shard: int,
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
                params_json(params), shard, term, int(live), *cost,
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
