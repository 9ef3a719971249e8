"""The transport (and the envelope parser) map foreign errors to taskwatch errors and keep the
foreign one as the cause.

An operator reading a traceback (``taskwatch api``, a crashed cycle logged with its traceback)
needs the aiohttp or OS error that the mapped one stands for: ``raise ... from exc`` shows it as
"The above exception was the direct cause", where ``from None`` hid it. The mapped error's text
is unchanged, and the cause adds nothing secret: tests/tencent/test_client.py walks the whole
chain for the secret key and the token.
"""

from __future__ import annotations

import traceback

import aiohttp
import pytest

from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import Credentials, StaticCredentials
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.envelope import parse_response
from taskwatch.tencent.errors import ConnectError, NetworkError, ProtocolError, RequestTimeout
from taskwatch.tencent.retry import NO_RETRY
from taskwatch.tencent.transport import RawResponse, Timeouts, Transport
from tests.tencent.fakeserver import FakeTencent, Hang, Reset, Truncated

SECRET_ID = "AKIDtaskwatchCAUSE000000000000000000"
SECRET_KEY = "cause-test-secret-key"
QUICK = Timeouts(connect=1.0, total=0.2)


async def send(transport: Transport, server: FakeTencent) -> None:
    """One signed call through the client, not retried: what reaches the caller is what the
    transport raised."""
    client = TencentClient(
        credentials=StaticCredentials(Credentials(SECRET_ID, SECRET_KEY)),
        transport=transport,
        endpoints=EndpointPolicy(override=server.url),
        retry=NO_RETRY,
    )
    await client.call("mps", "DescribeTasks", {})


async def test_a_refused_connection_is_a_connect_error_caused_by_the_aiohttp_error() -> None:
    idle = FakeTencent(secret_key=SECRET_KEY)  # bound, never listening: connections are refused
    try:
        async with Transport(trust_env=False) as transport:
            with pytest.raises(ConnectError) as caught:
                await send(transport, idle)
    finally:
        await idle.close()
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)


@pytest.mark.parametrize("reply", [Reset(), Truncated()], ids=["reset", "truncated"])
async def test_a_broken_connection_is_a_network_error_caused_by_the_aiohttp_error(
    reply: Reset | Truncated,
) -> None:
    async with FakeTencent(secret_key=SECRET_KEY) as server, Transport(trust_env=False) as t:
        server.script(reply)
        with pytest.raises(NetworkError) as caught:
            await send(t, server)
    assert type(caught.value) is NetworkError
    assert isinstance(caught.value.__cause__, aiohttp.ClientError | OSError)


async def test_no_answer_in_time_is_a_request_timeout_caused_by_the_timeout() -> None:
    async with (
        FakeTencent(secret_key=SECRET_KEY) as server,
        Transport(timeouts=QUICK, trust_env=False) as transport,
    ):
        server.script(Hang())
        with pytest.raises(RequestTimeout) as caught:
            await send(transport, server)
    assert isinstance(caught.value.__cause__, TimeoutError)


async def test_the_traceback_shows_the_aiohttp_error_as_the_direct_cause() -> None:
    idle = FakeTencent(secret_key=SECRET_KEY)
    try:
        async with Transport(trust_env=False) as transport:
            with pytest.raises(ConnectError) as caught:
                await send(transport, idle)
    finally:
        await idle.close()
    text = "".join(traceback.format_exception(caught.value))
    assert "The above exception was the direct cause of the following exception" in text
    assert "ClientConnectorError" in text


@pytest.mark.parametrize(
    ("body", "cause"),
    [(b"<html>", ValueError), (b"\xff\xfe\x00", UnicodeDecodeError)],
    ids=["html", "not-utf8"],
)
def test_a_body_that_is_not_json_keeps_the_decoder_error_as_cause(
    body: bytes, cause: type[Exception]
) -> None:
    raw = RawResponse(status=200, content_type="application/json", body=body)
    with pytest.raises(ProtocolError, match="body is not JSON") as caught:
        parse_response(raw)
    assert isinstance(caught.value.__cause__, cause)
