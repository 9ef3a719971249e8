"""The notification routes over real HTTP: every answer and count, replays, the inbox's limits, the
basic-auth exemption, the listener of their own, reloads, and logs without secrets."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
import bcrypt
import pytest
import structlog
from prometheus_client import CollectorRegistry

from taskwatch.clock import ManualClock
from taskwatch.hints import Hint, Inbox
from taskwatch.metrics.registry import Metrics
from taskwatch.settings import Settings, parse_settings
from taskwatch.web.events import MAX_BODY, EventsRoutes, events_app
from taskwatch.web.server import HttpServer, build_app, serve
from taskwatch.web.webconfig import LiveWebConfig, WebConfig, parse_web_config
from tests.hints.kit import (
    KEY,
    NOW,
    OLD_KEY,
    PULL_ID,
    TOKEN,
    WORKFLOW_ID,
    live_body,
    live_stream_body,
    mps_body,
)

PASSWORD = "scrape-password"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
AUTH = {"Authorization": "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()}


def config(**events: Any) -> Settings:
    accounts = [
        {
            "name": "prod",
            "credentials": {"from": "env"},
            "events": {"mps_notify_keys": [KEY, OLD_KEY], "live_token": TOKEN},
        },
        {"name": "bare", "credentials": {"from": "env"}},
    ]
    data = {"accounts": accounts, "events": {"enabled": True, "per_second": 100, **events}}
    return parse_settings(data, source="t.yaml", environ={})


def with_users() -> WebConfig:
    return parse_web_config({"basic_auth_users": {"ops": HASH}}, file="web.yml")


class Health:
    def liveness(self) -> tuple[bool, Mapping[str, Any]]:
        return True, {}

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        return True, {}


@dataclass
class Rig:
    url: str
    inbox: Inbox
    routes: EventsRoutes
    metrics: Metrics
    clock: ManualClock
    session: aiohttp.ClientSession
    current: list[Settings]

    async def post(self, path: str, body: bytes, **kw: Any) -> tuple[int, dict[str, Any]]:
        async with self.session.post(f"{self.url}{path}", data=body, **kw) as response:
            return response.status, await response.json(content_type=None)

    def count(self, source: str, type_: str, result: str) -> float:
        labels = {"source": source, "type": type_, "result": result}
        return self.metrics.registry.get_sample_value("taskwatch_events_total", labels) or 0.0


@asynccontextmanager
async def rig(
    *, web_config: WebConfig | LiveWebConfig | None = None, **events: Any
) -> AsyncIterator[Rig]:
    clock = ManualClock()
    metrics = Metrics(CollectorRegistry(), clock=clock)
    current = [config(**events)]
    inbox = Inbox(settings=current[0].events, metrics=metrics, clock=clock)
    routes = EventsRoutes(inbox=inbox, settings=lambda: current[0], metrics=metrics, clock=clock)
    server = HttpServer(build_app(metrics=metrics, health=Health(), events=routes))
    await server.start("127.0.0.1:0", web_config=web_config)
    try:
        async with aiohttp.ClientSession() as session:
            yield Rig(server.url, inbox, routes, metrics, clock, session, current)
    finally:
        await server.stop()


MPS = "/events/mps/prod"
LIVE = f"/events/live/prod/{TOKEN}"


async def test_a_signed_mps_notification_is_accepted_queued_and_counted() -> None:
    async with rig() as r:
        assert await r.post(MPS, mps_body()) == (200, {"result": "accepted"})
        assert r.inbox.queued == 1
        assert r.count("mps", "WorkflowTask", "accepted") == 1


async def test_a_live_stream_processing_notification_and_a_live_callback_are_accepted() -> None:
    async with rig() as r:
        assert (await r.post(MPS, live_stream_body()))[0] == 200
        assert (await r.post(LIVE, live_body(event="TaskExit")))[0] == 200
        assert r.count("mps", "ProcessEof", "accepted") == 1
        assert r.count("live", "TaskExit", "accepted") == 1
        assert r.inbox.queued == 2


REFUSED = [
    ("forged", MPS, mps_body(key="someone-elses-key"), 403, "mps", "WorkflowTask"),
    ("expired", MPS, mps_body(expires=NOW - 1), 403, "mps", "WorkflowTask"),
    ("future", MPS, mps_body(expires=NOW + 3600), 403, "mps", "WorkflowTask"),
    ("malformed", MPS, b"{not json", 400, "mps", "other"),
    ("unknown_account", "/events/mps/stranger", mps_body(), 403, "mps", "WorkflowTask"),
    ("not_configured", "/events/mps/bare", mps_body(), 403, "mps", "WorkflowTask"),
    ("forged", "/events/live/prod/wrong-token-0000000", live_body(), 403, "live", "TaskStart"),
    ("expired", LIVE, live_body(event_time=NOW - 601), 403, "live", "TaskStart"),
    ("malformed", LIVE, b"[]", 400, "live", "other"),
    ("unknown_account", f"/events/live/stranger/{TOKEN}", live_body(), 403, "live", "TaskStart"),
    ("not_configured", f"/events/live/bare/{TOKEN}", live_body(), 403, "live", "TaskStart"),
]


@pytest.mark.parametrize(("result", "path", "body", "status", "source", "type_"), REFUSED)
async def test_a_refused_notification_is_answered_with_its_status_counted_and_not_queued(
    result: str, path: str, body: bytes, status: int, source: str, type_: str
) -> None:
    async with rig() as r:
        code, answer = await r.post(path, body)
        assert code == status
        assert answer == {"error": "malformed" if status == 400 else "forbidden"}
        assert r.count(source, type_, result) == 1
        assert r.inbox.queued == 0


async def test_the_same_body_twice_is_replayed_and_queued_once() -> None:
    async with rig() as r:
        body = mps_body()
        assert await r.post(MPS, body) == (200, {"result": "accepted"})
        assert await r.post(MPS, body) == (200, {"result": "replayed"})
        assert r.count("mps", "WorkflowTask", "replayed") == 1
        assert r.inbox.queued == 1


async def test_a_replay_after_the_expiry_is_expired() -> None:
    async with rig() as r:
        body = mps_body(expires=NOW + 60)
        assert (await r.post(MPS, body))[0] == 200
        r.clock.advance(61)
        assert (await r.post(MPS, body))[0] == 403
        assert r.count("mps", "WorkflowTask", "expired") == 1


async def test_notifications_signed_with_either_key_of_a_rotation_are_accepted() -> None:
    async with rig() as r:
        assert (await r.post(MPS, mps_body(task_id="a-1", key=OLD_KEY)))[1]["result"] == "accepted"
        assert (await r.post(MPS, mps_body(task_id="a-2", key=KEY)))[1]["result"] == "accepted"


async def test_a_second_notification_of_a_task_already_queued_is_deduplicated() -> None:
    async with rig() as r:
        assert (await r.post(MPS, mps_body(expires=NOW + 600)))[1]["result"] == "accepted"
        assert (await r.post(MPS, mps_body(expires=NOW + 599)))[1]["result"] == "deduplicated"
        assert r.inbox.queued == 1


async def test_beyond_per_second_notifications_are_rate_limited_with_200() -> None:
    async with rig(per_second=2) as r:
        results = [(await r.post(MPS, mps_body(task_id=f"t-{i}")))[1]["result"] for i in range(3)]
        assert results == ["accepted", "accepted", "rate_limited"]
        assert r.count("mps", "WorkflowTask", "rate_limited") == 1


async def test_beyond_the_queue_bound_notifications_are_queue_full_with_200() -> None:
    async with rig(queue=2) as r:
        results = [(await r.post(MPS, mps_body(task_id=f"t-{i}")))[1]["result"] for i in range(3)]
        assert results == ["accepted", "accepted", "queue_full"]


async def test_a_follower_answers_not_leading_and_queues_nothing() -> None:
    async with rig() as r:
        r.inbox.accepting = lambda hint: False
        assert await r.post(MPS, mps_body()) == (200, {"result": "not_leading"})
        assert r.count("mps", "WorkflowTask", "not_leading") == 1
        assert r.inbox.queued == 0


async def test_a_body_over_64_kib_is_refused_with_413_unread() -> None:
    async with rig() as r:
        huge = b"{" + b" " * MAX_BODY + b"}"
        assert await r.post(MPS, huge) == (413, {"error": "too large"})

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
            for _ in range(5):
                yield b" " * (MAX_BODY // 4)

        assert (await r.post(LIVE, chunks()))[0] == 413  # type: ignore[arg-type]
        assert r.count("mps", "other", "malformed") == 1
        assert r.count("live", "other", "malformed") == 1


async def test_the_region_of_the_url_reaches_the_hint_and_a_bad_one_is_malformed() -> None:
    async with rig() as r:
        handled: list[Hint] = []

        async def handler(hint: Hint) -> str:
            handled.append(hint)
            return "described"

        assert (await r.post(f"{MPS}?region=ap-shanghai", mps_body()))[0] == 200
        assert (await r.post(f"{MPS}?region=../x", mps_body(task_id="other")))[0] == 400
        async with anyio.create_task_group() as tg:
            tg.start_soon(r.inbox.run, handler)
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
        assert [(h.task_id, h.region, h.kind) for h in handled] == [
            (WORKFLOW_ID, "ap-shanghai", "WorkflowTask")
        ]
        assert (
            r.metrics.registry.get_sample_value(
                "taskwatch_event_describe_lag_seconds_count", {"source": "mps"}
            )
            == 1
        )


async def test_a_reload_swaps_keys_and_can_turn_the_routes_off() -> None:
    async with rig() as r:
        data = {
            "accounts": [
                {
                    "name": "prod",
                    "credentials": {"from": "env"},
                    "events": {"mps_notify_keys": ["rotated-key-9f8e7d"]},
                }
            ],
            "events": {"enabled": True},
        }
        r.current[0] = parse_settings(data, source="t.yaml", environ={})
        assert (await r.post(MPS, mps_body(task_id="a", key=KEY)))[1] == {"error": "forbidden"}
        assert (await r.post(MPS, mps_body(task_id="b", key="rotated-key-9f8e7d")))[0] == 200
        assert (await r.post(LIVE, live_body()))[0] == 403  # the token went with the reload
        data["events"] = {"enabled": False}
        r.current[0] = parse_settings(data, source="t.yaml", environ={})
        assert (await r.post(MPS, mps_body(task_id="c", key="rotated-key-9f8e7d")))[0] == 403
        assert r.count("mps", "other", "not_configured") == 1


@pytest.mark.parametrize("live", [False, True], ids=["web-config", "live-web-config"])
async def test_with_basic_auth_the_events_routes_stay_open_and_metrics_do_not(live: bool) -> None:
    users = LiveWebConfig(with_users()) if live else with_users()
    async with rig(web_config=users) as r:
        assert await r.post(MPS, mps_body()) == (200, {"result": "accepted"})
        assert (await r.post(LIVE, live_body()))[0] == 200
        async with r.session.get(f"{r.url}/metrics") as response:
            assert response.status == 401
        async with r.session.get(f"{r.url}/metrics", headers=AUTH) as response:
            assert response.status == 200
            assert "taskwatch_events_total" in await response.text()
        async with r.session.get(f"{r.url}/events/mps/prod") as response:
            assert response.status == 401  # not an events route: a GET is guarded as usual


async def test_a_listener_of_their_own_serves_only_the_events_routes_without_basic_auth() -> None:
    clock = ManualClock()
    metrics = Metrics(CollectorRegistry(), clock=clock)
    settings = config(listen="127.0.0.1:0")
    inbox = Inbox(settings=settings.events, metrics=metrics, clock=clock)
    routes = EventsRoutes(inbox=inbox, settings=lambda: settings, metrics=metrics, clock=clock)
    main = build_app(metrics=metrics, health=Health())
    users = with_users()
    async with (
        serve(main, "127.0.0.1:0", web_config=users) as main_server,
        serve(events_app(routes), "127.0.0.1:0", web_config=users) as events_server,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(f"{events_server.url}{MPS}", data=mps_body()) as response:
            assert response.status == 200
        async with session.get(f"{events_server.url}/metrics", headers=AUTH) as response:
            assert response.status == 404
        async with session.post(f"{main_server.url}{MPS}", data=mps_body()) as response:
            assert response.status == 401
        async with session.post(
            f"{main_server.url}{MPS}", data=mps_body(), headers=AUTH
        ) as response:
            assert response.status == 404
    assert inbox.queued == 1


async def test_no_key_or_token_reaches_a_log_line_an_answer_or_the_metrics(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    answers: list[str] = []
    async with rig() as r:
        with structlog.testing.capture_logs() as captured:
            for path, body in [
                (MPS, mps_body()),
                (MPS, mps_body(key="wrong-key-123456")),
                (MPS, mps_body(key=OLD_KEY, task_id="t2")),
                (LIVE, live_body()),
                (f"/events/live/prod/{TOKEN}x", live_body(task_id="t3")),
                (f"/events/live/{TOKEN}/{TOKEN}", live_body(task_id="t4")),
                (f"/events/mps/{TOKEN}", mps_body(task_id="t5")),
                (LIVE, b"junk"),
            ]:
                answers.append(json.dumps(await r.post(path, body)))
        async with r.session.get(f"{r.url}/metrics") as response:
            exposition = await response.text()
    text = "\n".join([repr(captured), caplog.text, *answers, exposition])
    for secret in (KEY, OLD_KEY, TOKEN):
        assert secret not in text
    refused = [e for e in captured if e["event"] == "events.refused"]
    assert {(e["source"], e["result"], e["account"]) for e in refused} == {
        ("mps", "forged", "prod"),
        ("live", "forged", "prod"),
        ("live", "unknown_account", None),
        ("mps", "unknown_account", None),
        ("live", "malformed", "prod"),
    }
    received = [e for e in captured if e["event"] == "events.received"]
    assert {e["task"] for e in received} == {WORKFLOW_ID, "t2", PULL_ID}


async def test_refusals_are_logged_at_info_once_a_minute_per_source_and_result() -> None:
    async with rig() as r:
        with structlog.testing.capture_logs() as captured:
            for i in range(3):
                await r.post(MPS, mps_body(task_id=f"f{i}", key="wrong-key-123456"))
            r.clock.advance(60)
            await r.post(MPS, mps_body(task_id="f9", key="wrong-key-123456"))
    levels = [e["log_level"] for e in captured if e["event"] == "events.refused"]
    assert levels == ["info", "debug", "debug", "info"]
    assert r.count("mps", "WorkflowTask", "forged") == 4
