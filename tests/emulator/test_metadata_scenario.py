"""The instance metadata role from scenario keys: ``metadata: {role, lifetime}`` read strictly,
applied by ``Emulator.from_scenario`` and by ``POST /_emulator/scenario``, served over real HTTP."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from taskwatch.clock import ManualClock
from taskwatch.emulator.metadata import DEFAULT_LIFETIME, DEFAULT_ROLE, ROLES_PATH
from taskwatch.emulator.scenario import ScenarioError, loads_scenario
from taskwatch.emulator.server import Emulator

KEYS = "credentials: [{secret_id: AKIDTEST000000000000000000000000001, secret_key: sk}]\n"
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@asynccontextmanager
async def served(body: str) -> AsyncIterator[tuple[str, Emulator, ManualClock]]:
    clock = ManualClock(wall=START, mono=1000.0)
    emulator = Emulator.from_scenario(loads_scenario(KEYS + textwrap.dedent(body)), clock)
    async with emulator.serve() as url:
        yield url, emulator, clock


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.text()


async def credentials(url: str, role: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(url + ROLES_PATH + role) as r:
        assert r.status == 200
        doc = await r.json()
    assert isinstance(doc, dict)
    return doc


async def test_a_scenario_names_the_role_and_its_lifetime() -> None:
    async with served("metadata: {role: web-reader, lifetime: 30m}\n") as (url, _, clock):
        assert await get(url + ROLES_PATH) == (200, "web-reader")
        doc = await credentials(url, "web-reader")
        assert doc["Code"] == "Success"
        assert doc["ExpiredTime"] == int(clock.now().timestamp()) + 1800
        status, _ = await get(url + ROLES_PATH + DEFAULT_ROLE)
        assert status == 404  # only the named role exists


async def test_without_the_key_the_instance_has_the_default_role() -> None:
    async with served("seed: 1\n") as (url, _, clock):
        assert await get(url + ROLES_PATH) == (200, DEFAULT_ROLE)
        doc = await credentials(url, DEFAULT_ROLE)
        assert doc["ExpiredTime"] == int(clock.now().timestamp()) + DEFAULT_LIFETIME


async def test_role_null_is_an_instance_without_a_role() -> None:
    async with served("metadata: {role: null}\n") as (url, _, _clock):
        status, _ = await get(url + ROLES_PATH)
        assert status == 404
        status, _ = await get(url + ROLES_PATH + DEFAULT_ROLE)
        assert status == 404


async def test_a_posted_scenario_changes_the_role_of_a_running_emulator() -> None:
    async with served("seed: 1\n") as (url, emulator, _clock):
        before = await credentials(url, DEFAULT_ROLE)
        async with aiohttp.ClientSession() as s:
            body = KEYS + "metadata: {role: null}\n"
            async with s.post(url + "/_emulator/scenario", data=body) as r:
                assert r.status == 200, await r.text()
            assert (await get(url + ROLES_PATH))[0] == 404
            body = KEYS + "metadata: {role: other, lifetime: 900}\n"
            async with s.post(url + "/_emulator/scenario", data=body) as r:
                assert r.status == 200, await r.text()
        assert await get(url + ROLES_PATH) == (200, "other")
        after = await credentials(url, "other")
        # a new role is a new key, not the old role's key served under another name
        assert after["TmpSecretId"] != before["TmpSecretId"]
        assert after["TmpSecretId"] in emulator.keys
        assert emulator.metadata.lifetime == 900


def test_a_scenario_without_the_key_keeps_the_defaults_and_with_it_says_so() -> None:
    assert loads_scenario(KEYS).metadata.role == DEFAULT_ROLE
    spec = loads_scenario(KEYS + "metadata: {role: null, lifetime: 7200}\n").metadata
    assert spec.role is None
    assert spec.lifetime == 7200


@pytest.mark.parametrize(
    ("body", "where", "reason"),
    [
        ("metadata: {rol: x}\n", "metadata.rol", "did you mean 'role'"),
        ("metadata: {role: 'a/b'}\n", "metadata.role", "role name"),
        ("metadata: {role: ''}\n", "metadata.role", "role name"),
        ("metadata: {lifetime: 0}\n", "metadata.lifetime", "longer than zero"),
        ("metadata: {lifetime: 13h}\n", "metadata.lifetime", "12h"),
        ("metadata: {lifetime: 1.5}\n", "metadata.lifetime", "whole seconds"),
        ("metadata: [role]\n", "metadata", "expected a mapping"),
    ],
)
def test_a_bad_metadata_section_names_the_key(body: str, where: str, reason: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        loads_scenario(KEYS + body, source="roles.yaml")
    text = str(caught.value)
    assert f"roles.yaml: {where}:" in text
    assert reason in text
