"""Evaluating rules against tasks: the example rule on tasks that match and tasks that miss by
one filter each, exclude, other products, tasks the action cannot touch, explanations, and
evaluation never raising whatever the API's records look like."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskwatch.models import Decision, Phase, Task
from taskwatch.policy import evaluate, explain, matches

from .kit import EXAMPLE_RULE, HOUR, LIVE, NOW, policy, rule, rules, task

(EXAMPLE,) = rules(EXAMPLE_RULE)
RUNAWAY: dict[str, Any] = {
    "status": "PROCESSING",
    "type": LIVE,
    "age": 8 * HOUR,
    "running": 7 * HOUR,
    "fields": {"TaskId": "task-1", "TaskType": "LiveProcessTask"},
    "detail": {
        "TaskType": LIVE,
        "LiveStreamProcessTask": {"Url": "rtmp://push.example.com/live/s1?txSecret=abc"},
        "SessionContext": "team=media",
    },
}


def runaway(**changes: Any) -> Task:
    return task("mps", **{**RUNAWAY, **changes})


# --- the example rule ----------------------------------------------------------------------------


def test_the_example_rule_decides_to_abort_a_long_running_live_rtmp_task() -> None:
    t = runaway()
    assert evaluate([EXAMPLE], t, now=NOW) == [
        Decision(policy=EXAMPLE.name, action="abort", task=t, enforce=True, grace=300.0)
    ]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"type": "WorkflowTask"}, id="another type"),
        pytest.param({"status": "WAITING", "phase": Phase.PENDING}, id="waiting"),
        pytest.param({"status": "FINISH", "phase": Phase.DONE}, id="finished"),
        pytest.param({"running": 5 * HOUR}, id="running 5h"),
        pytest.param({"running": 6 * HOUR}, id="running exactly 6h"),
        pytest.param(
            {"detail": {**RUNAWAY["detail"], "LiveStreamProcessTask": {"Url": "http://x/y.flv"}}},
            id="http url",
        ),
        pytest.param({"detail": {"SessionContext": "x"}}, id="no url"),
        pytest.param({"detail": None}, id="no detail yet"),
        pytest.param(
            {"detail": {**RUNAWAY["detail"], "SessionContext": "keep-alive=1"}}, id="keep-alive"
        ),
        pytest.param(
            {"fields": {"SessionContext": "keep-alive"}}, id="keep-alive in the list record"
        ),
    ],
)
def test_the_example_rule_leaves_a_task_that_misses_one_filter(changes: dict[str, Any]) -> None:
    t = runaway(**changes)
    assert evaluate([EXAMPLE], t, now=NOW) == []
    assert matches(EXAMPLE, t, now=NOW) is False


def test_a_missing_session_context_is_not_keep_alive() -> None:
    detail = {k: v for k, v in RUNAWAY["detail"].items() if k != "SessionContext"}
    assert matches(EXAMPLE, runaway(detail=detail), now=NOW) is True


def test_time_moves_a_task_into_a_rule() -> None:
    t = runaway(running=5 * HOUR)
    assert matches(EXAMPLE, t, now=NOW) is False
    assert matches(EXAMPLE, t, now=NOW + 1.5 * HOUR) is True


# --- evaluate ------------------------------------------------------------------------------------


def test_rules_of_other_products_are_ignored() -> None:
    every = rules(
        EXAMPLE_RULE,
        policy([{"age": "1h"}], "dlc", name="old-queries"),
        policy([{"age": "1h"}], "live", name="old-pulls"),
    )
    decided = evaluate(every, task("dlc", status="running"), now=NOW)
    assert [d.policy for d in decided] == ["old-queries"]
    assert evaluate(every, task("live"), now=NOW)[0].action == "delete"


def test_every_matching_rule_decides_in_rule_order_with_its_own_mode() -> None:
    every = rules(
        policy([{"age": "1h"}], "dlc", name="b", enforce=True, grace="10m"),
        policy([{"status": "running"}], "dlc", name="a"),
        policy([{"status": "queued"}], "dlc", name="c"),
    )
    t = task("dlc", status="running")
    assert [(d.policy, d.enforce, d.grace) for d in evaluate(every, t, now=NOW)] == [
        ("b", True, 600.0),
        ("a", False, 0.0),
    ]


def test_exclude_wins() -> None:
    r = rule(
        [{"age": "1h"}],
        "dlc",
        exclude=[
            {"key": "DataEngineName", "op": "glob", "value": "prod-*"},
            {"key": "OperateUin", "op": "eq", "value": 100001},
        ],
    )
    assert matches(r, task("dlc", fields={"DataEngineName": "adhoc-1"}), now=NOW) is True
    assert matches(r, task("dlc", fields={"DataEngineName": "prod-1"}), now=NOW) is False
    assert matches(r, task("dlc", fields={"OperateUin": "100001"}), now=NOW) is False


@pytest.mark.parametrize(
    ("product", "filters", "subject", "expected"),
    [
        ("mps", [{"type": LIVE}], {"status": "FINISH", "type": LIVE}, False),
        ("mps", [{"type": LIVE}], {"status": "WAITING", "type": LIVE}, True),
        ("mps", [{"type": LIVE}], {"status": "PROCESSING", "type": LIVE}, True),
        ("mps", [{"status": "WAITING"}], {"status": "WAITING"}, True),
        ("mps", [{"waiting_longer_than": "1h"}], {"status": "WAITING"}, True),
        ("dlc", [{"age": "1h"}], {"status": "succeeded"}, False),
        ("dlc", [{"age": "1h"}], {"status": "cancelled"}, False),
        ("dlc", [{"age": "1h"}], {"status": "writing"}, True),
        ("dlc", [{"age": "1h"}], {"status": "state9", "phase": Phase.RUNNING}, False),
        ("live", [{"age": "1h"}], {"status": "enable", "phase": Phase.DONE}, True),
        ("live", [{"age": "1h"}], {"status": "pause"}, True),
    ],
)
def test_a_task_the_action_cannot_touch_gets_no_decision(
    product: str, filters: list[Any], subject: dict[str, Any], expected: bool
) -> None:
    assert matches(rule(filters, product), task(product, **subject), now=NOW) is expected


def test_a_fresh_observation_that_no_longer_matches_is_fenced_out() -> None:
    assert matches(EXAMPLE, runaway(), now=NOW)
    ended = runaway(status="FINISH", phase=Phase.DONE)
    assert not matches(EXAMPLE, ended, now=NOW)


# --- explain -------------------------------------------------------------------------------------


def test_explain_walks_every_test_and_shows_only_task_values() -> None:
    t = runaway(running=5 * HOUR)
    assert explain(EXAMPLE, t, now=NOW) == [
        "rule 'abort-long-live-processing' does not match mps task 'task-1'",
        "ok  actionable",
        "filters (all of them):",
        "  ok  type: LiveStreamProcessTask (type is LiveStreamProcessTask)",
        "  ok  status: PROCESSING (status is PROCESSING)",
        "  no  running_longer_than: 6h (running_for is 5h)",
        "  ok  detail.LiveStreamProcessTask.Url regex '^rtmp://'",
        "  ok  not:",
        "    no  SessionContext contains 'keep-alive'",
    ]
    assert not any("txSecret" in line for line in explain(EXAMPLE, t, now=NOW))


def test_explain_says_why_a_task_cannot_be_acted_on_and_what_is_missing() -> None:
    lines = explain(EXAMPLE, runaway(type="WorkflowTask", detail=None), now=NOW)
    assert lines[1] == (
        "no  actionable: MPS aborts a PROCESSING task only if it is a LiveStreamProcessTask "
        "(this is a WorkflowTask)"
    )
    assert "  no  detail.LiveStreamProcessTask.Url regex '^rtmp://' (missing)" in lines


def test_explain_shows_exclude_and_nesting() -> None:
    r = rule(
        [{"or": [{"status": "queued"}, {"age": {"gt": "1h", "lt": "1d"}}]}],
        "dlc",
        exclude=[{"type": "SparkSQLTask"}],
    )
    assert explain(r, task("dlc", status="running"), now=NOW) == [
        "rule 'test-rule' does not match dlc task 'task-1'",
        "ok  actionable",
        "filters (all of them):",
        "  ok  or:",
        "    no  status: queued (status is running)",
        "    ok  and:",
        "      ok  age gt 1h (age is 10h)",
        "      ok  age lt 1d (age is 10h)",
        "exclude (any of them):",
        "  ok  type: SparkSQLTask (type is SparkSQLTask)",
    ]


def test_explain_of_another_product_stops_early() -> None:
    assert explain(EXAMPLE, task("dlc"), now=NOW) == [
        "rule 'abort-long-live-processing' does not match dlc task 'task-1'",
        "no  product: the rule is for mps tasks",
    ]


def test_explain_says_an_ended_task_has_ended() -> None:
    lines = explain(rule([{"age": "1h"}], "dlc"), task("dlc", status="failed"), now=NOW)
    assert lines[1] == "no  actionable: DLC task has ended (status failed)"


# --- never raises --------------------------------------------------------------------------------

EVERY_OP = [
    {"key": "A", "op": "eq", "value": "x"},
    {"key": "A", "op": "ne", "value": 1},
    {"key": "B", "op": "gt", "value": 1},
    {"key": "B.0", "op": "ge", "value": -1.5},
    {"key": "fields.C.D", "op": "lt", "value": "10"},
    {"key": "detail.C.1", "op": "le", "value": 0},
    {"key": "A", "op": "in", "value": ["x", 1, True]},
    {"key": "detail.A", "op": "not-in", "value": ["x"]},
    {"key": "C", "op": "regex", "value": "^a.*b$"},
    {"key": "D", "op": "glob", "value": "a*[bc]?"},
    {"key": "A", "op": "contains", "value": "x"},
    {"key": "B", "op": "contains", "value": 1},
    {"key": "C.D.E", "op": "present"},
    {"key": "detail.D", "op": "absent"},
    {"key": "age", "op": "gt", "value": "1h"},
    {"key": "waiting_for", "op": "le", "value": "1d"},
    {"key": "id", "op": "glob", "value": "t*"},
]
ANY_RULES = rules(
    *(
        policy([{"status": "running"}, {"or": [f, {"not": f}]}], "dlc", name=f"op-{i}")
        for i, f in enumerate(EVERY_OP)
    ),
    policy([{"age": {"gt": "1s", "le": "9d"}}, {"running_longer_than": "0s"}], "dlc", name="times"),
)
KEYS = st.sampled_from(["A", "B", "C", "D", "E", "0", "1", "x"])
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["1e999", "-0", "ab", "10", "nan", "٣"])
)
SHAPES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.dictionaries(KEYS, SHAPES, max_size=5),
    detail=st.none() | st.dictionaries(KEYS, SHAPES, max_size=5),
    age=st.none() | st.floats(min_value=0, max_value=1e9),
    running=st.none() | st.floats(min_value=0, max_value=1e9),
)
def test_evaluation_never_raises_whatever_the_records_hold(
    fields: dict[str, Any], detail: dict[str, Any] | None, age: float | None, running: float | None
) -> None:
    t = task("dlc", status="running", fields=fields, detail=detail, age=age, running=running)
    decided = evaluate(ANY_RULES, t, now=NOW)
    assert all(isinstance(d, Decision) for d in decided)
    # "f or not f" holds on any record, so every op rule decides.
    assert {d.policy for d in decided} >= {f"op-{i}" for i in range(len(EVERY_OP))}
    for r in ANY_RULES:
        assert explain(r, t, now=NOW)
