"""From decisions to actions, safely: one source's cycle, in rounds, oldest offenders first.

For each source cycle the executor asks the policy engine for its :class:`~taskwatch.models.
Decision`\\ s over the source's active tasks (:func:`~taskwatch.policy.engine.evaluate`, a pure
step), asks the grace memory (:class:`~taskwatch.policy.grace.GraceMemory`) which of them have
matched for at least their rule's ``grace``, and takes those oldest task first, so a cap leaves the
longest-running offenders acted on first. For each due decision:

1. **never twice**: the journal's last record for (account, product, task, action) decides. A done
   or already-done action is not repeated. An intent without outcome (a crash) or an ``unknown``
   outcome (timeout, reset) is handed to the fence as *in doubt*: only a task that is provably
   still running and still matching is acted on again;
2. **caps** (:mod:`taskwatch.actions.caps`; they hold in dry-run too): the kill switch (the
   configuration's, or the shared one the journal holds, read at the start of every cycle), the
   global cap per cycle, then the rule's ``per_cycle``, ``percent`` and ``per_hour``; the journal
   checks the shared switch and ``per_hour`` again inside every intent's transaction, counted over
   every process that writes it;
3. **dry-run** decisions record a ``would`` row (once per match streak), with the task's cost
   estimate, and stop here;
4. **act** (:mod:`taskwatch.actions.attempt`): leadership, fence, intent, one call, outcome;
5. **again, within the cycle**: a call that failed transiently or whose outcome is unknown is tried
   again in a later *round* of the same cycle, up to ``attempts`` in all. Each round waits first
   (``retry_after`` when an outcome is unknown, so a call still in flight has landed before the
   fence looks; a short backoff otherwise) and goes through step 4 again: never blindly, always
   after re-describing. A permanent error is not tried again until the next cycle.

The journal is used through :class:`~taskwatch.actions.guard.JournalGuard` (a failed read or intent
sends nothing and the rest of the cycle is reported ``failed``; a failed outcome is still told and
written later), and people are told through :class:`~taskwatch.actions.streaks.FailureStreaks`.

Not guaranteed: exactly-once at the API. The journal refuses a second live intent for a task and
an intent of an ended leadership term, but the API has no idempotency key; what is guaranteed is
that taskwatch never sends a second action while its journal or a fresh observation says the
first one may have worked.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

import anyio
import structlog

from taskwatch.actions.attempt import ActionReport, Actor
from taskwatch.actions.caps import HOUR, PAUSED, Budget
from taskwatch.actions.guard import JournalGuard
from taskwatch.actions.journal import Journal
from taskwatch.actions.notify import Notifier
from taskwatch.actions.streaks import FailureStreaks, notify, record_of, where_of
from taskwatch.clock import Clock
from taskwatch.errors import StoreError
from taskwatch.metrics.registry import Metrics
from taskwatch.models import Decision, Outcome, SourceKey, Switch, Task
from taskwatch.policy.engine import evaluate
from taskwatch.policy.grace import Graced, GraceMemory, StreakKey
from taskwatch.policy.rules import Rule
from taskwatch.products.base import Adapter, CallCounter

__all__ = ["ActionReport", "Executor"]

log = structlog.get_logger(__name__)

SETTLED = frozenset({Outcome.DONE.value, Outcome.ALREADY_DONE.value})
IN_DOUBT = frozenset({"intent", Outcome.UNKNOWN.value})
BACKOFF = 0.5
"""Wait before a round that only retries calls the API refused (nothing in doubt); doubled per
round."""

Due = tuple[Rule, Decision]


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
    """The configuration's kill switch (``actions.paused``): this process only."""
    switch: Switch = field(default_factory=Switch)
    """The shared kill switch as the journal held it at the start of the cycle (every intent
    reads it again in its own transaction)."""
    held_here: bool = False
    """A pause the journal refused to keep (``POST /-/pause`` while it failed): this process
    holds alone until a resume."""
    may_act: Callable[[SourceKey], bool] = field(default=lambda source: True)
    """Leadership of the source's account (its shard's, with sharded accounts): asked right
    before every destructive call."""
    term: Callable[[SourceKey], int | None] = field(default=lambda source: None)
    """This replica's leadership term for the source's account, carried by every intent (None:
    no election)."""
    shard_of: Callable[[SourceKey], int] = field(default=lambda source: 0)
    """The shard of the source's account (0 when accounts are not sharded): the term's."""
    attempts: int = 3
    """Calls per task per cycle at most (rounds), the first included."""
    retry_after: float = 5.0
    """Seconds (loop time) before a round that re-describes a task whose last call's outcome is
    unknown: longer than a late answer takes to land, so the fence sees its effect."""
    sleep: Callable[[float], Awaitable[object]] = anyio.sleep
    grace: GraceMemory = field(default_factory=GraceMemory)
    """Since when each (policy, source, task) has matched: policy state, kept across cycles, and
    in the journal across restarts and failovers."""
    _restored: set[str] = field(default_factory=set)
    """Sources whose grace streaks were restored from the journal."""
    _would: set[StreakKey] = field(default_factory=set)
    """Dry-run decisions already recorded in this match streak (recorded once, like actions)."""
    _budgets: dict[str, Budget] = field(default_factory=dict)
    """Each source's budget of its last cycle, which its reactions share until the next."""
    streaks: FailureStreaks = field(default_factory=FailureStreaks)
    guard: JournalGuard = field(init=False)
    """The journal as the executor uses it; its :meth:`~JournalGuard.view` feeds ``/readyz``."""
    actor: Actor = field(init=False)

    def __post_init__(self) -> None:
        self.guard = JournalGuard(self.journal, self.metrics, self.clock)
        self.actor = Actor(self.guard, self.journal, self.clock, self.streaks, self.metrics)

    @property
    def held(self) -> bool:
        """Whether a kill switch holds every action (and dry-run record) back: the
        configuration's, the shared one, or a pause held here alone."""
        return self.paused or self.switch.paused or self.held_here

    def hold_here(self) -> None:
        """Hold this process back alone (the journal refused to keep a pause)."""
        self.held_here = True
        self.metrics.set_actions_paused(True)
        log.warning("actions.paused", source="process", reason="the journal refused the pause")

    def release_here(self) -> None:
        """End a pause held here alone."""
        if self.held_here:
            self.held_here = False
            self.metrics.set_actions_paused(self.held)

    def pause(self) -> None:
        """The configuration's kill switch: no action (and no dry-run record) until
        :meth:`resume`."""
        self.paused = True
        self.metrics.set_actions_paused(True)
        log.warning("actions.paused", source="configuration")

    def resume(self) -> None:
        self.paused = False
        self.metrics.set_actions_paused(self.held)
        log.warning("actions.resumed", source="configuration", still_held=self.held)

    def observe_switch(self, switch: Switch) -> None:
        """The shared kill switch as just read or set; logged when it changed."""
        if switch != self.switch:
            event = "actions.paused" if switch.paused else "actions.resumed"
            log.warning(event, source="journal", by=switch.actor, reason=switch.reason)
        self.switch = switch
        self.metrics.set_actions_paused(self.held)

    def reconcile(self) -> int:
        """At start: intents a crash left without outcome become ``unknown``; the next cycle
        re-describes their tasks before anything is sent again. How many."""
        return self.guard.reconcile()

    async def run(
        self, adapter: Adapter, tasks: Iterable[Task], *, scope: Collection[str] | None = None
    ) -> list[ActionReport]:
        """Evaluate and act on one source's active tasks (after a successful scan).

        ``scope``: a reaction between cycles (a deadline timer fired, a hint was described):
        ``tasks`` are the current observations of those ids that are still active (an id
        without one has ended). Only their grace streaks may end, and the caps count against
        the source's last cycle's budget: ``per_cycle`` and ``max_per_cycle`` hold per polling
        interval, however many reactions fall in it."""
        source = adapter.source
        rules = [r for r in self.rules if r.product == source.product]
        if not rules:
            return []
        active = list(tasks)
        now = self.clock.now().timestamp()
        refused: StoreError | None = None  # the journal failed: nothing more is tried this cycle
        try:  # the switch first: when the journal is down, one failed call and no more
            self.observe_switch(await self.guard.read(self.journal.switch))
        except StoreError as exc:
            refused = exc
        if refused is None:
            await self.guard.flush()  # outcomes the journal refused earlier
            if scope is None:
                await self.actor.settle(adapter, {t.id for t in active}, now)
        pending = await self._due(
            rules, active, str(source), now, journal=refused is None, scope=scope
        )
        reports: list[ActionReport] = []
        budget = self._budget(str(source), len(active), scope)
        calls = CallCounter()
        for round_ in range(1, self.attempts + 1):
            again: list[Due] = []
            in_doubt = False
            for rule, decision in pending:
                try:
                    report = await self._one(
                        adapter, rule, decision, budget, now, calls,
                        first=round_ == 1, refused=refused,
                    )  # fmt: skip
                except StoreError as exc:
                    refused = exc
                    report = self._refused(source, rule, decision.task, exc, now)
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
                if round_ == 1:
                    budget.spend(rule, report.result)
                if report.again:
                    again.append((rule, decision))
                    in_doubt |= report.result is Outcome.UNKNOWN
            if not again or round_ == self.attempts:
                break
            pending = again
            wait = self.retry_after if in_doubt else BACKOFF * 2 ** (round_ - 1)
            log.info("action.retry_round", source=str(source), tasks=len(again), wait=wait)
            await self.sleep(wait)
        return reports

    # --- selection ----------------------------------------------------------------------------

    async def _due(
        self,
        rules: Sequence[Rule],
        active: Sequence[Task],
        source: str,
        now: float,
        *,
        journal: bool = True,
        scope: Collection[str] | None = None,
    ) -> list[Due]:
        """The engine's decisions that are due by grace, paired with their rule, oldest task
        first. Streaks that ended forget their dry-run record and end their failure streak.
        ``journal``: the grace streaks are restored from and kept in the journal (not while it
        fails: the memory carries on alone)."""
        decisions = [d for task in active for d in evaluate(rules, task, now=now)]
        if journal:
            await self._restore_grace(source)
        graced = self.grace.observe(source, decisions, now, only=scope)
        if journal:
            await self._keep_grace(source, graced, now)
        for decision in graced.started:
            self.metrics.policy_matched(decision.policy)
        for key in graced.ended:
            self._would.discard(key)
        self.streaks.forget(self.notifier, graced.ended, now, {t.id for t in active})
        by_name: dict[str, Rule] = {}
        for rule in rules:
            by_name.setdefault(rule.name, rule)
        due = [(by_name[d.policy], d) for d in graced.due]
        due.sort(key=lambda rd: (rd[1].task.started or rd[1].task.created or now, rd[1].task.id))
        return due

    def _budget(self, source: str, active: int, scope: Collection[str] | None) -> Budget:
        """A cycle's new budget, kept for the reactions until the next cycle; a reaction's, the
        kept one (a fresh one if the source has not had a cycle yet)."""
        kept = self._budgets.get(source)
        if scope is not None and kept is not None:
            return kept
        budget = self._budgets[source] = Budget(self.max_per_cycle, active)
        return budget

    async def _restore_grace(self, source: str) -> None:
        """At this process's first cycle of ``source``: the streaks the journal kept (a restart,
        a failover), so each grace resumes where it stood. Tried again next cycle on failure."""
        if source in self._restored:
            return
        try:
            self.grace.restore(source, await self.guard.read(self.journal.grace_streaks, source))
        except StoreError:
            return  # counted by the guard
        self._restored.add(source)

    async def _keep_grace(self, source: str, graced: Graced, now: float) -> None:
        """Streaks that began or ended this cycle, into the journal. A failure is counted by the
        guard and otherwise ignored: the memory still holds them."""
        started = [(d.policy, d.task.id, now) for d in graced.started]
        ended = [(policy, task_id) for policy, _, task_id in graced.ended]
        if not started and not ended:
            return  # nothing written is not a write that worked (it would end a failure streak)
        with contextlib.suppress(StoreError):
            await self.guard.write("record", self.journal.update_grace, source, started, ended)

    # --- one decision -------------------------------------------------------------------------

    async def _one(
        self,
        adapter: Adapter,
        rule: Rule,
        decision: Decision,
        budget: Budget,
        now: float,
        calls: CallCounter,
        *,
        first: bool = True,
        refused: StoreError | None = None,
    ) -> ActionReport | None:
        """The gate before acting on one decision: never twice, caps, dry-run; then the actor.
        A journal read or intent that fails raises :class:`StoreError` (counted by the guard)
        before anything is sent; ``refused`` is an earlier one."""
        src, task = adapter.source, decision.task
        if refused is not None:
            return self._refused(src, rule, task, refused, now)
        action_key = (src.account, src.product, task.id, rule.action)
        if decision.enforce and self.guard.settled(action_key):
            return None  # done, though the journal has not taken the outcome yet
        last = (
            await self.guard.read(self.journal.last_action, *action_key)
            if decision.enforce
            else None
        )
        if last is not None and last.result in SETTLED:
            return None  # already handled; the listing has not caught up yet
        elsewhere = await self.actor.in_flight_elsewhere(adapter, rule, task, last)
        if elsewhere is not None:
            return elsewhere  # another replica's call in flight: its writer settles it
        # A call that may have worked (a crash, a timeout): the fence decides whether it did. A
        # failed call is history, not doubt; its record keeps its code.
        prior = last if last is not None and last.result in IN_DOUBT else None
        streak = (rule.name, str(src), task.id)
        if not decision.enforce and streak in self._would:
            return None  # dry-run: recorded once per match streak, as an action is sent once
        # A later round's task already passed the caps in the first round; only the kill switch
        # stops it now.
        if first:
            cap = await budget.cap(
                rule, paused=self.held, per_hour=lambda r: self._per_hour(r, now)
            )
        else:
            cap = PAUSED if self.held else None
        if cap:
            log.info("action.capped", policy=rule.name, task=task.id, cap=cap)
            return ActionReport(rule.name, task.id, rule.action, Outcome.SKIPPED_CAP, cap)
        if not decision.enforce:
            where = where_of(src, rule, task)
            params = adapter.action_params(task.id, operator=rule.operator)
            estimate = rule.pricer.estimate(task, now)  # the figures a cost rule just judged
            rid = await self.guard.write(
                "record", self.journal.would, **where, params=params, estimate=estimate
            )
            self._would.add(streak)
            notify(self.notifier, record_of(rid, where, "dry-run", Outcome.WOULD, now))
            log.info("action.would", **where)
            return ActionReport(rule.name, task.id, rule.action, Outcome.WOULD)
        return await self.actor.enforce(
            adapter, rule, decision, prior=prior, calls=calls, notifier=self.notifier,
            may_act=functools.partial(self.may_act, src), now=now,
            term=functools.partial(self.term, src), shard=self.shard_of(src),
        )  # fmt: skip

    async def _per_hour(self, rule: Rule, now: float) -> int:
        """The rule's actions in the last hour, from the journal (dry-run rules: its ``would``
        rows too)."""
        return await self.guard.read(
            self.journal.count_since, rule.name, now - HOUR, include_dry_run=not rule.enforce
        )

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
