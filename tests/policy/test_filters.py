"""The filter language on tasks: every op on present and missing keys, where keys are read,
the shortcuts, durations, and and/or/not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskwatch.models import Phase
from taskwatch.policy.filters import MISSING, OPS, Compare, Key, same
from taskwatch.policy.syntax import parse_all

from .kit import HOUR, NOW, task

FIELDS = {
    "Name": "etl-nightly",
    "Count": 5,
    "CountText": "5",
    "CreateTime": "1611646962000",
    "Flag": True,
    "Tags": ["a", "b", 3],
    "Obj": {"k": 1},
    "Null": None,
    "Empty": "",
    "Nested": {"List": [{"Url": "rtmp://one"}, {"Url": "http://two"}]},
}
DETAIL = {"Only": "in-detail", "Name": "detail-name", "Deep": {"A": {"B": 7}}}
TASK = task("dlc", status="running", fields=FIELDS, detail=DETAIL)


def holds(filters: Any, product: str = "dlc", **kw: Any) -> bool:
    """Whether the filter list holds on a task built from ``kw`` (default: :data:`TASK`)."""
    tree = parse_all(filters if isinstance(filters, list) else [filters], product=product, at=())
    subject = task(product, **kw) if kw else TASK
    return tree.holds(subject, NOW)


def check(key: str, op: str, value: Any = None) -> dict[str, Any]:
    """A ``{key, op, value}`` filter (without a value for present/absent)."""
    if op in ("present", "absent"):
        return {"key": key, "op": op}
    return {"key": key, "op": op, "value": value}


# --- every op on a present key -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "op", "value", "expected"),
    [
        ("Name", "eq", "etl-nightly", True),
        ("Name", "eq", "etl", False),
        ("Count", "eq", 5, True),
        ("Count", "eq", "5", True),  # a number and a numeric string compare as numbers
        ("CountText", "eq", 5, True),
        ("CountText", "eq", 5.0, True),
        ("Flag", "eq", True, True),
        ("Flag", "eq", 1, False),  # true is not 1
        ("Count", "eq", True, False),
        ("Tags", "eq", "a", False),  # a list equals no scalar
        ("Name", "ne", "etl", True),
        ("Name", "ne", "etl-nightly", False),
        ("Count", "ne", "5", False),
        ("Count", "gt", 4, True),
        ("Count", "gt", 5, False),
        ("Count", "ge", 5, True),
        ("Count", "lt", 6, True),
        ("Count", "lt", 5, False),
        ("Count", "le", 5, True),
        ("CountText", "gt", 4.5, True),  # numeric strings compare as numbers
        ("CreateTime", "gt", 1.6e12, True),
        ("Name", "gt", 0, False),  # not a number: no order
        ("Flag", "gt", 0, False),  # true/false are not numbers
        ("Tags", "lt", 100, False),
        ("Name", "in", ["x", "etl-nightly"], True),
        ("Name", "in", ["x", "y"], False),
        ("Count", "in", ["4", "5"], True),
        ("Name", "not-in", ["x"], True),
        ("Name", "not-in", ["etl-nightly"], False),
        ("Name", "regex", "^etl-", True),
        ("Name", "regex", "night", True),  # searched, not matched whole
        ("Name", "regex", "^nightly", False),
        ("Count", "regex", "^5$", True),  # numbers are written out
        ("Obj", "regex", "k", False),
        ("Name", "glob", "etl-*", True),
        ("Name", "glob", "*-night", False),  # the whole value
        ("Name", "glob", "ETL-*", False),  # case-sensitive
        ("Name", "glob", "etl-?ightly", True),
        ("Name", "contains", "night", True),
        ("Name", "contains", "day", False),
        ("Tags", "contains", "a", True),  # list membership
        ("Tags", "contains", 3, True),
        ("Tags", "contains", "c", False),
        ("Obj", "contains", "k", True),  # object key
        ("Obj", "contains", "z", False),
        ("Count", "contains", 5, False),  # a number contains nothing
        ("Name", "present", None, True),
        ("Empty", "present", None, True),  # an empty string is a value
        ("Tags", "present", None, True),
        ("Name", "absent", None, False),
        ("Empty", "eq", "", True),
    ],
)
def test_each_op_on_a_present_key(key: str, op: str, value: Any, expected: bool) -> None:
    assert holds(check(key, op, value)) is expected


# --- missing keys --------------------------------------------------------------------------------

SOME_VALUE = {
    "eq": "x",
    "ne": "x",
    "gt": 0,
    "ge": 0,
    "lt": 0,
    "le": 0,
    "in": ["x"],
    "not-in": ["x"],
    "regex": ".*",
    "glob": "*",
    "contains": "x",
    "present": None,
    "absent": None,
}


@pytest.mark.parametrize("key", ["Missing", "Null", "detail.Missing", "fields.Only", "Obj.z"])
@pytest.mark.parametrize("op", list(OPS))
def test_a_missing_or_null_key_matches_only_absent(key: str, op: str) -> None:
    assert holds(check(key, op, SOME_VALUE[op])) is (op == "absent")


def test_every_op_has_a_value_for_the_missing_key_table() -> None:
    assert set(SOME_VALUE) == set(OPS)


def test_a_task_without_detail_has_every_detail_key_missing() -> None:
    assert holds(check("detail.Name", "absent"), fields=FIELDS) is True
    assert holds(check("Only", "present"), fields=FIELDS) is False


# --- where keys are read -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("Name", "etl-nightly"),  # a bare key: the list record first
        ("fields.Name", "etl-nightly"),
        ("detail.Name", "detail-name"),
        ("Only", "in-detail"),  # then the detail
        ("detail.Only", "in-detail"),
        ("fields.Only", MISSING),
        ("detail.Deep.A.B", 7),  # dots step into objects
        ("Deep.A.B", 7),
        ("Nested.List.1.Url", "http://two"),  # digits index lists
        ("Nested.List.0.Url", "rtmp://one"),
        ("Nested.List.2.Url", MISSING),
        ("Name.0", MISSING),  # a string is not indexed
        ("Tags.x", MISSING),
        ("Obj.k.deeper", MISSING),
        ("Null", MISSING),
    ],
)
def test_keys_read_the_list_record_then_the_detail(key: str, expected: object) -> None:
    (tree,) = parse_all([check(key, "present")], product="dlc", at=()).parts
    assert isinstance(tree, Compare)
    assert tree.key.find(TASK, NOW) == expected


def test_virtual_keys_read_the_task() -> None:
    t = task("mps", status="PROCESSING", type="LiveStreamProcessTask", age=3 * HOUR, running=HOUR)
    found = {
        name: Key("virtual", (name,), name).find(t, NOW)
        for name in ("id", "type", "status", "phase", "account", "region", "product")
    }
    assert found == {
        "id": "task-1",
        "type": "LiveStreamProcessTask",
        "status": "PROCESSING",
        "phase": "running",
        "account": "main",
        "region": "global",
        "product": "mps",
    }
    times = {n: Key("virtual", (n,), n).find(t, NOW) for n in ("age", "running_for", "waiting_for")}
    assert times == {"age": 3 * HOUR, "running_for": HOUR, "waiting_for": MISSING}


def test_a_task_without_times_has_no_age() -> None:
    assert holds({"key": "age", "op": "absent"}, age=None) is True
    assert holds({"age": "0s"}, age=None) is False


def test_phase_and_the_time_keys_take_generic_tests() -> None:
    assert holds({"key": "phase", "op": "eq", "value": "running"}, status="running") is True
    assert holds({"key": "phase", "op": "in", "value": ["pending"]}, status="queued") is True
    assert holds({"key": "running_for", "op": "ge", "value": "10h"}, status="running") is True
    assert holds({"key": "running_for", "op": "lt", "value": 36000}, status="running") is False
    assert holds({"key": "waiting_for", "op": "absent"}, status="running") is True


# --- shortcuts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["LiveStreamProcessTask", "LiveProcessTask"])
@pytest.mark.parametrize("form", ["shortcut", "list", "eq", "in"])
def test_both_mps_spellings_of_the_live_type_match_a_live_task(written: str, form: str) -> None:
    filters = {
        "shortcut": {"type": written},
        "list": {"type": ["WorkflowTask", written]},
        "eq": {"key": "type", "op": "eq", "value": written},
        "in": {"key": "type", "op": "in", "value": [written]},
    }[form]
    live = {"status": "PROCESSING", "type": "LiveStreamProcessTask"}
    assert holds(filters, "mps", **live) is True
    assert holds(filters, "mps", status="PROCESSING", type="EditMediaTask") is False


def test_the_list_spelling_stays_raw_under_fields() -> None:
    raw = {"TaskType": "LiveProcessTask"}
    live = {"type": "LiveStreamProcessTask", "fields": raw}
    assert holds({"key": "fields.TaskType", "op": "eq", "value": "LiveProcessTask"}, "mps", **live)


def test_type_and_status_take_one_value_or_a_list() -> None:
    assert holds({"type": "SparkSQLTask"}) is True
    assert holds({"type": ["SparkBatchTask", "SparkSQLTask"]}) is True
    assert holds({"type": "SparkBatchTask"}) is False
    assert holds({"status": "running"}) is True
    assert holds({"status": ["queued", "init"]}) is False
    assert holds({"status": ["queued", "init"]}, status="init") is True


@pytest.mark.parametrize(
    ("written", "hours", "expected"),
    [("6h", 7, True), ("6h", 5, False), ("6h", 6, False), ("90m", 2, True), ("1h30m", 1, False)],
)
def test_running_longer_than_compares_the_running_time(
    written: str, hours: float, expected: bool
) -> None:
    shortcut = {"running_longer_than": written}
    assert holds(shortcut, status="running", running=hours * HOUR) is expected


def test_running_longer_than_never_matches_a_task_that_is_not_running() -> None:
    assert holds({"running_longer_than": "0s"}, status="queued", age=100 * HOUR) is False
    assert holds({"running_longer_than": 60}, status="running", running=61) is True


def test_waiting_longer_than_compares_the_waiting_time() -> None:
    assert holds({"waiting_longer_than": "2h"}, status="queued", age=3 * HOUR) is True
    assert holds({"waiting_longer_than": "2h"}, status="queued", age=HOUR) is False
    assert holds({"waiting_longer_than": "2h"}, status="running", age=3 * HOUR) is False


def test_age_alone_means_older_than_and_a_mapping_bounds_it() -> None:
    assert holds({"age": "2d"}, age=3 * 24 * HOUR) is True
    assert holds({"age": "2d"}, age=24 * HOUR) is False
    window = {"age": {"gt": "1d", "le": "3d"}}
    assert holds(window, age=2 * 24 * HOUR) is True
    assert holds(window, age=3 * 24 * HOUR) is True
    assert holds(window, age=4 * 24 * HOUR) is False
    assert holds({"age": {"lt": "1h"}}, age=60) is True


def test_live_tasks_run_and_wait_by_their_phase() -> None:
    paused = {"status": "pause", "phase": Phase.PENDING}
    assert holds({"waiting_longer_than": "1h"}, "live", **paused) is True
    assert holds({"running_longer_than": "1h"}, "live", status="enable") is True


# --- and, or, not --------------------------------------------------------------------------------


def test_a_filter_list_means_all_of_them() -> None:
    assert holds([{"status": "running"}, check("Name", "glob", "etl-*")]) is True
    assert holds([{"status": "running"}, check("Name", "glob", "adhoc-*")]) is False


def test_and_or_not_nest() -> None:
    either = {"or": [check("Name", "eq", "x"), check("Count", "gt", 4)]}
    both = {"and": [check("Name", "eq", "x"), check("Count", "gt", 4)]}
    assert holds(either) is True
    assert holds(both) is False
    assert holds({"not": both}) is True
    assert holds({"not": {"not": either}}) is True
    deep = {"and": [{"or": [{"not": {"status": "queued"}}, check("Missing", "present")]}, either]}
    assert holds(deep) is True


def test_not_of_a_missing_key_test_holds() -> None:
    # ne on a missing key is false, so "not eq" is the way to say "is not x, or is missing".
    assert holds(check("Missing", "ne", "x")) is False
    assert holds({"not": check("Missing", "eq", "x")}) is True


# --- values --------------------------------------------------------------------------------------

SCALARS = st.text(max_size=8) | st.integers() | st.booleans() | st.floats(allow_nan=False)


@given(SCALARS)
def test_every_scalar_equals_itself(value: object) -> None:
    assert same(value, value)


@given(SCALARS, SCALARS)
def test_equality_is_symmetric_and_ne_is_its_negation(a: object, b: object) -> None:
    assert same(a, b) == same(b, a)
    assert OPS["ne"](a, b) is not OPS["eq"](a, b)
    assert OPS["not-in"](a, (b,)) is not OPS["in"](a, (b,))


@pytest.mark.parametrize("huge", [10**400, "1" + "0" * 400, float("inf"), float("nan")])
def test_huge_and_odd_numbers_compare_without_raising(huge: object) -> None:
    for op in ("eq", "gt", "ge", "lt", "le", "in"):
        OPS[op](huge, (5.0,) if op == "in" else 5.0)
