"""The notification and timer metrics: names, labels, the fixed type vocabulary, zeros where an
alert needs them, and a removed source's series gone."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from taskwatch.clock import ManualClock
from taskwatch.metrics.events import EVENT_RESULTS, TIMER_RESULTS
from taskwatch.metrics.registry import Metrics
from taskwatch.models import SourceKey

SOURCE = SourceKey("prod", "mps", "global")


def fresh() -> Metrics:
    return Metrics(CollectorRegistry(), clock=ManualClock())


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_an_event_is_counted_by_source_documented_type_and_result() -> None:
    m = fresh()
    m.event("mps", "WorkflowTask", "accepted")
    m.event("live", "TaskAlarm", "forged")
    assert value(m, "taskwatch_events_total", source="mps", type="WorkflowTask", result="accepted")
    assert value(m, "taskwatch_events_total", source="live", type="TaskAlarm", result="forged")


@pytest.mark.parametrize("kind", [None, 12, "x" * 500, "TaskStart", "AttackerChosen-0001"])
def test_an_undocumented_kind_is_counted_as_other(kind: object) -> None:
    m = fresh()
    m.event("mps", kind, "malformed")  # TaskStart is Live's, not MPS's
    assert value(m, "taskwatch_events_total", source="mps", type="other", result="malformed") == 1


def test_an_unknown_event_or_timer_result_is_a_programming_error() -> None:
    m = fresh()
    with pytest.raises(ValueError, match="unknown event result"):
        m.event("mps", "WorkflowTask", "maybe")
    with pytest.raises(ValueError, match="unknown timer result"):
        m.timer_fired(SOURCE, "maybe")
    assert "not_leading" in EVENT_RESULTS


def test_the_describe_lag_is_a_histogram_per_source() -> None:
    m = fresh()
    m.event_lag("live", 0.3)
    m.event_lag("live", -1.0)  # a clock oddity counts as 0, never a negative sum
    assert value(m, "taskwatch_event_describe_lag_seconds_count", source="live") == 2
    assert value(m, "taskwatch_event_describe_lag_seconds_sum", source="live") == 0.3
    assert value(m, "taskwatch_event_describe_lag_seconds_bucket", source="live", le="0.05") == 1


def test_timers_pending_exports_the_fired_counters_at_zero_and_counts_firings() -> None:
    m = fresh()
    labels = {"account": "prod", "product": "mps", "region": "global"}
    m.timers_pending(SOURCE, 3)
    assert value(m, "taskwatch_timers_pending", **labels) == 3
    for result in TIMER_RESULTS:
        assert value(m, "taskwatch_timers_fired_total", **labels, result=result) == 0
    m.timer_fired(SOURCE, "acted")
    m.timers_pending(SOURCE, 2)
    assert value(m, "taskwatch_timers_fired_total", **labels, result="acted") == 1
    assert value(m, "taskwatch_timers_pending", **labels) == 2


def test_timer_lateness_is_one_histogram_and_early_counts_as_zero() -> None:
    m = fresh()
    m.timer_lateness(0.2)
    m.timer_lateness(-0.1)
    assert value(m, "taskwatch_timer_lateness_seconds_count") == 2
    assert value(m, "taskwatch_timer_lateness_seconds_sum") == 0.2


def test_a_source_that_leaves_takes_its_timer_series_with_it() -> None:
    m = fresh()
    labels = {"account": "prod", "product": "mps", "region": "global"}
    m.timers_pending(SOURCE, 1)
    m.timer_fired(SOURCE, "nothing")
    m.forget(SOURCE)
    assert value(m, "taskwatch_timers_pending", **labels) is None
    assert value(m, "taskwatch_timers_fired_total", **labels, result="nothing") is None
    m.timers_pending(SOURCE, 0)  # back again: zeros again
    assert value(m, "taskwatch_timers_fired_total", **labels, result="acted") == 0
