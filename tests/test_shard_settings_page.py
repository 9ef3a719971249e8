"""Sharded accounts in the configuration and on the status page."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from taskwatch.errors import ConfigError
from taskwatch.settings import parse_settings
from taskwatch.web.statusmodel import ShardRow
from taskwatch.web.statuspage import StatusSnapshot, render

ACCOUNT = {"name": "main", "credentials": "env"}


def settings(leader: dict[str, Any]) -> Any:
    return parse_settings({"accounts": [ACCOUNT], "leader": leader}, source="t.yaml", environ={})


def test_shards_default_to_one_lease_and_take_a_count_with_election() -> None:
    assert settings({}).leader.shards == 1
    assert settings({"enabled": True, "shards": 8}).leader.shards == 8


@pytest.mark.parametrize(
    ("leader", "said"),
    [
        ({"shards": 4}, "leader.shards: needs leader.enabled: true"),
        ({"enabled": True, "shards": 0}, "leader.shards"),
        ({"enabled": True, "shards": 257}, "leader.shards"),
        ({"enabled": True, "shards": True}, "leader.shards"),
    ],
)
def test_a_bad_shard_count_names_the_key(leader: dict[str, Any], said: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings(leader)
    assert said in str(err.value)
    assert "t.yaml" in str(err.value)


def test_the_status_page_lists_every_shard_held_here_or_elsewhere_with_its_accounts() -> None:
    snap = dataclasses.replace(
        StatusSnapshot(now=1_800_000_000.0),
        shards=(
            ShardRow(0, True, ("acct-a", "acct-c")),
            ShardRow(1, False, ("acct-<b>",)),
            ShardRow(2, True, ()),
        ),
    )
    page = render(snap)
    assert "this replica holds 2 of 3" in page
    assert page.count("held here") == 2
    assert "elsewhere" in page
    assert "acct-a, acct-c" in page
    assert "acct-&lt;b&gt;" in page  # escaped
    assert "Shards" not in render(StatusSnapshot(now=1_800_000_000.0))
