"""Task notifications and deadline timers: what arrived, what it was worth, how late reactions ran.

* ``taskwatch_events_total{source,type,result}``: every notification request, by ``source``
  (``mps``: MPS URL notifications, live stream processing ones included; ``live``: Live pull-stream
  callbacks), ``type`` (the documented ``EventType``, ``NotificationType`` or ``callback_event``,
  else ``other``: a fixed vocabulary, so a sender cannot mint series) and ``result``
  (:data:`EVENT_RESULTS`);
* ``taskwatch_event_describe_lag_seconds{source}``: receipt to the end of the describe the hint
  caused (loop time);
* ``taskwatch_timers_pending{account,product,region}``: deadline timers armed per source;
* ``taskwatch_timers_fired_total{account,product,region,result}``: timers fired, by what the
  re-evaluation found (``acted``, ``nothing``, ``stale``), each exported at 0 once the source
  reports its first pending count;
* ``taskwatch_timer_lateness_seconds``: a timer's firing minus its deadline;
* ``taskwatch_hints_relayed_total{direction,source,result}``: hints relayed between replicas
  (:mod:`taskwatch.hintrelay`): ``out`` (``published``, ``failed``) from the replica that received
  a notification for an account it does not hold, ``in`` at every other replica (the inbox's
  answer, ``not_held`` where another replica holds the account, ``malformed``).

No task id, account secret or path token is ever a label; the account, product and region of the
timer series are configured names. The two histograms' buckets are fixed (not in
``metrics.buckets``).

Not guaranteed: ``events_total`` has no series before the first request of a (source, type,
result) (pre-creating every combination would export hundreds of zeros); alert on
``increase(...)`` over a window, or on its presence.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from taskwatch.models import SourceKey

__all__ = [
    "EVENT_REFUSALS",
    "EVENT_RESULTS",
    "EVENT_SOURCES",
    "EVENT_TYPES",
    "LAG_BUCKETS",
    "LATENESS_BUCKETS",
    "RELAY_RESULTS",
    "TIMER_RESULTS",
    "EventMetrics",
    "event_type",
]

EVENT_SOURCES = ("mps", "live")
EVENT_REFUSALS = (
    "forged",
    "expired",
    "future",
    "malformed",
    "unknown_account",
    "not_configured",
)
"""Why a notification body is refused (:mod:`taskwatch.hints.verify`'s reasons); answered 4xx."""
EVENT_RESULTS = (
    "accepted",
    "deduplicated",
    "rate_limited",
    "queue_full",
    "not_leading",
    "replayed",
    *EVENT_REFUSALS,
)
"""Every ``result`` of ``taskwatch_events_total``: the first six answer 200, the rest 4xx."""
TIMER_RESULTS = ("acted", "nothing", "stale")
RELAY_RESULTS = {
    "out": ("published", "failed"),
    "in": ("accepted", "deduplicated", "rate_limited", "queue_full", "not_held", "malformed"),
}
"""Every ``result`` of ``taskwatch_hints_relayed_total`` per ``direction``."""

EVENT_TYPES: dict[str, frozenset[str]] = {
    "mps": frozenset(
        {
            # ParseNotification's EventType
            "WorkflowTask",
            "EditMediaTask",
            "ScheduleTask",
            "BatchTask",
            "ExtractBlindWatermark",
            # ParseLiveStreamProcessNotification's NotificationType
            "AiReviewResult",
            "AiRecognitionResult",
            "LiveRecordResult",
            "AiQualityControlResult",
            "AiAnalysisResult",
            "AiSmartSubtitleResult",
            "ProcessEof",
        }
    ),
    "live": frozenset(
        {
            "TaskStart",
            "TaskExit",
            "VodSourceFileStart",
            "VodSourceFileFinish",
            "ResetTaskConfig",
            "TaskAlarm",
        }
    ),
}
"""The documented event kinds per source (reference §12); any other is ``other``."""

LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Receipt to describe done: one API call in tens of milliseconds, or a queue behind a limiter."""
LATENESS_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""A timer's firing after its deadline: loop wake-up, or waiting for the source's lock."""


def event_type(source: str, kind: object) -> str:
    """The ``type`` label of an event kind: itself if documented for ``source``, else
    ``other``."""
    return kind if isinstance(kind, str) and kind in EVENT_TYPES.get(source, ()) else "other"


class EventMetrics:
    """The notification and timer metrics of :class:`~taskwatch.metrics.registry.Metrics` (a
    mixin: its ``__init__`` calls :meth:`_register_events` once, with its registry)."""

    def _register_events(self, r: CollectorRegistry) -> None:
        self.events_received = Counter(
            "taskwatch_events",
            "Task notifications received, by source, documented type (else other) and result.",
            ["source", "type", "result"],
            registry=r,
        )
        self.event_describe_lag = Histogram(
            "taskwatch_event_describe_lag_seconds",
            "Time from a notification's receipt to the end of the describe it caused.",
            ["source"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.timers_pending_gauge = Gauge(
            "taskwatch_timers_pending",
            "Deadline timers armed for a source's tracked tasks.",
            ["account", "product", "region"],
            registry=r,
        )
        self.timers_fired = Counter(
            "taskwatch_timers_fired",
            "Deadline timers fired, by what re-evaluating the task found: acted, nothing, stale.",
            ["account", "product", "region", "result"],
            registry=r,
        )
        self.timer_lateness_seconds = Histogram(
            "taskwatch_timer_lateness_seconds",
            "How long after its deadline a timer fired.",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self._timer_sources: set[SourceKey] = set()
        self.hints_relayed = Counter(
            "taskwatch_hints_relayed",
            "Hints relayed between replicas: out (published, failed), in (what became of them).",
            ["direction", "source", "result"],
            registry=r,
        )

    def event(self, source: str, kind: object, result: str) -> None:
        """Count one notification request: ``kind`` is what the body says (folded into the
        vocabulary here), ``result`` one of :data:`EVENT_RESULTS`."""
        if result not in EVENT_RESULTS:
            raise ValueError(f"unknown event result {result!r}")
        self.events_received.labels(source, event_type(source, kind), result).inc()

    def hint_relayed(self, direction: str, source: str, result: str) -> None:
        """Count one relayed hint: ``source`` ``mps`` or ``live`` (``other`` when unreadable),
        ``result`` one of :data:`RELAY_RESULTS` of ``direction``."""
        if result not in RELAY_RESULTS.get(direction, ()):
            raise ValueError(f"unknown relay result {direction}/{result!r}")
        kept = source if source in EVENT_SOURCES else "other"
        self.hints_relayed.labels(direction, kept, result).inc()

    def event_lag(self, source: str, seconds: float) -> None:
        """A hint of ``source`` was handled ``seconds`` after its receipt."""
        self.event_describe_lag.labels(source).observe(max(0.0, seconds))

    def timers_pending(self, source: SourceKey, n: int) -> None:
        """``source`` has ``n`` timers armed; the first report exports its fired counters at 0."""
        labels = (source.account, source.product, source.region)
        if source not in self._timer_sources:
            self._timer_sources.add(source)
            for result in TIMER_RESULTS:
                self.timers_fired.labels(*labels, result)
        self.timers_pending_gauge.labels(*labels).set(n)

    def timer_fired(self, source: SourceKey, result: str) -> None:
        """A timer of ``source`` fired; ``result`` is one of :data:`TIMER_RESULTS`."""
        if result not in TIMER_RESULTS:
            raise ValueError(f"unknown timer result {result!r}")
        self.timers_fired.labels(source.account, source.product, source.region, result).inc()

    def timer_lateness(self, seconds: float) -> None:
        """A timer fired ``seconds`` after its deadline (negative: early, counted as 0)."""
        self.timer_lateness_seconds.observe(max(0.0, seconds))

    def forget_timers(self, source: SourceKey) -> None:
        """Drop a source's timer series (it left the configuration)."""
        labels = (source.account, source.product, source.region)
        if source in self._timer_sources:
            self._timer_sources.discard(source)
            self.timers_pending_gauge.remove(*labels)
            for result in TIMER_RESULTS:
                self.timers_fired.remove(*labels, result)
