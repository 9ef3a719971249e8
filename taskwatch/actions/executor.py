"""From decisions to actions, safely: grace, caps, fencing, a journal, and never twice.

For each source cycle the executor evaluates the rules of that product over the active tasks (a
pure step), then for each task that has matched for at least its rule's ``grace``:

1. **never twice**: the journal's last record for (account, product, task, action) decides. A done
   or already-done action is not repeated. An intent without outcome (a crash) or an ``unknown``
   outcome (timeout, reset) is *re-described*: if the task ended, the record is resolved as
   ``already_done`` and nothing is sent; only a task that is provably still running and still
   matching is acted on again;
2. **caps** (they hold in dry-run too, so a dry run shows exactly what enforcing would do): the
   kill switch, the global cap per cycle, then the rule's ``per_cycle``, ``per_hour`` (counted in
   the journal) and ``percent`` (of the source's active tasks, at least one);
3. **dry-run** rules record a ``would`` row and stop here;
4. **leadership**: the action gate is asked right before each destructive call;
5. **fence**: the task is re-described and the rule re-evaluated on the fresh observation; a task
   that ended (``already_done``) or no longer matches (``fenced``) is left alone;
6. **intent** (durable) → **call** (sent once) → **outcome**;
7. **again, within the cycle**: a call that failed transiently (throttled past the client's own
   retries, ``InternalError``) or whose outcome is unknown (timeout, reset, HTTP 5xx, a garbled
   answer) is tried again in a later *round* of the same cycle, up to ``attempts`` in all. Each
   round waits first (``retry_after`` when an outcome is unknown, so a call still in flight has
   landed before the fence looks; a short backoff otherwise) and goes through steps 4 to 6 again:
   never blindly, always after re-describing. A permanent error (a bad parameter, a refused
   permission) is not tried again until the next cycle.

Tasks are taken oldest first, so a cap leaves the longest-running offenders acted on first. Caps
count tasks, not attempts: a task's later rounds do not use up its rule's cap again (the kill
switch still stops them).

The journal is used through :class:`~taskwatch.actions.guard.JournalGuard` (a failed read or intent
sends nothing, a failed outcome is still told and written later), and people are told through
:class:`~taskwatch.actions.streaks.FailureStreaks` (a failing action once when it starts and when
it ends).

Not guaranteed: exactly-once at the API. Leases and fencing make a second action very unlikely, but
the API has no idempotency key; what is guaranteed is that taskwatch never sends a second action
while its journal or a fresh observation says the first one may have worked.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

import anyio
import structlog

from taskwatch.actions.guard import JournalGuard
from taskwatch.actions.journal import Journal
from taskwatch.actions.notify import Notifier
from taskwatch.actions.streaks import FailureStreaks, notify, record_of, where_of
from taskwatch.clock import Clock
from taskwatch.errors import StoreError, TaskwatchError
from taskwatch.metrics.registry import Metrics
from taskwatch.models import ACTIONABLE_WHEN_DONE, Outcome, Phase, SourceKey, Task
from taskwatch.policy.engine import matches
from taskwatch.policy.rules import Rule
from taskwatch.products.base import Adapter, CallCounter
from taskwatch.tencent.errors import (
    ApiError,
    ServerError,
    TaskNotActiveError,
    TaskNotFoundError,
    TencentError,
    ThrottledError,
    TransportError,
)

log = structlog.get_logger(__name__)

SETTLED = frozenset({Outcome.DONE.value, Outcome.ALREADY_DONE.value})
IN_DOUBT = frozenset({"intent", Outcome.UNKNOWN.value})
HOUR = 3600.0
IN_DOUBT_HORIZON = 7 * 24 * HOUR
"""How far back unknown outcomes are settled (the MPS task window)."""
BACKOFF = 0.5
"""Wait before a round that only retries calls the API refused (nothing in doubt); doubled per
round."""


@dataclass(frozen=True, slots=True)
class ActionReport:
    """What the executor did with one eligible task in one cycle."""

    policy: str
    task_id: str
    action: str
    result: Outcome
    reason: str = ""
    again: bool = False
    """The call failed transiently or its outcome is unknown: worth another round this cycle."""


@dataclass(slots=True)
class Executor:
    """Applies rules to the tasks of each source cycle."""

    rules: Sequence[Rule]
    journal: Journal
    metrics: Metrics
    clock: Clock
    notifier: Notifier | None = None
    max_per_cycle: int = 20
    paused: bool = False
    may_act: Callable[[], bool] = field(default=lambda: True)
    """Leadership: asked right before every destructive call."""
    attempts: int = 3
    """Calls per task per cycle at most (rounds), the first included."""
    retry_after: float = 5.0
    """Seconds (loop time) before a round that re-describes a task whose last call's outcome is
    unknown: longer than a late answer takes to land, so the fence sees its effect."""
    sleep: Callable[[float], Awaitable[object]] = anyio.sleep
    _first_match: dict[tuple[str, str, str], float] = field(default_factory=dict)
    _would: set[tuple[str, str, str]] = field(default_factory=set)
    """Dry-run decisions already recorded in this match streak (recorded once, like actions)."""
    streaks: FailureStreaks = field(default_factory=FailureStreaks)
    guard: JournalGuard = field(init=False)
    """The journal as the executor uses it; its :meth:`~JournalGuard.view` feeds ``/readyz``."""

    def __post_init__(self) -> None:
        self.guard = JournalGuard(self.journal, self.metrics, self.clock)

    def pause(self) -> None:
        """The kill switch: no action (and no dry-run record) until :meth:`resume`."""
        self.paused = True
        self.metrics.set_actions_paused(True)
        log.warning("actions.paused")

    def resume(self) -> None:
        self.paused = False
        self.metrics.set_actions_paused(False)
        log.warning("actions.resumed")

    def reconcile(self) -> int:
        """At start: intents a crash left without outcome become ``unknown``; the next cycle
        re-describes their tasks before anything is sent again. How many."""
        return self.guard.reconcile()

    async def run(self, adapter: Adapter, tasks: Iterable[Task]) -> list[ActionReport]:
        """Evaluate and act on one source's active tasks (after a successful scan)."""
        source = adapter.source
        rules = [r for r in self.rules if r.product == source.product]
        if not rules:
            return []
        active = list(tasks)
        now = self.clock.now().timestamp()
        self.guard.flush()  # outcomes the journal refused earlier
        await self._settle_in_doubt(adapter, {t.id for t in active}, now)
        pending = self._eligible(rules, active, str(source), now)
        reports: list[ActionReport] = []
        per_rule: Counter[str] = Counter()
        calls = CallCounter()
        refused: StoreError | None = None  # the journal failed: nothing more is tried this cycle
        for round_ in range(1, self.attempts + 1):
            again: list[tuple[Rule, Task]] = []
            in_doubt = False
            for rule, task in pending:
                try:
                    report = await self._one(
                        adapter, rule, task, active, per_rule, sum(per_rule.values()), now,
                        calls, first=round_ == 1, refused=refused,
                    )  # fmt: skip
                except StoreError as exc:
                    refused = exc
                    report = self._refused(source, rule, task, exc, now)
                if report is None:
                    continue
                reports.append(report)
                self.metrics.policy_action(
                    rule.name,
                    rule.action,
                    report.result.value,
                    account=source.account,
                    product=source.product,
                )
                counted = (Outcome.DONE, Outcome.WOULD, Outcome.UNKNOWN, Outcome.FAILED)
                if round_ == 1 and report.result in counted:
                    per_rule[rule.name] += 1
                if report.again:
                    again.append((rule, task))
                    in_doubt |= report.result is Outcome.UNKNOWN
            if not again or round_ == self.attempts:
                break
            pending = again
            wait = self.retry_after if in_doubt else BACKOFF * 2 ** (round_ - 1)
            log.info("action.retry_round", source=str(source), tasks=len(again), wait=wait)
            await self.sleep(wait)
        return reports

    async def _settle_in_doubt(self, adapter: Adapter, listed: set[str], now: float) -> None:
        """Resolve ``unknown`` outcomes whose task left the listing: re-describe it once; a task
        that ended (most likely by that very call) is recorded ``already_done``. Listed tasks are
        settled by the normal path, which re-describes before deciding again."""
        src = adapter.source
        try:
            recent = self.guard.read(self.journal.recent, now - IN_DOUBT_HORIZON)
        except StoreError:
            return  # counted and said; settled at a later cycle
        doubtful = [
            r
            for r in recent
            if r.result == Outcome.UNKNOWN.value
            and (r.account, r.product, r.region) == (src.account, src.product, src.region)
            and r.task_id not in listed
        ]
        for record in doubtful:
            try:
                fresh = await adapter.describe(record.task_id, CallCounter())
            except TaskwatchError:
                return  # try again next cycle
            if fresh is None or (
                fresh.phase is Phase.DONE and src.product not in ACTIONABLE_WHEN_DONE
            ):
                self.guard.outcome(
                    record.id,
                    (record.account, record.product, record.task_id, record.action),
                    result=Outcome.ALREADY_DONE,
                    message="re-described after an unknown outcome: task ended",
                )
                log.info("journal.settled", intent=record.id, task=record.task_id)

    # --- selection ----------------------------------------------------------------------------

    def _eligible(
        self, rules: Sequence[Rule], active: Sequence[Task], source: str, now: float
    ) -> list[tuple[Rule, Task]]:
        seen: set[tuple[str, str, str]] = set()
        out: list[tuple[Rule, Task]] = []
        for task in active:
            for rule in rules:  # `matches` is false where the action cannot work on the task
                if not matches(rule, task, now=now):
                    continue
                key = (rule.name, source, task.id)
                seen.add(key)
                first = self._first_match.setdefault(key, now)
                if first == now:
                    self.metrics.policy_matched(rule.name)
                if now - first >= rule.grace:
                    out.append((rule, task))
        gone = [k for k in self._first_match if k[1] == source and k not in seen]
        for key in gone:
            del self._first_match[key]  # stopped matching: its grace starts over
            self._would.discard(key)
        self.streaks.forget(self.notifier, gone, now, {t.id for t in active})
        out.sort(key=lambda rt: (rt[1].started or rt[1].created or now, rt[1].id))
        return out

    # --- one task -----------------------------------------------------------------------------

    async def _one(
        self,
        adapter: Adapter,
        rule: Rule,
        task: Task,
        active: Sequence[Task],
        per_rule: Counter[str],
        cycle_total: int,
        now: float,
        calls: CallCounter,
        *,
        first: bool = True,
        refused: StoreError | None = None,
    ) -> ActionReport | None:
        """One task's decision. A journal read or intent that fails raises :class:`StoreError`
        (counted by the guard) before anything is sent; ``refused`` is an earlier one."""
        src = adapter.source
        if refused is not None:
            return self._refused(src, rule, task, refused, now)
        action_key = (src.account, src.product, task.id, rule.action)
        if rule.enforce and self.guard.settled(action_key):
            return None  # done, though the journal has not taken the outcome yet
        last = self.guard.read(self.journal.last_action, *action_key) if rule.enforce else None
        if last is not None and last.result in SETTLED:
            return None  # already handled; the listing has not caught up yet
        # A call that may have worked (a crash, a timeout): the fence decides whether it did. A
        # failed call is history, not doubt; its record keeps its code.
        prior = last if last is not None and last.result in IN_DOUBT else None
        streak = (rule.name, str(src), task.id)
        if not rule.enforce and streak in self._would:
            return None  # dry-run: recorded once per match streak, as an action is sent once
        # A later round's task already passed the caps in the first round; only the kill switch
        # stops it now.
        if first:
            cap = self._cap(rule, active, per_rule, cycle_total, now)
        else:
            cap = "paused" if self.paused else None
        if cap:
            log.info("action.capped", policy=rule.name, task=task.id, cap=cap)
            return ActionReport(rule.name, task.id, rule.action, Outcome.SKIPPED_CAP, cap)
        params = adapter.action_params(task.id, operator=rule.operator)
        where = where_of(src, rule, task)
        if not rule.enforce:
            rid = self.guard.write("record", self.journal.would, **where, params=params)
            self._would.add(streak)
            notify(self.notifier, record_of(rid, where, "dry-run", Outcome.WOULD, now))
            log.info("action.would", **where)
            return ActionReport(rule.name, task.id, rule.action, Outcome.WOULD)
        if not self.may_act():
            log.warning("action.not_leader", **where)
            return None
        try:
            fresh = await adapter.describe(task.id, calls)
        except TaskwatchError as exc:
            log.warning("action.fence_failed", error=type(exc).__name__, reason=str(exc), **where)
            return None  # decided again next cycle
        ended = fresh is None or (
            fresh.phase is Phase.DONE and src.product not in ACTIONABLE_WHEN_DONE
        )
        if fresh is None or ended or not matches(rule, fresh, now=self.clock.now().timestamp()):
            result, why = (
                (Outcome.ALREADY_DONE, "task ended")
                if ended
                else (Outcome.FENCED, "no longer matches")
            )
            if ended and prior is not None:
                self.guard.outcome(
                    prior.id,
                    action_key,
                    result=result,
                    message=f"re-described after an unknown outcome: {why}",
                )
            else:
                self.guard.record(
                    self.journal.record,
                    **where,
                    params=params,
                    result=result,
                    mode="enforce",
                    message=f"re-described before acting: {why}",
                )
            log.info(f"action.{result.value}", **where)
            decided = record_of(0, where, "enforce", result, now, message=why)
            self.streaks.settled(self.notifier, streak, decided)
            return ActionReport(rule.name, task.id, rule.action, result, why)
        if not self.may_act():  # leadership may have been lost during the fence
            log.warning("action.not_leader", **where)
            return None
        # Shielded: a stop or a reload must not cancel between the intent and its outcome. The
        # transport's timeouts bound how long this can take.
        with anyio.CancelScope(shield=True):
            intent = self.guard.write("intent", self.journal.intent, **where, params=params)
            result, code, request_id, message, again = await self._call(adapter, rule, task)
            self.guard.outcome(
                intent, action_key, result=result, code=code, request_id=request_id,
                message=message,
            )  # fmt: skip
        if prior is not None:
            self.guard.outcome(
                prior.id,
                action_key,
                result=Outcome.FAILED,
                message=f"superseded by intent {intent}: task was still running",
            )
        told = record_of(
            intent, where, "enforce", result, now, code=code, request_id=request_id, message=message
        )
        self.streaks.outcome(self.notifier, streak, told)
        return ActionReport(rule.name, task.id, rule.action, result, code or "", again)

    def _refused(
        self, src: SourceKey, rule: Rule, task: Task, exc: StoreError, now: float
    ) -> ActionReport:
        """The journal failed before any call: nothing was sent. Told like a failed call."""
        mode = "enforce" if rule.enforce else "dry-run"
        code = type(exc).__name__
        told = record_of(
            0, where_of(src, rule, task), mode, Outcome.FAILED, now, code=code, message=str(exc)
        )
        self.streaks.outcome(self.notifier, (rule.name, str(src), task.id), told)
        return ActionReport(rule.name, task.id, rule.action, Outcome.FAILED, code)

    async def _call(
        self, adapter: Adapter, rule: Rule, task: Task
    ) -> tuple[Outcome, str | None, str | None, str | None, bool]:
        """Send the action once: (result, code, request id, message, worth another round)."""
        try:
            response = await adapter.act(task.id, operator=rule.operator, calls=CallCounter())
        except (TaskNotActiveError, TaskNotFoundError) as exc:
            return Outcome.ALREADY_DONE, exc.code, exc.request_id, exc.message, False
        except (ServerError, ThrottledError) as exc:  # refused for now, not for good
            return Outcome.FAILED, exc.code, exc.request_id, exc.message, True
        except ApiError as exc:
            return Outcome.FAILED, exc.code, exc.request_id, exc.message, False
        except TransportError as exc:
            result = Outcome.UNKNOWN if exc.maybe_executed else Outcome.FAILED
            return result, type(exc).__name__, None, str(exc), True
        except TencentError as exc:
            return Outcome.FAILED, type(exc).__name__, None, str(exc), False
        request_id = response.get("RequestId")
        rid = request_id if isinstance(request_id, str) else None
        return Outcome.DONE, None, rid, None, False

    def _cap(
        self,
        rule: Rule,
        active: Sequence[Task],
        per_rule: Counter[str],
        cycle_total: int,
        now: float,
    ) -> str | None:
        if self.paused:
            return "paused"
        if cycle_total >= self.max_per_cycle:
            return f"global cap of {self.max_per_cycle} per cycle"
        caps = rule.caps
        done = per_rule[rule.name]
        if caps.per_cycle is not None and done >= caps.per_cycle:
            return f"per_cycle {caps.per_cycle}"
        if caps.percent is not None:
            allowed = max(1, math.floor(caps.percent / 100 * len(active)))
            if done >= allowed:
                return f"percent {caps.percent:g}% of {len(active)} active = {allowed}"
        if caps.per_hour is not None:
            used = self.guard.read(
                self.journal.count_since, rule.name, now - HOUR, include_dry_run=not rule.enforce
            )
            if used >= caps.per_hour:
                return f"per_hour {caps.per_hour}"
        return None
