"""The lifecycle switches (``POST /-/pause``, ``/-/resume``, ``/-/reload``) over a real socket:
off by default, behind a user when the web config has users, refused cross-site, and a warning
when they are open beyond loopback without authentication."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import bcrypt
import pytest
import structlog
from prometheus_client import CollectorRegistry

from taskwatch.errors import ConfigError, StoreError
from taskwatch.metrics.registry import Metrics
from taskwatch.settings import parse_settings
from taskwatch.web.lifecycle import warn_if_unprotected
from taskwatch.web.server import HttpServer, build_app, serve
from taskwatch.web.webconfig import WebConfig

PASSWORD = "correct horse battery staple"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4))
SWITCHES = ("/-/pause", "/-/resume", "/-/reload")


class Healthy:
    def liveness(self) -> tuple[bool, Mapping[str, Any]]:
        return True, {}

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        return True, {}


@dataclass
class Switches:
    """Controls the test reads back: who flipped the switch and why, as the handler said."""

    paused: bool = False
    reloads: int = 0
    flips: list[tuple[bool, str, str]] = field(default_factory=list)
    refuse: bool = False
    """The journal refuses the write (StoreError)."""

    def pause(self, *, actor: str, reason: str) -> dict[str, Any]:
        return self._flip(True, actor, reason)

    def resume(self, *, actor: str, reason: str) -> dict[str, Any]:
        return self._flip(False, actor, reason)

    def _flip(self, paused: bool, actor: str, reason: str) -> dict[str, Any]:
        if self.refuse:
            raise StoreError("postgresql://tw@db/tw: cannot flip the kill switch: down", path="db")
        self.paused = paused
        self.flips.append((paused, actor, reason))
        return {"actions_paused": paused}

    async def reload(self) -> tuple[bool, str]:
        self.reloads += 1
        return True, "reloaded"


@dataclass
class Served:
    server: HttpServer
    switches: Switches
    session: aiohttp.ClientSession

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    async def post(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.post(self.url(path), **kwargs) as response:
            return response.status, await response.json()


@asynccontextmanager
async def served(
    *, lifecycle: bool, listen: str = "127.0.0.1:0", web_config: WebConfig | None = None
) -> AsyncIterator[Served]:
    switches = Switches()
    metrics = Metrics(CollectorRegistry())
    app = build_app(metrics=metrics, health=Healthy(), controls=switches, lifecycle=lifecycle)
    async with (
        serve(app, listen, web_config=web_config) as server,
        aiohttp.ClientSession() as session,
    ):
        yield Served(server, switches, session)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# --- off unless enabled ---------------------------------------------------------------------


async def test_the_switches_answer_403_and_change_nothing_unless_lifecycle_is_enabled() -> None:
    async with served(lifecycle=False) as s:
        s.switches.paused = True
        for path in SWITCHES:
            status, body = await s.post(path)
            assert status == 403, path
            assert "http.lifecycle: true" in body["error"]
        assert s.switches.paused
        assert s.switches.reloads == 0


def test_lifecycle_is_off_by_default_and_validated_naming_the_key() -> None:
    accounts = [{"name": "main", "credentials": {"from": "env"}, "regions": ["ap-guangzhou"]}]
    assert parse_settings({"accounts": accounts}, source="t.yaml").http.lifecycle is False
    on = {"accounts": accounts, "http": {"lifecycle": True}}
    assert parse_settings(on, source="t.yaml").http.lifecycle is True
    with pytest.raises(ConfigError, match=r"t\.yaml.*http\.lifecycle"):
        parse_settings({"accounts": accounts, "http": {"lifecycle": "sometimes"}}, source="t.yaml")


async def test_curl_like_posts_without_origin_work_when_enabled() -> None:
    async with served(lifecycle=True) as s:
        headers = {"User-Agent": "curl/8.5.0", "Accept": "*/*"}
        assert await s.post("/-/pause", headers=headers) == (200, {"actions_paused": True})
        assert s.switches.paused
        assert await s.post("/-/resume", headers=headers) == (200, {"actions_paused": False})
        assert not s.switches.paused
        assert await s.post("/-/reload", headers=headers) == (200, {"reloaded": True})
        assert s.switches.reloads == 1


async def test_a_json_post_from_the_servers_own_origin_works() -> None:
    async with served(lifecycle=True) as s:
        own = {"Origin": s.server.url, "Sec-Fetch-Site": "same-origin"}
        status, _ = await s.post("/-/pause", json={}, headers=own)
        assert status == 200
        assert s.switches.paused


async def test_the_switch_records_who_and_why_from_the_peer_address_and_the_json_reason() -> None:
    async with served(lifecycle=True) as s:
        status, _ = await s.post("/-/pause", json={"reason": "INC-42 runaway aborts"})
        assert status == 200
        status, _ = await s.post("/-/resume")
        assert status == 200
        assert s.switches.flips == [
            (True, "anonymous@127.0.0.1", "INC-42 runaway aborts"),
            (False, "anonymous@127.0.0.1", ""),
        ]


async def test_a_reason_that_is_not_a_string_or_too_long_is_refused_and_changes_nothing() -> None:
    async with served(lifecycle=True) as s:
        for body in ({"reason": 42}, ["why"], {"reason": "x" * 1001}):
            status, answer = await s.post("/-/pause", json=body)
            assert status == 400, body
            assert "reason" in answer["error"] or "body" in answer["error"]
        assert s.switches.flips == []


async def test_a_switch_the_journal_refuses_answers_503_and_says_it_is_not_shared() -> None:
    async with served(lifecycle=True) as s:
        s.switches.refuse = True
        status, answer = await s.post("/-/pause")
        assert status == 503
        assert answer["shared"] is False
        assert answer["actions_paused"] is True
        assert "cannot flip the kill switch" in answer["error"]
        status, answer = await s.post("/-/resume")
        assert status == 503
        assert answer["actions_paused"] is True  # a refused resume changed nothing


# --- cross-site requests --------------------------------------------------------------------


async def test_a_cross_site_form_post_is_refused_and_the_switch_is_unchanged() -> None:
    async with served(lifecycle=True) as s:
        s.switches.paused = True
        evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
        status, body = await s.post("/-/resume", data=b"x=1", headers=evil)
        assert status == 403
        assert body["error"].startswith("cross-site request refused")
        assert s.switches.paused


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.2:1"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {"Content-Type": "text/plain; charset=utf-8"},
    ],
)
async def test_each_mark_of_a_cross_site_request_is_refused_on_every_switch(
    headers: dict[str, str],
) -> None:
    async with served(lifecycle=True) as s:
        for path in SWITCHES:
            status, _ = await s.post(path, headers=headers)
            assert status == 403, path
        assert not s.switches.paused
        assert s.switches.reloads == 0


async def test_a_body_that_is_not_json_is_refused() -> None:
    async with served(lifecycle=True) as s:
        status, _ = await s.post("/-/pause", data=b"\x00\x01", headers={"Content-Type": "a/b"})
        assert status == 403
        assert not s.switches.paused


async def test_the_origin_must_match_port_and_scheme_too() -> None:
    async with served(lifecycle=True) as s:
        other_port = s.server.url.rsplit(":", 1)[0] + ":1"
        https = s.server.url.replace("http://", "https://")
        for origin in (other_port, https):
            status, _ = await s.post("/-/pause", headers={"Origin": origin})
            assert status == 403, origin
        assert not s.switches.paused


# --- users ----------------------------------------------------------------------------------


async def test_with_users_the_switches_need_one_even_from_the_same_origin() -> None:
    config = WebConfig(file="web.yml", users={"ops": HASH})
    async with served(lifecycle=True, web_config=config) as s:
        for path in SWITCHES:
            async with s.session.post(s.url(path)) as response:
                assert response.status == 401, path
        wrong = basic("ops", "not it")
        async with s.session.post(s.url("/-/pause"), headers=wrong) as response:
            assert response.status == 401
        assert not s.switches.paused
        assert s.switches.reloads == 0
        assert await s.post("/-/pause", headers=basic("ops", PASSWORD)) == (
            200,
            {"actions_paused": True},
        )
        assert s.switches.flips == [(True, "ops", "")]  # the user, not the address


async def test_a_user_does_not_make_a_cross_site_post_acceptable() -> None:
    """A browser sends its cached basic credentials with a cross-site form post."""
    config = WebConfig(file="web.yml", users={"ops": HASH})
    async with served(lifecycle=True, web_config=config) as s:
        headers = {**basic("ops", PASSWORD), "Origin": "http://evil.example"}
        status, _ = await s.post("/-/pause", headers=headers, data=b"a=b")
        assert status == 403
        assert not s.switches.paused


# --- the start warning ----------------------------------------------------------------------


async def test_open_switches_on_every_interface_without_auth_log_a_warning_at_start() -> None:
    with structlog.testing.capture_logs() as captured:
        async with served(lifecycle=True, listen="0.0.0.0:0"):
            pass
    (warning,) = [e for e in captured if e["event"] == "http.lifecycle_unauthenticated"]
    assert warning["log_level"] == "warning"
    assert "0.0.0.0" in warning["addresses"]


@pytest.mark.parametrize(
    ("lifecycle", "listen", "users"),
    [(True, "127.0.0.1:0", False), (False, "0.0.0.0:0", False), (True, "0.0.0.0:0", True)],
)
async def test_no_warning_on_loopback_with_lifecycle_off_or_with_users(
    lifecycle: bool, listen: str, users: bool
) -> None:
    config = WebConfig(file="web.yml", users={"ops": HASH}) if users else None
    with structlog.testing.capture_logs() as captured:
        async with served(lifecycle=lifecycle, listen=listen, web_config=config):
            pass
    assert not [e for e in captured if e["event"] == "http.lifecycle_unauthenticated"]


def test_the_warning_knows_loopback_from_other_addresses() -> None:
    with structlog.testing.capture_logs():
        assert not warn_if_unprotected(
            [("127.0.0.1", 1), ("::1", 1, 0, 0)], users=False, ssl_context=None
        )
        assert warn_if_unprotected([("::", 1, 0, 0)], users=False, ssl_context=None)
        assert warn_if_unprotected([("10.0.0.7", 1)], users=False, ssl_context=None)
        assert not warn_if_unprotected([("10.0.0.7", 1)], users=True, ssl_context=None)
