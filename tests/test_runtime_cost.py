"""The runtime's price table: every watcher prices with the configuration's, a reload swaps it, and
the saved-spend counters of its policies are exported at 0.

No call reaches the API: building makes clients and watchers but calls nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from taskwatch.models import Phase, Task
from tests.policy.kit import EXAMPLE_RULE
from tests.test_runtime import build, services_for, settings

PULL = Task(
    "live", "media", "ap-guangzhou", "1", "PullLivePushLive", "enable", Phase.RUNNING, started=0.0
)


def prices(per_hour: float) -> dict[str, Any]:
    return {"live": {"per_hour": per_hour}}


def test_each_watcher_prices_with_the_configuration_s_table_and_a_reload_swaps_it(
    tmp_path: Path,
) -> None:
    s = settings(tmp_path, prices=prices(0.5))
    services = services_for(s)
    first = build(s, services)
    assert first.pricer.currency == "CNY"
    assert {src.watcher.pricer is first.pricer for src in first.sources} == {True}
    estimate = first.pricer.estimate(PULL, 7200.0)
    assert estimate is not None
    assert estimate.per_hour == 0.5

    again = build(settings(tmp_path, prices=prices(2.0)), services, previous=first)
    # prices are not part of what a watcher is built from: the watchers are kept (their trackers
    # with them) and price with the new table
    kept = [a.watcher is b.watcher for a, b in zip(again.sources, first.sources, strict=True)]
    assert kept == [True] * len(first.sources)
    assert {src.watcher.pricer is again.pricer for src in again.sources} == {True}
    estimate = again.pricer.estimate(PULL, 7200.0)
    assert estimate is not None
    assert estimate.per_hour == 2.0


def test_prices_off_give_watchers_a_pricer_that_never_estimates(tmp_path: Path) -> None:
    s = settings(tmp_path, prices={"enabled": False})
    rt = build(s, services_for(s))
    assert all(src.watcher.pricer.estimate(PULL, 7200.0) is None for src in rt.sources)


def test_the_saved_spend_counters_of_every_policy_start_at_zero_and_reloads_add_new_ones(
    tmp_path: Path,
) -> None:
    s = settings(tmp_path, policies=[EXAMPLE_RULE])
    services = services_for(s)
    first = build(s, services)
    registry = services.metrics.registry
    labels = {"policy": "abort-long-live-processing", "currency": "CNY"}
    for name in (
        "taskwatch_actions_saved_cost_total",
        "taskwatch_actions_saved_cost_per_hour_total",
    ):
        assert registry.get_sample_value(name, labels) == 0
    renamed = {**EXAMPLE_RULE, "name": "abort-live-after-6h"}
    build(settings(tmp_path, policies=[renamed]), services, previous=first)
    new = {"policy": "abort-live-after-6h", "currency": "CNY"}
    assert registry.get_sample_value("taskwatch_actions_saved_cost_total", new) == 0
