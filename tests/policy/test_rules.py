"""Compiling policies: what a rule holds, which rules are refused at load (each with one error
naming the file, the key and the rule), and the product facts policy repeats."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskwatch.errors import ConfigError
from taskwatch.policy import (
    AllOf,
    AnyOf,
    Caps,
    Compare,
    Not,
    Rule,
    catalog,
    compile_rules,
    feasibility,
)
from taskwatch.policy.syntax import MAX_DEPTH, parse_all
from taskwatch.products import live
from taskwatch.settings import PolicySettings, parse_settings

from .kit import EXAMPLE_RULE, LIVE, SOURCE, policy, refusal, rule, rules

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "taskwatch.example.yaml"


# --- what a rule holds ---------------------------------------------------------------------------


def test_the_example_rule_compiles_to_a_frozen_rule() -> None:
    (r,) = rules(EXAMPLE_RULE)
    assert (r.name, r.product, r.action, r.enforce, r.grace) == (
        "abort-long-live-processing",
        "mps",
        "abort",
        True,
        300.0,
    )
    assert r.caps == Caps(per_cycle=10, per_hour=50, percent=20.0)
    assert (r.operator, r.exclude) == ("taskwatch", None)
    assert isinstance(r.match, AllOf)
    kinds = [type(part).__name__ for part in r.match.parts]
    assert kinds == ["Compare", "Compare", "Compare", "Compare", "Not"]
    first = r.match.parts[0]
    assert isinstance(first, Compare)
    assert (first.op, first.operand, first.where) == ("in", (LIVE,), ("filters", 0, "type"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.enforce = False  # type: ignore[misc]
    assert hash(r) == hash(rules(EXAMPLE_RULE)[0])


def test_a_rule_gets_safe_defaults() -> None:
    r = rule([{"status": "WAITING"}])
    assert (r.enforce, r.grace, r.caps, r.exclude) == (False, 0.0, Caps(), None)


def test_the_exclude_list_means_any_of_them() -> None:
    r = rule([{"status": "running"}], "dlc", exclude=[{"type": "A"}, {"type": "B"}])
    assert isinstance(r.exclude, AnyOf)
    assert len(r.exclude.parts) == 2


def test_a_live_rule_carries_its_operator() -> None:
    assert rule([{"age": "1d"}], "live", operator="ops-bot").operator == "ops-bot"


def test_rules_keep_their_order() -> None:
    names = [r.name for r in rules(policy([{"age": "1d"}], "dlc", name="b"), EXAMPLE_RULE)]
    assert names == ["b", "abort-long-live-processing"]


@pytest.mark.parametrize("spelling", ["LiveProcessTask", LIVE])
def test_the_mps_list_spelling_of_the_live_type_is_normalised(spelling: str) -> None:
    part = rule([{"type": spelling}]).match.parts[0]  # type: ignore[union-attr]
    assert isinstance(part, Compare)
    assert part.operand == (LIVE,)


def test_the_commented_examples_of_the_example_file_compile() -> None:
    lines = EXAMPLE.read_text().splitlines()
    start = lines.index("# policies:")
    block = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        block.append(re.sub(r"^# ?", "", line))
    loaded = yaml.safe_load("\n".join(block))
    compiled = rules(*loaded["policies"])
    assert [r.product for r in compiled] == ["mps", "dlc", "live"]
    example, documented = compiled[0], rules(EXAMPLE_RULE)[0]
    assert dataclasses.replace(example, exclude=None, assume_runs_for=None) == documented
    assert example.assume_runs_for == 6 * 3600
    assert example.exclude is not None


# --- accepted: every task the rule can match can be acted on -------------------------------------


@pytest.mark.parametrize(
    ("product", "filters", "extra"),
    [
        ("mps", [{"status": "WAITING"}], {}),
        ("mps", [{"status": "WAITING"}, {"age": "1h"}], {}),
        ("mps", [{"type": LIVE}], {}),  # may match FINISH tasks: never acted on (engine)
        ("mps", [{"type": "LiveProcessTask"}, {"running_longer_than": "6h"}], {}),
        ("mps", [{"type": LIVE}, {"status": ["WAITING", "PROCESSING"]}], {}),
        ("mps", [{"waiting_longer_than": "1h"}], {}),  # implies WAITING
        ("mps", [{"key": "status", "op": "eq", "value": "WAITING"}], {}),
        ("mps", [{"key": "phase", "op": "eq", "value": "pending"}], {}),
        ("mps", [{"key": "type", "op": "regex", "value": "^Live"}, {"status": "WAITING"}], {}),
        ("mps", [{"or": [{"status": "WAITING"}, {"type": LIVE}]}], {}),
        ("mps", [{"not": {"status": "PROCESSING"}}], {}),
        ("mps", [{"not": {"key": "type", "op": "ne", "value": LIVE}}], {}),
        ("mps", [{"age": "1d"}], {"exclude": [{"status": "PROCESSING"}]}),
        ("mps", [{"running_longer_than": "1h"}], {"exclude": [{"not": {"type": LIVE}}]}),
        ("dlc", [{"age": "1d"}], {}),  # may match ended tasks: never acted on
        ("dlc", [{"status": ["queued", "init", "running", "writing"]}], {}),
        ("dlc", [{"not": {"status": "succeeded"}}, {"age": "1h"}], {}),
        ("dlc", [{"key": "status", "op": "not-in", "value": ["failed", "cancelled"]}], {}),
        ("live", [{"status": "pause"}], {}),
        ("live", [{"key": "phase", "op": "eq", "value": "done"}], {}),
        ("live", [{"running_longer_than": "1d"}], {}),
    ],
)
def test_a_rule_whose_every_match_can_be_acted_on_is_accepted(
    product: str, filters: list[Any], extra: dict[str, Any]
) -> None:
    assert rule(filters, product, **extra).product == product


# --- refused: one error naming the file, the policy's key and the rule ---------------------------

MPS_PROCESSING = (
    "MPS can abort a PROCESSING task only if it is a LiveStreamProcessTask (other types only "
    "while WAITING), and this rule can match PROCESSING tasks of other types: add "
    "'status: WAITING' to abort waiting tasks, or 'type: LiveStreamProcessTask' to abort live "
    "stream processing"
)
ENDED_FINISH = (
    "status 'FINISH': MPS cannot abort a task that has ended (FINISH); remove it from the filter"
)
NEVER = "its filters can never match: no MPS task satisfies all of them"
GOOD = {"status": "WAITING"}
REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    # the product and its action
    (
        "unknown product",
        policy([GOOD], "vod"),
        "policies[0].product",
        "must be one of 'mps', 'dlc' or 'live'",
    ),
    (
        "mps with cancel",
        policy([GOOD], action="cancel"),
        "policies[0].action",
        "'cancel' is not an action on MPS tasks: theirs is 'abort' "
        "(ManageTask OperationType=Abort)",
    ),
    (
        "dlc with abort",
        policy([{"status": "running"}], "dlc", action="abort"),
        "policies[0].action",
        "'abort' is not an action on DLC tasks: theirs is 'cancel' (CancelTask)",
    ),
    (
        "live with cancel",
        policy([GOOD], "live", action="cancel"),
        "policies[0].action",
        "'cancel' is not an action on Live tasks: theirs is 'delete' (DeleteLivePullStreamTask)",
    ),
    # impossible actions
    (
        "mps abort of PROCESSING",
        policy([{"status": "PROCESSING"}]),
        "policies[0].filters",
        MPS_PROCESSING,
    ),
    (
        "mps abort of long runners",
        policy([{"running_longer_than": "6h"}]),
        "policies[0].filters",
        MPS_PROCESSING,
    ),
    ("mps abort of any age", policy([{"age": "1d"}]), "policies[0].filters", MPS_PROCESSING),
    (
        "mps abort of workflows",
        policy([{"type": "WorkflowTask"}]),
        "policies[0].filters",
        MPS_PROCESSING,
    ),
    (
        "mps abort of live or workflows",
        policy([{"type": [LIVE, "WorkflowTask"]}]),
        "policies[0].filters",
        MPS_PROCESSING,
    ),
    (
        "mps abort of unfinished",
        policy([{"not": {"status": "FINISH"}}]),
        "policies[0].filters",
        MPS_PROCESSING,
    ),
    (
        "mps abort of a type regex",
        policy([{"key": "type", "op": "regex", "value": "^Live"}]),
        "policies[0].filters",
        MPS_PROCESSING,
    ),
    (
        "mps abort with a raw type",
        policy([{"key": "fields.TaskType", "op": "eq", "value": LIVE}]),
        "policies[0].filters",
        MPS_PROCESSING,
    ),
    (
        "mps abort, exclude too narrow",
        policy([{"age": "1d"}], exclude=[{"status": "WAITING"}]),
        "policies[0].filters",
        MPS_PROCESSING,
    ),
    (
        "mps abort of FINISH",
        policy([{"status": "FINISH"}]),
        "policies[0].filters[0].status",
        ENDED_FINISH,
    ),
    (
        "mps abort listing FINISH",
        policy([{"status": ["WAITING", "FINISH"]}]),
        "policies[0].filters[0].status[1]",
        ENDED_FINISH,
    ),
    (
        "dlc cancel of succeeded",
        policy([{"status": "succeeded"}], "dlc"),
        "policies[0].filters[0].status",
        "status 'succeeded': DLC cannot cancel a task that has ended "
        "(succeeded, failed, cancelled); remove it from the filter",
    ),
    (
        "dlc cancel of failed, generic",
        policy([{"or": [{"key": "status", "op": "in", "value": ["running", "failed"]}]}], "dlc"),
        "policies[0].filters[0].or[0].value[1]",
        "status 'failed': DLC cannot cancel a task that has ended",
    ),
    (
        "dlc cancel of cancelled, eq",
        policy([{"key": "status", "op": "eq", "value": "cancelled"}], "dlc"),
        "policies[0].filters[0].value",
        "status 'cancelled': DLC cannot cancel",
    ),
    ("contradiction", policy([GOOD, {"running_longer_than": "1h"}]), "policies[0].filters", NEVER),
    (
        "excluded entirely",
        policy([GOOD], exclude=[{"key": "phase", "op": "eq", "value": "pending"}]),
        "policies[0].filters",
        NEVER,
    ),
    (
        "dlc: running and waiting",
        policy([{"running_longer_than": "1h"}, {"waiting_longer_than": "1h"}], "dlc"),
        "policies[0].filters",
        "its filters can never match",
    ),
    # the filter list
    (
        "no filters",
        policy([]),
        "policies[0].filters",
        "must not be empty: a policy without filters would match every task",
    ),
    ("filters not a list", policy({"status": "WAITING"}), "policies[0].filters", "must be a list"),
    ("empty exclude", policy([GOOD], exclude=[]), "policies[0].exclude", "must not be empty"),
    (
        "a filter that is text",
        policy(["status: WAITING"]),
        "policies[0].filters[0]",
        "a filter is a mapping: a shortcut such as {status: WAITING}, and/or/not, or "
        "{key: ..., op: ..., value: ...}; not a string",
    ),
    ("an empty filter", policy([GOOD, {}]), "policies[0].filters[1]", "not empty"),
    (
        "two filters in one",
        policy([{"status": "WAITING", "age": "1h"}]),
        "policies[0].filters[0]",
        "one filter per mapping, this has 2 (status, age): write each as its own list item",
    ),
    (
        "unknown filter",
        policy([{"staus": "WAITING"}]),
        "policies[0].filters[0].staus",
        "unknown filter 'staus' (did you mean 'status'?) (filters: type, status, "
        "running_longer_than, waiting_longer_than, age, cost_over, and, or, not, or "
        "{key, op, value})",
    ),
    (
        "not with a list",
        policy([GOOD, {"not": [GOOD]}]),
        "policies[0].filters[1].not",
        "not takes one filter (a mapping)",
    ),
    ("empty or", policy([GOOD, {"or": []}]), "policies[0].filters[1].or", "must not be empty"),
    (
        "and of a mapping",
        policy([{"and": GOOD}]),
        "policies[0].filters[0].and",
        "must be a list of filters, not a mapping",
    ),
    (
        "too deep",
        policy(
            [
                GOOD,
                {
                    "not": {
                        "not": {
                            "not": {
                                "not": {
                                    "not": {
                                        "not": {
                                            "not": {
                                                "not": {
                                                    "not": {
                                                        "not": {
                                                            "not": {
                                                                "not": {
                                                                    "not": {
                                                                        "not": {
                                                                            "not": {
                                                                                "not": {"not": GOOD}
                                                                            }
                                                                        }
                                                                    }
                                                                }
                                                            }
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                },
            ]
        ),
        "policies[0].filters[1]" + ".not" * 16,
        f"filters are nested too deeply (at most {MAX_DEPTH} levels)",
    ),
    # shortcuts
    (
        "status of another product",
        policy([{"status": "running"}]),
        "policies[0].filters[0].status",
        "'running' is not a status of MPS (WAITING, PROCESSING, FINISH)",
    ),
    (
        "status in the wrong case",
        policy([{"status": "waiting"}]),
        "policies[0].filters[0].status",
        "'waiting' is not a status of MPS (WAITING, PROCESSING, FINISH) (did you mean 'WAITING'?)",
    ),
    (
        "dlc status of mps",
        policy([{"status": ["queued", "PROCESSING"]}], "dlc"),
        "policies[0].filters[0].status[1]",
        "'PROCESSING' is not a status of DLC (queued, init, "
        "running, writing, succeeded, failed, cancelled)",
    ),
    (
        "live status",
        policy([{"status": "enabled"}], "live"),
        "policies[0].filters[0].status",
        "'enabled' is not a status of Live (enable, pause) (did you mean 'enable'?)",
    ),
    (
        "generic status",
        policy([{"key": "status", "op": "ne", "value": "DONE"}]),
        "policies[0].filters[0].value",
        "'DONE' is not a status of MPS",
    ),
    (
        "phase",
        policy([GOOD, {"key": "phase", "op": "eq", "value": "runing"}]),
        "policies[0].filters[1].value",
        "'runing' is not a phase (pending, running, done) (did you mean 'running'?)",
    ),
    (
        "empty type list",
        policy([{"type": []}, GOOD]),
        "policies[0].filters[0].type",
        "must not be empty: give type one value or a list",
    ),
    (
        "type not text",
        policy([GOOD, {"type": [LIVE, 7]}]),
        "policies[0].filters[1].type[1]",
        "type values are non-empty strings, not a number",
    ),
    (
        "bad duration",
        policy([{"running_longer_than": "6 hours"}, GOOD]),
        "policies[0].filters[0].running_longer_than",
        "'6 hours' is not a duration",
    ),
    (
        "negative duration",
        policy([GOOD, {"age": "-1d"}]),
        "policies[0].filters[1].age",
        "'-1d': a duration must not be negative",
    ),
    (
        "age with an op it lacks",
        policy([GOOD, {"age": {"eq": "1d"}}]),
        "policies[0].filters[1].age.eq",
        "age takes gt, ge, lt or le, not 'eq'",
    ),
    (
        "age of a list",
        policy([GOOD, {"age": ["1d"]}]),
        "policies[0].filters[1].age",
        "must be a duration (e.g. 30s, 90m, 6h, 2d, 1h30m)",
    ),
    # {key, op, value}
    (
        "unknown op",
        policy([GOOD, {"key": "Url", "op": "matches", "value": "x"}]),
        "policies[0].filters[1].op",
        "unknown op 'matches' (ops: eq, ne, gt, ge, lt, le, in, not-in, regex, glob, contains, "
        "present, absent)",
    ),
    (
        "misspelt op",
        policy([GOOD, {"key": "Url", "op": "not_in", "value": ["x"]}]),
        "policies[0].filters[1].op",
        "unknown op 'not_in' (did you mean 'not-in'?)",
    ),
    (
        "no op",
        policy([GOOD, {"key": "Url", "value": "x"}]),
        "policies[0].filters[1].op",
        "missing (ops: eq,",
    ),
    (
        "no key",
        policy([GOOD, {"op": "present"}]),
        "policies[0].filters[1].key",
        "needs a key: a virtual key (e.g. status), or an API field",
    ),
    (
        "unknown key of a test",
        policy([GOOD, {"key": "Url", "op": "eq", "valeu": "x"}]),
        "policies[0].filters[1].valeu",
        "unknown key 'valeu' (did you mean 'value'?)",
    ),
    (
        "bad regex",
        policy([GOOD, {"key": "Url", "op": "regex", "value": "(["}]),
        "policies[0].filters[1].value",
        "bad regex: missing ]: [",
    ),
    (
        "regex not text",
        policy([GOOD, {"key": "Url", "op": "regex", "value": 5}]),
        "policies[0].filters[1].value",
        "op 'regex' needs a non-empty string",
    ),
    (
        "glob not text",
        policy([GOOD, {"key": "Url", "op": "glob", "value": ["*"]}]),
        "policies[0].filters[1].value",
        "op 'glob' needs a non-empty string",
    ),
    (
        "in without a list",
        policy([GOOD, {"key": "Url", "op": "in", "value": "x"}]),
        "policies[0].filters[1].value",
        "op 'in' needs a non-empty list of values",
    ),
    (
        "not-in of nothing",
        policy([GOOD, {"key": "Url", "op": "not-in", "value": []}]),
        "policies[0].filters[1].value",
        "op 'not-in' needs a non-empty list of values",
    ),
    (
        "in of a mapping",
        policy([GOOD, {"key": "Url", "op": "in", "value": [{"a": 1}]}]),
        "policies[0].filters[1].value[0]",
        "must be a string, a number or true/false, not a mapping",
    ),
    (
        "present with a value",
        policy([GOOD, {"key": "Url", "op": "present", "value": True}]),
        "policies[0].filters[1].value",
        "op 'present' takes no value",
    ),
    (
        "eq without a value",
        policy([GOOD, {"key": "Url", "op": "eq"}]),
        "policies[0].filters[1].value",
        "op 'eq' needs a value",
    ),
    (
        "eq of null",
        policy([GOOD, {"key": "Url", "op": "eq", "value": None}]),
        "policies[0].filters[1].value",
        "must be a string, a number or true/false, not a null",
    ),
    (
        "gt of text",
        policy([GOOD, {"key": "UsedTime", "op": "gt", "value": "long"}]),
        "policies[0].filters[1].value",
        "op 'gt' compares numbers: the value must be a finite number",
    ),
    (
        "gt of a duration on a field",
        policy([GOOD, {"key": "UsedTime", "op": "gt", "value": "1h"}]),
        "policies[0].filters[1].value",
        "(durations such as 6h only for age, running_for, waiting_for)",
    ),
    (
        "gt of infinity",
        policy([GOOD, {"key": "UsedTime", "op": "gt", "value": float("inf")}]),
        "policies[0].filters[1].value",
        "must be a finite number",
    ),
    (
        "a time key with regex",
        policy([GOOD, {"key": "age", "op": "regex", "value": "1"}]),
        "policies[0].filters[1].value",
        "age is seconds: use eq, ne, gt, ge, lt or le, not regex",
    ),
    (
        "a misspelt virtual key",
        policy([{"key": "stauts", "op": "eq", "value": "WAITING"}]),
        "policies[0].filters[0].key",
        "unknown key 'stauts' (did you mean 'status'?): a bare key is "
        "a virtual key (id, type, status, phase, account, region, product, age, running_for, "
        "waiting_for), cost.so_far or cost.per_hour, or an API field, which is CamelCase; write "
        "fields.x or detail.x for any other",
    ),
    (
        "a virtual key with parts",
        policy([GOOD, {"key": "status.x", "op": "present"}]),
        "policies[0].filters[1].key",
        "'status.x': status has no parts",
    ),
    (
        "detail alone",
        policy([GOOD, {"key": "detail", "op": "present"}]),
        "policies[0].filters[1].key",
        "'detail': write detail.Field or detail.A.B",
    ),
    (
        "an empty part",
        policy([GOOD, {"key": "fields.A..B", "op": "present"}]),
        "policies[0].filters[1].key",
        "'fields.A..B': write fields.Field or fields.A.B",
    ),
    (
        "a key that is a number",
        policy([GOOD, {"key": 5, "op": "present"}]),
        "policies[0].filters[1].key",
        "needs a key",
    ),
    (
        "a text key with a number",
        policy([GOOD, {"key": "type", "op": "eq", "value": 5}]),
        "policies[0].filters[1].value",
        "type is text: the value must be a string, not a number",
    ),
    # in exclude
    (
        "bad exclude",
        policy([GOOD], exclude=[{"key": "X", "op": "in", "value": 1}]),
        "policies[0].exclude[0].value",
        "op 'in' needs a non-empty list of values",
    ),
]


@pytest.mark.parametrize(
    ("spec", "key", "reason"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_a_bad_rule_is_one_error_naming_the_file_the_key_and_the_rule(
    spec: dict[str, Any], key: str, reason: str
) -> None:
    err = refusal(spec)
    assert (err.file, err.key) == (SOURCE, key)
    assert err.reason.startswith("rule 'test-rule': ")
    assert reason in err.reason
    assert str(err) == f"{SOURCE}: {key}: {err.reason}"


def test_the_error_names_the_policy_by_its_place_and_its_name() -> None:
    err = refusal(EXAMPLE_RULE, policy([{"status": "PROCESSING"}], name="abort-anything"))
    assert err.key == "policies[1].filters"
    assert err.reason == f"rule 'abort-anything': {MPS_PROCESSING}"


def test_duplicate_names_are_refused_by_the_settings_and_by_the_compiler() -> None:
    err = refusal(EXAMPLE_RULE, EXAMPLE_RULE)
    assert (err.key, err.reason) == (
        "policies[1].name",
        "rule 'abort-long-live-processing': duplicate name (also policies[0])",
    )
    spec = PolicySettings.model_validate(policy([{"status": "WAITING"}]))
    with pytest.raises(ConfigError) as info:
        compile_rules([spec, spec], source="other.yaml")
    assert str(info.value) == (
        "other.yaml: policies[1]: rule 'test-rule': duplicate name (also policies[0])"
    )


def test_the_first_bad_rule_is_reported() -> None:
    err = refusal(policy([{"status": "WAITING"}], name="fine"), policy([], name="empty"))
    assert err.key == "policies[1].filters"


def test_a_refusal_does_not_quote_a_field_value_beyond_a_short_excerpt() -> None:
    long = "x" * 500
    err = refusal(policy([{"status": long}]))
    assert long not in str(err)


def test_compile_rules_takes_settings_as_loaded() -> None:
    data = {"accounts": [{"name": "a", "credentials": "env"}], "policies": [EXAMPLE_RULE]}
    loaded = parse_settings(data, source=SOURCE, environ={})
    assert compile_rules(loaded.policies, source=SOURCE) == rules(EXAMPLE_RULE)
    assert compile_rules((), source=SOURCE) == []
    assert isinstance(rules(EXAMPLE_RULE)[0], Rule)


# --- what a rule can match -----------------------------------------------------------------------


def kinds(product: str, filters: list[Any]) -> set[tuple[str, bool | None]]:
    tree = parse_all(filters, product=product, at=())
    return {(k.status, k.live) for k in feasibility.possible(product, tree)}


def test_the_kinds_a_filter_can_match_follow_status_type_and_phase() -> None:
    every = {(s, live) for s in catalog.STATUSES["mps"] for live in (True, False)}
    assert kinds("mps", [{"age": "1d"}]) == every
    assert kinds("mps", [{"running_longer_than": "1h"}]) == {
        ("PROCESSING", True),
        ("PROCESSING", False),
    }
    assert kinds("mps", [{"type": LIVE}]) == {(s, True) for s in catalog.STATUSES["mps"]}
    assert kinds("mps", [{"not": {"type": LIVE}}, {"status": "WAITING"}]) == {("WAITING", False)}
    assert kinds("mps", [{"key": "type", "op": "ne", "value": LIVE}]) == {
        (s, False) for s in catalog.STATUSES["mps"]
    }
    assert kinds("dlc", [{"key": "phase", "op": "eq", "value": "done"}]) == {
        ("succeeded", None),
        ("failed", None),
        ("cancelled", None),
    }
    assert kinds("live", [{"running_longer_than": "1h"}]) == {("enable", None)}
    assert kinds("live", [{"waiting_longer_than": "1h"}]) == {("enable", None), ("pause", None)}
    assert kinds("mps", [{"status": "WAITING"}, {"not": {"status": "WAITING"}}]) == set()


def test_the_kinds_judged_are_those_of_and_or_not() -> None:
    tree = parse_all([{"or": [{"status": "WAITING"}, {"type": LIVE}]}], product="mps", at=())
    assert isinstance(tree, AllOf)
    (either,) = tree.parts
    assert isinstance(either, AnyOf)
    assert isinstance(parse_all([{"not": GOOD}], product="mps", at=()).parts[0], Not)
    assert {(k.status, k.live) for k in feasibility.possible("mps", tree)} == {
        ("WAITING", True),
        ("WAITING", False),
        ("PROCESSING", True),
        ("FINISH", True),
    }


# --- the catalog's phases, as the adapters see them ---------------------------------------


def test_the_phases_of_a_live_status_are_those_its_window_can_give() -> None:
    start, end = "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"
    moments = [1767225600.0, 1767312000.0 + 3600, 1767398400.0 + 3600]  # before, inside, after
    for status in catalog.STATUSES["live"]:
        record = {"Status": status, "StartTime": start, "EndTime": end}
        seen = {live.phase_at(record, now) for now in moments}
        assert seen == catalog.PHASES["live"][status], status
