"""The `events` section and an account's `events` block: defaults, bounds, and errors that name
the key without quoting a secret."""

from __future__ import annotations

from typing import Any

import pytest

from taskwatch.errors import ConfigError
from taskwatch.settings import Settings, parse_settings
from tests.hints.kit import KEY, OLD_KEY, TOKEN


def settings(block: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    """A configuration whose account has ``block`` as its ``events``, plus ``top`` sections."""
    acct: dict[str, Any] = {"name": "prod", "credentials": {"from": "env"}}
    if block is not None:
        acct["events"] = block
    return {"accounts": [acct], **top}


def parse(data: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    return parse_settings(data, source="t.yaml", environ=environ or {})


def error(data: dict[str, Any], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse(data, environ)
    text = str(info.value)
    for secret in (KEY, OLD_KEY, TOKEN, "short-token"):
        assert secret not in text
    return text


def test_events_are_off_by_default_with_the_documented_values() -> None:
    s = parse(settings())
    e = s.events
    assert (e.enabled, e.path, e.listen, e.max_age, e.per_second, e.queue) == (
        False,
        "/events",
        None,
        600.0,
        10.0,
        1000,
    )
    assert s.accounts[0].events is None


def test_an_accounts_secrets_come_from_the_environment_and_stay_masked() -> None:
    environ = {"MPS_NOTIFY_KEY": KEY, "LIVE_CALLBACK_TOKEN": TOKEN}
    block = {
        "mps_notify_keys": ["${MPS_NOTIFY_KEY}", OLD_KEY],
        "live_token": "${LIVE_CALLBACK_TOKEN}",
    }
    s = parse(settings(block), environ)
    events = s.accounts[0].events
    assert events is not None
    assert [k.get_secret_value() for k in events.mps_notify_keys] == [KEY, OLD_KEY]
    assert events.live_token is not None
    assert events.live_token.get_secret_value() == TOKEN
    dumped = repr(s) + s.model_dump_json()
    assert KEY not in dumped
    assert TOKEN not in dumped


def test_an_empty_live_token_from_the_environment_counts_as_absent() -> None:
    s = parse(settings({"mps_notify_keys": [KEY], "live_token": "${LIVE:-}"}))
    events = s.accounts[0].events
    assert events is not None
    assert events.live_token is None


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"live_token": "short-token"}, "accounts[0].events.live_token: must be at least 16"),
        ({"live_token": "a token with spaces!"}, "accounts[0].events.live_token: must be only"),
        ({"mps_notify_keys": [KEY, KEY]}, "accounts[0].events.mps_notify_keys[1]: is listed twice"),
        ({"mps_notify_keys": [" " + KEY]}, "accounts[0].events.mps_notify_keys[0]: has leading"),
        ({"mps_notify_keys": [""]}, "accounts[0].events.mps_notify_keys[0]: must not be empty"),
        ({"mps_notify_keys": [f"k{i}-{KEY}" for i in range(9)]}, "mps_notify_keys: at most 8"),
        ({}, "accounts[0].events: set mps_notify_keys or live_token"),
        ({"notify_key": KEY}, "accounts[0].events.notify_key"),
    ],
)
def test_a_bad_account_block_names_the_key_and_never_the_secret(
    block: dict[str, Any], expected: str
) -> None:
    assert expected in error(settings(block))


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ({"path": "events"}, "events.path: 'events' is not a URL path"),
        ({"path": "/events/"}, "events.path"),
        ({"path": "/metrics"}, "events.path: '/metrics' would shadow an endpoint"),
        ({"path": "/-/hooks"}, "would shadow an endpoint"),
        ({"listen": "nowhere"}, "events.listen"),
        ({"listen": "127.0.0.1:10911"}, "events.listen: must differ from http.listen"),
        ({"max_age": "0s"}, "events.max_age"),
        ({"per_second": 0}, "events.per_second"),
        ({"queue": 0}, "events.queue"),
        ({"enabled": True, "queues": 5}, "events.queues"),
    ],
)
def test_a_bad_events_section_names_the_key(events: dict[str, Any], expected: str) -> None:
    assert expected in error(settings(events=events))


def test_a_listener_of_its_own_and_a_deeper_path_are_accepted() -> None:
    s = parse(
        settings(
            events={
                "enabled": True,
                "path": "/hooks/taskwatch",
                "listen": ":10912",
                "max_age": "5m",
                "per_second": 2.5,
                "queue": 50,
            }
        )
    )
    e = s.events
    assert (e.enabled, e.path, e.listen, e.max_age, e.per_second, e.queue) == (
        True,
        "/hooks/taskwatch",
        ":10912",
        300.0,
        2.5,
        50,
    )
