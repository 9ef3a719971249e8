"""Every ``taskwatch_*`` metric in one place: names and labels here are a contract (design §5).

Conventions: prefix ``taskwatch_``, base units (seconds, calls per second), counters end in
``_total``, and no task id, URL, parameter or credential ever becomes a label value. Label values
are configured names (account, product, region, policy), API actions, and values the products
choose (task type, status, error code), which pass through a :class:`~taskwatch.metrics.vocabulary.
LabelGuard`: cut to a maximum length, and beyond a small budget of values per scope folded into
``other`` and counted by ``taskwatch_label_values_folded_total``
(:mod:`taskwatch.metrics.vocabulary`).

The task, cost and limiter gauges are computed at scrape time (:mod:`taskwatch.metrics.collectors`
says why and which tasks ``taskwatch_tasks`` counts, :mod:`taskwatch.metrics.costs` how the
estimated spend rate is summed); every other metric is a plain
``prometheus_client`` one. What the process is and decided (configuration, ``--dry-run``,
leadership, policies, actions, journal) is defined in :mod:`taskwatch.metrics.process`, the
renewals of role credentials in :mod:`taskwatch.metrics.credentials`, task notifications and
deadline timers in :mod:`taskwatch.metrics.events`; what it saw (tasks, API calls, scans) here.
:class:`Metrics` is the one facade over them.

Not guaranteed:

* The label budgets are per process and never reset: which newcomers get their own series
  depends on the order they were seen (:mod:`taskwatch.metrics.vocabulary`).
* ``taskwatch_ratelimit_wait_seconds`` observes only calls that had to wait (the client reports
  waits greater than zero), so its count is not the number of calls.
* Scraping runs on the event loop: collectors read plain dicts without locks, which is safe only
  while every writer runs on that same loop (as taskwatch's do).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

import taskwatch
from taskwatch.clock import Clock, SystemClock
from taskwatch.cost import Estimate, Pricer
from taskwatch.metrics.collectors import (
    BucketSource,
    GroupKey,
    LimiterCollector,
    TaskCollector,
    TaskGroup,
    relabel,
    summarise,
)
from taskwatch.metrics.costs import CostCollector, summarise_costs
from taskwatch.metrics.credentials import CredentialMetrics
from taskwatch.metrics.events import EventMetrics
from taskwatch.metrics.process import ProcessMetrics
from taskwatch.metrics.shards import ShardMetrics
from taskwatch.metrics.vocabulary import BUDGETS, MAX_LABEL_LENGTH, OTHER, LabelGuard
from taskwatch.models import SourceKey, Task
from taskwatch.tencent.errors import CallSite

__all__ = [
    "API_BUCKETS",
    "DEFAULT_BUCKETS",
    "MAX_CODES",
    "MAX_LABEL_LENGTH",
    "OTHER",
    "SCAN_BUCKETS",
    "TASK_BUCKETS",
    "WAIT_BUCKETS",
    "BucketSource",
    "Metrics",
    "TaskGroup",
    "summarise",
]

TASK_BUCKETS = (
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    7200.0, 14400.0, 28800.0, 86400.0, 172800.0, 604800.0,
)  # fmt: skip
"""Task durations and queue waits: one second to a week (transcodes take minutes, queries hours,
a stuck task days)."""

API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""One API attempt: milliseconds on a good day, up to the transport's timeout on a bad one."""

WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Waiting for a rate-limit token: one interval (10 ms at 100/s) to a long halved-rate queue."""

SCAN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""One scan cycle: one page in tens of milliseconds up to many pages under a tight budget."""

DEFAULT_BUCKETS: Mapping[str, tuple[float, ...]] = {
    "taskwatch_task_duration_seconds": TASK_BUCKETS,
    "taskwatch_task_queue_wait_seconds": TASK_BUCKETS,
    "taskwatch_api_request_duration_seconds": API_BUCKETS,
    "taskwatch_ratelimit_wait_seconds": WAIT_BUCKETS,
    "taskwatch_scan_duration_seconds": SCAN_BUCKETS,
}
"""Every histogram's buckets unless ``Metrics(buckets=...)`` (the ``metrics.buckets`` setting)
says otherwise; fixed for the registry's life."""

MAX_CODES = BUDGETS["code"]
"""Distinct error codes kept per (product, action) (and scan error reasons per source)."""

CYCLE_RESULTS = ("ok", "failed", "skipped")

_SOURCE = ("account", "product", "region")
_CALL = ("account", "product", "action")


class Metrics(ProcessMetrics, CredentialMetrics, EventMetrics, ShardMetrics):
    """The metrics of one taskwatch process, registered in ``registry``.

    It is also the API client's :class:`~taskwatch.tencent.client.CallObserver`. The process's
    own metrics (configuration, mode, leadership, policies, actions, journal) are defined in
    :class:`~taskwatch.metrics.process.ProcessMetrics`. ``buckets`` replaces some histograms'
    :data:`DEFAULT_BUCKETS` by name (an unknown name is a ``ValueError``; the settings check the
    values first).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        clock: Clock | None = None,
        version: str = taskwatch.__version__,
        buckets: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        unknown = set(buckets or {}) - set(DEFAULT_BUCKETS)
        if unknown:
            raise ValueError(f"no histogram named {sorted(unknown)}")
        chosen = {**DEFAULT_BUCKETS, **{k: tuple(v) for k, v in (buckets or {}).items()}}
        self.registry = registry if registry is not None else CollectorRegistry()
        # No `_created` series (a second series per counter and histogram that no dashboard
        # reads): a process-wide switch of the client library, and this process is ours.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        # What every exporter reports about itself: process_* (CPU, memory, file descriptors)
        # and python_info, in this private registry as in the client's default one.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._clock: Clock = clock or SystemClock()
        self._started: set[SourceKey] = set()
        r = self.registry

        # API-chosen label values (task type, status, error code, scan error reason): bounded
        self.label_values_folded = Counter(
            "taskwatch_label_values_folded",
            f"API-chosen label values exported cut to {MAX_LABEL_LENGTH} characters or folded "
            f"into {OTHER!r} beyond their budget, by label.",
            ["label"],
            registry=r,
        )
        for label in BUDGETS:
            self.label_values_folded.labels(label)
        self._guard = LabelGuard(lambda label: self.label_values_folded.labels(label).inc())

        # Tasks
        self._tasks = TaskCollector(self._clock)
        r.register(self._tasks)
        self.task_duration = Histogram(
            "taskwatch_task_duration_seconds",
            "Run time of finished tasks, from start to finish.",
            ["product", "type"],
            buckets=chosen["taskwatch_task_duration_seconds"],
            registry=r,
        )
        self.task_queue_wait = Histogram(
            "taskwatch_task_queue_wait_seconds",
            "Time finished tasks waited between creation and start.",
            ["product", "type"],
            buckets=chosen["taskwatch_task_queue_wait_seconds"],
            registry=r,
        )
        self.tasks_finished = Counter(
            "taskwatch_tasks_finished_total",
            "Tasks seen to finish, by result.",
            ["product", "type", "result"],
            registry=r,
        )
        self._costs = CostCollector()
        r.register(self._costs)
        self.tasks_cost = Counter(
            "taskwatch_tasks_cost",
            "Estimated spend of the tasks seen to finish (each counted once, at its end), from "
            "list prices: an estimate, never a bill.",
            ["account", "product", "type", "currency"],
            registry=r,
        )

        # API calls
        self.api_requests = Counter(
            "taskwatch_api_requests_total",
            "API attempts by outcome: Success, the API error code, or the transport failure.",
            [*_CALL, "code"],
            registry=r,
        )
        self.api_duration = Histogram(
            "taskwatch_api_request_duration_seconds",
            "Duration of one API attempt, rate-limit wait excluded.",
            list(_CALL),
            buckets=chosen["taskwatch_api_request_duration_seconds"],
            registry=r,
        )
        self.api_throttled = Counter(
            "taskwatch_api_throttled_total",
            "API attempts refused with RequestLimitExceeded or one of its sub-codes.",
            list(_CALL),
            registry=r,
        )
        self.ratelimit_wait = Histogram(
            "taskwatch_ratelimit_wait_seconds",
            "Time a call waited for its rate-limit token (only calls that waited).",
            list(_CALL),
            buckets=chosen["taskwatch_ratelimit_wait_seconds"],
            registry=r,
        )
        self._limiter = LimiterCollector()
        r.register(self._limiter)

        # Scan loops
        self.scan_duration = Histogram(
            "taskwatch_scan_duration_seconds",
            "Duration of one scan cycle of a source, failed ones included.",
            list(_SOURCE),
            buckets=chosen["taskwatch_scan_duration_seconds"],
            registry=r,
        )
        self.scan_last_success = Gauge(
            "taskwatch_scan_last_success_timestamp_seconds",
            "UTC time the last successful scan of a source ended.",
            list(_SOURCE),
            registry=r,
        )
        self.scan_errors = Counter(
            "taskwatch_scan_errors_total",
            "Failed scan cycles, by the class of error that ended them.",
            [*_SOURCE, "reason"],
            registry=r,
        )
        self.api_calls_per_cycle = Gauge(
            "taskwatch_api_calls_per_cycle",
            "API calls the last scan cycle of a source made.",
            list(_SOURCE),
            registry=r,
        )
        self.scan_cycles = Counter(
            "taskwatch_scan_cycles_total",
            "Scan cycles by result: ok, failed, or skipped (the previous one still ran).",
            [*_SOURCE, "result"],
            registry=r,
        )

        # The process: build, configuration, mode, leadership, policies, actions, journal
        self._register_process(r, version=version)
        # Role credentials: renewals and expiry (metrics/credentials)
        self._register_credentials(r)
        # Task notifications and deadline timers (metrics/events)
        self._register_events(r)
        self._register_shards(r)

    # --- tasks ------------------------------------------------------------------------------

    def publish_tasks(self, source: SourceKey, summary: Mapping[GroupKey, TaskGroup]) -> None:
        """Replace ``source``'s task picture; label sets absent from ``summary`` disappear.

        Types and statuses go through the label guard: groups folded into one label set are
        merged (counts added, the oldest time kept), so no task is lost from the count."""
        product = source.product
        guard = self._guard

        def label(key: GroupKey) -> GroupKey:
            type_, status = key
            return guard.admit("type", product, type_), guard.admit("status", product, status)

        self._tasks.summaries[source] = relabel(summary, label)

    def publish(self, source: SourceKey, tasks: Iterable[Task], pricer: Pricer, now: float) -> None:
        """Publish ``source``'s tracked ``tasks`` (what a good scan holds): the task gauges
        (:meth:`publish_tasks`) and their estimated spend at ``now`` (prices off: none)."""
        held = list(tasks)
        self.publish_tasks(source, summarise(held))
        costs = summarise_costs(held, pricer, now)
        if costs is None:
            self._costs.summaries.pop(source, None)
        else:
            product = source.product
            guard = self._guard
            self._costs.summaries[source] = costs.relabelled(
                lambda type_: guard.admit("type", product, type_)
            )

    def task_finished(self, task: Task, estimate: Estimate | None = None) -> None:
        """Count a task seen to finish, and observe its run time and queue wait when known;
        with its ``estimate`` (at its end), add its spend to ``taskwatch_tasks_cost_total``."""
        result = task.result.value if task.result is not None else "unknown"
        type_ = self._guard.admit("type", task.product, task.type)
        self.tasks_finished.labels(task.product, type_, result).inc()
        if estimate is not None:
            self.tasks_cost.labels(task.account, task.product, type_, estimate.currency).inc(
                max(0.0, estimate.so_far)
            )
        if (duration := task.duration()) is not None:
            self.task_duration.labels(task.product, type_).observe(duration)
        if (wait := task.queue_wait()) is not None:
            self.task_queue_wait.labels(task.product, type_).observe(wait)

    # --- API calls (CallObserver) -----------------------------------------------------------

    def attempt_finished(self, site: CallSite, outcome: str, seconds: float) -> None:
        """One API attempt ended with ``outcome`` (``Success``, an error code, a failure class)."""
        call = (site.account, site.product, site.action)
        if outcome == "RequestLimitExceeded" or outcome.startswith("RequestLimitExceeded."):
            self.api_throttled.labels(*call).inc()
        code = self._guard.admit("code", site.product, outcome, site.action)
        self.api_requests.labels(*call, code).inc()
        self.api_duration.labels(*call).observe(seconds)

    def rate_waited(self, site: CallSite, seconds: float) -> None:
        """A call waited ``seconds`` for its rate-limit token."""
        self.ratelimit_wait.labels(site.account, site.product, site.action).observe(seconds)

    def watch_limiter(self, limiter: BucketSource | None) -> None:
        """Export this limiter's rates at scrape time (replacing any previous one; None: none)."""
        self._limiter.source = limiter

    # --- scan loops -------------------------------------------------------------------------

    def cycle_finished(
        self, source: SourceKey, *, seconds: float, calls: int, error: str | None
    ) -> None:
        """A scan cycle ended: ``error`` is ``None`` on success, else a short error class name."""
        labels = self._source(source)
        self.scan_duration.labels(*labels).observe(seconds)
        self.api_calls_per_cycle.labels(*labels).set(calls)
        if error is None:
            self.scan_last_success.labels(*labels).set(self._clock.now().timestamp())
            self.scan_cycles.labels(*labels, "ok").inc()
        else:
            reason = self._guard.admit(
                "reason", source.product, error, source.account, source.region
            )
            self.scan_errors.labels(*labels, reason).inc()
            self.scan_cycles.labels(*labels, "failed").inc()

    def cycle_skipped(self, source: SourceKey) -> None:
        """A cycle was due while the previous one still ran, so it did not start."""
        self.scan_cycles.labels(*self._source(source), "skipped").inc()

    def forget(self, source: SourceKey) -> None:
        """Drop every series of a source that left the configuration, so none lingers stale."""
        self._tasks.summaries.pop(source, None)
        self._costs.summaries.pop(source, None)
        labels = (source.account, source.product, source.region)
        for metric in (self.scan_duration, self.scan_last_success, self.api_calls_per_cycle):
            metric.remove(*labels)
        for result in CYCLE_RESULTS:
            self.scan_cycles.remove(*labels, result)
        for reason in self._guard.forget("reason", source.product, source.account, source.region):
            self.scan_errors.remove(*labels, reason)
        self._started.discard(source)
        self.forget_timers(source)

    def _source(self, source: SourceKey) -> tuple[str, str, str]:
        """The source's label values; the first time, its cycle counters start at zero."""
        labels = (source.account, source.product, source.region)
        if source not in self._started:
            self._started.add(source)
            for result in CYCLE_RESULTS:
                self.scan_cycles.labels(*labels, result)
        return labels
