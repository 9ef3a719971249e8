"""Building tasks and rules for policy tests: tasks directly as adapters would normalise them,
rules through the same path as a configuration file (settings, then ``compile_rules``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from taskwatch.errors import ConfigError
from taskwatch.models import ACTIONS_BY_PRODUCT, Phase, Task
from taskwatch.policy import Rule, compile_rules
from taskwatch.settings import parse_settings

NOW = 1_800_000_000.0
HOUR = 3600.0
SOURCE = "test.yaml"
REGIONS = {"mps": "global", "dlc": "ap-guangzhou", "live": "ap-guangzhou"}
PHASES = {
    "WAITING": Phase.PENDING,
    "PROCESSING": Phase.RUNNING,
    "FINISH": Phase.DONE,
    "queued": Phase.PENDING,
    "init": Phase.PENDING,
    "running": Phase.RUNNING,
    "writing": Phase.RUNNING,
    "succeeded": Phase.DONE,
    "failed": Phase.DONE,
    "cancelled": Phase.DONE,
    "enable": Phase.RUNNING,
    "pause": Phase.PENDING,
}
LIVE = "LiveStreamProcessTask"
EXAMPLE_RULE: dict[str, Any] = {
    "name": "abort-long-live-processing",
    "product": "mps",
    "filters": [
        {"type": LIVE},
        {"status": "PROCESSING"},
        {"running_longer_than": "6h"},
        {"key": "detail.LiveStreamProcessTask.Url", "op": "regex", "value": "^rtmp://"},
        {"not": {"key": "SessionContext", "op": "contains", "value": "keep-alive"}},
    ],
    "action": "abort",
    "enforce": True,
    "grace": "5m",
    "max_actions": {"per_cycle": 10, "per_hour": 50, "percent": 20},
}
"""The rule of the issue and of the example file."""
TYPES = {"mps": "WorkflowTask", "dlc": "SparkSQLTask", "live": "PullLivePushLive"}
STATUSES = {"mps": "WAITING", "dlc": "queued", "live": "enable"}


def task(
    product: str = "mps",
    *,
    status: str | None = None,
    type: str | None = None,
    phase: Phase | None = None,
    age: float | None = 10 * HOUR,
    running: float | None = None,
    fields: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
    id: str = "task-1",
) -> Task:
    """A task created ``age`` seconds before :data:`NOW`; ``running`` seconds ago it started
    (default: at once, if its phase is running)."""
    status = status or STATUSES[product]
    phase = phase or PHASES[status]
    created = None if age is None else NOW - age
    if running is None and phase is Phase.RUNNING and created is not None:
        running = age
    return Task(
        product=product,
        account="main",
        region=REGIONS[product],
        id=id,
        type=type or TYPES[product],
        status=status,
        phase=phase,
        created=created,
        started=None if running is None else NOW - running,
        fields=dict(fields or {}),
        detail=None if detail is None else dict(detail),
    )


def policy(filters: Any, product: str = "mps", **keys: Any) -> dict[str, Any]:
    """A policy as written in a file (``action`` defaults to the product's)."""
    return {
        "name": keys.pop("name", "test-rule"),
        "product": product,
        "action": keys.pop("action", ACTIONS_BY_PRODUCT.get(product, "abort")),
        "filters": filters,
        **keys,
    }


def rules(*policies: dict[str, Any]) -> list[Rule]:
    """Policies loaded and compiled as the daemon does."""
    data = {"accounts": [{"name": "main", "credentials": "env"}], "policies": list(policies)}
    settings = parse_settings(data, source=SOURCE, environ={})
    return compile_rules(settings.policies, source=SOURCE)


def rule(filters: Any, product: str = "mps", **keys: Any) -> Rule:
    (only,) = rules(policy(filters, product, **keys))
    return only


def refusal(*policies: dict[str, Any]) -> ConfigError:
    """The error loading ``policies`` gives."""
    with pytest.raises(ConfigError) as info:
        rules(*policies)
    assert info.value.__cause__ is None
    return info.value
