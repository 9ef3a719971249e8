"""How the emulator answers an injected fault (:mod:`taskwatch.emulator.faults` decides which).

Errors come back as the API's own envelope; ``http`` as a gateway's HTML page; ``garbage`` as
bytes that are not JSON under a JSON content type; ``reset`` aborts the connection with an RST
(``SO_LINGER`` 0); ``truncate`` writes half a body under a longer ``Content-Length``. A broken
connection's handler waits for ``release`` (the emulator stopping) so aiohttp writes nothing
after it.

Not guaranteed: the exact bytes a real gateway sends; only their kind.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct

from aiohttp import web

from taskwatch.emulator.faults import Fault
from taskwatch.emulator.wire import EmulatedError, error_payload, json_response

__all__ = ["answer_fault"]


async def answer_fault(
    request: web.Request, fault: Fault, language: str, rid: str, release: asyncio.Event
) -> tuple[web.StreamResponse, str]:
    """Answer as the fault says, with the code to log; a broken connection waits to close."""
    if fault.kind == "error":
        err = EmulatedError(fault.code, fault.message)
        return json_response(error_payload(err, language, rid)), f"fault:{fault.code}"
    if fault.kind == "http":
        html = f"<html><body><h1>{fault.status} Bad Gateway</h1>nginx</body></html>"
        resp = web.Response(status=fault.status, text=html, content_type="text/html")
        return resp, f"fault:HTTP{fault.status}"
    if fault.kind == "garbage":
        resp = web.Response(
            status=200,
            body=b"<html>upstream sent an invalid response</html>\x00\xff",
            headers={"Content-Type": "application/json"},
        )
        return resp, "fault:garbage"
    transport = request.transport
    if transport is None:  # the client gave up during an injected delay: nothing to break
        return web.Response(), f"fault:{fault.kind}"
    if fault.kind == "reset":
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:  # truncate
        body = json.dumps({"Response": {"RequestId": rid, "TaskSet": []}}).encode()
        transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body) + 100}\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
        transport.close()
    await release.wait()
    return web.Response(), f"fault:{fault.kind}"
