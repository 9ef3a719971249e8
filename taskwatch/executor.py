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

from taskwatch.clock import Clock
from taskwatch.errors import TaskwatchError
from taskwatch.metrics import Metrics
from taskwatch.models import ACTIONABLE_WHEN_DONE, AuditRecord, Outcome, Phase, Task
from taskwatch.notify import Notifier
from taskwatch.policy.engine import matches
from taskwatch.policy.rules import Rule
from taskwatch.products.base import Adapter, CallCounter
from taskwatch.store import Journal
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
        re-describes their tasks before anything is sent again."""
        stale = self.journal.unresolved()
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

    async def run(self, adapter: Adapter, tasks: Iterable[Task]) -> list[ActionReport]:
        """Evaluate and act on one source's active tasks (after a successful scan)."""
        source = adapter.source
        rules = [r for r in self.rules if r.product == source.product]
        if not rules:
            return []
        active = list(tasks)
        now = self.clock.now().timestamp()
        await self._settle_in_doubt(adapter, {t.id for t in active}, now)
        pending = self._eligible(rules, active, str(source), now)
        reports: list[ActionReport] = []
        per_rule: Counter[str] = Counter()
        calls = CallCounter()
        for round_ in range(1, self.attempts + 1):
            again: list[tuple[Rule, Task]] = []
            in_doubt = False
            for rule, task in pending:
                report = await self._one(
                    adapter, rule, task, active, per_rule, sum(per_rule.values()), now, calls,
                    first=round_ == 1,
                )  # fmt: skip
                if report is None:
                    continue
                reports.append(report)
                self.metrics.policy_action(rule.name, rule.action, report.result.value)
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
        doubtful = [
            r
            for r in self.journal.recent(now - IN_DOUBT_HORIZON)
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
                self.journal.outcome(
                    record.id,
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
        for key in [k for k in self._first_match if k[1] == source and k not in seen]:
            del self._first_match[key]  # stopped matching: its grace starts over
            self._would.discard(key)
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
    ) -> ActionReport | None:
        src = adapter.source
        last = (
            self.journal.last_action(src.account, src.product, task.id, rule.action)
            if rule.enforce
            else None
        )
        if last is not None and last.result in SETTLED:
            return None  # already handled; the listing has not caught up yet
        # A call that may have worked (a crash, a timeout): the fence decides whether it did. A
        # failed call is history, not doubt; its record keeps its code.
        prior = last if last is not None and last.result in IN_DOUBT else None
        if not rule.enforce and (rule.name, str(src), task.id) in self._would:
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
        where = {
            "policy": rule.name,
            "product": src.product,
            "account": src.account,
            "region": src.region,
            "task_id": task.id,
            "action": rule.action,
        }
        if not rule.enforce:
            self._would.add((rule.name, str(src), task.id))
            rid = self.journal.would(**where, params=params)
            self._notify(rid, where, "dry-run", Outcome.WOULD, now)
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
        if fresh is None or (fresh.phase is Phase.DONE and src.product not in ACTIONABLE_WHEN_DONE):
            if prior is not None:
                self.journal.outcome(
                    prior.id,
                    result=Outcome.ALREADY_DONE,
                    message="re-described after an unknown outcome: task ended",
                )
            else:
                self.journal.record(
                    **where,
                    params=params,
                    result=Outcome.ALREADY_DONE,
                    mode="enforce",
                    message="re-described before acting: task ended",
                )
            log.info("action.already_done", **where)
            return ActionReport(rule.name, task.id, rule.action, Outcome.ALREADY_DONE, "ended")
        if not matches(rule, fresh, now=self.clock.now().timestamp()):
            self.journal.record(
                **where,
                params=params,
                result=Outcome.FENCED,
                mode="enforce",
                message="re-described before acting: no longer matches",
            )
            log.info("action.fenced", **where)
            return ActionReport(
                rule.name, task.id, rule.action, Outcome.FENCED, "no longer matches"
            )
        if not self.may_act():  # leadership may have been lost during the fence
            log.warning("action.not_leader", **where)
            return None
        # Shielded: a stop or a reload must not cancel between the intent and its outcome. The
        # transport's timeouts bound how long this can take.
        with anyio.CancelScope(shield=True):
            intent = self.journal.intent(**where, params=params)
            result, code, request_id, message, again = await self._call(adapter, rule, task)
            self.journal.outcome(
                intent, result=result, code=code, request_id=request_id, message=message
            )
        if prior is not None:
            self.journal.outcome(
                prior.id,
                result=Outcome.FAILED,
                message=f"superseded by intent {intent}: task was still running",
            )
        log.warning("action", result=result.value, code=code, request_id=request_id, **where)
        self._notify(
            intent, where, "enforce", result, now, code=code, request_id=request_id, message=message
        )
        return ActionReport(rule.name, task.id, rule.action, result, code or "", again)

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
            used = self.journal.count_since(rule.name, now - HOUR, include_dry_run=not rule.enforce)
            if used >= caps.per_hour:
                return f"per_hour {caps.per_hour}"
        return None

    def _notify(
        self,
        record_id: int,
        where: dict[str, str],
        mode: str,
        result: Outcome,
        now: float,
        *,
        code: str | None = None,
        request_id: str | None = None,
        message: str | None = None,
    ) -> None:
        if self.notifier is None:
            return
        self.notifier.notify(
            AuditRecord(
                id=record_id,
                time=now,
                mode=mode,
                result=result.value,
                code=code,
                request_id=request_id,
                message=message,
                policy=where["policy"],
                product=where["product"],
                account=where["account"],
                region=where["region"],
                task_id=where["task_id"],
                action=where["action"],
            )
        )
