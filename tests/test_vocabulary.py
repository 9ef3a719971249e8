"""API-chosen label values: known ones pass, a budget of newcomers, then ``other``; all cut short.

The guard alone, then through :class:`Metrics` (each test builds its own registry and clock), and
the known vocabularies against the adapters and policy tables they copy.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from taskwatch.clock import ManualClock
from taskwatch.metrics.registry import Metrics, TaskGroup, summarise
from taskwatch.metrics.vocabulary import BUDGETS, KNOWN, MAX_LABEL_LENGTH, OTHER, LabelGuard
from taskwatch.models import Phase, Result, SourceKey, Task
from taskwatch.tencent.errors import CallSite

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EPOCH0 = T0.timestamp()
DLC = SourceKey("acct-a", "dlc", "ap-guangzhou")
FOLDED = "taskwatch_label_values_folded_total"


def fresh() -> tuple[Metrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return Metrics(registry, clock=ManualClock(wall=T0, mono=0.0)), registry


def dlc_task(i: int, type_: str, *, phase: Phase = Phase.RUNNING) -> Task:
    return Task(
        product="dlc",
        account="acct-a",
        region="ap-guangzhou",
        id=f"t{i}",
        type=type_,
        status="running" if phase is Phase.RUNNING else "succeeded",
        phase=phase,
        created=EPOCH0 - 100 - i,
        started=EPOCH0 - 50 - i,
        finished=EPOCH0 if phase is Phase.DONE else None,
        result=Result.SUCCESS if phase is Phase.DONE else None,
    )


# --- the guard ----------------------------------------------------------------------------------


def test_newcomers_are_admitted_up_to_the_budget_then_folded_into_other_and_counted() -> None:
    folds: list[str] = []
    guard = LabelGuard(folds.append, budgets={"type": 2})
    assert [guard.admit("type", "dlc", v) for v in ("A", "B", "C", "A", "D")] == [
        "A",
        "B",
        OTHER,
        "A",
        OTHER,
    ]
    assert folds == ["type", "type"]
    assert guard.admit("type", "mps", "C") == "C"  # another product, another budget


def test_known_values_always_pass_and_use_no_budget() -> None:
    guard = LabelGuard(budgets={"type": 1})
    assert guard.admit("type", "dlc", "Invented") == "Invented"
    assert guard.admit("type", "dlc", "Invented2") == OTHER
    for known in sorted(KNOWN["type"]["dlc"]):
        assert guard.admit("type", "dlc", known) == known


def test_every_value_is_cut_to_the_maximum_length_and_the_cut_is_counted() -> None:
    folds: list[str] = []
    guard = LabelGuard(folds.append)
    huge = "FailedOperation." + "X" * 200_000
    assert guard.admit("code", "mps", huge, "DescribeTasks") == huge[:MAX_LABEL_LENGTH]
    assert folds == ["code"]


def test_folding_and_cutting_are_logged_once_per_scope_not_per_value() -> None:
    guard = LabelGuard(budgets={"type": 1, "status": 5})
    with capture_logs() as logs:
        for i in range(100):
            guard.admit("type", "dlc", f"T{i}")
            guard.admit("status", "dlc", "s" * (MAX_LABEL_LENGTH + i + 1))
    events = sorted((e["event"], e["label"]) for e in logs)
    assert events == [("metrics.label_cut", "status"), ("metrics.label_folded", "type")]


def test_forgetting_a_scope_returns_what_it_exported_and_frees_its_budget() -> None:
    guard = LabelGuard(budgets={"reason": 1})
    guard.admit("reason", "mps", "AuthError", "acct-a", "global")
    guard.admit("reason", "mps", "PagingError", "acct-a", "global")
    assert guard.forget("reason", "mps", "acct-a", "global") == {"AuthError", OTHER}
    assert guard.admit("reason", "mps", "PagingError", "acct-a", "global") == "PagingError"


# --- through the metrics ------------------------------------------------------------------------


def test_unique_task_types_fold_into_a_bounded_number_of_series_and_no_task_is_lost() -> None:
    metrics, registry = fresh()
    tasks = [dlc_task(i, f"Generated{i}") for i in range(500)]
    metrics.publish_tasks(DLC, summarise(tasks))
    text = generate_latest(registry).decode()
    series = [line for line in text.splitlines() if line.startswith("taskwatch_tasks{")]
    assert len(series) == BUDGETS["type"] + 1
    total = sum(float(line.rsplit(" ", 1)[1]) for line in series)
    assert total == 500
    other = {"product": "dlc", "account": "acct-a", "region": "ap-guangzhou", "type": OTHER}
    labels = {**other, "status": "running"}
    assert registry.get_sample_value("taskwatch_tasks", labels) == 500 - BUDGETS["type"]
    oldest = min(t.started or 0.0 for t in tasks[BUDGETS["type"] :])
    age = registry.get_sample_value("taskwatch_task_oldest_age_seconds", labels)
    assert age == EPOCH0 - oldest
    assert registry.get_sample_value(FOLDED, {"label": "type"}) == 500 - BUDGETS["type"]


def test_finished_tasks_of_unique_types_keep_the_histograms_bounded() -> None:
    metrics, registry = fresh()
    for i in range(300):
        metrics.task_finished(dlc_task(i, f"Generated{i}", phase=Phase.DONE))
    text = generate_latest(registry).decode()
    counts = [
        line
        for line in text.splitlines()
        if line.startswith("taskwatch_task_duration_seconds_count")
    ]
    assert len(counts) == BUDGETS["type"] + 1
    folded = {"product": "dlc", "type": OTHER, "result": "success"}
    assert registry.get_sample_value("taskwatch_tasks_finished_total", folded) == 280


def test_a_200_kb_error_code_is_counted_under_a_cut_label_value() -> None:
    metrics, registry = fresh()
    site = CallSite(product="dlc", action="DescribeTasks", region="ap-guangzhou", account="a")
    huge = "FailedOperation." + "X" * 200_000
    metrics.attempt_finished(site, huge, 0.1)
    metrics.attempt_finished(site, huge, 0.1)
    labels = {"account": "a", "product": "dlc", "action": "DescribeTasks"}
    cut = {**labels, "code": huge[:MAX_LABEL_LENGTH]}
    assert registry.get_sample_value("taskwatch_api_requests_total", cut) == 2
    assert len(generate_latest(registry)) < 20_000
    assert registry.get_sample_value(FOLDED, {"label": "code"}) == 2


def test_the_folded_counter_starts_at_zero_for_every_guarded_label() -> None:
    _, registry = fresh()
    for label in BUDGETS:
        assert registry.get_sample_value(FOLDED, {"label": label}) == 0


def test_unknown_statuses_are_bounded_like_types() -> None:
    metrics, registry = fresh()
    summary = {("SparkSQLTask", f"state{i}"): TaskGroup(1, None) for i in range(100)}
    metrics.publish_tasks(DLC, summary)
    text = generate_latest(registry).decode()
    series = [line for line in text.splitlines() if line.startswith("taskwatch_tasks{")]
    assert len(series) == BUDGETS["status"] + 1
