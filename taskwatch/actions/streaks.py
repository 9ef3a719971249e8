"""Telling people what an action did: a log line and a webhook event, once per failure streak.

Why: a policy whose action keeps failing (a missing permission, a task the API will not abort) is
tried every cycle, up to ``actions.attempts`` times a cycle, and each attempt used to be logged at
warning and sent to every webhook: 24 events about one stuck task in five minutes, drowning every
other action. Now, per (policy, source, task):

* the first ``failed`` or ``unknown`` outcome opens a streak: logged at warning (``action``) and
  notified like any outcome;
* the streak's later ``failed`` and ``unknown`` outcomes are logged at debug
  (``action.still_failing``, with the attempt number) and not notified;
* the first outcome that settles the task (``done``, ``already_done``, ``fenced``), or the task no
  longer being eligible (it left the listing: ended; or it stopped matching: the end of its match
  streak in :mod:`taskwatch.policy.grace`), ends the streak:
  ``action.failing_ended`` at warning, and one event whose result is how it ended and whose message
  says how many attempts failed since when. That event goes to every target that wants the
  ending's result *or the streak's first one*: a target told "failed" is told it is over.

``taskwatch_policy_actions_total`` and the journal still count and keep every attempt; this module
only decides what people are told.

Not guaranteed: streaks live in memory, so a restart or a reload that rebuilds the executor
forgets them (the next failure opens a new streak and is told); a task that stops being eligible
while no cycle of its source runs is told at that source's next cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import structlog

from taskwatch.actions.notify import Notifier
from taskwatch.models import AuditRecord, Outcome, SourceKey, Task
from taskwatch.policy.grace import StreakKey
from taskwatch.policy.rules import Rule

log = structlog.get_logger(__name__)

FAILING = frozenset({Outcome.FAILED.value, Outcome.UNKNOWN.value})


def where_of(src: SourceKey, rule: Rule, task: Task) -> dict[str, str]:
    """Where a decision applies: the journal's columns and the log lines' keys."""
    return {
        "policy": rule.name,
        "product": src.product,
        "account": src.account,
        "region": src.region,
        "task_id": task.id,
        "action": rule.action,
    }


def record_of(
    record_id: int,
    where: Mapping[str, str],
    mode: str,
    result: Outcome,
    now: float,
    *,
    code: str | None = None,
    request_id: str | None = None,
    message: str | None = None,
) -> AuditRecord:
    """The audit record of one decision, as the notifier and the log lines read it."""
    return AuditRecord(
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


def notify(notifier: Notifier | None, record: AuditRecord, *, follows: str | None = None) -> None:
    if notifier is not None:
        notifier.notify(record, follows=follows)


@dataclass(slots=True)
class _Streak:
    start: AuditRecord
    attempts: int = 1


@dataclass(slots=True)
class FailureStreaks:
    """The open failure streaks of one executor."""

    _open: dict[StreakKey, _Streak] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._open)

    def outcome(self, notifier: Notifier | None, key: StreakKey, record: AuditRecord) -> None:
        """One call's outcome (or a refusal to call): logged and notified, or not, as above."""
        streak = self._open.get(key)
        if record.result in FAILING and streak is not None:
            streak.attempts += 1
            log.debug("action.still_failing", attempt=streak.attempts, **_fields(record))
            return
        log.warning("action", **_fields(record))
        if streak is not None:
            self._end(notifier, key, record)
            return
        if record.result in FAILING:
            self._open[key] = _Streak(record)
        notify(notifier, record)

    def settled(self, notifier: Notifier | None, key: StreakKey, record: AuditRecord) -> None:
        """A decision that sent nothing (``already_done``, ``fenced``): it ends a streak."""
        if key in self._open:
            self._end(notifier, key, record)

    def forget(
        self, notifier: Notifier | None, keys: Iterable[StreakKey], now: float, listed: set[str]
    ) -> None:
        """``keys`` are no longer eligible: a task still ``listed`` stopped matching, any other
        left the listing (it ended). Their streaks end."""
        for key in keys:
            streak = self._open.get(key)
            if streak is None:
                continue
            ended = key[2] not in listed
            end = replace(
                streak.start,
                time=now,
                result=(Outcome.ALREADY_DONE if ended else Outcome.FENCED).value,
                code=None,
                request_id=None,
                message="task ended" if ended else "no longer matches",
            )
            self._end(notifier, key, end)

    def _end(self, notifier: Notifier | None, key: StreakKey, record: AuditRecord) -> None:
        streak = self._open.pop(key)
        since = _iso(streak.start.time)
        told = f"after {streak.attempts} failed attempt(s) since {since}"
        log.warning(
            "action.failing_ended", attempts=streak.attempts, failing_since=since, **_fields(record)
        )
        message = f"{told}: {record.message}" if record.message else told
        notify(notifier, replace(record, message=message), follows=streak.start.result)


def _fields(record: AuditRecord) -> dict[str, str | None]:
    return {
        "result": record.result,
        "code": record.code,
        "request_id": record.request_id,
        "policy": record.policy,
        "product": record.product,
        "account": record.account,
        "region": record.region,
        "task_id": record.task_id,
        "action": record.action,
    }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
