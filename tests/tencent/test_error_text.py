"""What the API says goes into an error scrubbed and capped, once, where the error is built.

An error message is free text from the server, and servers echo what they were given: a SecretKey,
a session token, the ``NotifyKey`` of a task's callback, a URL with credentials in it. Whatever
an error says reaches the status page, the journal, ``taskwatch audit`` and the logs, so the error
itself must be clean: every sink then is. And a message of megabytes must not become a log line or
a page of megabytes. Each test here gets its error the way the daemon does, from a scripted
endpoint over real HTTP.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from taskwatch import logs
from taskwatch.clock import ManualClock
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import Credentials, StaticCredentials
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.errors import (
    MESSAGE_LIMIT,
    ApiError,
    HttpStatusError,
    ProtocolError,
    TencentError,
)
from taskwatch.tencent.retry import NO_RETRY
from taskwatch.tencent.transport import Transport
from tests.tencent.fakeserver import Fail, FakeTencent, Raw, Status

SECRET_ID = "AKIDtaskwatchTEST0000000000000000003"
SECRET_KEY = "CANARY-SK-errortext-93b1c7d24e"
TOKEN = "CANARY-TOKEN-errortext-5a0e2d7c81"
NOTIFY_KEY = "nk-CANARY-4f81b2c9d7e0"
URL_PASSWORD = "CANARY-urlpass-2b7d"
URL_SIGN = "CANARY-qsign-8e1f0a"
LEAKS = (SECRET_KEY, TOKEN, NOTIFY_KEY, URL_PASSWORD, URL_SIGN)
ECHO = (
    f"signature mismatch for key {SECRET_KEY} with token {TOKEN}; "
    f'callback {{"NotifyKey": "{NOTIFY_KEY}"}} NotifyKey={NOTIFY_KEY}; '
    f"source https://ops:{URL_PASSWORD}@cos.example.com/b/o.mp4?q-signature={URL_SIGN}&x=1"
)
"""An API message that echoes every kind of secret: loaded ones (the key and the token) and ones
taskwatch never loaded but that say what they are (a NotifyKey, a URL's password and signature)."""


def client(server: FakeTencent, transport: Transport) -> TencentClient:
    return TencentClient(
        credentials=StaticCredentials(Credentials(SECRET_ID, SECRET_KEY, TOKEN)),
        transport=transport,
        endpoints=EndpointPolicy(override=server.url),
        clock=ManualClock(),
        retry=NO_RETRY,
        rng=random.Random(1),
    )


@pytest.fixture
async def server() -> AsyncIterator[FakeTencent]:
    async with FakeTencent(secret_key=SECRET_KEY) as fake:
        yield fake


async def failure(server: FakeTencent) -> TencentError:
    async with Transport(trust_env=False) as transport:
        with pytest.raises(TencentError) as caught:
            await client(server, transport).call("mps", "DescribeTasks", {"Status": "WAITING"})
    return caught.value


def texts(exc: TencentError) -> list[str]:
    """Every text of an error a sink may show."""
    out = [str(exc), exc.detail, *map(str, exc.args)]
    if isinstance(exc, ApiError):
        out += [exc.message, exc.code]
    if isinstance(exc, HttpStatusError | ProtocolError):
        out.append(exc.body)
    return out


async def test_an_api_error_message_echoing_secrets_is_scrubbed_where_the_error_is_built(
    server: FakeTencent,
) -> None:
    server.script(Fail("InvalidParameterValue", ECHO))
    exc = await failure(server)
    assert isinstance(exc, ApiError)
    for text in texts(exc):
        for leak in LEAKS:
            assert leak not in text, (leak, text)
    assert "signature mismatch for key [redacted]" in exc.message
    assert "https://[redacted]@cos.example.com/b/o.mp4" in exc.message
    assert "NotifyKey=[redacted]" in exc.message
    assert exc.code == "InvalidParameterValue"  # what is not a secret stays readable


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Status(502, ECHO.encode()), id="gateway page"),
        pytest.param(Raw(b"<html>" + ECHO.encode()), id="not json"),
        pytest.param(Raw(b'{"Response": {"Oops": "' + ECHO.encode() + b'"}}'), id="no request id"),
    ],
)
async def test_a_body_quoted_in_a_transport_error_is_scrubbed(
    server: FakeTencent, reply: Status | Raw
) -> None:
    server.script(reply)
    exc = await failure(server)
    for text in texts(exc):
        for leak in LEAKS:
            assert leak not in text, (leak, text)


async def test_a_huge_message_is_capped_with_a_marker_and_still_scrubbed_at_the_cut(
    server: FakeTencent,
) -> None:
    filler = "x" * (MESSAGE_LIMIT - 10)
    message = filler + SECRET_KEY + "y" * (5 * 1024 * 1024)  # the key straddles the cut
    server.script(Fail("FailedOperation", message))
    exc = await failure(server)
    assert isinstance(exc, ApiError)
    assert len(exc.message) <= MESSAGE_LIMIT + 40
    assert exc.message.startswith(filler)
    assert "more characters]" in exc.message
    assert SECRET_KEY[:8] not in exc.message  # not even the head of the key is left at the cut
    assert len(str(exc)) < 2 * MESSAGE_LIMIT


def test_scrubbing_twice_changes_nothing_more() -> None:
    once = logs.bounded(ECHO, MESSAGE_LIMIT)
    assert logs.bounded(once, MESSAGE_LIMIT) == once
