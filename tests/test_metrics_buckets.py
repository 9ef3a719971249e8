"""Histogram buckets from ``metrics.buckets``: validated with the file and key named, applied
when the registry is built, today's buckets for every histogram not named.

The exposition is read over real HTTP from a fresh registry per test.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
import structlog.testing
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from taskwatch.errors import ConfigError
from taskwatch.metrics.registry import DEFAULT_BUCKETS, SCAN_BUCKETS, Metrics
from taskwatch.settings import load_settings
from taskwatch.settings.metrics import HISTOGRAMS, MAX_BUCKETS
from taskwatch.supervisor import Supervisor, load_config
from taskwatch.web.server import build_app, serve
from tests.test_webconfig import Healthy, Switches

TOO_MANY = ", ".join(str(i) for i in range(1, MAX_BUCKETS + 2))
BASE = """
accounts:
  - name: main
    credentials: {from: static, secret_id: a, secret_key: b}
    regions: [ap-guangzhou]
"""


async def _bounds(metrics: Metrics) -> dict[str, list[float]]:
    """Each histogram's finite ``le`` bounds, as a scrape of ``/metrics`` shows them."""
    application = build_app(metrics=metrics, health=Healthy(), controls=Switches())
    async with (
        serve(application, "127.0.0.1:0") as server,
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/metrics") as response,
    ):
        text = await response.text()
    found: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.labels["le"] != "+Inf":
                found.setdefault(family.name, []).append(float(sample.labels["le"]))
    return found


def _observe_all(metrics: Metrics) -> None:
    metrics.task_duration.labels("mps", "t").observe(1)
    metrics.task_queue_wait.labels("mps", "t").observe(1)
    metrics.api_duration.labels("main", "mps", "a").observe(1)
    metrics.ratelimit_wait.labels("main", "mps", "a").observe(1)
    metrics.scan_duration.labels("main", "mps", "r").observe(1)


async def test_configured_buckets_are_scraped_and_the_others_keep_todays() -> None:
    metrics = Metrics(
        CollectorRegistry(), buckets={"taskwatch_scan_duration_seconds": [0.5, 2.0, 8.0]}
    )
    _observe_all(metrics)
    bounds = await _bounds(metrics)
    assert bounds["taskwatch_scan_duration_seconds"] == [0.5, 2.0, 8.0]
    for name in HISTOGRAMS - {"taskwatch_scan_duration_seconds"}:
        assert bounds[name] == list(DEFAULT_BUCKETS[name]), name


async def test_without_configured_buckets_every_histogram_has_todays() -> None:
    metrics = Metrics(CollectorRegistry())
    _observe_all(metrics)
    bounds = await _bounds(metrics)
    assert bounds["taskwatch_scan_duration_seconds"] == list(SCAN_BUCKETS)
    assert {name: tuple(b) for name, b in bounds.items() if name in HISTOGRAMS} == dict(
        DEFAULT_BUCKETS
    )


def test_the_settings_know_exactly_the_histograms_the_registry_builds() -> None:
    assert set(DEFAULT_BUCKETS) == HISTOGRAMS


def test_the_registry_refuses_a_histogram_it_does_not_have() -> None:
    with pytest.raises(ValueError, match="taskwatch_nope"):
        Metrics(CollectorRegistry(), buckets={"taskwatch_nope": [1.0]})


def test_buckets_in_the_file_reach_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "taskwatch.yaml"
    path.write_text(
        BASE + "metrics:\n  buckets:\n    taskwatch_api_request_duration_seconds: [0.1, 1]\n"
    )
    settings = load_settings(path)
    assert settings.metrics.buckets == {"taskwatch_api_request_duration_seconds": (0.1, 1.0)}


@pytest.mark.parametrize(
    ("value", "key", "reason"),
    [
        ("{taskwatch_scan_seconds: [1]}", "metrics.buckets.taskwatch_scan_seconds", "unknown"),
        (
            "{taskwatch_scan_duration_seconds: [1, 1]}",
            "taskwatch_scan_duration_seconds[1]",
            "above",
        ),
        (
            "{taskwatch_scan_duration_seconds: [2, 1]}",
            "taskwatch_scan_duration_seconds[1]",
            "above",
        ),
        (
            "{taskwatch_scan_duration_seconds: [0, 1]}",
            "taskwatch_scan_duration_seconds[0]",
            "positive",
        ),
        (
            "{taskwatch_scan_duration_seconds: [-1]}",
            "taskwatch_scan_duration_seconds[0]",
            "positive",
        ),
        ("{taskwatch_scan_duration_seconds: [.inf]}", "taskwatch_scan_duration_seconds", ""),
        ("{taskwatch_scan_duration_seconds: [true]}", "taskwatch_scan_duration_seconds", "true"),
        ("{taskwatch_scan_duration_seconds: []}", "taskwatch_scan_duration_seconds", "at least"),
        (
            f"{{taskwatch_scan_duration_seconds: [{TOO_MANY}]}}",
            "taskwatch_scan_duration_seconds",
            f"at most {MAX_BUCKETS}",
        ),
    ],
)
def test_bad_buckets_are_refused_naming_the_file_and_the_key(
    tmp_path: Path, value: str, key: str, reason: str
) -> None:
    path = tmp_path / "taskwatch.yaml"
    path.write_text(BASE + f"metrics:\n  buckets: {value}\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    message = str(raised.value)
    assert str(path) in message
    assert key in message
    assert reason in message


async def test_the_daemon_builds_its_registry_with_the_files_buckets_and_a_change_needs_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "taskwatch.yaml"
    buckets = "metrics:\n  buckets:\n    taskwatch_scan_duration_seconds: [%s]\n"
    path.write_text(BASE + f"state: {{path: {tmp_path / 'state.db'}}}\n" + buckets % "0.5, 2")
    settings, rules = load_config(path)
    d = Supervisor(settings, rules=rules, config_path=path)
    d.metrics.scan_duration.labels("main", "mps", "r").observe(1)
    first = (await _bounds(d.metrics))["taskwatch_scan_duration_seconds"]
    path.write_text(path.read_text().replace("0.5, 2", "1, 4"))
    with structlog.testing.capture_logs() as logs:
        ok, _ = await d.reload()
    second = (await _bounds(d.metrics))["taskwatch_scan_duration_seconds"]
    assert first == second == [0.5, 2.0]
    assert ok
    assert {"event": "config.restart_needed", "key": "metrics", "log_level": "warning"} in logs
