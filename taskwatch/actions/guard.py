"""The executor's journal, guarded: a failed read or write is counted, said once, shown on
``/readyz``, and never lets through an action that could not be recorded.

Why: the journal is what makes actions safe (an intent before every call, "never twice" from the
last record). A journal that cannot be written (a full disk, a filesystem remounted read-only, a
damaged page) used to show only as a crashed cycle with a traceback: the cycle counted as ok, no
metric moved, the probes stayed 200, the rest of the source's actions were dropped without a
word, and a call that had worked left no log line, no request id and no webhook.

What happens now, by operation (the ``operation`` label of ``taskwatch_journal_errors_total``):

* ``read`` (the last record of a task, the per-hour count, the unknowns to settle) and ``intent``
  fail closed: the guard counts, then re-raises, and the executor sends nothing for that task and
  reports it ``failed`` (code ``StoreError``);
* ``outcome`` (the call was made): :meth:`JournalGuard.outcome` never raises. The outcome is kept
  in memory and written by :meth:`JournalGuard.flush` at the start of the next cycle; until then a
  kept ``done`` or ``already_done`` still means "never twice" (:meth:`JournalGuard.settled`), and
  a kept failure leaves the intent in doubt, which the fence settles by re-describing the task;
* ``record`` (a ``would``, ``fenced`` or ``already_done`` decision that sent nothing): counted;
  only the audit line is lost.

The first failure of a streak is logged at error (``journal.failing``, with the operation and
SQLite's reason), later ones are only counted, and the first successful write after it is logged
at warning (``journal.recovered``, with how many failed). While failing, :meth:`JournalGuard.view`
reports ``writable: false`` and the supervisor's readiness is false. Readiness, not health: a
restart does not free a disk or remount a filesystem, and a restart loop would stop the scans and
metrics too, while an unready pod shows in ``kubectl get pods``, stops a rolling update from
replacing a working replica, and ``/readyz`` says why.

Not guaranteed: kept outcomes survive a restart (they live in memory: after a restart their
intents are reconciled as ``unknown`` and their tasks re-described, as after a crash); the state
clears at the next successful write, so while nothing needs writing it stays as it was.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, ParamSpec, TypeVar

import anyio
import structlog

from taskwatch.actions.journal import Journal
from taskwatch.clock import Clock
from taskwatch.errors import StoreError
from taskwatch.metrics.registry import Metrics
from taskwatch.models import Outcome

log = structlog.get_logger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
Operation = Literal["read", "intent", "outcome", "record"]
ActionKey = tuple[str, str, str, str]
"""(account, product, task id, action): what "never twice" is about."""
SETTLED = frozenset({Outcome.DONE, Outcome.ALREADY_DONE})


@dataclass(frozen=True, slots=True)
class _Kept:
    """An outcome the journal refused, waiting to be written."""

    key: ActionKey
    result: Outcome
    code: str | None
    request_id: str | None
    message: str | None
    saved: float | None = None


@dataclass(slots=True)
class JournalGuard:
    """Wraps the executor's journal calls; see the module docstring."""

    journal: Journal
    metrics: Metrics
    clock: Clock
    failing_since: float | None = None
    """UTC epoch seconds of the first failure of the current streak; ``None`` while writable."""
    errors: int = 0
    """Failures in the current streak."""
    last_error: str | None = None
    _kept: dict[int, _Kept] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failing_since is None

    def reconcile(self) -> int:
        """At start: intents a crash left without outcome become ``unknown`` (their tasks are
        re-described before anything is sent again); how many. In a shared journal only those
        older than its ``in_flight`` (another replica may be waiting on a younger one). A
        failure here raises: a journal that cannot be written at start stops the start."""
        stale = self.journal.reconcilable()
        for record in stale:
            self.journal.outcome(
                record.id,
                result=Outcome.UNKNOWN,
                message="taskwatch stopped before the outcome was recorded",
            )
            log.warning(
                "journal.reconciled",
                intent=record.id,
                policy=record.policy,
                task=record.task_id,
                action=record.action,
            )
        return len(stale)

    async def read(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)``, a journal read: a failure is counted and re-raised."""
        try:
            return await self._call(fn, *args, **kwargs)
        except StoreError as exc:
            self.failed("read", exc)
            raise

    async def write(
        self, operation: Operation, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``fn(*args, **kwargs)``, a journal write: a failure is counted and re-raised, a
        success ends a failure streak."""
        try:
            value = await self._call(fn, *args, **kwargs)
        except StoreError as exc:
            self.failed(operation, exc)
            raise
        self._wrote()
        return value

    async def record(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T | None:
        """``fn(*args, **kwargs)``, a decision that sent nothing (``would`` aside): a failure is
        counted and ``None`` returned; only the audit line is lost."""
        try:
            return await self.write("record", fn, *args, **kwargs)
        except StoreError:
            return None

    async def _call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A shared journal's calls run in a worker thread: a network round trip, and seconds
        while the database is unreachable, must not stall the loop (probes, metrics, scans). A
        local SQLite file is called on the loop: micro- to milliseconds, fsync included."""
        if not self.journal.shared:
            return fn(*args, **kwargs)
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    async def outcome(
        self,
        intent_id: int,
        key: ActionKey,
        *,
        result: Outcome,
        code: str | None = None,
        request_id: str | None = None,
        message: str | None = None,
        saved: float | None = None,
    ) -> bool:
        """Record an outcome (``saved``: the spend a ``done`` action saved), or keep it for
        :meth:`flush`. Never raises; whether it was written."""
        kept = _Kept(key, result, code, request_id, message, saved)
        try:
            await self._write_kept(intent_id, kept)
        except StoreError:
            self._kept[intent_id] = kept
            return False
        return True

    async def flush(self) -> None:
        """Write the outcomes the journal refused earlier, oldest first, until one fails."""
        for intent_id, kept in list(self._kept.items()):
            try:
                await self._write_kept(intent_id, kept)
            except StoreError:
                return
            del self._kept[intent_id]

    def keeps(self, intent_id: int) -> bool:
        """Whether this process made the call of ``intent_id`` and keeps its outcome unwritten."""
        return intent_id in self._kept

    def settled(self, key: ActionKey) -> bool:
        """Whether a kept outcome already says this action was done (or had nothing to do)."""
        return any(k.key == key and k.result in SETTLED for k in self._kept.values())

    def failed(self, operation: Operation, exc: StoreError) -> None:
        """Count one failure; the first of a streak is logged."""
        self.metrics.journal_error(operation)
        self.errors += 1
        self.last_error = str(exc)
        if self.failing_since is None:
            self.failing_since = self.clock.now().timestamp()
            log.error("journal.failing", operation=operation, error=str(exc))

    def view(self) -> dict[str, Any]:
        """What ``/readyz`` shows of the journal."""
        return {
            "writable": self.ok,
            "failing_since": self.failing_since,
            "errors": self.errors,
            "last_error": self.last_error,
            "unwritten_outcomes": len(self._kept),
        }

    async def _write_kept(self, intent_id: int, kept: _Kept) -> None:
        await self.write(
            "outcome",
            self.journal.outcome,
            intent_id,
            result=kept.result,
            code=kept.code,
            request_id=kept.request_id,
            message=kept.message,
            saved=kept.saved,
        )

    def _wrote(self) -> None:
        if self.failing_since is None:
            return
        failing_for = max(0.0, self.clock.now().timestamp() - self.failing_since)
        log.warning("journal.recovered", errors=self.errors, failing_for=round(failing_for, 3))
        self.failing_since, self.errors, self.last_error = None, 0, None
