"""The runtime: one object built from one configuration, and what a reload keeps of it.

No call reaches the API here: building makes clients and watchers but calls nothing. Each test
builds its own registry, clock and journal path.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from taskwatch.clock import ManualClock
from taskwatch.metrics.registry import Metrics
from taskwatch.policy.rules import compile_rules
from taskwatch.runtime import Runtime, build_runtime
from taskwatch.services import Services, build_services
from taskwatch.settings import Settings, parse_settings

STATIC = {"from": "static", "secret_id": "AKIDtest", "secret_key": "not-a-secret"}
ENDPOINT = "http://127.0.0.1:9"  # never called


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    raw: dict[str, Any] = {
        "accounts": [
            {
                "name": "media",
                "credentials": STATIC,
                "endpoint": ENDPOINT,
                "regions": ["ap-guangzhou", "ap-beijing"],
                "budget": 0.2,
            },
            {"name": "analytics", "credentials": STATIC, "endpoint": ENDPOINT, "products": ["dlc"]},
        ],
        "api": {"budget": 0.4},
        "state": {"path": str(tmp_path / "state.db")},
    }
    raw.update(overrides)
    return parse_settings(raw, source="t.yaml", environ={})


def services_for(s: Settings) -> Services:
    clock = ManualClock()
    return build_services(s, [], clock=clock, metrics=Metrics(clock=clock), rng=random.Random(7))


def build(s: Settings, services: Services, previous: Runtime | None = None) -> Runtime:
    rules = compile_rules(s.policies, source="t.yaml")
    return build_runtime(s, rules, services=services, previous=previous)


def test_the_runtime_has_one_source_per_loop_the_settings_list_and_mps_once_per_account(
    tmp_path: Path,
) -> None:
    s = settings(tmp_path)
    rt = build(s, services_for(s))
    expected = [f"{a.name}/{p}/{r or 'global'}" for a, p, r in s.loops()]
    assert [src.name for src in rt.sources] == expected
    assert expected[:3] == ["media/mps/global", "media/dlc/ap-guangzhou", "media/live/ap-guangzhou"]
    assert "analytics/dlc/ap-guangzhou" in expected
    assert not any(n.startswith("media/mps/ap-") for n in expected)


def test_each_account_s_limiter_uses_the_budget_the_settings_give_it(tmp_path: Path) -> None:
    s = settings(tmp_path)
    rt = build(s, services_for(s))
    media, analytics = s.accounts
    assert rt.limiters["media"].budget == s.budget_for(media) == 0.2
    assert rt.limiters["analytics"].budget == s.budget_for(analytics) == 0.4


def test_a_reload_of_the_same_file_keeps_clients_watchers_schedules_and_notifier(
    tmp_path: Path,
) -> None:
    hook = {"name": "ops", "url": "http://127.0.0.1:9/hook"}
    s = settings(tmp_path, notifications=[hook])
    services = services_for(s)
    first = build(s, services)
    again = build(s, services, previous=first)
    assert again.clients == first.clients
    assert again.limiters == first.limiters
    assert [a.watcher for a in again.sources] == [b.watcher for b in first.sources]
    assert [a.loop.schedule for a in again.sources] == [b.loop.schedule for b in first.sources]
    assert [a.loop for a in again.sources] != [b.loop for b in first.sources]  # rebuilt
    assert first.notifier is not None
    assert again.notifier is first.notifier


def test_a_reload_that_changes_notifications_hands_the_new_notifier_to_the_executor(
    tmp_path: Path,
) -> None:
    s = settings(tmp_path, notifications=[{"name": "ops", "url": "http://127.0.0.1:9/a"}])
    services = services_for(s)
    first = build(s, services)
    changed = settings(tmp_path, notifications=[{"name": "ops", "url": "http://127.0.0.1:9/b"}])
    second = build(changed, services, previous=first)
    assert second.notifier is not None
    assert second.notifier is not first.notifier
    assert services.executor.notifier is first.notifier  # building alone changes nothing
    second.install(first)
    assert services.notifications.current is second.notifier
    assert services.executor.notifier is second.notifier


def test_a_reload_that_changes_an_account_s_budget_builds_that_account_a_new_client_only(
    tmp_path: Path,
) -> None:
    s = settings(tmp_path)
    services = services_for(s)
    first = build(s, services)
    accounts = [s.accounts[0].model_copy(update={"budget": 0.3}), s.accounts[1]]
    second = build(s.model_copy(update={"accounts": accounts}), services, previous=first)
    assert second.clients["media"] is not first.clients["media"]
    assert second.limiters["media"].budget == 0.3
    assert second.clients["analytics"] is first.clients["analytics"]


def test_an_operator_pause_survives_a_reload_unless_the_file_s_paused_changes(
    tmp_path: Path,
) -> None:
    s = settings(tmp_path)
    services = services_for(s)
    executor = services.executor
    first = build(s, services)
    executor.pause()  # POST /-/pause
    second = build(s, services, previous=first)
    second.install(first)
    assert executor.paused
    paused = settings(tmp_path, actions={"paused": True, "max_per_cycle": 3})
    third = build(paused, services, previous=second)
    third.install(second)
    assert executor.paused
    assert executor.max_per_cycle == 3
    fourth = build(s, services, previous=third)
    fourth.install(third)  # the file no longer pauses: resumed
    assert not executor.paused
    assert executor.max_per_cycle == 20


def test_a_source_the_new_file_drops_loses_its_series_at_once(tmp_path: Path) -> None:
    s = settings(tmp_path)
    services = services_for(s)
    first = build(s, services)
    gone = first.sources[-1].watcher.source
    services.metrics.cycle_finished(gone, seconds=1.0, calls=2, error=None)
    labels = {"account": gone.account, "product": gone.product, "region": gone.region}
    registry = services.metrics.registry
    assert registry.get_sample_value("taskwatch_api_calls_per_cycle", labels) == 2
    build(s.model_copy(update={"accounts": s.accounts[:1]}), services, previous=first)
    assert registry.get_sample_value("taskwatch_api_calls_per_cycle", labels) is None
