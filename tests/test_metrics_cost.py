"""The estimated spend metrics: read back from a fresh registry, priced by a real Pricer.

The prices are set here (time-priced types: each expected figure is rate times hours, by
hand), never taken from the shipped table.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from taskwatch.clock import ManualClock
from taskwatch.cost import Estimate, Pricer
from taskwatch.metrics.registry import Metrics
from taskwatch.metrics.vocabulary import BUDGETS, OTHER
from taskwatch.models import Phase, Result, SourceKey, Task
from taskwatch.settings.prices import Prices
from tests.components import promtool

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0.timestamp()
HOUR = 3600.0
MPS = SourceKey("acct-a", "mps", "global")
LIVE_GZ = SourceKey("acct-a", "live", "ap-guangzhou")
LIVE_BJ = SourceKey("acct-a", "live", "ap-beijing")
PRICER = Pricer(
    Prices.model_validate(
        {"mps": {"LiveStreamProcessTask": {"per_hour": 1.2}}, "live": {"per_hour": 0.5}}
    )
)
RATE = "taskwatch_tasks_cost_per_hour"
UNPRICED = "taskwatch_tasks_unpriced"


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
    source: SourceKey = MPS,
    *,
    type: str = "LiveStreamProcessTask",
    phase: Phase = Phase.RUNNING,
    started: float | None = NOW - HOUR,
    finished: float | None = None,
) -> Task:
    return Task(
        product=source.product,
        account=source.account,
        region=source.region,
        id=id,
        type=type,
        status={Phase.RUNNING: "PROCESSING", Phase.PENDING: "WAITING"}.get(phase, "FINISH"),
        phase=phase,
        created=NOW - 2 * HOUR,
        started=started if phase is not Phase.PENDING else None,
        finished=finished,
        result=Result.SUCCESS if phase is Phase.DONE else None,
    )


def rate(source: SourceKey, type: str, currency: str = "CNY") -> dict[str, str]:
    return {
        "account": source.account,
        "product": source.product,
        "type": type,
        "currency": currency,
    }


def typed(source: SourceKey, type: str) -> dict[str, str]:
    return {"account": source.account, "product": source.product, "type": type}


def test_the_spend_rate_sums_the_running_tasks_rates_and_counts_the_unpriced(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.publish(
        MPS,
        [
            task("r1"),
            task("r2"),
            task("w1", phase=Phase.PENDING),  # priced, waiting: adds 0
            task("t1", type="WorkflowTask"),  # no price in this table
            task("gone", phase=Phase.DONE, finished=NOW - 60),  # not tracked: not counted
        ],
        PRICER,
        NOW,
    )
    assert registry.get_sample_value(RATE, rate(MPS, "LiveStreamProcessTask")) == 2 * 1.2
    assert registry.get_sample_value(RATE, rate(MPS, "WorkflowTask")) is None
    assert registry.get_sample_value(UNPRICED, typed(MPS, "WorkflowTask")) == 1
    assert registry.get_sample_value(UNPRICED, typed(MPS, "LiveStreamProcessTask")) == 0


def test_the_regions_of_an_account_and_product_add_up_in_one_series(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    pull = "PullLivePushLive"
    metrics.publish(LIVE_GZ, [task("a", LIVE_GZ, type=pull)], PRICER, NOW)
    metrics.publish(LIVE_BJ, [task(i, LIVE_BJ, type=pull) for i in "bc"], PRICER, NOW)
    assert registry.get_sample_value(RATE, rate(LIVE_GZ, pull)) == 3 * 0.5
    metrics.forget(LIVE_BJ)  # a region left the configuration: its share goes
    assert registry.get_sample_value(RATE, rate(LIVE_GZ, pull)) == 0.5
    metrics.publish(LIVE_GZ, [], PRICER, NOW)  # nothing tracked any more: no series
    assert registry.get_sample_value(RATE, rate(LIVE_GZ, pull)) is None
    assert registry.get_sample_value(UNPRICED, typed(LIVE_GZ, pull)) is None


def test_with_prices_off_no_spend_series_is_exported(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.publish(MPS, [task("r1")], PRICER, NOW)
    metrics.publish(MPS, [task("r1")], Pricer.off(), NOW)
    assert registry.get_sample_value(RATE, rate(MPS, "LiveStreamProcessTask")) is None
    assert registry.get_sample_value(UNPRICED, typed(MPS, "LiveStreamProcessTask")) is None
    assert (
        registry.get_sample_value(
            "taskwatch_tasks",
            {**typed(MPS, "LiveStreamProcessTask"), "region": "global", "status": "PROCESSING"},
        )
        == 1
    )


def test_types_beyond_the_label_budget_are_folded_and_their_rates_added(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    types = [f"Custom{i}" for i in range(BUDGETS["type"] + 3)]  # all priced: live per hour
    metrics.publish(LIVE_GZ, [task(t, LIVE_GZ, type=t) for t in types], PRICER, NOW)
    assert registry.get_sample_value(RATE, rate(LIVE_GZ, OTHER)) == 3 * 0.5
    assert registry.get_sample_value(UNPRICED, typed(LIVE_GZ, OTHER)) == 0
    assert registry.get_sample_value(RATE, rate(LIVE_GZ, "Custom0")) == 0.5


def test_a_finished_task_adds_its_spend_once_by_account_product_type_and_currency(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    ended = task("e", phase=Phase.DONE, started=NOW - 2.5 * HOUR, finished=NOW - 0.5 * HOUR)
    metrics.task_finished(ended, PRICER.estimate(ended, NOW))
    metrics.task_finished(task("u", type="WorkflowTask", phase=Phase.DONE), None)
    total = "taskwatch_tasks_cost_total"
    assert registry.get_sample_value(total, rate(MPS, "LiveStreamProcessTask")) == pytest.approx(
        2.4  # 2 h at 1.2
    )
    assert registry.get_sample_value(total, rate(MPS, "WorkflowTask")) is None


def test_saved_spend_counts_the_known_amount_or_else_the_rate_per_hour_avoided(
    metrics: Metrics, registry: CollectorRegistry, clock: ManualClock
) -> None:
    metrics.policies_configured(["stop-live", "cap-queries"], "CNY")
    saved = "taskwatch_actions_saved_cost_total"
    per_hour = "taskwatch_actions_saved_cost_per_hour_total"
    for name in (saved, per_hour):  # at 0 before the first action, so alerts see the increase
        for policy in ("stop-live", "cap-queries"):
            assert registry.get_sample_value(name, {"policy": policy, "currency": "CNY"}) == 0
    metrics.action_saved("stop-live", "CNY", 3.6, 1.2)  # 3 h left at 1.2
    metrics.action_saved("stop-live", "CNY", None, 1.2)  # no end known
    clock.advance(3600)
    metrics.action_saved("cap-queries", "CNY", None, 0.35)
    stop = {"policy": "stop-live", "currency": "CNY"}
    assert registry.get_sample_value(saved, stop) == pytest.approx(3.6)
    assert registry.get_sample_value(per_hour, stop) == pytest.approx(1.2)
    caps = {"policy": "cap-queries", "currency": "CNY"}
    assert registry.get_sample_value(per_hour, caps) == pytest.approx(0.35)
    assert registry.get_sample_value(saved, caps) == 0

    day = metrics.saved_since(NOW - 1)
    got = [(s.policy, round(s.saved, 6), round(s.per_hour, 6), s.actions) for s in day]
    assert got == [("stop-live", 3.6, 1.2, 2), ("cap-queries", 0.0, 0.35, 1)]
    assert [s.policy for s in metrics.saved_since(NOW + 1)] == ["cap-queries"]
    clock.advance(86400)  # a day later the first two have left the window
    metrics.action_saved("cap-queries", "CNY", 0.0, 0.0)
    assert [(s.policy, s.actions) for s in metrics.saved_since(0)] == [("cap-queries", 2)]


def test_the_spend_families_are_lint_clean_and_carry_no_task_id(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.publish(MPS, [task("task-id-secret-1"), task("u2", type="WorkflowTask")], PRICER, NOW)
    ended = task("task-id-secret-2", phase=Phase.DONE, finished=NOW)
    metrics.task_finished(ended, Estimate(1.0, 0.0, "CNY", "test"))
    metrics.policies_configured(["stop-live"], "CNY")
    metrics.action_saved("stop-live", "CNY", 1.0, 0.5)
    text = generate_latest(registry)
    assert b"task-id-secret" not in text
    for family in (RATE, UNPRICED, "taskwatch_tasks_cost_total"):
        assert f"\n{family}{{".encode() in text
    done = promtool("check", "metrics", stdin=text)
    assert done.returncode == 0, done.stdout + done.stderr


class Exploding(Pricer):
    """A price table whose estimate raises (fault injection: the estimator promises it never
    does, and a cost figure must not stop a scan if it ever did)."""

    def estimate(self, task: Task, now: float) -> Estimate | None:
        raise ZeroDivisionError("a bad field")


def test_an_estimate_that_raises_counts_the_task_as_unpriced(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    pricer = Exploding(PRICER.prices)
    metrics.publish(MPS, [task("r1")], pricer, NOW)
    assert registry.get_sample_value(UNPRICED, typed(MPS, "LiveStreamProcessTask")) == 1
    assert registry.get_sample_value(RATE, rate(MPS, "LiveStreamProcessTask")) is None
