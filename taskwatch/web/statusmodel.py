"""What the status page shows, as data: a :class:`StatusSnapshot`, built by :func:`snapshot_from`.

The supervisor implements :class:`StatusView`, usually by calling :func:`snapshot_from` with the
pieces it holds: each source's name, last cycle report and last success, the tasks its watchers
hold, the rules, and the journal's recent records. :mod:`taskwatch.web.statuspage` renders a
snapshot as HTML; nothing here knows about HTML.

The numbers agree with ``/metrics`` by construction: a source's ``active`` is its last cycle
report's, which counts what ``taskwatch_tasks`` counts (the active tasks and every listed ended
Live task) and keeps the last good count while the source fails; the task counts are of the very
tasks the watchers hold. The oldest waiting tasks are the queue (a pending MPS or DLC task, since
its creation); a Live task waits for its StartTime, a schedule rather than a queue, and is left
out of that list (it is counted in the Tasks table).

The top spenders are the running tasks the watchers hold, priced at ``now`` by the runtime's
:class:`~taskwatch.cost.Pricer` (the same figures ``taskwatch_tasks_cost_per_hour`` sums); what
enforced actions saved comes from whichever record the caller has (``saved_from`` says which).

Not guaranteed: one consistent instant across sources. Each source is read as it stands between
its cycles. Any cost figure is a bill: they are estimates from list prices.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import taskwatch
from taskwatch import catalog
from taskwatch.cost import Pricer
from taskwatch.models import AuditRecord, Phase, Task
from taskwatch.policy.rules import Rule

SCHEDULED = catalog.scheduled()
"""Products whose pending tasks wait for a start time, not in a queue: not in ``oldest_waiting``."""


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One polled source and its last cycle (``cycled`` is false until the first one ends)."""

    name: str
    cycled: bool = False
    ok: bool = False
    seconds: float = 0.0
    calls: int = 0
    active: int = 0
    new: int = 0
    changed: int = 0
    gone: int = 0
    finished: int = 0
    last_success: float | None = None
    """UTC epoch seconds of the last successful cycle."""
    error: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class TaskCount:
    product: str
    status: str
    count: int


@dataclass(frozen=True, slots=True)
class RunningTask:
    product: str
    account: str
    region: str
    id: str
    type: str
    status: str
    running_for: float


@dataclass(frozen=True, slots=True)
class WaitingTask:
    """A pending task and how long since it was created (it has not started)."""

    product: str
    account: str
    region: str
    id: str
    type: str
    status: str
    waiting_for: float


@dataclass(frozen=True, slots=True)
class Spender:
    """A running task and its estimate at the snapshot's instant."""

    product: str
    account: str
    region: str
    id: str
    type: str
    so_far: float
    per_hour: float
    currency: str
    basis: str = ""


@dataclass(frozen=True, slots=True)
class SavedRow:
    """What one policy's enforced actions saved in the window (estimates)."""

    policy: str
    currency: str
    saved: float
    """Spend avoided where the time the task would still have run was known."""
    per_hour: float
    """Spend per hour stopped where it was not."""
    actions: int


@dataclass(frozen=True, slots=True)
class PolicyStatus:
    name: str
    product: str
    action: str
    enforce: bool
    """The effective mode: false under ``--dry-run`` whatever the file says."""
    grace: float = 0.0
    per_cycle: int | None = None
    per_hour: int | None = None
    percent: float | None = None
    overridden: bool = False
    """``enforce: true`` in the file, dry-run in this process (``--dry-run``)."""


@dataclass(frozen=True, slots=True)
class ShardRow:
    """One shard of the accounts (``leader.shards`` above 1): held here or not, and its
    accounts."""

    shard: int
    held: bool
    accounts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """Everything the page shows, taken at ``now`` (UTC epoch seconds)."""

    now: float
    version: str = taskwatch.__version__
    started: float | None = None
    leader: bool = True
    actions_paused: bool = False
    paused_by: str = ""
    """Who paused (and why) when the journal's shared switch holds: "by ops: INC-42"."""
    dry_run: bool = False
    """``--dry-run``: every policy acts as dry-run in this process, whatever its ``enforce``."""
    sources: Sequence[SourceStatus] = ()
    tasks: Sequence[TaskCount] = ()
    oldest_running: Sequence[RunningTask] = ()
    oldest_waiting: Sequence[WaitingTask] = ()
    """Pending tasks of queued products, longest waiting first."""
    policies: Sequence[PolicyStatus] = ()
    actions: Sequence[AuditRecord] = ()
    """Newest first."""
    actions_since: float | None = None
    """Start of the window ``actions`` covers, if bounded by time."""
    pricing: bool = False
    """Whether cost estimates are on (a price table, ``prices.enabled``)."""
    top_spenders: Sequence[Spender] = ()
    """Running tasks with an estimate, highest spend per hour first."""
    shards: Sequence[ShardRow] = ()
    """Every shard of the accounts, with sharded accounts; empty otherwise."""
    unpriced_running: int = 0
    """Running tasks with no estimate (left out of ``top_spenders``)."""
    saved: Sequence[SavedRow] = ()
    saved_from: str = ""
    """Where ``saved`` was read: ``journal``, or ``process`` (this process's counters)."""
    saved_since: float | None = None


class StatusView(Protocol):
    """What the status page asks; the supervisor answers from state it already holds."""

    def status_snapshot(self) -> StatusSnapshot: ...


class LastCycle(Protocol):
    """What the page reads of a cycle report (:class:`taskwatch.watch.CycleReport` fits)."""

    @property
    def seconds(self) -> float: ...
    @property
    def calls(self) -> Mapping[str, int]: ...
    @property
    def active(self) -> int: ...
    @property
    def new(self) -> int: ...
    @property
    def changed(self) -> int: ...
    @property
    def gone(self) -> int: ...
    @property
    def finished(self) -> int: ...
    @property
    def error(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...


def snapshot_from(
    *,
    now: float,
    sources: Iterable[tuple[str, LastCycle | None, float | None]],
    tasks: Iterable[Task],
    rules: Iterable[Rule],
    actions: Iterable[AuditRecord],
    started: float | None = None,
    leader: bool = True,
    actions_paused: bool = False,
    paused_by: str = "",
    dry_run: bool = False,
    actions_since: float | None = None,
    oldest: int = 10,
    max_actions: int = 25,
    pricer: Pricer | None = None,
    saved: Iterable[SavedRow] = (),
    saved_from: str = "",
    saved_since: float | None = None,
) -> StatusSnapshot:
    """A snapshot from the supervisor's plain pieces.

    ``sources``: (name, last cycle report or None, wall time of the last success or None);
    ``tasks``: every task the watchers hold (active ones, plus listed ended Live tasks);
    ``oldest``: how many of the longest running and of the longest waiting tasks to keep;
    ``actions``: journal records in any order (the newest ``max_actions`` are kept);
    ``rules``: as the file says; with ``dry_run`` each policy shows its effective mode (dry-run)
    and whether ``--dry-run`` overrides it;
    ``pricer``: prices the running tasks (the ``oldest`` highest spenders are kept; None: off);
    ``saved``: what enforced actions saved since ``saved_since``, read from ``saved_from``.
    """
    task_list = list(tasks)
    counts = Counter((t.product, t.status) for t in task_list)
    running = [
        RunningTask(t.product, t.account, t.region, t.id, t.type, t.status, age)
        for t in task_list
        if (age := t.running_for(now)) is not None
    ]
    running.sort(key=lambda r: r.running_for, reverse=True)
    waiting = [
        WaitingTask(t.product, t.account, t.region, t.id, t.type, t.status, age)
        for t in task_list
        if t.product not in SCHEDULED and (age := t.waiting_for(now)) is not None
    ]
    waiting.sort(key=lambda w: w.waiting_for, reverse=True)
    records = sorted(actions, key=lambda a: (a.time, a.id), reverse=True)[:max_actions]
    spenders, unpriced = _spenders(task_list, pricer, now)
    return StatusSnapshot(
        now=now,
        started=started,
        leader=leader,
        actions_paused=actions_paused,
        paused_by=paused_by,
        dry_run=dry_run,
        sources=[_source(name, report, success) for name, report, success in sources],
        tasks=[
            TaskCount(p, s, n)
            for (p, s), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
        ],
        oldest_running=running[:oldest],
        oldest_waiting=waiting[:oldest],
        policies=[
            PolicyStatus(
                r.name,
                r.product,
                r.action,
                r.enforce and not dry_run,
                r.grace,
                r.caps.per_cycle,
                r.caps.per_hour,
                r.caps.percent,
                overridden=r.enforce and dry_run,
            )
            for r in rules
        ],
        actions=records,
        actions_since=actions_since,
        pricing=pricer is not None and pricer.prices.enabled,
        top_spenders=spenders[:oldest],
        unpriced_running=unpriced,
        saved=sorted(saved, key=lambda r: (-r.saved, -r.per_hour, r.policy)),
        saved_from=saved_from,
        saved_since=saved_since,
    )


def _spenders(tasks: list[Task], pricer: Pricer | None, now: float) -> tuple[list[Spender], int]:
    """The running tasks priced, highest rate first (then highest spend), and how many have no
    estimate."""
    if pricer is None or not pricer.prices.enabled:
        return [], 0
    out: list[Spender] = []
    unpriced = 0
    for t in tasks:
        if t.phase is not Phase.RUNNING:
            continue
        e = pricer.estimate(t, now)
        if e is None:
            unpriced += 1
            continue
        out.append(
            Spender(t.product, t.account, t.region, t.id, t.type, e.so_far, e.per_hour,
                    e.currency, e.basis)
        )  # fmt: skip
    out.sort(key=lambda s: (-s.per_hour, -s.so_far, s.id))
    return out, unpriced


def _source(name: str, report: LastCycle | None, last_success: float | None) -> SourceStatus:
    if report is None:
        return SourceStatus(name, last_success=last_success)
    return SourceStatus(
        name,
        cycled=True,
        ok=report.error is None,
        seconds=report.seconds,
        calls=sum(report.calls.values()),
        active=report.active,
        new=report.new,
        changed=report.changed,
        gone=report.gone,
        finished=report.finished,
        last_success=last_success,
        error=report.error,
        message=report.message,
    )
