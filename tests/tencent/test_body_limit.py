"""An answer larger than the transport accepts is refused unread, as a protocol error, and not
asked for again.

A hostile or broken endpoint (a proxy gone wrong, a runaway gateway) answered 200 with a body of a
gibibyte; taskwatch read it all into memory, and then twice more on retries. Every test here builds
its own scripted endpoint (:mod:`tests.tencent.fakeserver`) that streams such bodies from one small
buffer and records how much of them got out before the client hung up: that count is the proof
that the client stopped reading. The memory it costs a whole process is measured in
``tests/reliability/test_hostile_endpoint.py``.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from taskwatch.clock import ManualClock
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import Credentials, StaticCredentials
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.errors import CallSite, HttpStatusError, ProtocolError, ResponseTooLarge
from taskwatch.tencent.retry import RetryPolicy
from taskwatch.tencent.transport import Transport
from tests.tencent.fakeserver import FakeTencent, Ok, Raw, Stream

SECRET_ID = "AKIDtaskwatchTEST0000000000000000002"
SECRET_KEY = "body-limit-test-key-5d0c7a91e2b4"
LIMIT = 256 * 1024
MiB = 1024 * 1024
HUGE = 64 * MiB
"""What the endpoint offers: 256 times the limit (the memory test streams a gibibyte)."""
SLACK = 16 * MiB
"""Socket buffers on both sides: what a server gets out before it notices the client left."""


@dataclass
class Outcomes:
    seen: list[str] = field(default_factory=list)

    def attempt_finished(self, site: CallSite, outcome: str, seconds: float) -> None:
        self.seen.append(outcome)

    def rate_waited(self, site: CallSite, seconds: float) -> None:
        return None


@dataclass
class World:
    server: FakeTencent
    transport: Transport
    clock: ManualClock
    outcomes: Outcomes
    sleeps: list[float]

    def client(self) -> TencentClient:
        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            self.clock.advance(seconds)

        return TencentClient(
            credentials=StaticCredentials(Credentials(SECRET_ID, SECRET_KEY)),
            transport=self.transport,
            endpoints=EndpointPolicy(override=self.server.url),
            observer=self.outcomes,
            clock=self.clock,
            retry=RetryPolicy(),
            sleep=sleep,
            rng=random.Random(1),
        )


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = ManualClock()
    async with (
        FakeTencent(secret_key=SECRET_KEY, clock=clock) as server,
        Transport(trust_env=False, max_body=LIMIT) as transport,
    ):
        yield World(server, transport, clock, Outcomes(), [])


async def list_tasks(world: World) -> dict[str, object]:
    return await world.client().call("mps", "DescribeTasks", {"Status": "WAITING"})


async def test_a_chunked_answer_is_cut_off_once_it_passes_the_limit_and_not_asked_for_again(
    world: World,
) -> None:
    world.server.otherwise = Stream(HUGE)
    with pytest.raises(ProtocolError) as caught:
        await list_tasks(world)
    assert isinstance(caught.value, ResponseTooLarge)
    assert f"larger than {LIMIT} bytes" in str(caught.value)
    assert "mps.DescribeTasks" in str(caught.value)
    assert len(world.server.requests) == 1  # deterministic: asking again costs as much again
    assert world.sleeps == []
    assert world.outcomes.seen == ["ResponseTooLarge"]
    (streamed,) = await world.server.stream_ends()
    assert streamed < LIMIT + SLACK


async def test_an_announced_length_above_the_limit_is_refused_before_reading_the_body(
    world: World,
) -> None:
    world.server.script(Stream(HUGE, announce=True))
    with pytest.raises(ResponseTooLarge) as caught:
        await list_tasks(world)
    assert f"Content-Length {HUGE}" in str(caught.value)
    (streamed,) = await world.server.stream_ends()
    assert streamed < SLACK


async def test_the_connection_of_a_refused_answer_is_closed_not_reused(world: World) -> None:
    world.server.script(Ok({"TotalCount": 0}), Stream(HUGE), Ok({"TotalCount": 0}))
    await list_tasks(world)
    with pytest.raises(ResponseTooLarge):
        await list_tasks(world)
    assert (await list_tasks(world))["TotalCount"] == 0
    first, refused, after = (r.peer for r in world.server.requests)
    assert refused == first  # the pool works: a kept-alive connection is reused
    assert after != refused  # but not the one whose answer was abandoned mid-body


async def test_an_answer_exactly_at_the_limit_is_read(world: World) -> None:
    head = b'{"Response": {"RequestId": "r-1", "Pad": "'
    tail = b'"}}'
    world.server.script(Raw(head + b"x" * (LIMIT - len(head) - len(tail)) + tail))
    answer = await list_tasks(world)
    assert answer["RequestId"] == "r-1"


async def test_a_compressed_answer_is_measured_as_it_inflates(world: World) -> None:
    bomb = gzip.compress(b" " * (32 * MiB))  # 32 KiB on the wire
    assert len(bomb) < LIMIT
    world.server.script(Raw(bomb, headers=(("Content-Encoding", "gzip"),)))
    with pytest.raises(ResponseTooLarge):
        await list_tasks(world)


async def test_a_gateway_error_with_a_huge_body_stays_an_http_error_and_is_retried(
    world: World,
) -> None:
    world.server.script(Stream(HUGE, status=502), Ok({"TotalCount": 3}))
    answer = await list_tasks(world)
    assert answer["TotalCount"] == 3
    assert world.outcomes.seen == ["HTTP502", "Success"]
    (streamed,) = await world.server.stream_ends()
    assert streamed < LIMIT + SLACK


async def test_the_refused_gateway_error_says_its_status_and_not_the_body() -> None:
    clock = ManualClock()
    async with (
        FakeTencent(secret_key=SECRET_KEY, clock=clock) as server,
        Transport(trust_env=False, max_body=LIMIT) as transport,
    ):
        world = World(server, transport, clock, Outcomes(), [])
        server.otherwise = Stream(HUGE, status=503, announce=True)
        with pytest.raises(HttpStatusError) as caught:
            await list_tasks(world)
    assert caught.value.status == 503
    assert len(server.requests) == 4  # a gateway error is retried: the next answer may be fine


@pytest.mark.parametrize("bad", [0, -1, 1023])
def test_a_transport_refuses_a_limit_too_small_for_any_answer(bad: int) -> None:
    with pytest.raises(ValueError, match="max_body"):
        Transport(max_body=bad)
