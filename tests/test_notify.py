"""Webhook notifications against a real local receiver: formats, batching, retries, overflow, drain.

Time never passes for real: the notifier's ``sleep`` is injected (it records each wait and moves a
manual clock, or holds until the test lets it go), and the one test that needs a request to time
out runs on looptime. The only real waiting is HTTP round trips on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
import socket
import struct
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
import structlog
from aiohttp import web

from taskwatch import logs
from taskwatch.actions.notify import (
    SLACK_BLOCKS,
    WECOM_LIMIT,
    Notifier,
    Target,
    render,
    slack_message,
    wecom_message,
)
from taskwatch.clock import ManualClock
from taskwatch.models import AuditRecord

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


# --- a scripted webhook receiver --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int = 200
    body: bytes = b'{"errcode":0,"errmsg":"ok"}'
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hang:
    """Never answer (until the receiver closes)."""


@dataclass(frozen=True, slots=True)
class Reset:
    """Reset the connection (TCP RST) after reading the request."""


Reply = Answer | Hang | Reset


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    query: str
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records every POST as it arrived and answers what the test scripted."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.otherwise: Reply = Answer()
        self.otherwise_at: dict[str, Reply] = {}
        """What an unscripted request to a given path gets (``otherwise`` elsewhere)."""
        self._script: deque[Reply] = deque()
        self._arrived = asyncio.Event()
        self._release = asyncio.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/hook", query: str = "") -> str:
        port = self._sock.getsockname()[1]
        return f"http://127.0.0.1:{port}{path}" + (f"?{query}" if query else "")

    def script(self, *replies: Reply) -> None:
        self._script.extend(replies)

    def bodies(self) -> list[Any]:
        return [r.json() for r in self.requests]

    async def wait_for(self, n: int) -> None:
        with anyio.fail_after(5):
            while len(self.requests) < n:
                self._arrived.clear()
                await self._arrived.wait()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
        self._sock.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path, _, query = request.raw_path.partition("?")
        body = await request.read()
        self.requests.append(Received(path, query, request.headers["Content-Type"], body))
        self._arrived.set()
        reply = self._script.popleft() if self._script else None
        reply = reply or self.otherwise_at.get(path, self.otherwise)
        if isinstance(reply, Answer):
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        if isinstance(reply, Reset):
            transport = request.transport
            assert transport is not None
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        await self._release.wait()
        return web.Response()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        await r.close()


# --- test doubles -----------------------------------------------------------------------------


class FakeSleep:
    """Records each wait and moves the manual clock instead of waiting."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds)
        await anyio.lowlevel.checkpoint()


class HeldSleep:
    """Records each wait and holds it until :meth:`release`, then moves the manual clock."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.delays: list[float] = []
        self._asked = asyncio.Event()
        self._go = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self._asked.set()
        await self._go.wait()
        self.clock.advance(seconds)

    async def asked(self) -> None:
        with anyio.fail_after(5):
            await self._asked.wait()

    def release(self) -> None:
        self._go.set()


@dataclass
class Results:
    seen: list[tuple[str, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, target: str, result: str) -> None:
        self.seen.append((target, result))
        self.changed.set()

    async def wait_for(self, n: int, result: str | None = None, target: str | None = None) -> None:
        with anyio.fail_after(5):
            while sum(1 for t, r in self.seen if result in (None, r) and target in (None, t)) < n:
                self.changed.clear()
                await self.changed.wait()

    def count(self, result: str, target: str | None = None) -> int:
        return sum(1 for t, r in self.seen if r == result and target in (None, t))


def record(i: int = 1, result: str = "done", **kw: Any) -> AuditRecord:
    fields: dict[str, Any] = {
        "id": i,
        "time": T0 + i,
        "policy": "abort-long-live-processing",
        "product": "mps",
        "account": "main",
        "region": "global",
        "task_id": f"1250000000-procedure-live-{i:04d}",
        "action": "abort",
        "mode": "enforce",
        "result": result,
    }
    fields.update(kw)
    return AuditRecord(**fields)


def target(url: str, **kw: Any) -> Target:
    kw.setdefault("name", "ops")
    kw.setdefault("format", "generic")
    return Target(url=url, **kw)


@dataclass
class Rig:
    clock: ManualClock
    results: Results
    sleep: FakeSleep | HeldSleep
    notifier: Notifier


def rig(*targets: Target, held: bool = False, **kw: Any) -> Rig:
    clock = ManualClock()
    sleep: FakeSleep | HeldSleep = HeldSleep(clock) if held else FakeSleep(clock)
    results = Results()
    notifier = Notifier(
        targets, clock=clock, sleep=sleep, on_result=results, rng=random.Random(7), **kw
    )
    return Rig(clock, results, sleep, notifier)


# --- formats ----------------------------------------------------------------------------------


async def test_a_generic_batch_is_one_json_post_with_every_field_of_each_event(
    receiver: Receiver,
) -> None:
    r = rig(target(receiver.url(), batch_size=2))
    r.notifier.notify(record(1))
    r.notifier.notify(record(2, "failed", code="FailedOperation", request_id="req-2", message="x"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.notifier.run)
        await receiver.wait_for(1)
        await r.notifier.aclose()
    [sent] = receiver.requests
    assert sent.content_type.startswith("application/json")
    body = sent.json()
    assert body["source"] == "taskwatch"
    assert isinstance(body["version"], str)
    assert body["events"][0] == {
        "time": "2026-01-01T00:00:01Z",
        "policy": "abort-long-live-processing",
        "product": "mps",
        "account": "main",
        "region": "global",
        "task_id": "1250000000-procedure-live-0001",
        "action": "abort",
        "mode": "enforce",
        "result": "done",
        "code": None,
        "request_id": None,
        "message": None,
    }
    assert body["events"][1]["code"] == "FailedOperation"
    assert body["events"][1]["request_id"] == "req-2"
    assert r.results.seen == [("ops", "sent"), ("ops", "sent")]


async def test_a_wecom_batch_is_a_markdown_message_with_a_summary_and_a_line_per_event(
    receiver: Receiver,
) -> None:
    r = rig(target(receiver.url("/cgi-bin/webhook/send", f"key={WECOM_KEY}"), format="wecom"))
    for i, result in enumerate(["done", "done", "failed"], start=1):
        r.notifier.notify(record(i, result))
    await r.notifier.aclose()  # never ran: the drain sends it
    [sent] = receiver.requests
    assert sent.query == f"key={WECOM_KEY}"
    body = sent.json()
    assert body["msgtype"] == "markdown"
    lines = body["markdown"]["content"].split("\n")
    assert lines[0] == "**taskwatch: 3 actions — 2 done, 1 failed**"
    assert lines[1] == (
        "> `abort` mps task 1250000000-procedure-live-0001 "
        "(policy abort-long-live-processing, main/global): done"
    )
    assert lines[3].endswith(": failed")
    assert len(lines) == 4


def test_a_wecom_message_is_cut_to_4096_bytes_and_says_how_many_more() -> None:
    events = [
        json.loads(render("generic", [record(i, "failed", message="失败" * 60)]))["events"][0]
        for i in range(200)
    ]
    content = wecom_message(events)["markdown"]["content"]
    assert len(content.encode()) <= WECOM_LIMIT
    lines = content.split("\n")
    shown = [line for line in lines if line.startswith("> ")]
    assert 0 < len(shown) < 200
    assert lines[-1] == f"… and {200 - len(shown)} more"
    assert lines[0] == "**taskwatch: 200 actions — 200 failed**"


def test_a_wecom_message_that_fits_is_not_cut() -> None:
    events = json.loads(render("generic", [record(i) for i in range(5)]))["events"]
    content = wecom_message(events)["markdown"]["content"]
    assert "more" not in content
    assert content.count("\n> ") == 5


async def test_a_slack_batch_has_a_header_and_one_mrkdwn_section_per_event(
    receiver: Receiver,
) -> None:
    r = rig(target(receiver.url(), format="slack"))
    r.notifier.notify(record(1, "done"))
    r.notifier.notify(record(2, "unknown", message="timeout <after> 5s & more"))
    await r.notifier.aclose()
    body = receiver.requests[0].json()
    assert body["text"] == "taskwatch: 2 actions — 1 done, 1 unknown"
    header, *sections = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": body["text"]}}
    assert [s["type"] for s in sections] == ["section", "section"]
    assert all(s["text"]["type"] == "mrkdwn" for s in sections)
    assert sections[0]["text"]["text"].startswith("`abort` mps task 1250000000-procedure-live-0001")
    assert sections[1]["text"]["text"].endswith(": unknown (timeout &lt;after&gt; 5s &amp; more)")


def test_a_slack_message_holds_at_most_50_blocks_and_says_how_many_more() -> None:
    events = json.loads(render("generic", [record(i) for i in range(120)]))["events"]
    blocks = slack_message(events)["blocks"]
    assert len(blocks) == SLACK_BLOCKS
    assert [b["type"] for b in blocks].count("section") == 48
    assert blocks[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "… and 72 more"}],
    }
    exactly = json.loads(render("generic", [record(i) for i in range(49)]))["events"]
    assert [b["type"] for b in slack_message(exactly)["blocks"]].count("section") == 49


def test_registered_secrets_are_scrubbed_from_what_is_sent() -> None:
    canary = "CANARY-notify-0123456789abcdef"
    logs.register_secret(canary)
    for fmt in ("generic", "wecom", "slack"):
        body = render(fmt, [record(1, "failed", message=f"echoed {canary}")]).decode()
        assert canary not in body
        assert logs.REDACTED in body


def test_a_target_refuses_bad_settings_and_keeps_its_url_out_of_repr() -> None:
    url = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"
    ok = Target(name="wecom", url=url, format="wecom")
    assert WECOM_KEY not in repr(ok)
    assert ok.host == "qyapi.weixin.qq.com"
    assert ok.results == {"done", "failed", "unknown"}
    with pytest.raises(ValueError, match="format"):
        Target(name="x", url=url, format="teams")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="url"):
        Target(name="x", url="ftp://example.com/", format="generic")
    with pytest.raises(ValueError, match="batch_size"):
        Target(name="x", url=url, format="generic", batch_size=0)
    with pytest.raises(ValueError, match="unique"):
        Notifier([ok, ok], clock=ManualClock())


# --- batching ---------------------------------------------------------------------------------


async def test_a_full_batch_is_sent_at_once_and_the_rest_waits_for_the_interval(
    receiver: Receiver,
) -> None:
    r = rig(target(receiver.url(), batch_size=2, flush_interval=10), held=True)
    assert isinstance(r.sleep, HeldSleep)
    for i in range(5):
        r.notifier.notify(record(i))
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.notifier.run)
        await r.sleep.asked()  # two full batches went out; the fifth event waits
        assert [len(b["events"]) for b in receiver.bodies()] == [2, 2]
        assert r.sleep.delays == [10.0]
        r.sleep.release()
        await receiver.wait_for(3)
        await r.notifier.aclose()
    assert [len(b["events"]) for b in receiver.bodies()] == [2, 2, 1]


async def test_a_partial_batch_waits_flush_interval_from_its_oldest_event(
    receiver: Receiver,
) -> None:
    r = rig(target(receiver.url(), batch_size=20, flush_interval=10), held=True)
    assert isinstance(r.sleep, HeldSleep)
    r.notifier.notify(record(1))
    r.clock.advance(4)
    r.notifier.notify(record(2))
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.notifier.run)
        await r.sleep.asked()
        assert r.sleep.delays == [6.0]
        assert receiver.requests == []
        r.notifier.notify(record(3))  # still not a full batch: nothing is sent early
        await anyio.wait_all_tasks_blocked()
        assert receiver.requests == []
        r.sleep.release()
        await receiver.wait_for(1)
        await r.notifier.aclose()
    assert [e["task_id"][-1] for e in receiver.bodies()[0]["events"]] == ["1", "2", "3"]


async def test_reaching_batch_size_sends_without_waiting_for_the_interval(
    receiver: Receiver,
) -> None:
    r = rig(target(receiver.url(), batch_size=3, flush_interval=60), held=True)
    assert isinstance(r.sleep, HeldSleep)
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.notifier.run)
        r.notifier.notify(record(1))
        await r.sleep.asked()  # waiting for the interval, which never ends in this test
        r.notifier.notify(record(2))
        r.notifier.notify(record(3))
        await receiver.wait_for(1)
        await r.notifier.aclose()
    assert len(receiver.bodies()[0]["events"]) == 3


async def test_only_the_results_a_target_asks_for_are_sent_to_it(receiver: Receiver) -> None:
    failures = target(receiver.url("/failures"), name="failures", results=frozenset({"failed"}))
    default = target(receiver.url("/default"), name="default")
    r = rig(failures, default)
    for i, result in enumerate(["done", "failed", "would", "intent", "unknown", "fenced"]):
        r.notifier.notify(record(i, result))
    await r.notifier.aclose()
    sent = {req.path: [e["result"] for e in req.json()["events"]] for req in receiver.requests}
    assert sent == {"/failures": ["failed"], "/default": ["done", "failed", "unknown"]}
    assert r.results.count("sent", "failures") == 1
    assert r.results.count("sent", "default") == 3


# --- retries ----------------------------------------------------------------------------------


async def test_500_429_and_a_reset_are_retried_with_backoff_until_success(
    receiver: Receiver,
) -> None:
    receiver.script(Answer(500), Answer(429, headers={"Retry-After": "7"}), Reset(), Answer())
    r = rig(target(receiver.url(), attempts=4, flush_interval=0))
    assert isinstance(r.sleep, FakeSleep)
    r.notifier.notify(record(1))
    with structlog.testing.capture_logs() as captured:
        async with anyio.create_task_group() as tg:
            tg.start_soon(r.notifier.run)
            await receiver.wait_for(4)
            await r.notifier.aclose()
    assert len(receiver.requests) == 4
    assert len({req.body for req in receiver.requests}) == 1
    d1, d2, d3 = r.sleep.delays
    assert 0.5 <= d1 <= 1.0
    assert d2 == 7.0  # Retry-After beats a shorter backoff
    assert 2.0 <= d3 <= 4.0
    assert r.results.seen == [("ops", "sent")]
    retries = [e for e in captured if e["event"] == "notification retry"]
    assert [e["status"] for e in retries][:2] == ["HTTP 500", "HTTP 429"]
    assert retries[2]["status"] in {"ClientOSError", "ServerDisconnectedError"}  # the reset
    assert not [e for e in captured if e["log_level"] == "warning"]


async def test_a_400_is_not_retried_and_counts_the_batch_failed(receiver: Receiver) -> None:
    receiver.script(Answer(400, body=b"invalid_payload"))
    r = rig(target(receiver.url(), attempts=3, flush_interval=0))
    r.notifier.notify(record(1))
    r.notifier.notify(record(2))
    with structlog.testing.capture_logs() as captured:
        await r.notifier.aclose()
    assert len(receiver.requests) == 1
    assert r.sleep.delays == []
    assert r.results.seen == [("ops", "failed"), ("ops", "failed")]
    [warning] = [e for e in captured if e["log_level"] == "warning"]
    assert warning["status"] == "HTTP 400"
    assert warning["target"] == "ops"


async def test_attempts_are_bounded_and_then_the_batch_is_counted_failed(
    receiver: Receiver,
) -> None:
    receiver.otherwise = Answer(503)
    r = rig(target(receiver.url(), attempts=3, flush_interval=0))
    r.notifier.notify(record(1))
    r.notifier.notify(record(2))
    with structlog.testing.capture_logs() as captured:
        async with anyio.create_task_group() as tg:
            tg.start_soon(r.notifier.run)
            await r.results.wait_for(2, "failed")
            await r.notifier.aclose()
    assert len(receiver.requests) == 3
    assert len(r.sleep.delays) == 2
    assert r.results.seen == [("ops", "failed"), ("ops", "failed")]
    [warning] = [e for e in captured if e["log_level"] == "warning"]
    assert warning == {
        "event": "notification failed",
        "log_level": "warning",
        "target": "ops",
        "host": "127.0.0.1",
        "status": "HTTP 503",
        "attempts": 3,
        "retryable": True,
    }


async def test_wecom_rate_limit_errcode_is_retried_and_other_errcodes_are_not(
    receiver: Receiver,
) -> None:
    receiver.script(
        Answer(body=b'{"errcode":45009,"errmsg":"api freq out of limit"}'),
        Answer(),
        Answer(body=b'{"errcode":93000,"errmsg":"invalid webhook url"}'),
    )
    url = receiver.url("/cgi-bin/webhook/send", f"key={WECOM_KEY}")
    r = rig(target(url, format="wecom", batch_size=1, flush_interval=0))
    r.notifier.notify(record(1))
    r.notifier.notify(record(2))
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.notifier.run)
        await receiver.wait_for(3)
        await r.results.wait_for(2)
        await r.notifier.aclose()
    assert r.results.seen == [("ops", "sent"), ("ops", "failed")]
    assert len(receiver.requests) == 3


# --- never blocking the scan loop -------------------------------------------------------------


async def test_a_full_queue_drops_the_oldest_event_and_counts_it(receiver: Receiver) -> None:
    r = rig(target(receiver.url()), queue_size=3)
    with structlog.testing.capture_logs() as captured:
        for i in range(1, 6):
            r.notifier.notify(record(i))
    assert r.results.seen == [("ops", "dropped"), ("ops", "dropped")]
    assert r.notifier.pending("ops") == 3
    assert [e["event"] for e in captured] == ["notification queue full, dropping oldest"]
    await r.notifier.aclose()
    [body] = receiver.bodies()
    assert [e["task_id"][-1] for e in body["events"]] == ["3", "4", "5"]


@pytest.mark.looptime
async def test_notify_returns_at_once_while_a_receiver_hangs(receiver: Receiver) -> None:
    assert not inspect.iscoroutinefunction(Notifier.notify)
    receiver.otherwise_at["/hung"] = Hang()
    hung = target(receiver.url("/hung"), name="hung", batch_size=1, flush_interval=0, timeout=60)
    fine = target(receiver.url("/fine"), name="fine", batch_size=100, flush_interval=0)
    r = rig(hung, fine, drain_timeout=1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.notifier.run)
        r.notifier.notify(record(0))
        await receiver.wait_for(2)  # hung's POST hangs; fine's is answered
        started = time.perf_counter()
        for i in range(1, 501):
            assert r.notifier.notify(record(i)) is None  # type: ignore[func-returns-value]
        assert time.perf_counter() - started < 0.5
        assert r.notifier.pending("hung") == 500
        await r.results.wait_for(
            501, "sent", "fine"
        )  # the other target is not held up by the hung one
        assert r.results.count("sent", "hung") == 0
        await r.notifier.aclose()
    assert r.results.count("sent", "hung") == 0
    assert r.results.count("dropped", "hung") == 501  # the drain deadline came first
    assert r.results.count("sent", "fine") == 501


# --- shutdown ---------------------------------------------------------------------------------


async def test_aclose_flushes_what_is_queued_without_waiting_for_the_interval(
    receiver: Receiver,
) -> None:
    r = rig(target(receiver.url(), flush_interval=3600), held=True)
    assert isinstance(r.sleep, HeldSleep)
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.notifier.run)
        for i in range(3):
            r.notifier.notify(record(i))
        await r.sleep.asked()
        assert receiver.requests == []
        await r.notifier.aclose()
    assert [len(b["events"]) for b in receiver.bodies()] == [3]
    assert r.results.seen == [("ops", "sent")] * 3
    r.notifier.notify(record(9))  # after close: counted, never queued
    assert r.results.seen[-1] == ("ops", "dropped")
    assert r.notifier.pending("ops") == 0


@pytest.mark.looptime
async def test_an_attempt_in_flight_at_shutdown_finishes_and_the_drain_tries_once_more(
    receiver: Receiver,
) -> None:
    receiver.script(Hang())
    r = rig(target(receiver.url(), flush_interval=0, timeout=2, attempts=5), drain_timeout=5)
    r.notifier.notify(record(1))
    async with anyio.create_task_group() as tg:
        tg.start_soon(r.notifier.run)
        await receiver.wait_for(1)
        await r.notifier.aclose()  # the hung attempt times out; the backoff is cut short
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    assert r.sleep.delays == []
    assert r.results.seen == [("ops", "sent")]


# --- secrets ----------------------------------------------------------------------------------


async def test_the_wecom_key_never_appears_in_logs(receiver: Receiver) -> None:
    receiver.otherwise = Answer(502)
    url = receiver.url("/cgi-bin/webhook/send", f"key={WECOM_KEY}")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    refused = f"http://127.0.0.1:{closed.getsockname()[1]}/send?key={WECOM_KEY}"
    try:
        r = rig(
            target(url, name="wecom", format="wecom", attempts=2, flush_interval=0),
            target(refused, name="refused", format="wecom", attempts=2, flush_interval=0),
        )
        r.notifier.notify(record(1, "failed", message="boom"))
        with structlog.testing.capture_logs() as captured:
            async with anyio.create_task_group() as tg:
                tg.start_soon(r.notifier.run)
                await r.results.wait_for(2, "failed")
                await r.notifier.aclose()
    finally:
        closed.close()
    assert receiver.requests[0].query == f"key={WECOM_KEY}"  # it is sent, of course
    warnings = {e["target"]: e for e in captured if e["log_level"] == "warning"}
    assert warnings["wecom"]["status"] == "HTTP 502"
    assert warnings["refused"]["status"] == "ClientConnectorError"
    assert {e["host"] for e in warnings.values()} == {"127.0.0.1"}
    assert WECOM_KEY not in repr(captured)
    assert "key=" not in repr(captured)


# --- a coarse clock ---------------------------------------------------------------------------


class CoarseClock:
    """Loop time in whole microseconds, as looptime keeps it: ``queued + flush_interval`` can
    land a hair after every instant this clock can show (0.1 + 0.2 > 0.3 in floating point)."""

    def __init__(self) -> None:
        self.us = 0

    def monotonic(self) -> float:
        return self.us / 1e6

    def now(self) -> datetime:
        return datetime.fromtimestamp(T0, UTC)


async def test_a_flush_due_a_hair_after_the_clocks_last_tick_is_sent_instead_of_spinning(
    receiver: Receiver,
) -> None:
    clock = CoarseClock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.us += int(seconds * 1e6)  # a wait shorter than the tick does not move the clock
        await anyio.lowlevel.checkpoint()

    notifier = Notifier([target(receiver.url(), flush_interval=0.2)], clock=clock, sleep=sleep)
    clock.us = 100_000
    notifier.notify(record(1))
    async with anyio.create_task_group() as tg:
        tg.start_soon(notifier.run)
        await receiver.wait_for(1)
        await notifier.aclose()
    assert len(waits) == 1  # one wait of the flush interval, then the batch went out
