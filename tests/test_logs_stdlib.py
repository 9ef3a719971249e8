"""Records of the standard ``logging`` module (aiohttp's own, here) come out through structlog's
processors: one JSON object per line in JSON mode, with level, logger and timestamp, scrubbed.

Before, aiohttp's "Error handling request" traceback came out as plain text inside the JSON
stream. The test provokes the real record: a request to a handler that raises, over a socket.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import aiohttp
import pytest
import structlog
from aiohttp import web

from taskwatch import logs


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    logs.configure(level="info", json=True, stream=out)
    try:
        yield out
    finally:
        root = logging.getLogger()
        root.handlers = [h for h in root.handlers if not getattr(h, "_taskwatch_handler", False)]
        structlog.reset_defaults()


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


async def test_aiohttps_own_error_record_is_one_json_object_with_its_traceback(
    stream: io.StringIO,
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("token=abcdef0123456789 in a traceback")

    app = web.Application()
    app.router.add_get("/", broken)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/") as r:
            assert r.status == 500
    finally:
        await runner.cleanup()
    events = lines(stream)  # every line parses: nothing plain-text in the stream
    (error,) = [e for e in events if e.get("logger") == "aiohttp.server"]
    assert error["level"] == "error"
    assert str(error["event"]).startswith("Error handling request")
    assert "RuntimeError" in str(error["exception"])
    assert "abcdef0123456789" not in stream.getvalue()  # scrubbed like taskwatch's own events
    assert "timestamp" in error


def test_a_second_configure_replaces_its_handler_and_keeps_others(stream: io.StringIO) -> None:
    other = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(other)
    try:
        logs.configure(level="warning", json=True, stream=stream)
        ours = [h for h in root.handlers if getattr(h, "_taskwatch_handler", False)]
        assert len(ours) == 1
        assert other in root.handlers
        logging.getLogger("asyncio").info("below the level")
        logging.getLogger("asyncio").warning("at the level")
    finally:
        root.removeHandler(other)
    assert [e["event"] for e in lines(stream)] == ["at the level"]
