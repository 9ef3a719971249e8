"""A notification receiver on loopback for the emulator's notification tests: a real aiohttp
server that keeps every POST it gets (path, JSON body, content type, loop time), answering with a
status the test chooses; and the waiting that goes with it.

Waiting is bounded polling (:func:`tests.e2e.waiting.eventually`): the emulator's pump sends on
its own 50 ms ticks, in real time. To know that nothing *more* is coming for a task,
:meth:`Receiver.settle` sends a marker notification through the same outbox and waits for it:
the pump sends in order, so everything queued before the marker has arrived by then.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from taskwatch.emulator.notify_config import Notify
from taskwatch.emulator.world import MpsTask, Plan, World
from tests.e2e.waiting import eventually

KEY = "emulator-test-notify-key-0001"


def valid_sign(body: dict[str, Any], key: str = KEY) -> bool:
    expected = hashlib.md5(f"{body['Timestamp']}{key}".encode()).hexdigest()
    return bool(body.get("Sign") == expected)


@dataclass(frozen=True)
class Received:
    path: str
    body: dict[str, Any]
    content_type: str
    at: float
    """The receiver's loop time when the body arrived."""


@dataclass
class Receiver:
    url: str
    got: list[Received] = field(default_factory=list)
    status: int = 200

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        return [r.body for r in self.got if path is None or r.path == path]

    async def wait_for(self, n: int, what: str = "", *, path: str | None = None) -> None:
        await eventually(
            lambda: len(self.bodies(path)) >= n, what or f"{n} notification(s)", within=10.0
        )

    async def settle(self, world: World) -> None:
        """Send a marker notification (an MPS task finishing now) and wait for it."""
        notify = Notify(f"{self.url}/marker", KEY)
        marker = MpsTask(world.mps_id("WorkflowTask"), "WorkflowTask", "WAITING", world.now(),
                         plan=Plan(None, None), notify=notify)  # fmt: skip
        world.add_mps(marker)
        world.finish_mps(marker, world.now())
        await self.wait_for(1, "the marker notification", path="/marker")
        self.got = [r for r in self.got if r.path != "/marker"]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        loop = asyncio.get_running_loop()
        self.got.append(Received(request.path, body, request.content_type, loop.time()))
        return web.Response(status=self.status, text="ok")


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    """A receiver on 127.0.0.1 (any free port) for the duration of the block."""
    receiver = Receiver(url="")
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    receiver.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
