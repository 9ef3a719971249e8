"""Cost tests in policies: ``cost_over``, ``cost.so_far``, ``cost.per_hour``, against real
estimates of the configuration's prices (compiled as the daemon compiles: settings, then
``compile_rules(..., pricer=Pricer(settings.prices))``)."""

from __future__ import annotations

from typing import Any

import pytest

from taskwatch.cost import Pricer
from taskwatch.errors import ConfigError
from taskwatch.policy import Rule, compile_rules, explain, matches
from taskwatch.settings import parse_settings
from tests.policy.kit import HOUR, LIVE, NOW, SOURCE, policy, task

PRICES: dict[str, Any] = {"shipped": False, "mps": {LIVE: {"per_hour": 10.0}}}
"""Live stream processing at 10 per hour, nothing else priced (no shipped price either)."""
LIVE_RUNNING = [{"type": LIVE}, {"status": "PROCESSING"}]


def compiled(*policies: dict[str, Any], prices: dict[str, Any] | None = None) -> list[Rule]:
    data: dict[str, Any] = {
        "accounts": [{"name": "main", "credentials": "env"}],
        "policies": list(policies),
        "prices": PRICES if prices is None else prices,
    }
    settings = parse_settings(data, source=SOURCE, environ={})
    return compile_rules(settings.policies, source=SOURCE, pricer=Pricer(settings.prices))


def one(filters: Any, product: str = "mps", **keys: Any) -> Rule:
    (rule,) = compiled(policy(filters, product, **keys))
    return rule


def refusal(filters: Any, product: str = "mps", **keys: Any) -> ConfigError:
    prices = keys.pop("prices", None)
    with pytest.raises(ConfigError) as caught:
        compiled(policy(filters, product, **keys), prices=prices)
    return caught.value


def live(hours: float, **changes: Any) -> Any:
    return task("mps", status="PROCESSING", type=LIVE, age=hours * HOUR, **changes)


# --- the language ---------------------------------------------------------------------------


def test_cost_over_is_so_far_above_the_threshold_at_the_instant() -> None:
    rule = one([*LIVE_RUNNING, {"cost_over": 50}])
    assert not matches(rule, live(5), now=NOW)  # 50.00 is not over 50
    assert matches(rule, live(5.01), now=NOW)
    assert not matches(rule, live(4), now=NOW)
    assert matches(rule, live(4), now=NOW + 1.5 * HOUR)  # the same task, later: 55


@pytest.mark.parametrize(
    ("key", "op", "value", "hours", "expected"),
    [
        ("cost.so_far", "ge", 30, 3, True),
        ("cost.so_far", "lt", 30, 3, False),
        ("cost.per_hour", "eq", 10, 1, True),
        ("cost.per_hour", "gt", 10, 1, False),
        ("cost.per_hour", "ne", 5, 1, True),
        ("cost.so_far", "le", 20.5, 2, True),
    ],
)
def test_the_generic_cost_keys_compare_numbers(
    key: str, op: str, value: float, hours: float, expected: bool
) -> None:
    rule = one([*LIVE_RUNNING, {"key": key, "op": op, "value": value}])
    assert matches(rule, live(hours), now=NOW) is expected


def test_a_task_without_an_estimate_matches_no_cost_comparison_but_absent() -> None:
    other = task("mps", status="WAITING", type="WorkflowTask")  # WorkflowTask has no price here
    waiting = [{"status": "WAITING"}]
    for test in (
        {"cost_over": 0},
        {"key": "cost.so_far", "op": "ge", "value": 0},
        {"key": "cost.per_hour", "op": "ne", "value": 1},
        {"key": "cost.so_far", "op": "present"},
    ):
        assert not matches(one([*waiting, test]), other, now=NOW), test
    assert matches(one([*waiting, {"key": "cost.so_far", "op": "absent"}]), other, now=NOW)
    waiting_live = task("mps", status="WAITING", type=LIVE)  # priced, not started: 0 so far
    assert matches(
        one([*waiting, {"key": "cost.so_far", "op": "eq", "value": 0}]), waiting_live, now=NOW
    )


def test_explain_shows_the_estimate_or_that_there_is_none() -> None:
    rule = one([*LIVE_RUNNING, {"cost_over": 50}])
    lines = [line.strip() for line in explain(rule, live(4), now=NOW)]
    assert "no  cost_over: 50 (cost.so_far is 40.00 CNY)" in lines
    rule = one([{"status": "WAITING"}, {"cost_over": 1}])
    lines = [line.strip() for line in explain(rule, task("mps", status="WAITING"), now=NOW)]
    assert "no  cost_over: 1 (no estimate: its price is unknown)" in lines


def test_assume_runs_for_is_a_duration_on_the_rule() -> None:
    assert one(LIVE_RUNNING, assume_runs_for="2h").assume_runs_for == 2 * HOUR
    assert one(LIVE_RUNNING).assume_runs_for is None
    with pytest.raises(ConfigError) as caught:
        compiled(policy(LIVE_RUNNING, assume_runs_for="soon"))
    assert caught.value.key == "policies[0].assume_runs_for"


# --- refused, naming the key ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "key", "reason"),
    [
        ({"cost_over": -1}, "filters[2].cost_over", "cost_over must not be negative (-1)"),
        ({"cost_over": "6h"}, "filters[2].cost_over", "not a duration ('6h')"),
        ({"cost_over": "200"}, "filters[2].cost_over", "must be a number (e.g. 200), not a string"),
        ({"cost_over": True}, "filters[2].cost_over", "not a true/false value"),
        ({"cost_over": float("inf")}, "filters[2].cost_over", "must be a finite number"),
        (
            {"key": "cost.so_far", "op": "gt", "value": "6h"},
            "filters[2].value",
            "cost.so_far is money in the price table's currency: the value must be a number "
            "(e.g. 200), not a duration ('6h')",
        ),
        (
            {"key": "cost.per_hour", "op": "gt", "value": -0.5},
            "filters[2].value",
            "cost.per_hour must not be negative",
        ),
        (
            {"key": "cost.so_far", "op": "regex", "value": "^1"},
            "filters[2].value",
            "cost.so_far is money: use eq, ne, gt, ge, lt or le, not regex",
        ),
        (
            {"key": "cost.so_far", "op": "in", "value": [1, 2]},
            "filters[2].value",
            "not in",
        ),
        (
            {"key": "cost.sofar", "op": "gt", "value": 1},
            "filters[2].key",
            "unknown key 'cost.sofar' (did you mean 'so_far'?): the cost keys are cost.so_far, "
            "cost.per_hour",
        ),
        ({"cost_ovr": 1}, "filters[2].cost_ovr", "did you mean 'cost_over'?"),
    ],
)
def test_a_bad_cost_test_is_refused_naming_its_key(
    written: dict[str, Any], key: str, reason: str
) -> None:
    err = refusal([*LIVE_RUNNING, written])
    assert (err.file, err.key) == (SOURCE, f"policies[0].{key}")
    assert reason in err.reason


@pytest.mark.parametrize(
    ("product", "filters", "prices", "key", "says"),
    [
        ("dlc", [{"status": "running"}, {"cost_over": 1}], None, "filters[1].cost_over",
         "no price of DLC tasks is known (none is set)"),
        ("live", [{"key": "cost.per_hour", "op": "gt", "value": 1}], None, "filters[0]",
         "no price of Live tasks is known"),
        ("mps", [*LIVE_RUNNING, {"cost_over": 1}], {"enabled": False}, "filters[2].cost_over",
         "(prices.enabled is false)"),
        ("mps", [*LIVE_RUNNING, {"not": {"cost_over": 1}}], {"shipped": False},
         "filters[2].not.cost_over", "can never match; set prices.mps or remove it"),
    ],
)  # fmt: skip
def test_a_cost_test_on_a_product_without_any_price_is_refused(
    product: str, filters: list[Any], prices: dict[str, Any] | None, key: str, says: str
) -> None:
    err = refusal(filters, product, prices=prices)
    assert err.key == f"policies[0].{key}"
    assert says in err.reason


def test_a_cost_exclude_on_an_unpriced_product_is_refused_too() -> None:
    err = refusal([{"status": "running"}], "dlc", exclude=[{"cost_over": 5}])
    assert err.key == "policies[0].exclude[0].cost_over"


def test_without_a_pricer_no_price_is_known() -> None:
    data = {
        "accounts": [{"name": "main", "credentials": "env"}],
        "policies": [policy([*LIVE_RUNNING, {"cost_over": 5}])],
        "prices": PRICES,
    }
    settings = parse_settings(data, source=SOURCE, environ={})
    with pytest.raises(ConfigError, match="no price of MPS tasks"):
        compile_rules(settings.policies, source=SOURCE)
    (rule,) = compile_rules(settings.policies, source=SOURCE, pricer=Pricer(settings.prices))
    assert matches(rule, live(1), now=NOW)
