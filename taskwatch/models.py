"""The data taskwatch reasons about, product-neutral: tasks, and how they are identified.

Each product adapter normalises its API's records into :class:`Task`: the product's own status
vocabulary is kept in ``status`` (MPS ``WAITING``/``PROCESSING``/``FINISH``, DLC state names such
as ``running``, Live ``enable``/``pause``) and mapped onto one :class:`Phase` for logic that must
not care which product it is looking at (:class:`Phase` and each product's vocabulary are defined
in :mod:`taskwatch.catalog`; ``Phase`` is re-exported here). Times are UTC epoch seconds
(``None`` when unset: MPS's ``0000-00-00T00:00:00Z`` sentinel becomes ``None`` here).

Tasks are frozen: a newer observation is a new object. ``fields`` holds the list record exactly as
the API returned it and ``detail`` the detail record when one was fetched, so policies can filter
on any API field without the model knowing them all.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from taskwatch import catalog
from taskwatch.catalog import Phase as Phase


class Result(enum.StrEnum):
    """How a finished task ended."""

    SUCCESS = "success"
    FAILED = "failed"
    ABORTED = "aborted"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SourceKey:
    """One thing taskwatch polls: a product of an account, in a region (``global`` for MPS)."""

    account: str
    product: str
    region: str

    def __str__(self) -> str:
        return f"{self.account}/{self.product}/{self.region}"


@dataclass(frozen=True, slots=True)
class Task:
    """One task as last observed."""

    product: str
    account: str
    region: str
    id: str
    type: str
    status: str
    phase: Phase
    created: float | None = None
    started: float | None = None
    finished: float | None = None
    result: Result | None = None
    fingerprint: Hashable = ()
    """What changes when the task changes; equal fingerprints mean no detail call is needed."""
    fields: Mapping[str, Any] = field(default_factory=dict, compare=False)
    detail: Mapping[str, Any] | None = field(default=None, compare=False)
    unobserved_since: float | None = None
    """UTC epoch seconds since when the API shows this task no more although it was last seen
    active (past its list and detail windows, :mod:`taskwatch.tracker`): it is *presumed* in its
    last observed state; ``None``: observed by the last scan."""

    @property
    def source(self) -> SourceKey:
        return SourceKey(self.account, self.product, self.region)

    def age(self, now: float) -> float | None:
        """Seconds since creation."""
        return None if self.created is None else max(0.0, now - self.created)

    def running_for(self, now: float) -> float | None:
        """Seconds since it started, while running; ``None`` otherwise."""
        if self.phase is not Phase.RUNNING or self.started is None:
            return None
        return max(0.0, now - self.started)

    def waiting_for(self, now: float) -> float | None:
        """Seconds since creation, while pending; ``None`` otherwise."""
        if self.phase is not Phase.PENDING or self.created is None:
            return None
        return max(0.0, now - self.created)

    def queue_wait(self) -> float | None:
        """Seconds from creation to start, once started."""
        if self.created is None or self.started is None:
            return None
        return max(0.0, self.started - self.created)

    def duration(self) -> float | None:
        """Seconds from start to finish, once finished."""
        if self.started is None or self.finished is None:
            return None
        return max(0.0, self.finished - self.started)

    def with_detail(self, detail: Mapping[str, Any]) -> Task:
        return replace(self, detail=detail)


ACTIONS_BY_PRODUCT: Mapping[str, str] = catalog.verbs()
"""The one destructive action each product offers, as policies name it (from
:mod:`taskwatch.catalog`: MPS abort, DLC cancel, Live delete)."""


ACTIONABLE_WHEN_DONE = catalog.standing()
"""Products whose ended tasks can still be acted on (from :mod:`taskwatch.catalog`): a Live
pull-stream task past its EndTime stays listed (and billed as a resource) until deleted, which is
what a stale-task policy is for."""


class Outcome(enum.StrEnum):
    """What became of a decision: the ``result`` label of ``taskwatch_policy_actions_total``."""

    DONE = "done"
    """The API accepted the action."""
    WOULD = "would"
    """Dry-run: it would have been done (caps and fencing applied as if enforcing)."""
    ALREADY_DONE = "already_done"
    """The task had already ended, or no longer exists: nothing to do."""
    SKIPPED_CAP = "skipped_cap"
    """A blast-radius cap (global, per cycle, per hour, percent) or the kill switch held it back."""
    FENCED = "fenced"
    """Re-described right before acting, the task no longer matched the rule."""
    FAILED = "failed"
    """The API refused the action (an error that is not "already done")."""
    UNKNOWN = "unknown"
    """The call's outcome is unknown (timeout, reset); the task is re-described next cycle."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A rule matched a task: the pure result of policy evaluation, before caps and fencing."""

    policy: str
    action: str
    task: Task
    enforce: bool
    grace: float = 0.0


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One journal entry: an action taken, attempted, or (dry-run) that would have been."""

    id: int
    time: float
    """UTC epoch seconds of the intent (or of the dry-run decision)."""
    policy: str
    product: str
    account: str
    region: str
    task_id: str
    action: str
    mode: str
    """``enforce`` or ``dry-run``."""
    result: str
    """An :class:`Outcome` value, or ``intent`` while the call's outcome is not recorded."""
    code: str | None = None
    request_id: str | None = None
    message: str | None = None
    finished_time: float | None = None
    cost_so_far: float | None = None
    """The task's estimated spend when the decision was taken (``None``: no estimate)."""
    cost_per_hour: float | None = None
    """Its estimated spend rate then."""
    cost_saved: float | None = None
    """What a ``done`` action saved: the rate times the time the task would still have run, when
    that time was known (``None`` otherwise, and on every other result)."""
    currency: str | None = None
    """The currency of the three figures."""


@dataclass(frozen=True, slots=True)
class Switch:
    """The shared kill switch as the journal holds it: its newest event, or off when none."""

    paused: bool = False
    actor: str | None = None
    """Who flipped it (a web user, ``anonymous@<address>``, ``cli:<user>``); None: never."""
    time: float | None = None
    """UTC epoch seconds of the flip."""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ActionGroup(AuditRecord):
    """The newest record of a group of like records, with how many there were since when."""

    count: int = 1
    first_time: float | None = None
    """UTC epoch seconds of the group's first record (``time`` is its last)."""


@dataclass(frozen=True, slots=True)
class Saved:
    """What the enforced actions of one policy saved, in one currency, over some window."""

    policy: str
    currency: str
    saved: float = 0.0
    """Spend avoided where the time a task would still have run was known."""
    per_hour: float = 0.0
    """Spend rates avoided where it was not (open-ended: per hour)."""
    actions: int = 0
