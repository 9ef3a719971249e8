"""Policy regexes run on RE2: in time linear in the value whatever the pattern, refused at load
(naming the file, the key and the rule) when RE2 cannot run them, and bounded in length and in
compiled size; their meaning is Python's for every pattern both engines accept."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskwatch.errors import ConfigError
from taskwatch.policy import Compare, Rule, compile_rules
from taskwatch.policy.patterns import PatternError, compile_regex
from taskwatch.settings import load_settings

from .kit import NOW, SOURCE, policy, refusal, rule, rules, task

WAITING = {"status": "WAITING"}


def regex_rule(pattern: str, op: str = "regex") -> Rule:
    return rule([WAITING, {"key": "Name", "op": op, "value": pattern}])


def node_of(r: Rule) -> Compare:
    node = r.match.parts[1]  # type: ignore[union-attr]
    assert isinstance(node, Compare)
    return node


def holds(r: Rule, value: Any) -> bool:
    return r.match.holds(task(fields={"Name": value}), NOW)


# --- linear time ---------------------------------------------------------------------------------


def test_a_catastrophic_pattern_is_compiled_by_re2_and_runs_in_linear_time() -> None:
    r = regex_rule("(a+)+$")
    operand = node_of(r).operand
    assert type(getattr(operand, "program", operand)).__module__ == "re2"
    # Under Python's backtracking `re` each extra "a" doubles the time: 40 of them take hours.
    assert not holds(r, "a" * 40 + "!")
    assert not holds(r, "a" * 1_000_000 + "!")
    assert holds(r, "b" + "a" * 40)


def test_a_value_with_a_lone_surrogate_is_searched_without_raising() -> None:
    # json.loads accepts "\ud800"; UTF-8 cannot encode it, and holds() must never raise.
    assert holds(regex_rule("^x.y$"), "x\ud800y")
    assert not holds(regex_rule("^z"), "x\ud800y")


# --- the meaning stays Python's ------------------------------------------------------------------

SAME_MEANING = [
    ("^etl-", ["etl-nightly", "x-etl-"]),
    ("night", ["etl-nightly", "day"]),  # searched, not matched whole
    ("^5$", [5, "5", "55"]),  # numbers are written out
    (r"^\d{3,}-[a-z]+$", ["123-abc", "12-abc", "1234-ABC"]),
    ("(?i)^RTMP://", ["rtmp://x", "Rtmp://x", "http://x"]),  # inline flags keep their meaning
    ("(?s)a.b", ["a\nb", "ab"]),
    ("a.b", ["a\nb", "axb"]),  # no (?s): the dot stops at a newline
    ("(?m)^b$", ["a\nb\nc", "abc"]),
    ("^b$", ["a\nb\nc", "b"]),  # no (?m): the whole value
    (r"\bjob\b", ["a job here", "jobs"]),
    (r"(?P<host>[a-z]+)\.example\.com", ["api.example.com", "example.com"]),
    ("colou?r|grey", ["color", "gray", "grey"]),
    (r"^[^/]+/live/\w+\.flv$", ["cdn/live/ab_1.flv", "cdn/vod/ab.flv"]),
    ("^直播", ["直播-1", "点播"]),
]


@pytest.mark.parametrize(("pattern", "values"), SAME_MEANING)
def test_a_pattern_both_engines_accept_means_what_python_says(
    pattern: str, values: list[Any]
) -> None:
    r = regex_rule(pattern)
    for value in values:
        assert holds(r, value) is (re.search(pattern, str(value)) is not None), value


# --- refused at load -----------------------------------------------------------------------------

RE2_CANNOT = [
    ("backreference", r"(a)\1", r"invalid escape sequence: \1"),
    ("named backreference", r"(?P<x>a)(?P=x)", "invalid perl operator: (?P"),
    ("lookahead", "rtmp(?=://)", "invalid perl operator: (?="),
    ("negative lookahead", "^(?!test-)", "invalid perl operator: (?!"),
    ("lookbehind", "(?<=live/)x", "invalid perl operator: (?<="),
    ("negative lookbehind", "(?<!a)x", "invalid perl operator: (?<!"),
    ("atomic group", "(?>a+)b", "invalid perl operator: (?>"),
    ("possessive", "a*+b", "bad repetition operator: *+"),
]


@pytest.mark.parametrize(
    ("pattern", "engine_says"),
    [case[1:] for case in RE2_CANNOT],
    ids=[case[0] for case in RE2_CANNOT],
)
def test_a_pattern_re2_cannot_run_is_refused_at_load_saying_why(
    pattern: str, engine_says: str
) -> None:
    err = refusal(policy([WAITING, {"key": "Name", "op": "regex", "value": pattern}]))
    assert (err.file, err.key) == (SOURCE, "policies[0].filters[1].value")
    assert err.reason == (
        f"rule 'test-rule': RE2 cannot run this regex ({engine_says}): policy regexes run on "
        "RE2, in time linear in the value, which has no backreferences, lookaround, atomic "
        "groups or possessive quantifiers"
    )


def test_the_end_of_text_anchor_of_python_gets_a_hint() -> None:
    err = refusal(policy([WAITING, {"key": "Name", "op": "regex", "value": r"\.flv\Z"}]))
    assert err.key == "policies[0].filters[1].value"
    assert "write \\z (or $) for the end of the value" in err.reason


def test_a_pattern_no_engine_accepts_is_a_bad_regex() -> None:
    err = refusal(policy([WAITING, {"key": "Name", "op": "regex", "value": "(["}]))
    assert err.reason == "rule 'test-rule': bad regex: missing ]: ["


def test_a_short_pattern_that_compiles_too_large_is_refused() -> None:
    # 10 characters, 120,000 RE2 instructions (about 2 MiB): each \pL is a large UTF-8 automaton.
    err = refusal(policy([WAITING, {"key": "Name", "op": "regex", "value": r"\pL{1,100}"}]))
    assert err.key == "policies[0].filters[1].value"
    assert err.reason == (
        "rule 'test-rule': the regex compiles to more than RE2's memory bound (1 MiB): "
        "simplify it (counted repeats of large classes such as \\pL{1,100} are the usual cause)"
    )
    assert holds(regex_rule(r"^\pL+$"), "été")  # the class alone is small


def test_the_regexes_of_a_configuration_share_one_compiled_size_budget() -> None:
    # Each is within the bound alone (60,000 RE2 instructions); 17 of them are over the total:
    # 22,000 such filters fit in a 1 MiB file, which would compile for minutes into gigabytes.
    heavy = [{"key": "Name", "op": "regex", "value": f"\\pL{{1,50}}{i}"} for i in range(17)]
    assert rules(policy([WAITING, *heavy[:8]], name="first"), policy([WAITING, *heavy[8:16]]))
    err = refusal(policy([WAITING, *heavy[:8]], name="first"), policy([WAITING, *heavy[8:]]))
    assert (err.file, err.key) == (SOURCE, "policies[1].filters[9].value")
    total = sum(compile_regex(str(test["value"])).size for test in heavy)
    assert 1_000_000 < total < 1_000_000 + 60_000
    assert err.reason == (
        "rule 'test-rule': the policy regexes together would compile to more than 1000000 RE2 "
        f"instructions (about 8 MB), this one brings them to {total}: simplify the largest "
        "(counted repeats of large classes such as \\pL{1,50} are the usual cause)"
    )


@pytest.mark.parametrize("op", ["regex", "glob"])
def test_a_pattern_is_at_most_1000_characters(op: str) -> None:
    assert holds(regex_rule("x" * 1000, op), "x" * 1000)
    err = refusal(policy([WAITING, {"key": "Name", "op": op, "value": "x" * 1001}]))
    assert err.key == "policies[0].filters[1].value"
    assert err.reason == (
        f"rule 'test-rule': a {op} pattern is at most 1000 characters, this one has 1001"
    )


# --- the daemon's path: start and reload ---------------------------------------------------------


def load_config(path: Path) -> list[Rule]:
    """What ``taskwatch.supervisor.load_config`` does at start, on SIGHUP and POST /-/reload."""
    return compile_rules(load_settings(path, environ={}).policies, source=str(path))


CONFIG = """\
accounts:
  - name: main
    credentials: env
policies:
  - name: no-lookaround
    product: mps
    action: abort
    filters:
      - status: WAITING
      - {key: Name, op: regex, value: '%s'}
"""


def test_the_file_the_daemon_loads_and_reloads_is_refused_naming_the_file_and_the_key(
    tmp_path: Path,
) -> None:
    config = tmp_path / "taskwatch.yaml"
    config.write_text(CONFIG % "^(?!keep-)")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert (info.value.file, info.value.key) == (str(config), "policies[0].filters[1].value")
    assert info.value.reason.startswith("rule 'no-lookaround': RE2 cannot run this regex")
    config.write_text(CONFIG % "(a+)+$")
    (loaded,) = load_config(config)
    operand = node_of(loaded).operand
    assert type(getattr(operand, "program", operand)).__module__ == "re2"


# --- any pattern, any value ----------------------------------------------------------------------

PATTERN_PIECES = st.text(alphabet="ab\\()[]{}*+?|^$.-:=!<>PpLZzdw019,ixs#\x00é", max_size=24)


@settings(max_examples=300, deadline=None)
@given(pattern=PATTERN_PIECES, value=st.text(max_size=40))
def test_any_pattern_compiles_or_is_refused_and_a_compiled_one_never_raises(
    pattern: str, value: str
) -> None:
    reason = ""
    try:
        regex = compile_regex(pattern)
    except PatternError as exc:
        reason = exc.reason
    if reason:
        assert len(reason) < 400
    else:
        assert regex.search(value) in (True, False)
