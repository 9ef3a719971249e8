"""Every taskwatch_* metric: names, labels and values, each read back from a fresh registry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import choose_encoder

from taskwatch.clock import ManualClock
from taskwatch.cost import Estimate, Pricer
from taskwatch.limiter import Limiter
from taskwatch.metrics.registry import MAX_CODES, OTHER, Metrics, TaskGroup, summarise
from taskwatch.models import Phase, Result, SourceKey, Task
from taskwatch.settings.prices import Prices
from taskwatch.tencent.client import CallObserver
from taskwatch.tencent.errors import CallSite
from tests.components import promtool

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EPOCH0 = T0.timestamp()
MPS = SourceKey("acct-a", "mps", "global")
DLC = SourceKey("acct-a", "dlc", "ap-guangzhou")
SITE = CallSite(product="mps", action="DescribeTasks", region="ap-guangzhou", account="acct-a")
CALL = {"account": "acct-a", "product": "mps", "action": "DescribeTasks"}
PRICER = Pricer(Prices.model_validate({"live": {"per_hour": 0.5}}))


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(wall=T0, mono=100.0)


@pytest.fixture
def metrics(registry: CollectorRegistry, clock: ManualClock) -> Metrics:
    return Metrics(registry, clock=clock, version="1.2.3")


def task(
    id: str,
    *,
    phase: Phase = Phase.RUNNING,
    status: str = "PROCESSING",
    type: str = "WorkflowTask",
    product: str = "mps",
    created: float | None = None,
    started: float | None = None,
    finished: float | None = None,
    result: Result | None = None,
) -> Task:
    return Task(
        product=product,
        account="acct-a",
        region="global",
        id=id,
        type=type,
        status=status,
        phase=phase,
        created=created,
        started=started,
        finished=finished,
        result=result,
    )


def tasks_labels(source: SourceKey, type: str, status: str) -> dict[str, str]:
    return {
        "product": source.product,
        "account": source.account,
        "region": source.region,
        "type": type,
        "status": status,
    }


# --- tasks --------------------------------------------------------------------------------------


def test_summarise_counts_active_tasks_by_type_and_status_with_the_oldest_reference_time() -> None:
    summary = summarise(
        [
            task("a", phase=Phase.PENDING, status="WAITING", created=EPOCH0 - 50),
            task("b", phase=Phase.PENDING, status="WAITING", created=EPOCH0 - 80),
            task("c", created=EPOCH0 - 900, started=EPOCH0 - 30),
            task("d", created=EPOCH0 - 10, started=EPOCH0 - 5),
            task("e", phase=Phase.DONE, status="FINISH", result=Result.SUCCESS),
        ]
    )
    assert summary == {
        ("WorkflowTask", "WAITING"): TaskGroup(2, EPOCH0 - 80),
        ("WorkflowTask", "PROCESSING"): TaskGroup(2, EPOCH0 - 30),
    }


def test_summarise_counts_every_listed_live_task_but_no_finished_mps_or_dlc_task() -> None:
    summary = summarise(
        [
            task("l1", product="live", type="PullLivePushLive", phase=Phase.DONE, status="enable"),
            task("m1", product="mps", phase=Phase.DONE, status="FINISH"),
            task("d1", product="dlc", type="SQL", phase=Phase.DONE, status="succeeded"),
        ]
    )
    assert summary == {("PullLivePushLive", "enable"): TaskGroup(1, None)}


def test_a_running_task_without_a_start_time_gives_its_group_no_age() -> None:
    assert summarise([task("a", created=EPOCH0 - 5)]) == {
        ("WorkflowTask", "PROCESSING"): TaskGroup(1, None)
    }


def test_published_tasks_are_exported_with_source_labels(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.publish_tasks(MPS, {("WorkflowTask", "WAITING"): TaskGroup(3, EPOCH0 - 60)})
    labels = tasks_labels(MPS, "WorkflowTask", "WAITING")
    assert registry.get_sample_value("taskwatch_tasks", labels) == 3
    assert registry.get_sample_value("taskwatch_task_oldest_age_seconds", labels) == 60


def test_publishing_replaces_a_sources_summary_so_vanished_label_sets_disappear(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.publish_tasks(
        MPS,
        {
            ("WorkflowTask", "WAITING"): TaskGroup(3, EPOCH0),
            ("WorkflowTask", "PROCESSING"): TaskGroup(1, EPOCH0),
        },
    )
    metrics.publish_tasks(DLC, {("SQL", "running"): TaskGroup(2, EPOCH0)})
    metrics.publish_tasks(MPS, {("WorkflowTask", "PROCESSING"): TaskGroup(4, EPOCH0)})

    waiting = tasks_labels(MPS, "WorkflowTask", "WAITING")
    assert registry.get_sample_value("taskwatch_tasks", waiting) is None
    assert registry.get_sample_value("taskwatch_task_oldest_age_seconds", waiting) is None
    processing = tasks_labels(MPS, "WorkflowTask", "PROCESSING")
    assert registry.get_sample_value("taskwatch_tasks", processing) == 4
    other_source = tasks_labels(DLC, "SQL", "running")
    assert registry.get_sample_value("taskwatch_tasks", other_source) == 2

    metrics.publish_tasks(MPS, {})
    assert registry.get_sample_value("taskwatch_tasks", processing) is None


def test_the_oldest_age_is_computed_from_the_clock_at_scrape_time(
    metrics: Metrics, registry: CollectorRegistry, clock: ManualClock
) -> None:
    metrics.publish_tasks(MPS, {("WorkflowTask", "PROCESSING"): TaskGroup(1, EPOCH0 - 10)})
    labels = tasks_labels(MPS, "WorkflowTask", "PROCESSING")
    assert registry.get_sample_value("taskwatch_task_oldest_age_seconds", labels) == 10
    clock.advance(3600)
    assert registry.get_sample_value("taskwatch_task_oldest_age_seconds", labels) == 3610


def test_an_age_is_never_negative_when_the_host_clock_lags_the_api(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.publish_tasks(MPS, {("WorkflowTask", "PROCESSING"): TaskGroup(1, EPOCH0 + 30)})
    labels = tasks_labels(MPS, "WorkflowTask", "PROCESSING")
    assert registry.get_sample_value("taskwatch_task_oldest_age_seconds", labels) == 0


def test_a_finished_task_counts_its_result_and_observes_duration_and_queue_wait(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.task_finished(
        task(
            "t1",
            phase=Phase.DONE,
            status="FINISH",
            created=EPOCH0,
            started=EPOCH0 + 20,
            finished=EPOCH0 + 620,
            result=Result.FAILED,
        )
    )
    by_type = {"product": "mps", "type": "WorkflowTask"}
    finished = {**by_type, "result": "failed"}
    assert registry.get_sample_value("taskwatch_tasks_finished_total", finished) == 1
    assert registry.get_sample_value("taskwatch_task_duration_seconds_sum", by_type) == 600
    duration_le_600 = {**by_type, "le": "600.0"}
    assert registry.get_sample_value("taskwatch_task_duration_seconds_bucket", duration_le_600) == 1
    duration_le_300 = {**by_type, "le": "300.0"}
    assert registry.get_sample_value("taskwatch_task_duration_seconds_bucket", duration_le_300) == 0
    assert registry.get_sample_value("taskwatch_task_queue_wait_seconds_sum", by_type) == 20


def test_a_finished_task_without_result_or_times_counts_as_unknown_and_observes_nothing(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.task_finished(task("t1", phase=Phase.DONE, status="FINISH"))
    by_type = {"product": "mps", "type": "WorkflowTask"}
    unknown = {**by_type, "result": "unknown"}
    assert registry.get_sample_value("taskwatch_tasks_finished_total", unknown) == 1
    assert registry.get_sample_value("taskwatch_task_duration_seconds_count", by_type) is None
    assert registry.get_sample_value("taskwatch_task_queue_wait_seconds_count", by_type) is None


def test_task_buckets_reach_from_one_second_to_a_week(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.task_finished(task("t", phase=Phase.DONE, created=0, started=1, finished=2))
    text = generate_latest(registry).decode()
    buckets = [
        line for line in text.splitlines() if line.startswith("taskwatch_task_duration_seconds_b")
    ]
    assert 'le="1.0"' in buckets[0]
    assert 'le="604800.0"' in buckets[-2]
    assert 'le="+Inf"' in buckets[-1]


def test_no_task_id_ever_appears_in_the_exposition(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    ids = ["2600011111-WorkflowTask-deadbeefcafe1t", "sqltask-7f3a9c1e-0000", "pull-task-beefed42"]
    tasks = [
        task(ids[0], created=EPOCH0 - 5, started=EPOCH0 - 2),
        task(ids[1], product="dlc", type="SQL", status="running", started=EPOCH0),
        task(ids[2], product="live", type="PullLivePushLive", status="enable", phase=Phase.DONE),
    ]
    metrics.publish_tasks(MPS, summarise(tasks))
    for t in tasks:
        metrics.task_finished(t)
    openmetrics, _ = choose_encoder("application/openmetrics-text")
    exposition = generate_latest(registry).decode() + openmetrics(registry).decode()
    assert "taskwatch_tasks{" in exposition
    for task_id in ids:
        assert task_id not in exposition


def test_forgetting_a_source_drops_its_tasks_and_scan_series(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.publish_tasks(MPS, {("WorkflowTask", "WAITING"): TaskGroup(1, EPOCH0)})
    metrics.publish_tasks(DLC, {("SQL", "running"): TaskGroup(1, EPOCH0)})
    metrics.cycle_finished(MPS, seconds=1.0, calls=2, error=None)
    metrics.cycle_finished(MPS, seconds=1.0, calls=2, error="PagingError")
    metrics.forget(MPS)
    text = generate_latest(registry).decode()
    assert 'product="mps"' not in text
    assert 'product="dlc"' in text


# --- API calls ----------------------------------------------------------------------------------


def test_metrics_is_the_clients_call_observer(metrics: Metrics) -> None:
    observer: CallObserver = metrics
    assert observer is metrics


def test_an_attempt_counts_its_code_and_observes_its_duration(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.attempt_finished(SITE, "Success", 0.2)
    metrics.attempt_finished(SITE, "HTTP502", 0.05)
    metrics.attempt_finished(SITE, "NetworkError", 1.0)
    for code in ("Success", "HTTP502", "NetworkError"):
        assert (
            registry.get_sample_value("taskwatch_api_requests_total", {**CALL, "code": code}) == 1
        )
    assert registry.get_sample_value("taskwatch_api_request_duration_seconds_count", CALL) == 3
    assert registry.get_sample_value("taskwatch_api_request_duration_seconds_sum", CALL) == 1.25
    assert registry.get_sample_value("taskwatch_api_throttled_total", CALL) is None


def test_request_limit_exceeded_and_its_sub_codes_count_as_throttled(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.attempt_finished(SITE, "RequestLimitExceeded", 0.01)
    metrics.attempt_finished(SITE, "RequestLimitExceeded.GlobalRegionUinLimitExceeded", 0.01)
    metrics.attempt_finished(SITE, "RequestLimitExceededish", 0.01)
    assert registry.get_sample_value("taskwatch_api_throttled_total", CALL) == 2


def test_codes_beyond_the_cap_per_action_are_counted_as_other(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    for n in range(MAX_CODES + 5):
        metrics.attempt_finished(SITE, f"InvalidParameter.Weird{n}", 0.01)
    metrics.attempt_finished(SITE, "InvalidParameter.Weird0", 0.01)
    requests = "taskwatch_api_requests_total"
    assert registry.get_sample_value(requests, {**CALL, "code": "InvalidParameter.Weird0"}) == 2
    assert (
        registry.get_sample_value(requests, {**CALL, "code": f"InvalidParameter.Weird{MAX_CODES}"})
        is None
    )
    assert registry.get_sample_value(requests, {**CALL, "code": OTHER}) == 5
    other_action = CallSite(product="mps", action="ManageTask", account="acct-a")
    metrics.attempt_finished(other_action, "InvalidParameter.Weird99", 0.01)
    manage = {**CALL, "action": "ManageTask", "code": "InvalidParameter.Weird99"}
    assert registry.get_sample_value(requests, manage) == 1


def test_a_rate_wait_is_observed(metrics: Metrics, registry: CollectorRegistry) -> None:
    metrics.rate_waited(SITE, 0.3)
    assert registry.get_sample_value("taskwatch_ratelimit_wait_seconds_count", CALL) == 1
    assert registry.get_sample_value("taskwatch_ratelimit_wait_seconds_sum", CALL) == 0.3
    le_half = {**CALL, "le": "0.5"}
    assert registry.get_sample_value("taskwatch_ratelimit_wait_seconds_bucket", le_half) == 1


def test_the_limiters_rate_and_ceiling_are_read_at_scrape_time(
    metrics: Metrics, registry: CollectorRegistry, clock: ManualClock
) -> None:
    limiter = Limiter(budget=0.5, clock=clock)
    metrics.watch_limiter(limiter)
    assert registry.get_sample_value("taskwatch_ratelimit_rate_per_second", CALL) is None
    limiter.on_success("acct-a", "mps", "DescribeTasks")  # creates the bucket
    assert registry.get_sample_value("taskwatch_ratelimit_rate_per_second", CALL) == 50
    assert registry.get_sample_value("taskwatch_ratelimit_ceiling_per_second", CALL) == 50
    limiter.on_throttled("acct-a", "mps", "DescribeTasks")
    assert registry.get_sample_value("taskwatch_ratelimit_rate_per_second", CALL) == 25
    assert registry.get_sample_value("taskwatch_ratelimit_ceiling_per_second", CALL) == 50
    metrics.watch_limiter(None)
    assert registry.get_sample_value("taskwatch_ratelimit_rate_per_second", CALL) is None


# --- scan loops ---------------------------------------------------------------------------------

SOURCE = {"account": "acct-a", "product": "mps", "region": "global"}


def test_a_successful_cycle_records_duration_calls_and_the_wall_time_of_success(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.cycle_finished(MPS, seconds=2.5, calls=7, error=None)
    assert registry.get_sample_value("taskwatch_scan_duration_seconds_sum", SOURCE) == 2.5
    assert registry.get_sample_value("taskwatch_api_calls_per_cycle", SOURCE) == 7
    last = registry.get_sample_value("taskwatch_scan_last_success_timestamp_seconds", SOURCE)
    assert last == EPOCH0
    cycles = "taskwatch_scan_cycles_total"
    assert registry.get_sample_value(cycles, {**SOURCE, "result": "ok"}) == 1
    assert registry.get_sample_value(cycles, {**SOURCE, "result": "failed"}) == 0
    assert registry.get_sample_value(cycles, {**SOURCE, "result": "skipped"}) == 0


def test_a_failed_cycle_counts_its_reason_and_keeps_the_last_success_time(
    metrics: Metrics, registry: CollectorRegistry, clock: ManualClock
) -> None:
    metrics.cycle_finished(MPS, seconds=1.0, calls=3, error=None)
    clock.advance(60)
    metrics.cycle_finished(MPS, seconds=4.0, calls=1, error="ThrottledError")
    errors = "taskwatch_scan_errors_total"
    assert registry.get_sample_value(errors, {**SOURCE, "reason": "ThrottledError"}) == 1
    assert (
        registry.get_sample_value("taskwatch_scan_cycles_total", {**SOURCE, "result": "failed"})
        == 1
    )
    last = registry.get_sample_value("taskwatch_scan_last_success_timestamp_seconds", SOURCE)
    assert last == EPOCH0
    assert registry.get_sample_value("taskwatch_scan_duration_seconds_count", SOURCE) == 2
    assert registry.get_sample_value("taskwatch_api_calls_per_cycle", SOURCE) == 1


def test_a_skipped_cycle_is_counted(metrics: Metrics, registry: CollectorRegistry) -> None:
    metrics.cycle_skipped(MPS)
    metrics.cycle_skipped(MPS)
    skipped = {**SOURCE, "result": "skipped"}
    assert registry.get_sample_value("taskwatch_scan_cycles_total", skipped) == 2


# --- process ------------------------------------------------------------------------------------


def test_build_info_names_the_version_and_python(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    text = generate_latest(registry).decode()
    line = next(x for x in text.splitlines() if x.startswith("taskwatch_build_info{"))
    assert 'version="1.2.3"' in line
    assert 'python="3.' in line
    assert line.endswith(" 1.0")


def test_a_failed_reload_keeps_the_time_of_the_last_good_one(
    metrics: Metrics, registry: CollectorRegistry, clock: ManualClock
) -> None:
    metrics.config_loaded(True)
    clock.advance(100)
    metrics.config_loaded(False)
    assert registry.get_sample_value("taskwatch_config_last_reload_successful") == 0
    stamp = registry.get_sample_value("taskwatch_config_last_reload_success_timestamp_seconds")
    assert stamp == EPOCH0
    metrics.config_loaded(True)
    assert registry.get_sample_value("taskwatch_config_last_reload_successful") == 1
    stamp = registry.get_sample_value("taskwatch_config_last_reload_success_timestamp_seconds")
    assert stamp == EPOCH0 + 100


def test_the_leader_gauge_follows_leadership(metrics: Metrics, registry: CollectorRegistry) -> None:
    assert registry.get_sample_value("taskwatch_leader") == 0
    metrics.set_leader(True)
    assert registry.get_sample_value("taskwatch_leader") == 1
    metrics.set_leader(False)
    assert registry.get_sample_value("taskwatch_leader") == 0


def test_leadership_changes_set_the_gauge_and_count_transitions(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.leader_changed(True)
    metrics.leader_changed(False)
    metrics.leader_changed(True)
    assert registry.get_sample_value("taskwatch_leader") == 1
    assert registry.get_sample_value("taskwatch_leader_transitions_total") == 3


def test_two_instances_with_their_own_registries_do_not_collide() -> None:
    Metrics(CollectorRegistry())
    Metrics(CollectorRegistry())
    Metrics()


def test_a_policy_action_is_counted_per_account_and_product_so_alerts_can_be_routed(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.policy_action("abort-long-live", "abort", "failed", account="acct-a", product="mps")
    metrics.policy_action("abort-long-live", "abort", "failed", account="acct-b", product="mps")
    metrics.policy_action("abort-long-live", "abort", "failed", account="acct-b", product="mps")
    labels = {"policy": "abort-long-live", "action": "abort", "result": "failed", "product": "mps"}
    actions = "taskwatch_policy_actions_total"
    assert registry.get_sample_value(actions, {**labels, "account": "acct-a"}) == 1
    assert registry.get_sample_value(actions, {**labels, "account": "acct-b"}) == 2


# --- the whole exposition -----------------------------------------------------------------------


def full(metrics: Metrics, clock: ManualClock) -> None:
    """Touch every metric, so every family has samples."""
    metrics.publish_tasks(MPS, {("WorkflowTask", "WAITING"): TaskGroup(2, EPOCH0 - 5)})
    metrics.task_finished(
        task("x", phase=Phase.DONE, created=EPOCH0, started=EPOCH0 + 1, finished=EPOCH0 + 9)
    )
    metrics.attempt_finished(SITE, "RequestLimitExceeded", 0.1)
    metrics.rate_waited(SITE, 0.1)
    limiter = Limiter(budget=0.5, clock=clock)
    limiter.on_success("acct-a", "mps", "DescribeTasks")
    metrics.watch_limiter(limiter)
    metrics.cycle_finished(MPS, seconds=1, calls=1, error="NetworkError")
    metrics.cycle_skipped(MPS)
    metrics.config_loaded(True)
    metrics.set_dry_run(True)
    metrics.set_leader(True)
    metrics.leader_changed(True)
    metrics.policy_matched("abort-long-live")
    metrics.policy_action("abort-long-live", "abort", "done", account="acct-a", product="mps")
    metrics.set_actions_paused(False)
    metrics.notification("ops-wecom", "sent")
    live = task("l", product="live", type="PullLivePushLive", started=EPOCH0 - 3600)
    metrics.publish(SourceKey("acct-a", "live", "ap-guangzhou"), [live], PRICER, EPOCH0)
    metrics.task_finished(task("y", phase=Phase.DONE), Estimate(1.5, 0.0, "CNY", "by hand"))
    metrics.policies_configured(["abort-long-live"], "CNY")
    metrics.action_saved("abort-long-live", "CNY", None, 1.2)
    metrics.watch_credentials("acct-a", _HELD)
    assert _HELD.observer is not None
    _HELD.observer("failed")
    metrics.event("mps", "WorkflowTask", "accepted")
    metrics.event_lag("mps", 0.2)
    metrics.timers_pending(MPS, 3)
    metrics.timer_fired(MPS, "acted")
    metrics.timer_lateness(0.004)
    metrics.shards_configured({0: 3, 1: 2})
    metrics.shard_changed(1, True)


class HeldCredentials:
    """A role source that holds credentials expiring an hour after T0 (the metrics read only
    this much of a RefreshingCredentials)."""

    kind = "assume-role"
    observer: Callable[[str], None] | None = None
    expires_at: float | None = EPOCH0 + 3600


_HELD = HeldCredentials()


PROCESS_FAMILIES = {
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_cpu_seconds",
    "process_open_fds",
    "process_max_fds",
    "python_info",
}
"""What every exporter says about itself (the client library's process and platform collectors)."""


def test_every_family_is_named_taskwatch_and_promtool_finds_the_exposition_lint_clean(
    metrics: Metrics, registry: CollectorRegistry, clock: ManualClock
) -> None:
    full(metrics, clock)
    families = {m.name for m in registry.collect()} - PROCESS_FAMILIES
    assert families == {
        "taskwatch_tasks",
        "taskwatch_task_oldest_age_seconds",
        "taskwatch_task_duration_seconds",
        "taskwatch_task_queue_wait_seconds",
        "taskwatch_tasks_finished",
        "taskwatch_api_requests",
        "taskwatch_api_request_duration_seconds",
        "taskwatch_api_throttled",
        "taskwatch_ratelimit_wait_seconds",
        "taskwatch_ratelimit_rate_per_second",
        "taskwatch_ratelimit_ceiling_per_second",
        "taskwatch_scan_duration_seconds",
        "taskwatch_scan_last_success_timestamp_seconds",
        "taskwatch_scan_errors",
        "taskwatch_api_calls_per_cycle",
        "taskwatch_scan_cycles",
        "taskwatch_build",
        "taskwatch_config_last_reload_successful",
        "taskwatch_config_last_reload_success_timestamp_seconds",
        "taskwatch_dry_run",
        "taskwatch_leader",
        "taskwatch_leader_transitions",
        "taskwatch_policy_matches",
        "taskwatch_policy_actions",
        "taskwatch_actions_paused",
        "taskwatch_notifications",
        "taskwatch_label_values_folded",
        "taskwatch_journal_errors",
        "taskwatch_credentials_refreshes",
        "taskwatch_credentials_expiry_timestamp_seconds",
        "taskwatch_tasks_cost_per_hour",
        "taskwatch_tasks_unpriced",
        "taskwatch_tasks_cost",
        "taskwatch_actions_saved_cost",
        "taskwatch_actions_saved_cost_per_hour",
        "taskwatch_events",
        "taskwatch_event_describe_lag_seconds",
        "taskwatch_timers_pending",
        "taskwatch_timers_fired",
        "taskwatch_timer_lateness_seconds",
        "taskwatch_hints_relayed",
        "taskwatch_shard_info",
        "taskwatch_shard_accounts",
        "taskwatch_shard_transitions",
    }
    done = promtool("check", "metrics", stdin=generate_latest(registry))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_exposition_has_process_metrics_and_no_created_series(
    metrics: Metrics, registry: CollectorRegistry, clock: ManualClock
) -> None:
    full(metrics, clock)
    text = generate_latest(registry).decode()
    assert {m.name for m in registry.collect()} >= PROCESS_FAMILIES
    assert "\nprocess_cpu_seconds_total " in text
    assert "_created" not in text  # counters and histograms export no _created series
