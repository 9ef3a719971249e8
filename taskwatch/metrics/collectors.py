"""The gauges taskwatch computes at scrape time: task counts and ages, and the limiter's rates.

Why the task gauges are a collector and not ``Gauge``\\s: a scan replaces its source's whole
picture, and a label set that vanished from it (say, no task is ``WAITING`` any more) must vanish
from ``/metrics`` too, not linger with its last value. So :meth:`Metrics.publish_tasks
<taskwatch.metrics.registry.Metrics.publish_tasks>` stores the latest summary of each source and
:class:`TaskCollector` turns it into samples at scrape time; ages are computed then, from the
injected clock, so they are fresh however long ago the scan ran. The same holds for the limiter
gauges, read from :meth:`Limiter.snapshot <taskwatch.limiter.Limiter.snapshot>` at scrape time.

Which tasks ``taskwatch_tasks`` counts (:func:`counted`): active ones (``pending`` and ``running``
phases), plus every listed Live pull-stream task whatever its phase, because those are standing
resources that exist (and count against the account's quota) until deleted, while finished MPS
and DLC tasks are history and are counted by ``taskwatch_tasks_finished_total`` instead. The
watcher hands :func:`summarise` the ended Live tasks its last scan listed, not only the active ones.

Not guaranteed: scraping runs on the event loop and reads plain dicts without locks, which is safe
only while every writer runs on that same loop (as taskwatch's do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, Metric

from taskwatch import catalog
from taskwatch.clock import Clock
from taskwatch.limiter import BucketStats
from taskwatch.models import Phase, SourceKey, Task

CALL_LABELS = ("account", "product", "action")
STANDING_PRODUCTS = catalog.standing()
"""Products whose listed tasks are standing resources: all of them are counted, whatever phase."""

GroupKey = tuple[str, str]
"""(type, status) of a task group."""


@dataclass(frozen=True, slots=True)
class TaskGroup:
    """The tasks of one (type, status) of one source: how many, and the oldest reference time.

    ``oldest`` is UTC epoch seconds (creation for pending tasks, start for running ones), or
    ``None`` when no task of the group has one (then no age is exported for the group).
    """

    count: int
    oldest: float | None = None

    def merged(self, other: TaskGroup) -> TaskGroup:
        """The group of both groups' tasks (two types folded into one label value)."""
        times = [t for t in (self.oldest, other.oldest) if t is not None]
        return TaskGroup(self.count + other.count, min(times) if times else None)


def reference_time(task: Task) -> float | None:
    """Where a task's age counts from: its start while running, its creation otherwise."""
    return task.started if task.phase is Phase.RUNNING else task.created


def counted(task: Task) -> bool:
    """Whether ``taskwatch_tasks`` counts the task (see the module docstring)."""
    return task.phase is not Phase.DONE or task.product in STANDING_PRODUCTS


def summarise(tasks: Iterable[Task]) -> dict[GroupKey, TaskGroup]:
    """Group one source's tasks by (type, status) for :meth:`Metrics.publish_tasks`."""
    counts: dict[GroupKey, int] = {}
    oldest: dict[GroupKey, float] = {}
    for task in tasks:
        if not counted(task):
            continue
        key = (task.type, task.status)
        counts[key] = counts.get(key, 0) + 1
        ref = reference_time(task)
        if ref is not None and (key not in oldest or ref < oldest[key]):
            oldest[key] = ref
    return {key: TaskGroup(n, oldest.get(key)) for key, n in counts.items()}


def relabel(
    summary: Mapping[GroupKey, TaskGroup], label: Callable[[GroupKey], GroupKey]
) -> dict[GroupKey, TaskGroup]:
    """``summary`` under the keys ``label`` gives; groups that land on one key are merged."""
    out: dict[GroupKey, TaskGroup] = {}
    for key, group in summary.items():
        new = label(key)
        before = out.get(new)
        out[new] = group if before is None else before.merged(group)
    return out


class BucketSource(Protocol):
    """What the rate gauges read: :class:`taskwatch.limiter.Limiter` is one."""

    def snapshot(self) -> Sequence[BucketStats]: ...


class TaskCollector:
    """``taskwatch_tasks`` and ``taskwatch_task_oldest_age_seconds`` from the latest summaries."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.summaries: dict[SourceKey, Mapping[GroupKey, TaskGroup]] = {}

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        labels = ["product", "account", "region", "type", "status"]
        return (
            GaugeMetricFamily(
                "taskwatch_tasks",
                "Tasks seen by the last scan: pending and running ones, every listed Live task.",
                labels=labels,
            ),
            GaugeMetricFamily(
                "taskwatch_task_oldest_age_seconds",
                "Age of the oldest task of the group: since start if running, creation if not.",
                labels=labels,
            ),
        )

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        tasks, ages = self._families()
        now = self._clock.now().timestamp()
        for source, summary in list(self.summaries.items()):
            for (type_, status), group in sorted(summary.items()):
                labels = [source.product, source.account, source.region, type_, status]
                tasks.add_metric(labels, group.count)
                if group.oldest is not None:
                    ages.add_metric(labels, max(0.0, now - group.oldest))
        yield tasks
        yield ages


class LimiterCollector:
    """``taskwatch_ratelimit_rate_per_second`` and ``..._ceiling_per_second`` from the watched
    limiter's snapshot."""

    def __init__(self) -> None:
        self.source: BucketSource | None = None

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "taskwatch_ratelimit_rate_per_second",
                "Calls per second the limiter admits now (halved on throttling, then recovers).",
                labels=list(CALL_LABELS),
            ),
            GaugeMetricFamily(
                "taskwatch_ratelimit_ceiling_per_second",
                "Calls per second granted to taskwatch: documented limit times api.budget.",
                labels=list(CALL_LABELS),
            ),
        )

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        rate, ceiling = self._families()
        for b in self.source.snapshot() if self.source is not None else ():
            labels = [b.account, b.product, b.action]
            rate.add_metric(labels, b.rate)
            ceiling.add_metric(labels, b.ceiling)
        yield rate
        yield ceiling
