"""The emulator's notification side: it listens to the world's transitions, keeps the outbox, and
runs the pump that ticks the world and POSTs what is ready.

Why a pump: the world moves only when ticked, and the server ticks it on API calls. A receiver
waiting for a notification makes no call, so while notifications may be sent the pump ticks the
world every :data:`INTERVAL` seconds of real time (under a
:class:`~taskwatch.clock.ManualClock` a test advances the clock and the next tick sends). It runs
only while :meth:`Notifier.serving` and only once needed: when some task notifies (a transition
listener sees one added, or one is there when serving begins, or a generator makes them) or
faults are set. Extra ticks change when transitions are applied, not what they are (each is
stamped with its due time), but they interleave the world's random draws (generators) with the
API calls' fault draws differently: a world without notifications is never ticked by the pump.

Delivery: POST, JSON body, ``Content-Type: application/json``, :data:`TIMEOUT` seconds in all;
one at a time in order, except sends a ``delay`` fault holds, which wait in their own tasks. A
failure (no answer, or a status other than 2xx) is also written to the emulator's request log
through ``on_failure`` (product ``notify``: the event, the task id and the URL's origin only).

Cancel-safe: :meth:`Notifier.stop` cancels the pump, its sender and every delayed send, and
closes the HTTP session; notifications not yet sent stay in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from taskwatch.clock import Clock
from taskwatch.emulator.notify import build
from taskwatch.emulator.notify_config import NotifyFaults
from taskwatch.emulator.outbox import Outbox, Send
from taskwatch.emulator.world import Transition, World

__all__ = ["INTERVAL", "TIMEOUT", "Notifier"]

INTERVAL = 0.05
TIMEOUT = 5.0


class Notifier:
    """The outbox of one emulator, fed by the world it is attached to, drained by its pump."""

    def __init__(
        self,
        *,
        clock: Clock,
        faults: NotifyFaults | None = None,
        on_failure: Callable[[str, Mapping[str, Any], str], None] | None = None,
        size: int = 1000,
    ) -> None:
        self._clock = clock
        self.outbox = Outbox(now=self._now, faults=faults, size=size)
        self._on_failure = on_failure
        """Called with (event, params, code) for the emulator's request log."""
        self._world: World | None = None
        self._serving = False
        self._pump: asyncio.Task[None] | None = None
        self._delayed: set[asyncio.Task[None]] = set()

    # --- the world --------------------------------------------------------------------------

    def _now(self) -> float:
        """The attached world's time (a scenario may shift its clock), else the emulator's."""
        return self._world.now() if self._world is not None else self._clock.now().timestamp()

    def attach(self, world: World) -> None:
        """Listen to ``world`` (and no longer to the previous one)."""
        if self._world is not None:
            with contextlib.suppress(ValueError):
                self._world.transition_listeners.remove(self._heard)
        self._world = world
        world.transition_listeners.append(self._heard)
        if self._serving and self.needed():
            self._start()

    def _heard(self, change: Transition) -> None:
        world = self._world
        if world is None:
            return
        if change.event != "added":
            n = build(change, now=world.now(), appid=world.appid)
            if n is not None:
                self.outbox.put(n)
        if self._serving:
            with contextlib.suppress(RuntimeError):  # no running loop: serving() starts it
                self._start()

    def needed(self) -> bool:
        """Whether a pump has anything to do: faults set, or a task or generator that notifies."""
        world = self._world
        if self.outbox.faults.active:
            return True
        if world is None:
            return False
        return (
            any(t.notify is not None for t in world.mps.values())
            or any(t.callback_url for t in world.live.values())
            or any(g.template.get("notify") or g.template.get("callback_url")
                   for g in world.generators)
        )  # fmt: skip

    # --- the pump ---------------------------------------------------------------------------

    def serving(self) -> None:
        """The emulator serves: start the pump now if needed, later once it is."""
        self._serving = True
        if self.needed():
            self._start()

    @property
    def running(self) -> bool:
        return self._pump is not None and not self._pump.done()

    def _start(self) -> None:
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(
                self._run(), name="emulator-notifications"
            )

    async def stop(self) -> None:
        """Stop the pump (if running) and every send in flight; raise what killed it, if any."""
        self._serving = False
        pump, self._pump = self._pump, None
        if pump is None:
            return
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        sends: asyncio.Queue[Send] = asyncio.Queue()
        async with aiohttp.ClientSession(timeout=timeout) as session:
            sender = asyncio.create_task(self._send_all(session, sends), name="emulator-notify")
            try:
                while True:
                    world = self._world
                    if world is not None:
                        world.tick()
                        for send in self.outbox.ready(world.now()):
                            sends.put_nowait(send)
                    if sender.done():
                        sender.result()  # raises what killed it
                    await asyncio.sleep(INTERVAL)
            finally:
                sender.cancel()
                for task in self._delayed:
                    task.cancel()
                await asyncio.gather(sender, *self._delayed, return_exceptions=True)
                self._delayed.clear()

    async def _send_all(self, session: aiohttp.ClientSession, sends: asyncio.Queue[Send]) -> None:
        while True:
            send = await sends.get()
            if send.delay > 0:
                task = asyncio.create_task(self._later(session, send))
                self._delayed.add(task)
                task.add_done_callback(self._delayed.discard)
            else:
                await self._post(session, send)

    async def _later(self, session: aiohttp.ClientSession, send: Send) -> None:
        await asyncio.sleep(send.delay)
        await self._post(session, send)

    async def _post(self, session: aiohttp.ClientSession, send: Send) -> None:
        n = send.notification
        status: int | None = None
        error: str | None = None
        data = json.dumps(n.body, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            async with session.post(
                n.url, data=data, headers={"Content-Type": "application/json"}
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            error = type(exc).__name__
        self.outbox.record(send, status=status, error=error)
        if (status is None or not 200 <= status < 300) and self._on_failure is not None:
            params = {"task_id": n.task_id, "url": origin(n.url), "fault": send.fault}
            self._on_failure(n.event, params, error or f"HTTP {status}")

    # --- inspection -------------------------------------------------------------------------

    def register(self, app: web.Application) -> None:
        app.router.add_get("/_emulator/notifications", self._get)

    async def _get(self, request: web.Request) -> web.Response:
        """Every delivery attempted (``?since=SEQ``: those after it), bodies included."""
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="since must be an integer") from None
        return web.json_response([d.as_dict() for d in self.outbox.records if d.seq > since])


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: no user, path or query (a receiver's token may be
    in its path)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}"
    except ValueError:
        return "(invalid URL)"
