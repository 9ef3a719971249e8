"""One enforced action, never blindly: fence, durable intent, one call, outcome.

Why apart from the executor: this is the only code that sends a destructive call, and what it must
do around that call does not depend on caps, rounds or which cycle runs it. For one decision that
passed the executor's gate (never twice, caps, dry-run):

1. **leadership**: the action gate is asked right before the fence and again right after it;
2. **fence**: the task is re-described and the rule re-evaluated by the engine on the fresh
   observation; a task that ended is ``already_done``, one the rule no longer decides on is
   ``fenced``, and nothing is sent. A fence whose describe fails sends nothing either; the task is
   decided again next cycle. A task *presumed* active past the API's windows
   (``Task.unobserved_since``, :mod:`taskwatch.tracker`) cannot be re-described: the API's "not
   found" is then no proof of an end, and the fence re-evaluates its last observation instead;
   the call's answer settles it (``already_done`` when it had ended);
3. **intent** (durable) → **call** (sent once) → **outcome**, shielded from cancellation: a stop or
   a reload never falls between an intent and its outcome (the transport's timeouts bound how
   long that takes). The intent carries this replica's leadership term and the rule's
   ``per_hour`` cap, and the journal refuses it (:class:`~taskwatch.errors.IntentRefused`: nothing
   is sent) while paused, for an ended term, at the cap counted over every writer, or beside
   another writer's live intent for the task;
4. a prior intent whose outcome was in doubt is closed: ``already_done`` if the fence saw the task
   ended, else ``failed`` ("superseded") by the new intent, in the same transaction;
5. **saved spend**: the intent carries the task's cost estimate on the fresh observation, at the
   instant the intent is written (the rule's pricer). A ``done`` outcome adds what the action
   saved: the estimate's rate times the time the task would still have run (the estimate's
   ``remaining_hours``: a Live EndTime, a transcode's progress; else the rule's
   ``assume_runs_for``), to ``taskwatch_actions_saved_cost_total`` and the intent's ``cost_saved``;
   when that time is unknown the rate goes to ``taskwatch_actions_saved_cost_per_hour_total``
   and ``cost_saved`` stays NULL. A task without an estimate saves nothing countable.

:func:`call_once` sorts what the API answered: ``already_done`` (the task is not active or not
found), ``failed`` worth another round (throttled past the client's own retries, an
``InternalError``) or not (any other API error), ``unknown`` worth another round (timeout, reset,
HTTP 5xx: the call may have worked).

:meth:`Actor.settle` settles ``unknown`` outcomes whose task left the listing, by the same
re-describe.

Not guaranteed: exactly-once at the API (it has no idempotency key); only that no second call is
sent while the journal or a fresh observation says the first one may have worked. For a presumed
task no observation can say it: after an unknown outcome the call is sent again, and that answer
is the only observation there is (MPS refuses a second Abort with ``NotProcessingTask``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from taskwatch.actions.caps import HOUR
from taskwatch.actions.guard import JournalGuard
from taskwatch.actions.journal import Journal
from taskwatch.actions.notify import Notifier
from taskwatch.actions.streaks import FailureStreaks, record_of, where_of
from taskwatch.clock import Clock
from taskwatch.cost import Estimate
from taskwatch.errors import IntentRefused, StoreError, TaskwatchError
from taskwatch.metrics.registry import Metrics
from taskwatch.models import ACTIONABLE_WHEN_DONE, AuditRecord, Decision, Outcome, Phase, Task
from taskwatch.policy.engine import evaluate
from taskwatch.policy.grace import StreakKey
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

HOUR_S = 3600.0
IN_DOUBT_HORIZON = 7 * 24 * 3600.0
"""How far back unknown outcomes are settled (the MPS task window)."""
_DOUBT = {Outcome.UNKNOWN.value: "an unknown outcome", "intent": "an intent without outcome"}


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


@dataclass(frozen=True, slots=True)
class Called:
    """What one call of the product's action came to."""

    result: Outcome
    code: str | None = None
    request_id: str | None = None
    message: str | None = None
    again: bool = False
    """Worth another round this cycle (after re-describing)."""


def saved_spend(estimate: Estimate, assume_runs_for: float | None) -> float | None:
    """What stopping the task saves: its rate times the hours it would still have run (the
    estimate's, else ``assume_runs_for`` seconds); ``None`` when that time is unknown."""
    hours = estimate.remaining_hours
    if hours is None and assume_runs_for is not None:
        hours = assume_runs_for / HOUR_S
    return None if hours is None else estimate.per_hour * max(0.0, hours)


def ended(product: str, fresh: Task | None, last: Task | None = None) -> bool:
    """Whether a fresh observation says the task is over for its product's action (gone, or done
    where done tasks cannot be acted on). Gone is no proof when ``last``, the task's last
    observation, is presumed active past the API's windows: the API cannot show it."""
    if fresh is None:
        return last is None or last.unobserved_since is None
    return fresh.phase is Phase.DONE and product not in ACTIONABLE_WHEN_DONE


async def call_once(adapter: Adapter, rule: Rule, task_id: str) -> Called:
    """Send the action once and sort the answer (see the module docstring)."""
    try:
        response = await adapter.act(task_id, operator=rule.operator, calls=CallCounter())
    except (TaskNotActiveError, TaskNotFoundError) as exc:
        return Called(Outcome.ALREADY_DONE, exc.code, exc.request_id, exc.message)
    except (ServerError, ThrottledError) as exc:  # refused for now, not for good
        return Called(Outcome.FAILED, exc.code, exc.request_id, exc.message, again=True)
    except ApiError as exc:
        return Called(Outcome.FAILED, exc.code, exc.request_id, exc.message)
    except TransportError as exc:
        result = Outcome.UNKNOWN if exc.maybe_executed else Outcome.FAILED
        return Called(result, type(exc).__name__, None, str(exc), again=True)
    except TencentError as exc:
        return Called(Outcome.FAILED, type(exc).__name__, None, str(exc))
    request_id = response.get("RequestId")
    return Called(Outcome.DONE, request_id=request_id if isinstance(request_id, str) else None)


@dataclass(slots=True)
class Actor:
    """Sends the enforced actions of one executor; see the module docstring."""

    guard: JournalGuard
    journal: Journal
    clock: Clock
    streaks: FailureStreaks
    metrics: Metrics

    async def enforce(
        self,
        adapter: Adapter,
        rule: Rule,
        decision: Decision,
        *,
        prior: AuditRecord | None,
        calls: CallCounter,
        notifier: Notifier | None,
        may_act: Callable[[], bool],
        now: float,
        term: Callable[[], int | None] = lambda: None,
        shard: int = 0,
    ) -> ActionReport | None:
        """Fence and act on ``decision`` (of ``rule``); ``prior`` is the journal's in-doubt
        record of the same action, if any; ``shard``: the shard of the task's account, whose
        term ``term`` gives (0 when accounts are not sharded). ``None``: nothing decided
        (leadership lost, or the fence could not describe the task). A failed intent raises
        :class:`StoreError` before anything is sent."""
        src, task = adapter.source, decision.task
        where = where_of(src, rule, task)
        params = adapter.action_params(task.id, operator=rule.operator)
        if not may_act():
            log.warning("action.not_leader", **where)
            return None
        try:
            fresh = await adapter.describe(task.id, calls)
        except TaskwatchError as exc:
            log.warning("action.fence_failed", error=type(exc).__name__, reason=str(exc), **where)
            return None  # decided again next cycle
        action_key = (src.account, src.product, task.id, rule.action)
        streak: StreakKey = (rule.name, str(src), task.id)
        gone = ended(src.product, fresh, task)
        fresh = task if fresh is None and not gone else fresh  # presumed: its last observation
        if fresh is None or gone or not evaluate([rule], fresh, now=self.clock.now().timestamp()):
            result, why = (
                (Outcome.ALREADY_DONE, "task ended")
                if gone
                else (Outcome.FENCED, "no longer matches")
            )
            if gone and prior is not None:
                await self.guard.outcome(
                    prior.id,
                    action_key,
                    result=result,
                    message=f"re-described after an unknown outcome: {why}",
                )
            else:
                await self.guard.record(
                    self.journal.record,
                    **where,
                    params=params,
                    result=result,
                    mode="enforce",
                    message=f"re-described before acting: {why}",
                    estimate=None,
                )
            log.info(f"action.{result.value}", **where)
            decided = record_of(0, where, "enforce", result, now, message=why)
            self.streaks.settled(notifier, streak, decided)
            return ActionReport(rule.name, task.id, rule.action, result, why)
        if not may_act():  # leadership may have been lost during the fence
            log.warning("action.not_leader", **where)
            return None
        cap = rule.caps.per_hour
        estimate = rule.pricer.estimate(fresh, self.clock.now().timestamp())
        with anyio.CancelScope(shield=True):

            def write_intent() -> int:  # the term too is read where the journal is called
                return self.journal.intent(
                    **where, params=params, term=term(), shard=shard,
                    per_hour=None if cap is None else (cap, now - HOUR),
                    supersedes=None if prior is None else prior.id, estimate=estimate,
                )  # fmt: skip

            try:
                intent = await self.guard.write("intent", write_intent)
            except IntentRefused as refusal:
                return await self._refused(refusal, rule, task.id, where, params)
            called = await call_once(adapter, rule, task.id)
            saved = self._saved(rule, estimate) if called.result is Outcome.DONE else None
            await self.guard.outcome(
                intent, action_key, result=called.result, code=called.code,
                request_id=called.request_id, message=called.message, saved=saved,
            )  # fmt: skip
        told = record_of(
            intent, where, "enforce", called.result, now, code=called.code,
            request_id=called.request_id, message=called.message,
        )  # fmt: skip
        self.streaks.outcome(notifier, streak, told)
        return ActionReport(
            rule.name, task.id, rule.action, called.result, called.code or "", called.again
        )

    def _saved(self, rule: Rule, estimate: Estimate | None) -> float | None:
        """Count what a done action saved (see the module docstring); the figure for the
        journal, ``None`` when it is not known."""
        if estimate is None:
            return None
        saved = saved_spend(estimate, rule.assume_runs_for)
        self.metrics.action_saved(rule.name, estimate.currency, saved, estimate.per_hour)
        log.info(
            "action.saved", policy=rule.name, saved=saved, per_hour=estimate.per_hour,
            currency=estimate.currency, remaining_hours=estimate.remaining_hours,
        )  # fmt: skip
        return saved

    async def in_flight_elsewhere(
        self, adapter: Adapter, rule: Rule, task: Task, last: AuditRecord | None
    ) -> ActionReport | None:
        """``fenced`` without a describe when ``last`` is another writer's intent that may still
        await its answer (a shared journal, younger than ``in_flight``); ``None`` otherwise.

        Why before the fence: that call may already have ended the task, and a fence that finds
        it ended settles an in-doubt intent as ``already_done``, which would take the place of
        the ``done`` its writer is about to record (the first outcome stays). Its writer settles
        it; if that writer dies, the intent is in doubt once older than ``in_flight``."""
        if (
            last is None
            or last.result != "intent"
            or self.guard.keeps(last.id)
            or not self.journal.may_be_in_flight(last.time)
        ):
            return None
        what = f"{rule.action} of {task.id}"
        refusal = IntentRefused("open", f"intent {last.id} for the {what} may be in flight")
        where = where_of(adapter.source, rule, task)
        params = adapter.action_params(task.id, operator=rule.operator)
        return await self._refused(refusal, rule, task.id, where, params)

    async def _refused(
        self,
        refusal: IntentRefused,
        rule: Rule,
        task_id: str,
        where: dict[str, str],
        params: Mapping[str, Any],
    ) -> ActionReport | None:
        """The journal refused the intent: nothing was sent. The kill switch and the shared
        per-hour cap are caps (``skipped_cap``); another writer's live intent is a fence
        (``fenced``); an ended term means this replica no longer leads (nothing decided)."""
        log.warning("action.refused", why=refusal.why, reason=str(refusal), **where)
        if refusal.why == "term":
            return None
        result = Outcome.SKIPPED_CAP if refusal.why in ("paused", "cap") else Outcome.FENCED
        await self.guard.record(
            self.journal.record, **where, params=params, result=result, mode="enforce",
            message=f"the journal refused the intent: {refusal}", estimate=None,
        )  # fmt: skip
        return ActionReport(rule.name, task_id, rule.action, result, str(refusal))

    async def settle(self, adapter: Adapter, listed: set[str], now: float) -> None:
        """Resolve ``unknown`` outcomes whose task left the listing: re-describe it once; a task
        that ended (most likely by that very call) is recorded ``already_done``. In a shared
        journal, intents without any outcome older than its ``in_flight`` too: another replica
        wrote them and died (this replica's start reconciled only those already that old).
        Listed tasks are settled by :meth:`enforce`, which re-describes before deciding again."""
        src = adapter.source
        try:
            recent = await self.guard.read(self.journal.recent, now - IN_DOUBT_HORIZON)
        except StoreError:
            return  # counted and said; settled at a later cycle
        abandoned = self.journal.in_flight_cutoff(now)
        doubtful = [
            r
            for r in recent
            if (
                r.result == Outcome.UNKNOWN.value
                or (r.result == "intent" and abandoned is not None and r.time < abandoned)
            )
            and (r.account, r.product, r.region) == (src.account, src.product, src.region)
            and r.task_id not in listed
        ]
        for record in doubtful:
            try:
                fresh = await adapter.describe(record.task_id, CallCounter())
            except TaskwatchError:
                return  # try again next cycle
            if ended(src.product, fresh):
                await self.guard.outcome(
                    record.id,
                    (record.account, record.product, record.task_id, record.action),
                    result=Outcome.ALREADY_DONE,
                    message=f"re-described after {_DOUBT[record.result]}: task ended",
                )
                log.info("journal.settled", intent=record.id, task=record.task_id)
