"""deploy/grafana/taskwatch.json: a well-formed dashboard whose every query parses and is real.

* Every PromQL expression of every panel parses: Grafana's variables are replaced by concrete
  values (``$__rate_interval`` by ``5m``, a user variable by its "All" value), then promtool
  parses them all at once (``check rules`` on generated recording rules: promtool 2.42 has no
  command that parses one query).
* Template variable queries are Grafana functions, not PromQL: ``label_values(SELECTOR, LABEL)``
  is split, the selector parsed like the panels', and LABEL must be a label of its metric.
* Every metric and label a query names is one taskwatch exports (see test_prometheus_rules).

Not checked: that Grafana renders the panels (no Grafana here), the panels' options beyond the
few asserted below, and the legend templates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.test_prometheus_rules import (
    TARGET_LABELS,
    exposition,
    promtool_parse,
    reference_problems,
    scan,
)

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "taskwatch.json"

BUILTINS = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "6h",
    "__range_s": "21600",
    "__interval_ms": "60000",
}
"""Grafana's own variables, with the values they typically take."""

_VARIABLE = re.compile(r"\$\{(\w+)(?::[\w-]+)?\}|\$(\w+)|\[\[(\w+)(?::[\w-]+)?\]\]")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*(?P<label>\w+)\s*\)\s*$")

REQUIRED = {
    "taskwatch_tasks",
    "taskwatch_task_oldest_age_seconds",
    "taskwatch_tasks_finished_total",
    "taskwatch_api_requests_total",
    "taskwatch_api_request_duration_seconds_bucket",
    "taskwatch_api_throttled_total",
    "taskwatch_ratelimit_rate_per_second",
    "taskwatch_ratelimit_ceiling_per_second",
    "taskwatch_scan_duration_seconds_bucket",
    "taskwatch_scan_last_success_timestamp_seconds",
    "taskwatch_api_calls_per_cycle",
    "taskwatch_policy_actions_total",
    "taskwatch_actions_paused",
    "taskwatch_leader",
    "taskwatch_tasks_cost_per_hour",
    "taskwatch_actions_saved_cost_total",
}
"""What the issues ask the dashboard to show: tasks, API usage and throttling, scans, actions, the
estimated spend rate and what actions saved."""


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, the ones inside (collapsed) rows included."""
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def variables() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard()["templating"]["list"]}


def substitute(expr: str) -> str:
    """``expr`` with every Grafana variable replaced; an undefined variable is an error."""
    defined = variables()

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name in BUILTINS:
            return BUILTINS[name]
        if name not in defined:
            raise AssertionError(f"{expr!r} uses ${name}, which the dashboard does not define")
        return str(defined[name].get("allValue") or "x")

    return _VARIABLE.sub(value, expr)


def queries() -> dict[str, str]:
    """Every panel query, variables substituted, by a name valid as a metric name."""
    found = {}
    for panel in panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            found[f"panel_{panel['id']}_{target['refId']}"] = substitute(target["expr"])
    return found


def variable_queries() -> dict[str, tuple[str, str]]:
    """Each query variable's ``label_values`` split into (selector, label)."""
    found = {}
    for name, var in variables().items():
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        assert query == var["definition"], f"variable {name}: query and definition differ"
        match = _LABEL_VALUES.match(query)
        assert match, f"variable {name}: {query!r} is not label_values(selector, label)"
        found[f"variable_{name}"] = (substitute(match["selector"]), match["label"])
    return found


def test_the_dashboard_is_a_current_grafana_dashboard_with_a_datasource_variable() -> None:
    data = dashboard()
    assert data["schemaVersion"] == 39
    assert data["uid"] == "taskwatch"
    assert data["title"]
    defined = variables()
    assert defined["datasource"]["type"] == "datasource"
    assert defined["datasource"]["query"] == "prometheus"
    for name in ("account", "product"):
        assert defined[name]["type"] == "query"
        assert defined[name]["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert defined[name]["includeAll"]
        assert defined[name]["multi"]
        assert defined[name]["allValue"] == ".*"


def test_panels_have_unique_ids_fit_the_grid_and_query_the_chosen_datasource() -> None:
    every = list(panels(dashboard()["panels"]))
    ids = [p["id"] for p in every]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in every:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat"}
        assert panel["description"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(dashboard()["panels"]):
        g = panel["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_every_expression_of_the_dashboard_parses(tmp_path: Path) -> None:
    exprs = queries()
    exprs |= {name: selector for name, (selector, _) in variable_queries().items()}
    assert len(exprs) > 20
    rc, output = promtool_parse(exprs, tmp_path)
    assert rc == 0, output
    assert f"SUCCESS: {len(exprs)} rules found" in output


def test_the_parse_check_fails_on_an_expression_that_does_not_parse(tmp_path: Path) -> None:
    exprs = {"good": "sum(rate(taskwatch_leader[5m]))", "bad": "sum(rate(taskwatch_leader[5m])"}
    rc, output = promtool_parse(exprs, tmp_path)
    assert rc == 1
    assert "bad" in output
    assert "parse error" in output


def test_an_undefined_variable_is_reported() -> None:
    with pytest.raises(AssertionError, match=r"\$acount"):
        substitute('taskwatch_tasks{account=~"$acount"}')


def test_every_metric_and_label_the_dashboard_queries_is_one_taskwatch_exports() -> None:
    exprs = queries() | {name: selector for name, (selector, _) in variable_queries().items()}
    assert reference_problems(exprs) == []


def test_template_variables_list_values_of_labels_their_metric_has() -> None:
    known = exposition()
    for name, (selector, label) in variable_queries().items():
        (metric,) = scan(selector).selectors
        has = known[metric.name] | TARGET_LABELS  # job, namespace: the scrape adds them
        assert label in has, f"{name}: {metric.name} has no label {label}"


def test_every_query_is_scoped_to_the_chosen_job_and_namespace() -> None:
    """Two deployments feeding one Prometheus must not be merged: every taskwatch selector of
    every panel and variable (but the job variable itself) filters by $job and $namespace."""
    exprs = {name: target["expr"] for name, target in raw_targets()}
    exprs |= {
        name: query
        for name, var in variables().items()
        if var["type"] == "query" and name != "job"
        for query in [var["definition"]]
    }
    for name, expr in exprs.items():
        selectors = re.findall(r"\b(taskwatch_[a-z_]+)(\{[^}]*\})?", expr)
        assert selectors, name
        for metric, labels in selectors:
            assert 'job=~"$job"' in labels, f"{name}: {metric} is not scoped by job"
            if name != "namespace":
                assert 'namespace=~"$namespace"' in labels, f"{name}: {metric} not by namespace"


def raw_targets() -> Iterator[tuple[str, dict[str, Any]]]:
    for panel in panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {target['refId']}", target


def test_the_dashboard_shows_tasks_api_usage_throttling_scans_and_actions() -> None:
    used = {s.name for expr in queries().values() for s in scan(expr).selectors}
    assert REQUIRED - used == set()


def test_source_filters_apply_only_to_metrics_with_those_labels() -> None:
    """A panel filtered by $account on a metric without `account` would show nothing for any
    single account: the filters must follow each metric's labels."""
    known = exposition()
    for name, expr in queries().items():
        for selector in scan(expr).selectors:
            for label in ("account", "product"):
                if label in known[selector.name]:
                    assert label in selector.labels, f"{name}: {selector.name} not filtered"
