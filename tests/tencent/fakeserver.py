"""A scripted fake Tencent Cloud API 3.0 endpoint on 127.0.0.1, for transport and client tests.

Each test builds its own :class:`FakeTencent`, scripts what the next requests get back (an
envelope, an API error, a bare HTTP status, raw bytes, a reset connection, a truncated body, a hang)
and then reads :attr:`FakeTencent.requests` to see exactly what the client *sent*: method, raw path
and query, headers and body bytes, as they arrived on the socket.

The server checks every request's TC3 signature with :mod:`taskwatch.tencent.signing`, from the
received bytes and the ``Host`` header as received, and answers ``AuthFailure.SignatureFailure``
when it does not verify, as the real API does. Leaving ``async with`` raises when any request was
badly signed, so every test that talks to it also proves the client signs what it sends. Given a
clock, it also refuses timestamps more than five minutes off with ``AuthFailure.SignatureExpire``.

The socket is bound on construction but listens only from :meth:`FakeTencent.start`: until then a
connection is refused, which is how tests produce a :class:`ConnectError` and a server that comes
up later.

A :class:`Stream` answer is a hostile one: a body of any size (a gibibyte is fine) written chunk by
chunk from one small buffer, so the server itself stays small; :attr:`FakeTencent.streamed` says
how many bytes each one got out before the client hung up.

Not a model of the products: the emulator is that. Unscripted requests get an empty success.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import uuid
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from taskwatch.clock import Clock
from taskwatch.tencent.signing import parse_authorization, verify_tc3

SKEW_LIMIT = 300


def new_request_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Ok:
    """HTTP 200 with a success envelope: ``fields`` plus a RequestId."""

    fields: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Fail:
    """HTTP 200 with ``Response.Error``, as the API answers every error."""

    code: str
    message: str = "scripted failure"
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """A bare HTTP status with a body, as a gateway or proxy answers."""

    status: int
    body: bytes = b""
    content_type: str = "text/html"


@dataclass(frozen=True, slots=True)
class Raw:
    """Exactly these body bytes, with this status and content type (and extra headers, e.g.
    ``Content-Encoding``)."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Stream:
    """``size`` bytes of spaces with this status, written ``chunk`` bytes at a time: announced
    with ``Content-Length`` when ``announce``, else chunked (no length known up front)."""

    size: int
    announce: bool = False
    status: int = 200
    chunk: int = 1 << 20


@dataclass(frozen=True, slots=True)
class Reset:
    """Reset the connection (TCP RST) after reading the request: no answer at all."""


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close the connection (TCP FIN) after reading the request: no answer at all."""


@dataclass(frozen=True, slots=True)
class Truncated:
    """Announce a body, send part of it, then close the connection."""

    announced: int = 1000
    sent: bytes = b'{"Response": {'


@dataclass(frozen=True, slots=True)
class Hang:
    """Never answer (until the server closes)."""


Reply = Ok | Fail | Status | Raw | Stream | Reset | Disconnect | Truncated | Hang


@dataclass(frozen=True, slots=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Lower-case names; values exactly as received."""
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    signature_ok: bool
    peer: tuple[str, int] | None = None
    """The client's address and port: a new port is a new connection."""

    @property
    def timestamp(self) -> int:
        return int(self.headers["x-tc-timestamp"])

    @property
    def action(self) -> str:
        return self.headers.get("x-tc-action", "")

    def wire(self) -> bytes:
        """Everything the client sent, for "this never appears on the wire" checks."""
        head = b"\r\n".join(k + b": " + v for k, v in self.raw_headers)
        start = f"{self.method} {self.path}?{self.query}".encode()
        return start + b"\r\n" + head + b"\r\n\r\n" + self.body


def envelope(response: dict[str, Any]) -> web.Response:
    return web.Response(
        body=json.dumps({"Response": response}).encode(), content_type="application/json"
    )


class FakeTencent:
    """A local endpoint whose answers the test scripts. Use as ``async with FakeTencent(...)``."""

    def __init__(self, *, secret_key: str, clock: Clock | None = None) -> None:
        self.secret_key = secret_key
        self.clock = clock
        self.requests: list[Received] = []
        self.streamed: list[int] = []
        """Bytes of body each :class:`Stream` answer wrote before it ended or the client left."""
        self._stream_ended = asyncio.Event()
        self.otherwise: Reply = Ok()
        """What an unscripted request gets."""
        self._script: deque[Reply] = deque()
        self._release = asyncio.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        port: int = self._sock.getsockname()[1]
        return port

    @property
    def host(self) -> str:
        """The Host a client must sign: ``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order."""
        self._script.extend(replies)

    async def stream_ends(self, count: int = 1, *, within: float = 30.0) -> list[int]:
        """Wait until ``count`` :class:`Stream` answers have ended (the server noticed the client
        hang up, or wrote it all); :attr:`streamed`. Fails after ``within`` seconds."""
        async with asyncio.timeout(within):
            while len(self.streamed) < count:
                self._stream_ended.clear()
                await self._stream_ended.wait()
        return self.streamed

    async def start(self) -> None:
        """Start listening (until now, connections are refused)."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._sock.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
        if exc is None:
            self.assert_all_signed()

    def assert_all_signed(self) -> None:
        bad = [r for r in self.requests if not r.signature_ok]
        assert not bad, f"{len(bad)} request(s) did not verify: {bad!r}"

    def _verify(self, method: str, query: str, headers: dict[str, str], body: bytes) -> bool:
        parsed = parse_authorization(headers.get("authorization", ""))
        if parsed is None:
            return False
        try:
            timestamp = int(headers["x-tc-timestamp"])
        except (KeyError, ValueError):
            return False
        return verify_tc3(
            parsed,
            secret_key=self.secret_key,
            method=method,
            query=query,
            headers=headers,
            body=body,
            timestamp=timestamp,
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path, _, query = request.raw_path.partition("?")
        headers = {k.lower(): v for k, v in request.headers.items()}
        ok = self._verify(request.method, query, headers, body)
        self.requests.append(
            Received(
                method=request.method,
                path=path,
                query=query,
                headers=headers,
                raw_headers=tuple(request.raw_headers),
                body=body,
                signature_ok=ok,
                peer=request.transport.get_extra_info("peername") if request.transport else None,
            )
        )
        if not ok:
            return envelope(
                {
                    "Error": {
                        "Code": "AuthFailure.SignatureFailure",
                        "Message": "The provided credentials could not be validated.",
                    },
                    "RequestId": new_request_id(),
                }
            )
        if self.clock is not None:
            skew = int(headers["x-tc-timestamp"]) - self.clock.now().timestamp()
            if abs(skew) > SKEW_LIMIT:
                return envelope(
                    {
                        "Error": {
                            "Code": "AuthFailure.SignatureExpire",
                            "Message": "The signature is expired, please request again.",
                        },
                        "RequestId": new_request_id(),
                    }
                )
        reply = self._script.popleft() if self._script else self.otherwise
        return await self._answer(request, reply)

    async def _answer(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        match reply:
            case Ok(fields, request_id):
                return envelope({**fields, "RequestId": request_id or new_request_id()})
            case Fail(code, message, request_id):
                return envelope(
                    {
                        "Error": {"Code": code, "Message": message},
                        "RequestId": request_id or new_request_id(),
                    }
                )
            case Status(status, body, content_type):
                return web.Response(status=status, body=body, content_type=content_type)
            case Raw(body, status, content_type, headers):
                return web.Response(
                    status=status, body=body, content_type=content_type, headers=dict(headers)
                )
            case Stream():
                return await self._stream(request, reply)
            case Reset() | Disconnect():
                transport = request.transport
                assert transport is not None
                if isinstance(reply, Reset):
                    sock = transport.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
                await self._release.wait()
                return web.Response()
            case Truncated(announced, sent):
                assert request.transport is not None
                request.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {announced}\r\n\r\n".encode()
                    + sent
                )
                request.transport.close()
                await self._release.wait()
                return web.Response()
            case Hang():
                await self._release.wait()
                return web.Response()
        raise AssertionError(f"unknown reply {reply!r}")

    async def _stream(self, request: web.Request, reply: Stream) -> web.StreamResponse:
        resp = web.StreamResponse(status=reply.status, headers={"Content-Type": "application/json"})
        if reply.announce:
            resp.content_length = reply.size
        else:
            resp.enable_chunked_encoding()
        block = b" " * reply.chunk
        sent = 0
        try:
            await resp.prepare(request)
            while sent < reply.size:
                part = block if reply.size - sent >= reply.chunk else block[: reply.size - sent]
                await resp.write(part)
                sent += len(part)
            await resp.write_eof()
        except ConnectionError:  # the client hung up: what a refusing client does
            pass
        finally:
            self.streamed.append(sent)
            self._stream_ended.set()
        return resp
