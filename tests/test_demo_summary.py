"""The demo's periodic summary says what each policy did, by result."""

from __future__ import annotations

from taskwatch.cli.tables import policy_line
from taskwatch.metrics.registry import Metrics


def test_the_summary_says_no_policy_acted_before_any_decision() -> None:
    assert policy_line(Metrics()) == "policies: no action yet"


def test_the_summary_counts_each_policys_decisions_by_result_over_accounts_and_products() -> None:
    metrics = Metrics()
    for account, product in (("a", "live"), ("a", "live"), ("b", "live")):
        metrics.policy_action("abort-long-live", "abort", "done", account=account, product=product)
    metrics.policy_action("abort-long-live", "abort", "skipped_cap", account="a", product="live")
    metrics.policy_action("cancel-stuck-dlc", "cancel", "would", account="a", product="dlc")
    metrics.policy_action("cancel-stuck-dlc", "kill", "would", account="a", product="dlc")

    assert policy_line(metrics) == (
        "policies: abort-long-live: 3 done, 1 skipped_cap; cancel-stuck-dlc: 2 would"
    )


def test_the_summary_ignores_other_metrics_and_label_sets_never_incremented() -> None:
    metrics = Metrics()
    metrics.policy_actions.labels(
        account="a", product="mps", policy="idle", action="abort", result="done"
    )
    metrics.policy_matched("idle")
    assert policy_line(metrics) == "policies: no action yet"
