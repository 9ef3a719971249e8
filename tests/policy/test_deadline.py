"""Predicting deadlines: the instant an unchanged task crosses a time rule, for every bound at its
boundary, and/or/not and exclude, grace with and without an open streak, cost bounds bisected
against real estimates, the horizon, other products, and odd tasks; checked against brute force
on a grid for random rules."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskwatch.cost import Pricer
from taskwatch.errors import ConfigError
from taskwatch.models import Task
from taskwatch.policy import Rule, compile_rules, matches
from taskwatch.policy.deadline import EPSILON, RESOLUTION, candidates, next_deadline
from taskwatch.settings import parse_settings

from .kit import HOUR, LIVE, NOW, SOURCE, policy, rule, rules, task

MINUTE = 60.0
LIVE_RUNNING = [{"type": LIVE}, {"status": "PROCESSING"}]
PRICES: dict[str, Any] = {"shipped": False, "mps": {LIVE: {"per_hour": 10.0}}}
"""Live stream processing at 10 per hour, nothing else priced."""


def never(name: str) -> float | None:
    return None


def since(**starts: float) -> Callable[[str], float | None]:
    return starts.get


def deadline(
    rules_: Rule | list[Rule],
    subject: Task,
    *,
    horizon: float = 4 * HOUR,
    opened: Callable[[str], float | None] = never,
    now: float = NOW,
) -> float | None:
    every = rules_ if isinstance(rules_, list) else [rules_]
    return next_deadline(every, subject, now=now, since=opened, horizon=horizon)


def priced(filters: Any, **keys: Any) -> Rule:
    data = {
        "accounts": [{"name": "main", "credentials": "env"}],
        "policies": [policy(filters, "mps", **keys)],
        "prices": PRICES,
    }
    settings_ = parse_settings(data, source=SOURCE, environ={})
    (only,) = compile_rules(settings_.policies, source=SOURCE, pricer=Pricer(settings_.prices))
    return only


def live(*, age: float, running: float) -> Task:
    return task("mps", status="PROCESSING", type=LIVE, age=age, running=running)


def turns(r: Rule, subject: Task, at: float) -> bool:
    """``r`` matches at ``at`` and did not :data:`EPSILON` before."""
    return matches(r, subject, now=at) and not matches(r, subject, now=at - EPSILON)


# --- bounds at their boundary --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "after"),
    [("gt", EPSILON), ("ge", 0.0)],
)
def test_a_lower_bound_is_predicted_at_its_threshold_or_just_after_a_strict_one(
    op: str, after: float
) -> None:
    r = rule([{"key": "age", "op": op, "value": "1h"}], "dlc")
    subject = task("dlc", age=30 * MINUTE)
    found = deadline(r, subject)
    assert found == NOW + 30 * MINUTE + after
    assert turns(r, subject, found)


@pytest.mark.parametrize(
    ("op", "after"),
    [("lt", 0.0), ("le", EPSILON)],
)
def test_an_exclude_that_stops_holding_opens_the_rule_at_its_threshold(
    op: str, after: float
) -> None:
    r = rule(
        [*LIVE_RUNNING, {"running_longer_than": "10m"}],
        exclude=[{"key": "age", "op": op, "value": "1h"}],
    )
    subject = live(age=40 * MINUTE, running=20 * MINUTE)
    assert not matches(r, subject, now=NOW)
    found = deadline(r, subject)
    assert found == NOW + 20 * MINUTE + after
    assert turns(r, subject, found)


def test_the_waiting_shortcut_is_strict() -> None:
    r = rule([{"status": "WAITING"}, {"waiting_longer_than": "30m"}])
    assert deadline(r, task("mps", age=20 * MINUTE)) == NOW + 10 * MINUTE + EPSILON


def test_an_upper_bound_alone_never_starts_a_match() -> None:
    r = rule([{"age": {"lt": "1h"}}], "dlc")
    assert deadline(r, task("dlc", age=30 * MINUTE)) is None  # matches now, stops later
    assert deadline(r, task("dlc", age=2 * HOUR)) is None  # will never match again


# --- and / or / not ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "running", "expected"),
    [
        pytest.param(90 * MINUTE, 20 * MINUTE, NOW + 10 * MINUTE, id="running first"),
        pytest.param(115 * MINUTE, 5 * MINUTE, NOW + 5 * MINUTE, id="age first"),
    ],
)
def test_an_or_of_two_thresholds_is_due_at_the_earlier(
    age: float, running: float, expected: float
) -> None:
    r = rule([*LIVE_RUNNING, {"or": [{"age": "2h"}, {"running_longer_than": "30m"}]}])
    assert deadline(r, live(age=age, running=running)) == expected + EPSILON


def test_an_and_of_two_thresholds_is_due_at_the_later() -> None:
    r = rule([*LIVE_RUNNING, {"and": [{"age": "2h"}, {"running_longer_than": "30m"}]}])
    assert deadline(r, live(age=90 * MINUTE, running=20 * MINUTE)) == NOW + 30 * MINUTE + EPSILON


def test_a_negated_upper_bound_is_a_lower_bound() -> None:
    r = rule([{"status": "queued"}, {"not": {"age": {"lt": "2h"}}}], "dlc")
    subject = task("dlc", age=HOUR)
    assert deadline(r, subject) == NOW + HOUR
    assert turns(r, subject, NOW + HOUR)


def test_a_window_already_passed_gives_nothing_and_one_ahead_its_start() -> None:
    r = rule([{"age": "1h"}, {"not": {"age": "2h"}}], "dlc")
    assert deadline(r, task("dlc", age=3 * HOUR)) is None
    assert deadline(r, task("dlc", age=50 * MINUTE)) == NOW + 10 * MINUTE + EPSILON


def test_an_or_already_matching_gives_nothing_when_its_other_branch_crosses() -> None:
    r = rule([*LIVE_RUNNING, {"or": [{"age": "1h"}, {"running_longer_than": "30m"}]}])
    assert deadline(r, live(age=2 * HOUR, running=20 * MINUTE)) is None


def test_a_fixed_filter_that_fails_rules_out_every_threshold() -> None:
    r = rule(
        [{"age": "1h"}, {"key": "DataEngineName", "op": "eq", "value": "adhoc"}],
        "dlc",
        exclude=[{"key": "OperateUin", "op": "eq", "value": 7}],
    )
    assert deadline(r, task("dlc", age=50 * MINUTE, fields={"DataEngineName": "adhoc"})) == (
        NOW + 10 * MINUTE + EPSILON
    )
    assert deadline(r, task("dlc", age=50 * MINUTE, fields={"DataEngineName": "prod"})) is None
    vetoed = task("dlc", age=50 * MINUTE, fields={"DataEngineName": "adhoc", "OperateUin": 7})
    assert deadline(r, vetoed) is None


# --- what the task has ---------------------------------------------------------------------------


def test_a_waiting_task_never_reaches_a_running_for_rule() -> None:
    r = rule([{"type": LIVE}, {"running_longer_than": "10m"}])
    waiting = task("mps", status="WAITING", type=LIVE, age=HOUR)
    assert waiting.running_for(NOW) is None
    assert deadline(r, waiting) is None
    assert candidates(r, waiting) == []


def test_a_running_task_never_reaches_a_waiting_for_rule() -> None:
    r = rule([{"waiting_longer_than": "10m"}], "dlc")
    assert deadline(r, task("dlc", status="running", age=5 * MINUTE)) is None
    assert deadline(r, task("dlc", status="queued", age=5 * MINUTE)) == (NOW + 5 * MINUTE + EPSILON)


@pytest.mark.parametrize(
    "subject",
    [
        pytest.param(task("dlc", age=None), id="created unknown"),
        pytest.param(task("mps", status="PROCESSING", type=LIVE, age=None), id="started unknown"),
    ],
)
def test_a_missing_anchor_gives_no_deadline(subject: Task) -> None:
    age = rule([{"age": "1h"}], "dlc")
    running = rule([*LIVE_RUNNING, {"running_longer_than": "10m"}])
    assert deadline([age, running], subject) is None


def test_a_task_that_has_ended_gives_no_deadline() -> None:
    r = rule([{"age": "1h"}], "dlc")
    assert deadline(r, task("dlc", status="succeeded", age=30 * MINUTE)) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"created": math.nan},
        {"created": math.inf},
        {"created": -math.inf},
        {"started": math.nan},
        {"started": math.inf},
        {"created": NOW + 10 * HOUR},
    ],
)
def test_odd_times_never_raise(changes: dict[str, Any]) -> None:
    every = [
        rule([{"age": "1h"}], "dlc", name="a", grace="5m"),
        rule([{"running_longer_than": "1h"}], "dlc", name="b"),
        rule([{"not": {"age": {"le": "2h"}}}], "dlc", name="c"),
    ]
    subject = replace(task("dlc", status="running", age=30 * MINUTE), **changes)
    found = deadline(every, subject, horizon=1000 * HOUR)
    assert found is None or NOW < found <= NOW + 1000 * HOUR
    assert found is None or math.isfinite(found)
    assert found is None or any(matches(r, subject, now=found) for r in every)


@pytest.mark.parametrize(
    ("now", "horizon", "opened"),
    [
        (math.nan, HOUR, never),
        (NOW, math.nan, never),
        (NOW, math.inf, never),
        (NOW, -HOUR, never),
        (NOW, 0.0, never),
        (NOW, HOUR, since(slow=math.nan)),
    ],
)
def test_odd_arguments_never_raise(
    now: float, horizon: float, opened: Callable[[str], float | None]
) -> None:
    r = rule([{"age": "1h"}], "dlc", name="slow", grace="10m")
    found = deadline(r, task("dlc", age=30 * MINUTE), now=now, horizon=horizon, opened=opened)
    assert found is None or NOW < found <= NOW + horizon


# --- grace ---------------------------------------------------------------------------------------

SLOW = rule([{"age": "1h"}], "dlc", name="slow", grace="10m")


def test_a_matching_rule_without_an_open_streak_is_due_a_grace_after_now() -> None:
    assert deadline(SLOW, task("dlc", age=2 * HOUR)) == NOW + 10 * MINUTE


def test_a_matching_rule_with_an_open_streak_is_due_at_its_start_plus_grace() -> None:
    found = deadline(SLOW, task("dlc", age=2 * HOUR), opened=since(slow=NOW - 4 * MINUTE))
    assert found == NOW + 6 * MINUTE


def test_a_rule_already_due_is_not_a_future_deadline() -> None:
    subject = task("dlc", age=2 * HOUR)
    assert deadline(SLOW, subject, opened=since(slow=NOW - 10 * MINUTE)) is None
    assert deadline(SLOW, subject, opened=since(slow=NOW - HOUR)) is None
    assert deadline(rule([{"age": "1h"}], "dlc"), subject) is None  # no grace: due now


def test_a_rule_that_does_not_match_yet_is_due_when_its_streak_opens() -> None:
    assert deadline(SLOW, task("dlc", age=50 * MINUTE)) == NOW + 10 * MINUTE + EPSILON


def test_a_grace_that_ends_after_the_rule_stops_matching_gives_nothing() -> None:
    r = rule([{"age": "1h"}, {"age": {"lt": "2h"}}], "dlc", name="window", grace="30m")
    subject = task("dlc", age=100 * MINUTE)
    assert deadline(r, subject, opened=since(window=NOW - 10 * MINUTE)) is None
    assert deadline(r, subject, opened=since(window=NOW - 20 * MINUTE)) == NOW + 10 * MINUTE


def test_a_grace_ending_in_a_gap_waits_for_the_rule_to_match_again() -> None:
    # matches before 1m and after 10m (thresholds written out of order); due at 10m, in the gap
    r = rule(
        [{"or": [{"age": {"lt": "1m"}}, {"age": "11m"}, {"age": "10m"}]}],
        "dlc",
        name="gap",
        grace="10m",
    )
    assert deadline(r, task("dlc", age=0)) == NOW + 10 * MINUTE + EPSILON


def test_a_grace_beyond_the_horizon_gives_nothing() -> None:
    assert deadline(SLOW, task("dlc", age=2 * HOUR), horizon=9 * MINUTE) is None


# --- several rules, products, horizon ------------------------------------------------------------


def test_the_earliest_rule_wins_and_other_products_are_ignored() -> None:
    every = rules(
        policy([{"age": "2h"}], "dlc", name="late"),
        policy([{"age": "90m"}], "live", name="other-product"),
        policy([{"age": "70m"}], "dlc", name="early"),
    )
    subject = task("dlc", age=HOUR)
    assert deadline(every, subject) == NOW + 10 * MINUTE + EPSILON
    assert deadline(every[:2], subject) == NOW + HOUR + EPSILON
    assert deadline(every[1:2], subject) is None


def test_the_horizon_bounds_the_prediction_and_includes_its_end() -> None:
    gt = rule([{"age": "1h"}], "dlc")
    ge = rule([{"key": "age", "op": "ge", "value": "1h"}], "dlc")
    subject = task("dlc", age=30 * MINUTE)
    assert deadline(gt, subject, horizon=30 * MINUTE) is None  # due just after the end
    assert deadline(gt, subject, horizon=31 * MINUTE) == NOW + 30 * MINUTE + EPSILON
    assert deadline(ge, subject, horizon=30 * MINUTE) == NOW + 30 * MINUTE


def test_candidates_are_every_threshold_instant_in_order() -> None:
    r = rule(
        [*LIVE_RUNNING, {"or": [{"age": "2h"}, {"running_longer_than": "30m"}]}],
        exclude=[{"age": {"lt": "1h"}}],
    )
    subject = live(age=90 * MINUTE, running=20 * MINUTE)
    created = NOW - 90 * MINUTE
    assert candidates(r, subject) == [created + HOUR, NOW + 10 * MINUTE, created + 2 * HOUR]


# --- cost ----------------------------------------------------------------------------------------


def test_a_cost_bound_is_predicted_where_the_estimate_crosses_it() -> None:
    r = priced([*LIVE_RUNNING, {"cost_over": 50}])
    subject = live(age=5 * HOUR, running=4 * HOUR)  # 40 spent, 10 per hour
    found = deadline(r, subject)
    assert found is not None
    assert abs(found - (NOW + HOUR)) <= RESOLUTION
    assert matches(r, subject, now=found)
    assert not matches(r, subject, now=found - RESOLUTION)


def test_a_cost_bound_beyond_the_horizon_or_a_task_without_price_gives_nothing() -> None:
    r = priced([{"type": LIVE}, {"cost_over": 50}])
    assert deadline(r, live(age=5 * HOUR, running=4 * HOUR), horizon=50 * MINUTE) is None
    assert deadline(r, task("mps", status="WAITING", type=LIVE)) is None  # not started: 0 for ever


def test_a_cost_crossing_the_rate_at_now_cannot_foresee_is_bisected() -> None:
    # A start ahead of the clock (skew): nothing is spent until then, so the crossing is 10
    # minutes later than the rate at now says; probing the end and bisecting still finds it.
    r = priced([*LIVE_RUNNING, {"key": "cost.so_far", "op": "ge", "value": 50}])
    subject = live(age=HOUR, running=-10 * MINUTE)
    found = deadline(r, subject, horizon=6 * HOUR)
    crossing = NOW + 10 * MINUTE + 5 * HOUR
    assert found is not None
    assert crossing <= found <= crossing + RESOLUTION
    assert matches(r, subject, now=found)


def test_a_cost_bound_and_a_time_bound_are_due_when_both_hold() -> None:
    r = priced([*LIVE_RUNNING, {"running_longer_than": "1h"}, {"cost_over": 5}])
    assert deadline(r, live(age=HOUR, running=20 * MINUTE)) == NOW + 40 * MINUTE + EPSILON
    later = priced([*LIVE_RUNNING, {"running_longer_than": "10m"}, {"cost_over": 5}])
    found = deadline(later, live(age=HOUR, running=20 * MINUTE))
    assert found is not None
    assert abs(found - (NOW + 10 * MINUTE)) <= RESOLUTION


@settings(max_examples=100, deadline=None)
@given(
    bound=st.integers(1, 200),
    running=st.integers(-120, 600),
    strict=st.booleans(),
)
def test_the_cost_crossing_is_found_within_the_resolution(
    bound: int, running: int, strict: bool
) -> None:
    test = {"cost_over": bound} if strict else {"key": "cost.so_far", "op": "ge", "value": bound}
    r = priced([*LIVE_RUNNING, test])
    subject = live(age=HOUR, running=running * MINUTE)  # a negative running: a skewed start
    horizon = 8 * HOUR
    crossing = NOW - running * MINUTE + bound / 10 * HOUR  # 10 per hour from the start
    found = deadline(r, subject, horizon=horizon)
    if matches(r, subject, now=NOW) or crossing > NOW + horizon + 1:
        assert found is None
    elif crossing < NOW + horizon - 1:
        assert found is not None
        assert crossing <= found <= crossing + RESOLUTION
        assert matches(r, subject, now=found)


def test_a_cost_rule_already_matching_gives_nothing() -> None:
    r = priced([*LIVE_RUNNING, {"cost_over": 5}])
    assert deadline(r, live(age=HOUR, running=HOUR)) is None


# --- against brute force -------------------------------------------------------------------------

STEP = 10.0
"""Seconds between the instants brute force looks at (every threshold is a whole minute)."""
ATOMS: list[Callable[[int], dict[str, Any]]] = [
    lambda m: {"age": f"{m}m"},
    lambda m: {"age": {"lt": f"{m}m"}},
    lambda m: {"age": {"le": f"{m}m"}},
    lambda m: {"key": "age", "op": "ge", "value": f"{m}m"},
    lambda m: {"running_longer_than": f"{m}m"},
    lambda m: {"waiting_longer_than": f"{m}m"},
    lambda m: {"key": "running_for", "op": "lt", "value": f"{m}m"},
    lambda m: {"key": "waiting_for", "op": "le", "value": f"{m}m"},
    lambda m: {"key": "age", "op": "eq", "value": f"{m}m"},
    lambda m: {"key": "age", "op": "ne", "value": f"{m}m"},
    lambda m: {"status": "running"},
]


@st.composite
def filters(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    if depth < 2 and draw(st.booleans()):
        word = draw(st.sampled_from(["and", "or", "not"]))
        if word == "not":
            return {"not": draw(filters(depth + 1))}
        return {word: draw(st.lists(filters(depth + 1), min_size=1, max_size=3))}
    atom: Callable[[int], dict[str, Any]] = draw(st.sampled_from(ATOMS))
    return atom(draw(st.integers(0, 180)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    match=st.lists(filters(), min_size=1, max_size=3),
    exclude=st.none() | st.lists(filters(), min_size=1, max_size=2),
    status=st.sampled_from(["queued", "running"]),
    age=st.integers(0, 180),
    running=st.integers(0, 180),
    grace=st.sampled_from([0, 10, 45]),
    opened=st.none() | st.integers(0, 60),
)
def test_the_prediction_is_the_first_instant_brute_force_finds(
    match: list[dict[str, Any]],
    exclude: list[dict[str, Any]] | None,
    status: str,
    age: int,
    running: int,
    grace: int,
    opened: int | None,
) -> None:
    keys: dict[str, Any] = {"grace": f"{grace}m"}
    if exclude is not None:
        keys["exclude"] = exclude
    try:
        r = rule(match, "dlc", **keys)
    except ConfigError:
        return  # contradictory: refused at load
    subject = task("dlc", status=status, age=age * MINUTE, running=min(age, running) * MINUTE)
    start = NOW if opened is None else NOW - opened * MINUTE
    horizon = 2 * HOUR
    found = deadline(r, subject, horizon=horizon, opened=since(**{r.name: start}))
    # Brute force: not matching now, the first instant it matches; matching now, the first
    # instant at or after the end of its grace at which it still matches (none if already due).
    due = start + grace * MINUTE
    low = NOW + STEP
    if matches(r, subject, now=NOW):
        low = due if due > NOW else math.inf
    steps = int((NOW + horizon - low) // STEP) + 1 if low <= NOW + horizon else 0
    instants = [low + i * STEP for i in range(steps)]
    first = next((t for t in instants if matches(r, subject, now=t)), None)
    if first is None:  # every threshold is on the grid, so no window falls between its steps
        assert found is None
        return
    assert found is not None
    assert max(first - STEP, NOW) < found <= first
    assert matches(r, subject, now=found)
