"""TencentClient against a real local HTTP endpoint: what it sends, how it reads answers, when it
tries again, and what it never leaks.

Every test builds its own fake endpoint (:mod:`tests.tencent.fakeserver`), clock and transport. The
endpoint verifies every request's signature from the bytes it received, so each test also proves
the client signs exactly what it sends. Backoff never sleeps for real: the client gets a fake sleep
that records the delay and moves the manual clock. The only real waits are the transport timeouts
of the few "no answer" tests (0.2 s each).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog.testing

from taskwatch import __version__
from taskwatch.clock import ManualClock, SkewedClock
from taskwatch.tencent.client import TencentClient, outcome_code
from taskwatch.tencent.credentials import Credentials, CredentialSource, StaticCredentials
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.errors import (
    _EXACT,
    ApiError,
    AuthError,
    CallSite,
    ConnectError,
    HttpStatusError,
    NetworkError,
    ProtocolError,
    RequestTimeout,
    ServerError,
    SignatureExpiredError,
    TaskNotActiveError,
    TaskNotFoundError,
    TencentError,
    ThrottledError,
)
from taskwatch.tencent.retry import NO_RETRY, RetryPolicy
from taskwatch.tencent.signing import parse_authorization
from taskwatch.tencent.transport import Timeouts, Transport
from tests.tencent.fakeserver import (
    Disconnect,
    Fail,
    FakeTencent,
    Hang,
    Ok,
    Raw,
    Received,
    Reply,
    Reset,
    Status,
    Truncated,
)

SECRET_ID = "AKIDtaskwatchTEST0000000000000000000"
SECRET_KEY = "CANARY-SK-1f7c2d9e4b8a6035"
TOKEN = "CANARY-TOKEN-6b2e91d04c"
QUICK = Timeouts(connect=1.0, total=0.2)
"""For the "never answers" tests: the only real waiting in this module."""

DESTRUCTIVE = [
    pytest.param(
        "mps",
        "ManageTask",
        {"OperationType": "Abort", "TaskId": "2459149217-procedure-live-xxx51da009t0"},
        None,
        id="mps.ManageTask",
    ),
    pytest.param(
        "dlc",
        "CancelTask",
        {"TaskId": "4ad30ca9-8b0e-499f-b4e1-d6e43ba0e564"},
        "ap-guangzhou",
        id="dlc.CancelTask",
    ),
    pytest.param(
        "live",
        "DeleteLivePullStreamTask",
        {"TaskId": "10054", "Operator": "taskwatch"},
        "ap-guangzhou",
        id="live.DeleteLivePullStreamTask",
    ),
]


# --- test doubles ----------------------------------------------------------------------------


class FakeSleep:
    """Records each backoff and moves the manual clock instead of waiting.

    ``then`` runs once per sleep, in order: a way to change the world during a backoff.
    """

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.delays: list[float] = []
        self.then: list[Callable[[], Awaitable[None]]] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds)
        if self.then:
            await self.then.pop(0)()


@dataclass
class RecordingGate:
    """A RateGate that lets everything through after ``wait`` seconds and remembers the calls."""

    wait: float = 0.0
    acquired: list[tuple[str, str, str]] = field(default_factory=list)
    throttled: list[tuple[str, str, str]] = field(default_factory=list)
    succeeded: list[tuple[str, str, str]] = field(default_factory=list)

    async def acquire(self, account: str, product: str, action: str) -> float:
        self.acquired.append((account, product, action))
        return self.wait

    def on_throttled(self, account: str, product: str, action: str) -> None:
        self.throttled.append((account, product, action))

    def on_success(self, account: str, product: str, action: str) -> None:
        self.succeeded.append((account, product, action))


@dataclass
class RecordingObserver:
    attempts: list[tuple[CallSite, str, float]] = field(default_factory=list)
    waits: list[tuple[CallSite, float]] = field(default_factory=list)

    def attempt_finished(self, site: CallSite, outcome: str, seconds: float) -> None:
        self.attempts.append((site, outcome, seconds))

    def rate_waited(self, site: CallSite, seconds: float) -> None:
        self.waits.append((site, seconds))

    @property
    def outcomes(self) -> list[str]:
        return [outcome for _, outcome, _ in self.attempts]


class RotatingCredentials:
    """Hands out the next generation of credentials after each ``invalidate()``."""

    def __init__(self, *generations: Credentials) -> None:
        self.generations = generations
        self.invalidations = 0

    async def get(self) -> Credentials:
        return self.generations[min(self.invalidations, len(self.generations) - 1)]

    def invalidate(self) -> None:
        self.invalidations += 1

    def describe(self) -> str:
        return "rotating test credentials"


@dataclass
class Harness:
    """One test's world: a listening fake endpoint, a transport, a clock and the recorders."""

    server: FakeTencent
    transport: Transport
    clock: ManualClock
    sleep: FakeSleep
    gate: RecordingGate
    observer: RecordingObserver

    def client(self, **overrides: Any) -> TencentClient:
        kwargs: dict[str, Any] = {
            "credentials": StaticCredentials(Credentials(SECRET_ID, SECRET_KEY)),
            "transport": self.transport,
            "endpoints": EndpointPolicy(override=self.server.url),
            "gate": self.gate,
            "observer": self.observer,
            "clock": self.clock,
            "retry": RetryPolicy(),
            "sleep": self.sleep,
            "rng": random.Random(1),
        }
        kwargs.update(overrides)
        return TencentClient(**kwargs)


@pytest.fixture
async def world() -> AsyncIterator[Harness]:
    clock = ManualClock()
    async with (
        FakeTencent(secret_key=SECRET_KEY, clock=clock) as server,
        Transport(trust_env=False) as transport,
    ):
        yield Harness(
            server=server,
            transport=transport,
            clock=clock,
            sleep=FakeSleep(clock),
            gate=RecordingGate(),
            observer=RecordingObserver(),
        )


def only(requests: list[Received]) -> Received:
    assert len(requests) == 1, requests
    return requests[0]


def chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from or during (shown or suppressed)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


# --- what is sent ----------------------------------------------------------------------------


async def test_a_successful_call_returns_the_response_object_with_its_request_id(
    world: Harness,
) -> None:
    world.server.script(Ok({"TotalCount": 0, "TaskSet": []}, request_id="r-1"))
    response = await world.client().call("mps", "DescribeTasks", {"Status": "PROCESSING"})
    assert response == {"TotalCount": 0, "TaskSet": [], "RequestId": "r-1"}


async def test_a_post_carries_every_common_header_and_a_signature_that_verifies(
    world: Harness,
) -> None:
    await world.client().call("mps", "DescribeTasks", {"Status": "PROCESSING", "Limit": 10})
    sent = only(world.server.requests)
    assert sent.signature_ok
    assert (sent.method, sent.path, sent.query) == ("POST", "/", "")
    assert sent.body == b'{"Status":"PROCESSING","Limit":10}'
    assert sent.headers["host"] == f"127.0.0.1:{world.server.port}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-tc-action"] == "DescribeTasks"
    assert sent.headers["x-tc-version"] == "2019-06-12"
    assert sent.timestamp == int(world.clock.now().timestamp())
    assert sent.headers["x-tc-language"] == "en-US"
    assert sent.headers["x-tc-requestclient"] == f"taskwatch/{__version__}"
    assert uuid.UUID(sent.headers["x-tc-traceid"]).version == 4
    assert "x-tc-region" not in sent.headers
    assert "x-tc-token" not in sent.headers
    parsed = parse_authorization(sent.headers["authorization"])
    assert parsed is not None
    assert (parsed.secret_id, parsed.date, parsed.service) == (SECRET_ID, "2026-01-01", "mps")
    assert parsed.signed_headers == "content-type;host"


@pytest.mark.parametrize(
    ("product", "action", "version"),
    [
        ("mps", "DescribeTaskDetail", "2019-06-12"),
        ("dlc", "DescribeTasks", "2021-01-25"),
        ("live", "DescribeLivePullStreamTasks", "2018-08-01"),
    ],
)
async def test_the_version_and_credential_scope_come_from_the_catalog(
    world: Harness, product: str, action: str, version: str
) -> None:
    await world.client().call(product, action, {}, region="ap-guangzhou")
    sent = only(world.server.requests)
    assert sent.headers["x-tc-version"] == version
    assert sent.headers["x-tc-action"] == action
    parsed = parse_authorization(sent.headers["authorization"])
    assert parsed is not None
    assert parsed.service == product


async def test_an_explicit_version_overrides_the_catalog(world: Harness) -> None:
    await world.client().call("mps", "DescribeTasks", {}, version="2099-01-01")
    assert only(world.server.requests).headers["x-tc-version"] == "2099-01-01"


@pytest.mark.parametrize(("region", "header"), [("ap-guangzhou", "ap-guangzhou"), (None, None)])
async def test_the_region_header_is_sent_only_when_a_region_is_given(
    world: Harness, region: str | None, header: str | None
) -> None:
    await world.client().call("mps", "DescribeTasks", {}, region=region)
    assert only(world.server.requests).headers.get("x-tc-region") == header


async def test_an_empty_region_sends_no_region_header(world: Harness) -> None:
    await world.client().call("mps", "DescribeTasks", {}, region="")
    assert "x-tc-region" not in only(world.server.requests).headers


async def test_the_session_token_is_sent_only_with_temporary_credentials(world: Harness) -> None:
    temporary = StaticCredentials(Credentials(SECRET_ID, SECRET_KEY, TOKEN))
    await world.client(credentials=temporary).call("mps", "DescribeTasks", {})
    await world.client().call("mps", "DescribeTasks", {})
    with_token, without = world.server.requests
    assert with_token.headers["x-tc-token"] == TOKEN
    assert "x-tc-token" not in without.headers
    assert with_token.signature_ok
    assert without.signature_ok


async def test_a_client_suffix_is_appended_to_the_request_client(world: Harness) -> None:
    await world.client(client_suffix="ops-team_1").call("mps", "DescribeTasks", {})
    sent = only(world.server.requests)
    assert sent.headers["x-tc-requestclient"] == f"taskwatch/{__version__}; ops-team_1"


async def test_chinese_messages_can_be_asked_for(world: Harness) -> None:
    await world.client(language="zh-CN").call("mps", "DescribeTasks", {})
    assert only(world.server.requests).headers["x-tc-language"] == "zh-CN"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"language": "fr-FR"}, id="language"),
        pytest.param({"client_suffix": "has space"}, id="suffix-space"),
        pytest.param({"client_suffix": ""}, id="suffix-empty"),
        pytest.param({"client_suffix": "x" * 129}, id="suffix-too-long"),
    ],
)
async def test_a_bad_language_or_client_suffix_is_refused_up_front(
    world: Harness, overrides: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        world.client(**overrides)


async def test_a_get_sends_the_flattened_query_it_signed(world: Harness) -> None:
    params = {"Filters": [{"Name": "task-state", "Values": ["1"]}], "Limit": 10, "Asc": True}
    await world.client().call("dlc", "DescribeTasks", params, region="ap-guangzhou", method="GET")
    sent = only(world.server.requests)
    assert sent.method == "GET"
    assert sent.query == "Filters.0.Name=task-state&Filters.0.Values.0=1&Limit=10&Asc=true"
    assert sent.body == b""
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.signature_ok


async def test_a_get_query_with_reserved_characters_is_sent_exactly_as_signed(
    world: Harness,
) -> None:
    # urlencode escapes ",", ":", "/", "'" ... which an HTTP client may "normalise" back.
    params = {
        "StartTime": "2026-01-01T00:00:00Z",
        "Name": "a,b/c d'(x)*!~;$@?&=+",
        "Title": "未命名",
    }
    await world.client().call("mps", "DescribeTasks", params, method="GET")
    sent = only(world.server.requests)
    assert sent.signature_ok
    assert sent.query.startswith("StartTime=2026-01-01T00%3A00%3A00Z&Name=a%2Cb%2Fc+d%27")


async def test_a_body_with_non_ascii_text_is_sent_as_utf8_and_verifies(world: Harness) -> None:
    await world.client().call("mps", "DescribeTasks", {"Name": "未命名 ✓"})
    sent = only(world.server.requests)
    assert json.loads(sent.body.decode("utf-8")) == {"Name": "未命名 ✓"}
    assert "未命名".encode() in sent.body
    assert sent.signature_ok


async def test_the_trace_id_stays_the_same_across_retries_and_differs_between_calls(
    world: Harness,
) -> None:
    world.server.script(Fail("InternalError"), Ok(), Ok())
    client = world.client()
    await client.call("mps", "DescribeTasks", {})
    await client.call("mps", "DescribeTasks", {})
    first, retried, second = (r.headers["x-tc-traceid"] for r in world.server.requests)
    assert first == retried
    assert second != first


# --- how answers map to errors ---------------------------------------------------------------

CODES: list[tuple[str, type[ApiError]]] = [
    ("RequestLimitExceeded", ThrottledError),
    ("RequestLimitExceeded.GlobalRegionUinLimitExceeded", ThrottledError),
    ("RequestLimitExceeded.IPLimitExceeded", ThrottledError),
    ("RequestLimitExceeded.UinLimitExceeded", ThrottledError),
    ("AuthFailure.SignatureFailure", AuthError),
    ("AuthFailure.SecretIdNotFound", AuthError),
    ("AuthFailure.InvalidSecretId", AuthError),
    ("AuthFailure.InvalidAuthorization", AuthError),
    ("AuthFailure.MFAFailure", AuthError),
    ("AuthFailure.TokenFailure", AuthError),
    ("AuthFailure.UnauthorizedOperation", AuthError),
    ("UnauthorizedOperation", AuthError),
    ("AuthFailure.SignatureExpire", SignatureExpiredError),
    ("InvalidParameterValue.TaskId", TaskNotFoundError),
    ("InvalidParameter.InvalidTaskId", TaskNotFoundError),
    ("InvalidParameter.TaskNotExist", TaskNotFoundError),
    ("InvalidParameter.SQLTaskNotFound", TaskNotFoundError),
    ("ResourceNotFound", TaskNotFoundError),
    ("InvalidParameterValue.NotProcessingTask", TaskNotActiveError),
    ("InvalidParameter.TaskAlreadyFinished", TaskNotActiveError),
    ("ResourceNotFound.TaskAlreadyFailed", TaskNotActiveError),
    ("ResourceNotFound.TaskAlreadyFinished", TaskNotActiveError),
    ("InternalError", ServerError),
    ("InternalError.DBError", ServerError),
    ("ServiceUnavailable", ServerError),
    ("ResourceUnavailable", ServerError),
    ("InvalidParameterValue", ApiError),
    ("InvalidParameter", ApiError),
    ("MissingParameter", ApiError),
    ("FailedOperation", ApiError),
    ("LimitExceeded", ApiError),
    ("ResourceNotFound.Other", ApiError),
    ("RequestLimitExceededSoon", ApiError),
    ("InternalErrors", ApiError),
]


def test_the_code_table_covers_every_exact_code() -> None:
    table = dict(CODES)
    assert {code: table.get(code) for code in _EXACT} == _EXACT


@pytest.mark.parametrize(("code", "cls"), CODES, ids=[code for code, _ in CODES])
async def test_each_api_error_code_maps_to_its_class(
    world: Harness, code: str, cls: type[ApiError]
) -> None:
    world.server.otherwise = Fail(code, "it went wrong", request_id="req-42")
    with pytest.raises(ApiError) as caught:
        await world.client(retry=NO_RETRY).call("mps", "DescribeTasks", {}, region="ap-beijing")
    exc = caught.value
    assert type(exc) is cls
    assert (exc.code, exc.message, exc.request_id) == (code, "it went wrong", "req-42")
    assert (exc.product, exc.action, exc.region) == ("mps", "DescribeTasks", "ap-beijing")
    assert str(exc) == f"mps.DescribeTasks@ap-beijing: {code}: it went wrong (RequestId req-42)"


async def test_an_error_without_a_message_has_an_empty_message(world: Harness) -> None:
    world.server.script(
        Raw(b'{"Response": {"Error": {"Code": "InvalidParameter"}, "RequestId": "r"}}')
    )
    with pytest.raises(ApiError) as caught:
        await world.client(retry=NO_RETRY).call("mps", "DescribeTasks", {})
    assert (caught.value.code, caught.value.message) == ("InvalidParameter", "")


async def test_http_502_is_an_http_status_error_with_the_body_cut_to_256_characters(
    world: Harness,
) -> None:
    page = b"<html>" + b"Bad Gateway " * 100 + b"</html>"
    world.server.script(Status(502, page))
    with pytest.raises(HttpStatusError) as caught:
        await world.client(retry=NO_RETRY).call("mps", "DescribeTasks", {})
    exc = caught.value
    assert exc.status == 502
    assert exc.body == page.decode()[:256] + "…"
    assert "HTTP 502" in str(exc)
    assert "mps.DescribeTasks" in str(exc)
    assert len(str(exc)) < 300


async def test_a_non_200_status_with_a_valid_envelope_is_still_an_http_status_error(
    world: Harness,
) -> None:
    world.server.script(Raw(b'{"Response": {"RequestId": "r"}}', status=503))
    with pytest.raises(HttpStatusError) as caught:
        await world.client(retry=NO_RETRY).call("mps", "DescribeTasks", {})
    assert caught.value.status == 503


@pytest.mark.parametrize("reply", [Reset(), Disconnect()], ids=["reset", "closed"])
async def test_a_connection_broken_mid_request_is_a_network_error(
    world: Harness, reply: Reply
) -> None:
    world.server.script(reply)
    with pytest.raises(NetworkError) as caught:
        await world.client(retry=NO_RETRY).call("mps", "DescribeTasks", {})
    assert type(caught.value) is NetworkError
    assert caught.value.maybe_executed
    assert "mps.DescribeTasks" in str(caught.value)


async def test_a_truncated_body_is_a_network_error(world: Harness) -> None:
    world.server.script(Truncated())
    with pytest.raises(NetworkError) as caught:
        await world.client(retry=NO_RETRY).call("mps", "DescribeTasks", {})
    assert type(caught.value) is NetworkError


async def test_a_server_that_is_not_listening_is_a_connect_error(world: Harness) -> None:
    idle = FakeTencent(secret_key=SECRET_KEY)  # bound, never listening: connections are refused
    try:
        client = world.client(retry=NO_RETRY, endpoints=EndpointPolicy(override=idle.url))
        with pytest.raises(ConnectError) as caught:
            await client.call("mps", "DescribeTasks", {})
    finally:
        await idle.close()
    assert not caught.value.maybe_executed
    assert world.observer.outcomes == ["ConnectError"]


async def test_a_server_that_never_answers_is_a_request_timeout(world: Harness) -> None:
    world.server.script(Hang())
    async with Transport(timeouts=QUICK, trust_env=False) as quick:
        with pytest.raises(RequestTimeout) as caught:
            await world.client(retry=NO_RETRY, transport=quick).call("mps", "DescribeTasks", {})
    assert caught.value.maybe_executed
    assert "0.2s" in str(caught.value)
    assert world.observer.outcomes == ["RequestTimeout"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"<html>oops</html>", "body is not JSON", id="html"),
        pytest.param(b"", "body is not JSON", id="empty"),
        pytest.param(b"\xff\xfe\x00garbage", "body is not JSON", id="not-utf8"),
        pytest.param(b"[1, 2]", "no Response object in the body", id="array"),
        pytest.param(b'{"response": {}}', "no Response object in the body", id="lower-case-key"),
        pytest.param(b'{"Response": {"TotalCount": 0}}', "Response has no RequestId", id="no-id"),
        pytest.param(
            b'{"Response": {"RequestId": ""}}', "Response has no RequestId", id="empty-id"
        ),
        pytest.param(
            b'{"Response": {"Error": "boom", "RequestId": "r"}}',
            "Response.Error is malformed",
            id="error-string",
        ),
        pytest.param(
            b'{"Response": {"Error": {"Message": "no code"}, "RequestId": "r"}}',
            "Response.Error is malformed",
            id="error-without-code",
        ),
        pytest.param(
            b'{"Response": {"Error": {"Code": 500}, "RequestId": "r"}}',
            "Response.Error is malformed",
            id="error-code-not-string",
        ),
    ],
)
async def test_a_body_that_is_not_the_api_envelope_is_a_protocol_error(
    world: Harness, body: bytes, reason: str
) -> None:
    world.server.script(Raw(body))
    with pytest.raises(ProtocolError) as caught:
        await world.client(retry=NO_RETRY).call("mps", "DescribeTasks", {})
    assert caught.value.reason == reason
    assert str(caught.value).startswith(f"mps.DescribeTasks: {reason}: ")


async def test_a_10kb_garbage_body_is_cut_to_256_characters_in_the_error(world: Harness) -> None:
    garbage = bytes(random.Random(3).choice(b"abcdefghij{}<>") for _ in range(10_240))
    world.server.script(Raw(garbage, content_type="text/plain"))
    with pytest.raises(ProtocolError) as caught:
        await world.client(retry=NO_RETRY).call("mps", "DescribeTasks", {})
    exc = caught.value
    assert exc.body == garbage[:256].decode() + "…"
    assert len(str(exc)) < 256 + 100


# --- retries ---------------------------------------------------------------------------------


async def test_a_read_is_retried_after_an_internal_error_and_re_signed_with_a_fresh_timestamp(
    world: Harness,
) -> None:
    world.server.script(Fail("InternalError"), Ok({"TotalCount": 3}))
    client = world.client(retry=RetryPolicy(base=2.0, cap=4.0))
    response = await client.call("mps", "DescribeTasks", {"Status": "WAITING"})
    assert response["TotalCount"] == 3
    first, second = world.server.requests
    assert len(world.sleep.delays) == 1
    assert 1.0 <= world.sleep.delays[0] <= 2.0
    assert second.timestamp > first.timestamp
    assert second.headers["authorization"] != first.headers["authorization"]
    assert second.body == first.body
    assert first.signature_ok
    assert second.signature_ok


async def test_the_client_sleeps_exactly_the_backoff_the_policy_computes(world: Harness) -> None:
    world.server.script(Fail("InternalError"), Status(502), Reset(), Ok())
    policy = RetryPolicy(attempts=4, base=0.5, cap=5.0)
    await world.client(retry=policy, rng=random.Random(99)).call("mps", "DescribeTasks", {})
    rng = random.Random(99)
    expected = [
        policy.backoff(1, ServerError("InternalError", "", "r"), rng),
        policy.backoff(2, HttpStatusError(502, b""), rng),
        policy.backoff(3, NetworkError("reset"), rng),
    ]
    assert world.sleep.delays == expected
    assert len(world.server.requests) == 4


async def test_throttling_backs_off_at_least_the_throttle_floor_and_tells_the_gate(
    world: Harness,
) -> None:
    world.server.script(Fail("RequestLimitExceeded"), Fail("RequestLimitExceeded.UinLimitExceeded"))
    policy = RetryPolicy(base=0.1, cap=0.2, throttle_floor=1.0)
    await world.client(retry=policy, account="prod").call("mps", "DescribeTasks", {})
    assert len(world.server.requests) == 3
    assert len(world.sleep.delays) == 2
    assert all(1.0 <= d <= 1.5 for d in world.sleep.delays)
    assert world.gate.throttled == [("prod", "mps", "DescribeTasks")] * 2
    assert world.gate.succeeded == [("prod", "mps", "DescribeTasks")]
    assert world.gate.acquired == [("prod", "mps", "DescribeTasks")] * 3


async def test_a_read_gives_up_after_the_attempt_bound(world: Harness) -> None:
    world.server.otherwise = Fail("InternalError")
    with pytest.raises(ServerError):
        await world.client(retry=RetryPolicy(attempts=3)).call("mps", "DescribeTasks", {})
    assert len(world.server.requests) == 3
    assert len(world.sleep.delays) == 2


async def test_a_read_gives_up_rather_than_back_off_past_the_deadline(world: Harness) -> None:
    world.server.otherwise = Fail("ServiceUnavailable")
    policy = RetryPolicy(attempts=100, deadline=5.0, base=2.0, cap=2.0)
    with pytest.raises(ServerError):
        await world.client(retry=policy).call("mps", "DescribeTasks", {})
    # every backoff is in [1, 2]: at least 3 and at most 5 fit in 5 s, never one more
    assert 3 <= len(world.sleep.delays) <= 5
    assert sum(world.sleep.delays) <= 5.0
    assert world.clock.monotonic() <= 5.0
    assert len(world.server.requests) == len(world.sleep.delays) + 1


async def test_the_deadline_counts_from_the_first_attempt_not_from_clock_zero(
    world: Harness,
) -> None:
    world.clock.advance(1000.0)
    world.server.script(Fail("InternalError"), Ok())
    await world.client(retry=RetryPolicy(deadline=1.0)).call("mps", "DescribeTasks", {})
    assert len(world.server.requests) == 2


@pytest.mark.parametrize(
    "code",
    [
        "InvalidParameter",
        "InvalidParameterValue",
        "MissingParameter",
        "AuthFailure.SignatureFailure",
        "AuthFailure.SecretIdNotFound",
        "UnauthorizedOperation",
        "ResourceNotFound",
        "LimitExceeded",
    ],
)
async def test_a_code_that_retrying_cannot_fix_is_tried_once(world: Harness, code: str) -> None:
    world.server.otherwise = Fail(code)
    with pytest.raises(ApiError) as caught:
        await world.client().call("mps", "DescribeTasks", {})
    assert caught.value.code == code
    assert len(world.server.requests) == 1
    assert world.sleep.delays == []


async def test_a_dlc_read_is_retried_while_another_request_is_processing(world: Harness) -> None:
    world.server.script(Fail("FailedOperation.AnotherRequestProcessing"), Ok())
    await world.client().call("dlc", "DescribeTasks", {}, region="ap-guangzhou")
    assert len(world.server.requests) == 2


UNKNOWN_OUTCOMES = [
    pytest.param(Fail("InternalError"), ServerError, id="InternalError"),
    pytest.param(Fail("ServiceUnavailable"), ServerError, id="ServiceUnavailable"),
    pytest.param(Status(502, b"Bad Gateway"), HttpStatusError, id="HTTP502"),
    pytest.param(Reset(), NetworkError, id="reset"),
    pytest.param(Disconnect(), NetworkError, id="closed"),
    pytest.param(Raw(b"<html>"), ProtocolError, id="garbled"),
]


@pytest.mark.parametrize(("reply", "error"), UNKNOWN_OUTCOMES)
@pytest.mark.parametrize(("product", "action", "params", "region"), DESTRUCTIVE)
async def test_a_destructive_action_is_sent_once_when_its_outcome_is_unknown(
    world: Harness,
    product: str,
    action: str,
    params: dict[str, Any],
    region: str | None,
    reply: Reply,
    error: type[TencentError],
) -> None:
    world.server.script(reply)
    with pytest.raises(error):
        await world.client().call(product, action, params, region=region)
    assert only(world.server.requests).action == action
    assert world.sleep.delays == []


@pytest.mark.parametrize(("product", "action", "params", "region"), DESTRUCTIVE)
async def test_a_destructive_action_is_sent_once_when_it_times_out(
    world: Harness, product: str, action: str, params: dict[str, Any], region: str | None
) -> None:
    world.server.script(Hang())
    async with Transport(timeouts=QUICK, trust_env=False) as quick:
        with pytest.raises(RequestTimeout):
            await world.client(transport=quick).call(product, action, params, region=region)
    assert only(world.server.requests).action == action


@pytest.mark.parametrize(("product", "action", "params", "region"), DESTRUCTIVE)
async def test_a_destructive_action_is_retried_after_throttling(
    world: Harness, product: str, action: str, params: dict[str, Any], region: str | None
) -> None:
    world.server.script(Fail("RequestLimitExceeded"), Ok())
    await world.client().call(product, action, params, region=region)
    assert [r.action for r in world.server.requests] == [action, action]
    assert world.sleep.delays[0] >= RetryPolicy().throttle_floor


@pytest.mark.parametrize(("product", "action", "params", "region"), DESTRUCTIVE)
async def test_a_destructive_action_is_retried_when_the_connection_never_opened(
    world: Harness, product: str, action: str, params: dict[str, Any], region: str | None
) -> None:
    late = FakeTencent(secret_key=SECRET_KEY, clock=world.clock)
    world.sleep.then.append(late.start)  # the endpoint comes up during the backoff
    try:
        client = world.client(endpoints=EndpointPolicy(override=late.url))
        response = await client.call(product, action, params, region=region)
    finally:
        await late.close()
    late.assert_all_signed()
    assert "RequestId" in response
    assert only(late.requests).action == action
    assert world.observer.outcomes == ["ConnectError", "Success"]


@pytest.mark.parametrize("reply", [Reset(), Disconnect()], ids=["reset", "closed"])
async def test_a_destructive_get_broken_on_a_pooled_connection_is_not_resent_by_the_transport(
    world: Harness, reply: Reply
) -> None:
    world.server.script(Ok(), reply)
    client = world.client()
    await client.call("mps", "DescribeTasks", {}, method="GET")  # leaves a pooled connection
    params = {"OperationType": "Abort", "TaskId": "t-1"}
    with pytest.raises(NetworkError):
        await client.call("mps", "ManageTask", params, method="GET")
    assert [r.action for r in world.server.requests] == ["DescribeTasks", "ManageTask"]


async def test_a_read_broken_on_a_pooled_connection_counts_as_one_attempt(world: Harness) -> None:
    world.server.script(Ok(), Reset())
    client = world.client(retry=NO_RETRY)
    await client.call("mps", "DescribeTasks", {}, method="GET")
    with pytest.raises(NetworkError):
        await client.call("mps", "DescribeTasks", {}, method="GET")
    assert len(world.server.requests) == 2
    assert world.observer.outcomes == ["Success", "NetworkError"]


@pytest.mark.parametrize(
    ("product", "action", "params", "region"),
    [pytest.param("mps", "DescribeTasks", {}, None, id="read"), *DESTRUCTIVE],
)
async def test_an_expired_signature_is_re_signed_once_at_once(
    world: Harness, product: str, action: str, params: dict[str, Any], region: str | None
) -> None:
    world.server.script(Fail("AuthFailure.SignatureExpire"), Ok())
    await world.client(retry=NO_RETRY).call(product, action, params, region=region)
    assert len(world.server.requests) == 2
    assert world.sleep.delays == []


async def test_a_clock_off_by_ten_minutes_raises_signature_expired_after_one_re_sign(
    world: Harness,
) -> None:
    skewed = SkewedClock(world.clock, 600.0)
    with structlog.testing.capture_logs() as logs, pytest.raises(SignatureExpiredError) as caught:
        await world.client(clock=skewed).call("mps", "DescribeTasks", {})
    assert caught.value.code == "AuthFailure.SignatureExpire"
    assert len(world.server.requests) == 2
    assert all(r.timestamp == int(skewed.now().timestamp()) for r in world.server.requests)
    assert [e["event"] for e in logs] == ["api.signature_expired"]
    assert logs[0]["local_time"] == skewed.now().isoformat()


async def test_a_token_failure_refreshes_the_credentials_once_and_retries_with_the_new_token(
    world: Harness,
) -> None:
    credentials = RotatingCredentials(
        Credentials(SECRET_ID, SECRET_KEY, "old-token"),
        Credentials(SECRET_ID, SECRET_KEY, "new-token"),
    )
    world.server.script(Fail("AuthFailure.TokenFailure"), Ok())
    await world.client(credentials=credentials, retry=NO_RETRY).call("mps", "ManageTask", {})
    assert credentials.invalidations == 1
    assert [r.headers["x-tc-token"] for r in world.server.requests] == ["old-token", "new-token"]


async def test_a_token_failure_that_persists_raises_an_auth_error_after_one_refresh(
    world: Harness,
) -> None:
    credentials = RotatingCredentials(Credentials(SECRET_ID, SECRET_KEY, "stale"))
    world.server.otherwise = Fail("AuthFailure.TokenFailure")
    with pytest.raises(AuthError) as caught:
        await world.client(credentials=credentials).call("mps", "DescribeTasks", {})
    assert caught.value.code == "AuthFailure.TokenFailure"
    assert credentials.invalidations == 1
    assert len(world.server.requests) == 2


async def test_the_static_credentials_source_survives_a_token_failure(world: Harness) -> None:
    source: CredentialSource = StaticCredentials(Credentials(SECRET_ID, SECRET_KEY, TOKEN))
    world.server.script(Fail("AuthFailure.TokenFailure"), Ok())
    await world.client(credentials=source).call("mps", "DescribeTasks", {})
    assert len(world.server.requests) == 2


# --- what the observer and the gate hear -----------------------------------------------------


async def test_the_observer_hears_one_outcome_per_attempt(world: Harness) -> None:
    world.server.script(Fail("InternalError"), Status(502), Reset(), Raw(b"nope"), Ok())
    await world.client(retry=RetryPolicy(attempts=5)).call(
        "mps", "DescribeTasks", {}, region="ap-1"
    )
    assert world.observer.outcomes == [
        "InternalError",
        "HTTP502",
        "NetworkError",
        "ProtocolError",
        "Success",
    ]
    site = CallSite("mps", "DescribeTasks", "ap-1", account="default")
    assert all(s == site and seconds >= 0 for s, _, seconds in world.observer.attempts)
    assert world.observer.waits == []


async def test_the_observer_hears_a_timeout_as_request_timeout(world: Harness) -> None:
    world.server.script(Hang(), Ok())
    async with Transport(timeouts=QUICK, trust_env=False) as quick:
        await world.client(transport=quick).call("mps", "DescribeTasks", {})
    assert world.observer.outcomes == ["RequestTimeout", "Success"]


async def test_the_observer_hears_rate_waits_only_when_the_gate_waited(world: Harness) -> None:
    world.server.script(Fail("InternalError"), Ok())
    await world.client(gate=RecordingGate(wait=0.25)).call(
        "live", "DescribeLivePullStreamTasks", {}
    )
    site = CallSite("live", "DescribeLivePullStreamTasks", None, account="default")
    assert world.observer.waits == [(site, 0.25), (site, 0.25)]


def test_outcome_codes_are_bounded_labels() -> None:
    assert outcome_code(ThrottledError("RequestLimitExceeded", "m", "r")) == "RequestLimitExceeded"
    assert outcome_code(HttpStatusError(504, b"")) == "HTTP504"
    assert outcome_code(ConnectError("x")) == "ConnectError"
    assert outcome_code(RequestTimeout("x")) == "RequestTimeout"
    assert outcome_code(ProtocolError("x", b"")) == "ProtocolError"


# --- secrets ---------------------------------------------------------------------------------


async def test_the_secret_key_never_appears_on_the_wire_in_errors_or_in_logs(
    world: Harness,
) -> None:
    failures: list[Reply] = [
        Fail("AuthFailure.SignatureFailure"),
        Fail("InvalidParameter"),
        Status(502, b"x" * 1000),
        Reset(),
        Truncated(),
        Raw(b"<html>"),
        Raw(b'{"Response": {}}'),
        Fail("AuthFailure.TokenFailure"),
        Fail("AuthFailure.TokenFailure"),
    ]
    world.server.script(*failures)
    world.server.otherwise = Fail("RequestLimitExceeded")
    client = world.client(
        credentials=StaticCredentials(Credentials(SECRET_ID, SECRET_KEY, TOKEN)),
        retry=RetryPolicy(attempts=2),
    )
    errors: list[BaseException] = []
    with structlog.testing.capture_logs() as logs:
        for _ in range(9):
            try:
                await client.call("mps", "ManageTask", {"TaskId": "t-1"}, region="ap-1")
            except TencentError as exc:
                errors.append(exc)
        idle = FakeTencent(secret_key=SECRET_KEY)
        try:
            await world.client(endpoints=EndpointPolicy(override=idle.url), retry=NO_RETRY).call(
                "mps", "DescribeTasks", {}
            )
        except TencentError as exc:
            errors.append(exc)
        finally:
            await idle.close()
        async with Transport(timeouts=QUICK, trust_env=False) as quick:
            world.server.script(Hang())
            try:
                await world.client(transport=quick, retry=NO_RETRY).call("mps", "DescribeTasks", {})
            except TencentError as exc:
                errors.append(exc)
    assert {type(e) for e in errors} >= {
        AuthError,
        ApiError,
        HttpStatusError,
        NetworkError,
        ProtocolError,
        ThrottledError,
        ConnectError,
        RequestTimeout,
    }
    for error in errors:
        for link in chain(error):
            for text in (str(link), repr(link), repr(getattr(link, "__dict__", None))):
                assert SECRET_KEY not in text
                assert TOKEN not in text
    assert logs, "the retries should have logged"
    assert SECRET_KEY not in repr(logs)
    assert TOKEN not in repr(logs)
    assert world.server.requests
    for sent in world.server.requests:
        assert SECRET_KEY.encode() not in sent.wire()
