"""deploy/prometheus: the alert rules parse, their unit tests pass, and they use real metrics.

What is checked, and how:

* ``promtool check rules`` on rules.yml and ``promtool test rules`` on rules_test.yml (real
  promtool, the Debian package); every alert has a firing and a quiet case there.
* ``promtool check config`` on prometheus.example.yml, once per scrape-config variant (the file
  keeps the Kubernetes variant commented out; the test switches it on in a copy).
* Every metric name and label an expression uses exists in taskwatch's own exposition: a fresh
  :class:`taskwatch.metrics.registry.Metrics` with every metric touched, rendered and parsed back.

The helpers here (the exposition inventory, the PromQL selector scan, the promtool parse check)
are shared with test_grafana.py. The selector scan is a small tokenizer, not a PromQL parser:
promtool decides whether an expression parses; the scan only finds metric names, matcher labels
and grouping labels in expressions that do.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from taskwatch.cost import Pricer
from taskwatch.limiter import BucketStats
from taskwatch.metrics.registry import Metrics, TaskGroup
from taskwatch.models import Phase, SourceKey, Task
from taskwatch.settings.prices import Prices
from tests.components import promtool

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules.yml"
RULES_TEST = PROMETHEUS / "rules_test.yml"
EXAMPLE_CONFIG = PROMETHEUS / "prometheus.example.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
RUNBOOK_PARTS = ("Meaning", "Impact", "Diagnosis", "Action")
"""The parts of every runbook section, each a bold lead-in."""

TARGET_LABELS = frozenset(
    {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}
)
"""Labels a scrape adds to every series (the last five: the Operator's ServiceMonitor)."""

SYNTHETIC: dict[str, frozenset[str]] = {"up": frozenset()}
"""Series Prometheus makes itself for each target, with their own labels (besides targets')."""

EXPECTED_ALERTS = {
    "TaskwatchShardUnheld",
    "TaskwatchNotificationsRefused",
    "TaskwatchHintRelayFailing",
    "TaskwatchDown",
    "TaskwatchTargetMissing",
    "TaskwatchScanStale",
    "TaskwatchScanNeverSucceeded",
    "TaskwatchThrottledSustained",
    "TaskwatchActionsFailing",
    "TaskwatchTasksStuckWaiting",
    "TaskwatchLiveTaskRunningTooLong",
    "TaskwatchConfigReloadFailed",
    "TaskwatchActionsPaused",
    "TaskwatchDryRunLeftOn",
    "TaskwatchNoLeader",
    "TaskwatchJournalFailing",
    "TaskwatchCredentialsRefreshFailing",
    "TaskwatchSpendRateHigh",
}


# --- shared helpers -------------------------------------------------------------------------


class _Buckets:
    """A limiter stand-in with one bucket, so the rate gauges have samples."""

    def snapshot(self) -> list[BucketStats]:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(BucketStats):
            kind = str(f.type)
            values[f.name] = "x" if "str" in kind else 1 if "int" in kind else 1.0
        return [BucketStats(**values)]


class _Held:
    """A role source stand-in holding credentials, so the expiry gauge has a sample."""

    kind = "x"
    observer: Callable[[str], None] | None = None
    expires_at: float | None = 1.0


_HELD = _Held()


@cache
def exposition() -> Mapping[str, frozenset[str]]:
    """Every sample name taskwatch exports (``_total``, ``_bucket`` ...) and its label names.

    Built from a fresh registry with every metric touched, so each family has a sample and its
    labels are visible, then rendered in the text format and parsed back: the names Prometheus
    stores, not the names in the code.
    """
    metrics = Metrics()
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        child = value.labels(*["x"] * len(value._labelnames)) if value._labelnames else value
        for method, args in (("inc", ()), ("set", (1.0,)), ("observe", (1.0,))):
            if hasattr(child, method):
                getattr(child, method)(*args)
                break
    metrics.publish_tasks(SourceKey("main", "mps", "global"), {("T", "S"): TaskGroup(1, 0.0)})
    metrics.watch_limiter(_Buckets())
    metrics.watch_credentials("x", _HELD)
    pull = Task("live", "main", "x", "t", "T", "enable", Phase.RUNNING, started=0.0)
    live_priced = Pricer(Prices.model_validate({"live": {"per_hour": 1.0}}))
    metrics.publish(SourceKey("main", "live", "x"), [pull], live_priced, 3600.0)
    text = generate_latest(metrics.registry).decode()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    return {name: frozenset(names) for name, names in labels.items()}


_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    | (?P<braces>\{[^{}]*\})
    | (?P<brackets>\[[^\[\]]*\])
    | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*)
    | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<other>\S)
    """,
    re.VERBOSE,
)
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {
    *_GROUPING,
    *("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values"),
    *("bottomk", "topk", "quantile", "limitk", "limit_ratio"),
    *("and", "or", "unless", "atan2", "bool", "offset", "inf", "nan", "start", "end"),
}


@dataclass(frozen=True)
class Selector:
    """One vector selector: ``name{labels...}``."""

    name: str
    labels: frozenset[str]


@dataclass(frozen=True)
class Scan:
    """What an expression refers to: its selectors and the labels it groups or matches on."""

    selectors: tuple[Selector, ...]
    grouping: frozenset[str]


def scan(expr: str) -> Scan:
    """Metric names, matcher labels and grouping labels of a PromQL expression that parses."""
    tokens = [
        (m.lastgroup or "", m.group())
        for m in _TOKEN.finditer(re.sub(r"#[^\n]*", "", expr))
        if m.lastgroup != "string"
    ]
    selectors: list[Selector] = []
    grouping: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        if kind == "ident" and text in _GROUPING and following[1] == "(":
            j = i + 2
            while j < len(tokens) and tokens[j][1] != ")":
                if tokens[j][0] == "ident":
                    grouping.add(tokens[j][1])
                j += 1
            i = j + 1
            continue
        if kind == "ident" and text not in _KEYWORDS and following[1] != "(":
            labels = set()
            if following[0] == "braces":
                labels = set(_MATCHER_LABEL.findall(following[1]))
                i += 1
            selectors.append(Selector(text, frozenset(labels)))
        elif kind == "braces":
            raise AssertionError(f"a selector without a metric name in {expr!r}: {text}")
        i += 1
    return Scan(tuple(selectors), frozenset(grouping))


def reference_problems(exprs: Mapping[str, str]) -> list[str]:
    """Names, matcher labels and grouping labels that taskwatch's exposition does not have."""
    known = exposition()
    problems = []
    for where, expr in exprs.items():
        found = scan(expr)
        in_scope = set(TARGET_LABELS)
        for selector in found.selectors:
            labels = known.get(selector.name, SYNTHETIC.get(selector.name))
            if labels is None:
                problems.append(f"{where}: {selector.name} is not a metric taskwatch exports")
                continue
            in_scope |= labels
            unknown = selector.labels - labels - TARGET_LABELS - {"__name__"}
            if unknown:
                problems.append(f"{where}: {selector.name} has no label {sorted(unknown)}")
        if not found.selectors:
            problems.append(f"{where}: no metric at all in {expr!r}")
        if stray := found.grouping - in_scope:
            problems.append(f"{where}: groups by {sorted(stray)}, which its metrics lack")
    return problems


def promtool_parse(exprs: Mapping[str, str], workdir: Path) -> tuple[int, str]:
    """Parse every expression with promtool: rc and output of ``check rules`` on a file of
    recording rules, one per expression (promtool 2.42 has no command that parses one query).

    ``exprs`` maps a name that is valid as a metric name (it becomes the rule's ``record``)."""
    rules = [{"record": name, "expr": expr} for name, expr in exprs.items()]
    path = workdir / "parse.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "parse", "rules": rules}]}))
    done = promtool("check", "rules", str(path))
    return done.returncode, done.stdout + done.stderr


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def names(items: Iterable[dict[str, Any]]) -> list[str]:
    return [item["alert"] for item in items]


# --- the rules ------------------------------------------------------------------------------


def test_the_rule_file_passes_promtool_check_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in done.stdout


def test_the_rules_unit_tests_pass_under_promtool_test_rules() -> None:
    done = promtool("test", "rules", str(RULES_TEST))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_unit_tests_fail_when_a_rule_changes(tmp_path: Path) -> None:
    """The unit tests bind the rules: a looser `for` on TaskwatchDown makes them fail."""
    text = RULES.read_text()
    down = 'expr: up{job="taskwatch"} == 0\n        for: '
    loosened = text.replace(down + "5m", down + "10m")
    assert loosened != text
    (tmp_path / "rules.yml").write_text(loosened)
    shutil.copy(RULES_TEST, tmp_path / "rules_test.yml")
    done = promtool("test", "rules", str(tmp_path / "rules_test.yml"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "alertname: TaskwatchDown" in done.stdout + done.stderr


def test_the_rules_are_the_alerts_the_issue_asked_for() -> None:
    found = names(alerts())
    assert len(found) == len(set(found)), "alert names repeat"
    assert set(found) == EXPECTED_ALERTS


@pytest.mark.parametrize("alert", sorted(EXPECTED_ALERTS))
def test_every_alert_has_severity_and_the_annotations_a_receiver_needs(alert: str) -> None:
    (rule,) = [r for r in alerts() if r["alert"] == alert]
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
    assert all(text.strip() for text in rule["annotations"].values())


def runbook_sections() -> dict[str, str]:
    """docs/runbooks.md by second-level heading: the heading's text → the section's text."""
    sections: dict[str, str] = {}
    for chunk in re.split(r"^## ", RUNBOOKS.read_text(), flags=re.MULTILINE)[1:]:
        heading, _, body = chunk.partition("\n")
        sections[heading.strip()] = body
    return sections


@pytest.mark.parametrize("alert", sorted(EXPECTED_ALERTS))
def test_every_alert_links_a_runbook_section_saying_meaning_impact_diagnosis_and_action(
    alert: str,
) -> None:
    (rule,) = [r for r in alerts() if r["alert"] == alert]
    assert rule["annotations"]["runbook_url"] == f"docs/runbooks.md#{alert.lower()}"
    section = runbook_sections()[alert]
    for part in RUNBOOK_PARTS:
        assert f"**{part}.**" in section, (alert, part)


def test_the_runbooks_have_a_section_for_every_alert_and_none_for_a_missing_one() -> None:
    runbooks = {heading for heading in runbook_sections() if heading.startswith("Taskwatch")}
    assert runbooks == set(names(alerts()))


def spellings(duration: str) -> set[str]:
    """How an annotation could restate a `for:` of ``duration`` (``5m``, ``1h``...)."""
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match, duration
    n, unit = int(match.group(1)), match.group(2)
    word = {"s": "second", "m": "minute", "h": "hour"}[unit]
    found = {f"{n}{unit}", f"{n} {unit}", f"{n} {word}", f"{n} {word}s"}
    if n == 1:
        found |= {f"an {word}", f"a {word}"}
    return found


@pytest.mark.parametrize("alert", sorted(EXPECTED_ALERTS))
def test_no_annotation_restates_the_for_duration_of_its_rule(alert: str) -> None:
    """`for:` is edited where it is set; an annotation that repeats it goes wrong silently."""
    (rule,) = [r for r in alerts() if r["alert"] == alert]
    if "for" not in rule:
        return
    for name, text in rule["annotations"].items():
        said = {s for s in spellings(rule["for"]) if re.search(rf"\b{re.escape(s)}\b", text)}
        assert not said, (alert, name, said)


def test_the_spellings_of_a_duration_include_the_words_a_sentence_would_use() -> None:
    assert {"5 minutes", "5m"} <= spellings("5m")
    assert {"an hour", "1 hour", "1h"} <= spellings("1h")


def test_failing_actions_are_aggregated_per_account_and_product_so_they_can_be_routed() -> None:
    (rule,) = [r for r in alerts() if r["alert"] == "TaskwatchActionsFailing"]
    groupings = re.findall(r"\bby \(([^)]*)\)", rule["expr"])
    assert groupings
    for grouping in groupings:
        assert {"account", "product"} <= {label.strip() for label in grouping.split(",")}


@pytest.mark.parametrize(
    "alert",
    [
        "TaskwatchScanStale",
        "TaskwatchTasksStuckWaiting",
        "TaskwatchLiveTaskRunningTooLong",
        "TaskwatchSpendRateHigh",
    ],
)
def test_the_runbooks_of_alerts_that_resolve_when_taskwatch_dies_name_the_alerts_that_cover_it(
    alert: str,
) -> None:
    section = runbook_sections()[alert]
    assert "resolve" in section
    assert "TaskwatchDown" in section
    assert "TaskwatchTargetMissing" in section


def test_every_alert_has_a_firing_case_and_a_quiet_case_in_the_unit_tests() -> None:
    cases = [
        case
        for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    every = set(names(alerts()))
    assert every - firing == set(), "alerts never shown firing"
    assert every - quiet == set(), "alerts never shown quiet"
    assert {case["alertname"] for case in cases} <= every, "tests of alerts that do not exist"


def test_the_rules_use_only_metrics_and_labels_taskwatch_exports() -> None:
    exprs = {rule["alert"]: rule["expr"] for rule in alerts()}
    assert reference_problems(exprs) == []


def test_the_reference_check_catches_a_misspelt_metric_or_label() -> None:
    exprs = {
        "name": "taskwatch_scan_last_succes_timestamp_seconds > 0",
        "label": 'taskwatch_tasks_finished_total{account="main"}',
        "grouping": "sum by (acount) (taskwatch_tasks)",
    }
    problems = reference_problems(exprs)
    assert len(problems) == 3, problems


def test_the_selector_scan_finds_names_labels_and_grouping() -> None:
    found = scan(
        'sum by (policy, action) (increase(taskwatch_policy_actions_total{result=~"f|u"}[15m]))'
        ' > 0 or x_total unless on (policy) y offset 15m and 6 * 3600 > max(up{job="t"})'
    )
    assert found.selectors == (
        Selector("taskwatch_policy_actions_total", frozenset({"result"})),
        Selector("x_total", frozenset()),
        Selector("y", frozenset()),
        Selector("up", frozenset({"job"})),
    )
    assert found.grouping == {"policy", "action"}


# --- the scrape config example --------------------------------------------------------------


def variant(text: str, keep: str) -> str:
    """The example with only the scrape config between ``# [variant KEEP]`` markers active."""
    out: list[str] = []
    current: str | None = None
    for line in text.splitlines():
        start = re.fullmatch(r"\s*# \[variant (\w+)\]", line)
        end = re.fullmatch(r"\s*# \[end variant (\w+)\]", line)
        if start or end:
            current = start.group(1) if start else None
            continue
        if current is None:
            out.append(line)
        elif current == keep:
            out.append(re.sub(r"^(\s*)# ?", r"\1", line) if line.lstrip().startswith("#") else line)
    return "\n".join(out) + "\n"


def check_config(config: Mapping[str, Any], workdir: Path) -> tuple[int, str]:
    """``promtool check config`` on ``config`` written beside a copy of rules.yml."""
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(dict(config)))
    shutil.copy(RULES, workdir / "rules.yml")
    done = promtool("check", "config", str(path))
    return done.returncode, done.stdout + done.stderr


@cache
def promtool_knows_kubernetes_sd() -> bool:
    """Debian's Prometheus is built without Kubernetes service discovery: its promtool rejects
    ``kubernetes_sd_configs`` as an unknown field. An upstream build accepts it."""
    probe = "scrape_configs: [{job_name: p, kubernetes_sd_configs: [{role: pod}]}]\n"
    done = promtool("check", "config", "--syntax-only", "/dev/stdin", stdin=probe)
    if done.returncode == 0:
        return True
    assert "kubernetes_sd_configs not found" in done.stdout + done.stderr, done
    return False


def test_the_static_variant_passes_promtool_check_config(tmp_path: Path) -> None:
    config = yaml.safe_load(variant(EXAMPLE_CONFIG.read_text(), "static"))
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "taskwatch"  # the rules select job="taskwatch"
    rc, output = check_config(config, tmp_path)
    assert rc == 0, output
    assert "1 rule files found" in output
    assert f"SUCCESS: {len(alerts())} rules found" in output


def test_the_kubernetes_variant_passes_promtool_check_config(tmp_path: Path) -> None:
    """What this promtool can check of the Kubernetes variant, and the rest by hand.

    With Debian's promtool (no Kubernetes discovery compiled in) the discovery block is checked
    here against the shape Prometheus documents and against deploy/kubernetes (namespace, pod
    label), and everything else of the job (its relabelling above all) by promtool, with a
    static target standing in for the discovery. With a promtool that knows
    ``kubernetes_sd_configs`` the file is also checked whole.
    """
    config = yaml.safe_load(variant(EXAMPLE_CONFIG.read_text(), "kubernetes"))
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "taskwatch"
    if promtool_knows_kubernetes_sd():
        rc, output = check_config(config, tmp_path)
        assert rc == 0, output

    (sd,) = job.pop("kubernetes_sd_configs")
    assert set(sd) <= {"role", "namespaces", "selectors"}
    assert sd["role"] == "pod"
    assert sd["namespaces"] == {"names": ["taskwatch"]}
    (selector,) = sd["selectors"]
    assert selector == {"role": "pod", "label": "app.kubernetes.io/name=taskwatch"}
    deployment = yaml.safe_load((ROOT / "deploy/kubernetes/base/deployment.yaml").read_text())
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "taskwatch"
    ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", ())}
    kept = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    assert {r["regex"] for r in kept} == {"http-metrics"} <= ports

    job["static_configs"] = [{"targets": ["127.0.0.1:10911"]}]
    rc, output = check_config(config, tmp_path)
    assert rc == 0, output


def test_the_example_file_as_shipped_is_the_static_variant(tmp_path: Path) -> None:
    shipped = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    assert shipped == yaml.safe_load(variant(EXAMPLE_CONFIG.read_text(), "static"))
    done = promtool("check", "config", str(EXAMPLE_CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
