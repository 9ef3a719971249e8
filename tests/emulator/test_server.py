"""The emulator's common pipeline over real HTTP: envelope, signatures, skew, limits, routing,
parameters, faults, inspection. Product behaviour lives in the per-product tests."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import aiohttp
import pytest

from taskwatch.clock import SkewedClock
from taskwatch.emulator.faults import Fault
from taskwatch.emulator.scenario import EmulatorCredential
from taskwatch.emulator.world import MpsTask, Plan
from taskwatch.tencent import errors as te
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import Credentials, StaticCredentials
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.signing import sign_tc3
from tests.emulator.harness import (
    SECRET_ID,
    SECRET_KEY,
    Running,
    fast_transport,
    running_emulator,
    taskwatch_client,
)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


async def raw_call(
    running: Running,
    *,
    action: str = "DescribeTasks",
    version: str = "2019-06-12",
    body: bytes = b'{"Status": "WAITING"}',
    service: str = "mps",
    secret_key: str = SECRET_KEY,
    secret_id: str = SECRET_ID,
    timestamp: int | None = None,
    extra: dict[str, str] | None = None,
    tamper: bool = False,
    method: str = "POST",
) -> tuple[int, str, dict[str, object]]:
    ts = timestamp if timestamp is not None else int(running.clock.now().timestamp())
    signed = sign_tc3(
        secret_id=secret_id,
        secret_key=secret_key,
        service=service,
        host=running.host,
        method="POST",
        content_type="application/json",
        timestamp=ts,
        body=body,
    )
    auth = signed.authorization
    if tamper:
        auth = auth[:-1] + ("0" if auth[-1] != "0" else "1")
    headers = {
        "Content-Type": "application/json",
        "Authorization": auth,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(ts),
        "X-TC-Language": "en-US",
        **(extra or {}),
    }
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, running.url + "/", data=body, headers=headers) as resp,
    ):
        return resp.status, resp.headers["Content-Type"], await resp.json(content_type=None)


def error_code(doc: dict[str, object]) -> str:
    response = doc["Response"]
    assert isinstance(response, dict)
    return str(response["Error"]["Code"])


async def test_every_answer_is_http_200_json_without_charset_and_a_uuid4_request_id() -> None:
    async with running_emulator() as emu:
        ok = await raw_call(emu)
        bad = await raw_call(emu, tamper=True)
    for status, content_type, doc in (ok, bad):
        assert status == 200
        assert content_type == "application/json"
        response = doc["Response"]
        assert isinstance(response, dict)
        assert UUID4.match(str(response["RequestId"]))
        assert uuid.UUID(str(response["RequestId"])).version == 4
    assert "Error" not in ok[2]["Response"]  # type: ignore[operator]


async def test_a_tampered_signature_is_a_signature_failure() -> None:
    async with running_emulator() as emu:
        _, _, doc = await raw_call(emu, tamper=True)
    assert error_code(doc) == "AuthFailure.SignatureFailure"


async def test_a_stale_timestamp_is_signature_expire_with_the_real_message() -> None:
    async with running_emulator() as emu:
        ts = int(emu.clock.now().timestamp()) - 301
        _, _, doc = await raw_call(emu, timestamp=ts)
        _, _, fresh = await raw_call(emu, timestamp=ts + 2)
    assert error_code(doc) == "AuthFailure.SignatureExpire"
    assert doc["Response"]["Error"]["Message"] == (  # type: ignore[index]
        "The signature is expired, please request again."
    )
    assert "Error" not in fresh["Response"]  # type: ignore[operator]


async def test_an_unknown_secret_id_is_secret_id_not_found() -> None:
    async with running_emulator() as emu:
        _, _, doc = await raw_call(emu, secret_id="AKIDunknown000000000000000000000000")
    assert error_code(doc) == "AuthFailure.SecretIdNotFound"


async def test_a_scope_for_another_service_is_a_signature_failure() -> None:
    async with running_emulator() as emu:
        _, _, doc = await raw_call(emu, service="dlc")
    assert error_code(doc) == "AuthFailure.SignatureFailure"


async def test_a_malformed_authorization_header_is_invalid_authorization() -> None:
    async with running_emulator() as emu:
        _, _, doc = await raw_call(emu, extra={"Authorization": "Bearer nothing"})
    assert error_code(doc) == "AuthFailure.InvalidAuthorization"


async def test_temporary_keys_need_their_token() -> None:
    key = EmulatorCredential("AKIDtemporary00000000000000000000001", "tmp-secret-key-0001", "tok-1")
    async with running_emulator(credentials=[key]) as emu:
        kw = {"secret_id": key.secret_id, "secret_key": key.secret_key}
        _, _, without = await raw_call(emu, **kw)
        _, _, wrong = await raw_call(emu, extra={"X-TC-Token": "tok-2"}, **kw)
        _, _, right = await raw_call(emu, extra={"X-TC-Token": "tok-1"}, **kw)
    assert error_code(without) == "AuthFailure.TokenFailure"
    assert error_code(wrong) == "AuthFailure.TokenFailure"
    assert "Error" not in right["Response"]  # type: ignore[operator]


async def test_150_describe_tasks_in_one_second_refuse_exactly_the_50_over_100() -> None:
    async with running_emulator() as emu:
        results = await asyncio.gather(*(raw_call(emu) for _ in range(150)))
    codes = [doc["Response"].get("Error", {}).get("Code") for _, _, doc in results]  # type: ignore[union-attr]
    assert codes.count("RequestLimitExceeded") == 50
    assert codes.count(None) == 100
    messages = {
        doc["Response"]["Error"]["Message"]  # type: ignore[index]
        for _, _, doc in results
        if "Error" in doc["Response"]  # type: ignore[operator]
    }
    assert all(
        re.fullmatch(
            r"Your current request times equals to `\d+` in a second, which exceeds the "
            r"frequency limit `100` for a second\. Please reduce the frequency of calls\.",
            m,
        )
        for m in messages
    )


async def test_the_window_slides_the_limit_is_per_action_and_refusals_free_no_capacity() -> None:
    async with running_emulator(limits={("mps", "DescribeTasks"): 3}) as emu:
        first = [await raw_call(emu) for _ in range(5)]
        detail = await raw_call(emu, action="DescribeTaskDetail", body=b'{"TaskId": "x"}')
        emu.clock.advance(0.5)
        still = await raw_call(emu)
        emu.clock.advance(0.6)
        again = [await raw_call(emu) for _ in range(3)]
    assert [("Error" in d["Response"]) for _, _, d in first] == [False] * 3 + [True] * 2  # type: ignore[operator]
    assert error_code(detail[2]) != "RequestLimitExceeded"
    assert error_code(still[2]) == "RequestLimitExceeded"
    assert all("Error" not in d["Response"] for _, _, d in again)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"action": "NoSuchThing"}, "InvalidAction"),
        ({"version": "2099-01-01"}, "NoSuchVersion"),
        ({"body": b'{"Status": "WAITING", "Bogus": 1}'}, "UnknownParameter"),
        ({"body": b"{}"}, "MissingParameter"),
        ({"body": b'{"Status": "WAITING", "Limit": "many"}'}, "InvalidParameter"),
        ({"body": b"not json"}, "InvalidParameter"),
        ({"method": "PUT"}, "UnsupportedProtocol"),
    ],
)
async def test_routing_and_parameter_errors_use_the_real_codes(
    kwargs: dict[str, object], code: str
) -> None:
    async with running_emulator() as emu:
        _, _, doc = await raw_call(emu, **kwargs)  # type: ignore[arg-type]
    assert error_code(doc) == code


async def test_a_missing_required_parameter_names_it_in_the_real_template() -> None:
    async with running_emulator() as emu:
        _, _, doc = await raw_call(emu, body=b"{}")
    assert doc["Response"]["Error"]["Message"] == (  # type: ignore[index]
        "The request is missing a required parameter `Status`."
    )


async def test_dlc_and_live_need_a_region_and_live_only_its_own_regions() -> None:
    async with running_emulator() as emu, fast_transport() as transport:
        client = taskwatch_client(emu, transport)
        with pytest.raises(te.ApiError) as no_region:
            await client.call("dlc", "DescribeTasks", {})
        with pytest.raises(te.ApiError) as bad_region:
            await client.call("live", "DescribeLivePullStreamTasks", {}, region="ap-chengdu")
        ok = await client.call("live", "DescribeLivePullStreamTasks", {}, region="ap-guangzhou")
    assert no_region.value.code == "MissingParameter"
    assert "`Region`" in no_region.value.message
    assert bad_region.value.code == "UnsupportedRegion"
    assert "TaskInfos" in ok


async def test_get_requests_with_flattened_queries_are_verified_and_parsed() -> None:
    async with running_emulator() as emu, fast_transport() as transport:
        client = taskwatch_client(emu, transport)
        resp = await client.call(
            "dlc",
            "DescribeTasks",
            {"Limit": 5, "Filters": [{"Name": "task-state", "Values": ["1", "2"]}]},
            region="ap-guangzhou",
            method="GET",
        )
    assert resp["TotalCount"] == 0
    assert emu.log()[-1]["params"]["Filters"] == [{"Name": "task-state", "Values": ["1", "2"]}]


async def test_messages_follow_x_tc_language() -> None:
    async with running_emulator() as emu:
        _, _, zh = await raw_call(emu, tamper=True, extra={"X-TC-Language": "zh-CN"})
    assert zh["Response"]["Error"]["Message"] == "请求签名验证失败，请检查您的签名计算是否正确。"  # type: ignore[index]


async def test_taskwatch_with_a_skewed_clock_gets_signature_expired_error() -> None:
    async with running_emulator() as emu, fast_transport() as transport:
        client = taskwatch_client(emu, transport, clock=SkewedClock(emu.clock, 600))
        with pytest.raises(te.SignatureExpiredError):
            await client.call("mps", "DescribeTasks", {"Status": "WAITING"})


FAULTS = [
    (Fault(kind="error", code="InternalError"), te.ServerError),
    (Fault(kind="error", code="RequestLimitExceeded.UinLimitExceeded"), te.ThrottledError),
    (Fault(kind="error", code="RequestLimitExceeded.IPLimitExceeded"), te.ThrottledError),
    (Fault(kind="error", code="RequestLimitExceeded.GlobalRegionUinLimitExceeded"),
     te.ThrottledError),
    (Fault(kind="http", status=502), te.HttpStatusError),
    (Fault(kind="http", status=503), te.HttpStatusError),
    (Fault(kind="reset"), te.NetworkError),
    (Fault(kind="truncate"), te.NetworkError),
    (Fault(kind="garbage"), te.ProtocolError),
    (Fault(kind="missing_field"), te.ProtocolError),
]  # fmt: skip


@pytest.mark.parametrize(("fault", "expected"), FAULTS, ids=lambda x: getattr(x, "kind", ""))
async def test_every_fault_kind_surfaces_as_the_right_taskwatch_error(
    fault: Fault, expected: type[Exception]
) -> None:
    fault.product, fault.action = "mps", "DescribeTasks"
    async with running_emulator(faults=[fault]) as emu, fast_transport() as transport:
        client = taskwatch_client(emu, transport)
        with pytest.raises(expected):
            await client.call("mps", "DescribeTasks", {"Status": "WAITING"})
    assert fault.fired == 1
    assert emu.log()[-1]["code"].startswith("fault:")


async def test_latency_faults_delay_the_answer_and_probabilities_follow_the_seed() -> None:
    faults = [
        Fault(kind="latency", seconds=0.05, product="mps"),
        Fault(kind="error", code="InternalError", probability=0.3),
    ]
    async with running_emulator(faults=faults, seed=7) as emu, fast_transport() as transport:
        client = taskwatch_client(emu, transport)
        outcomes = []
        for _ in range(60):
            emu.clock.advance(0.05)
            try:
                await client.call("mps", "DescribeTasks", {"Status": "WAITING"})
                outcomes.append("ok")
            except te.ServerError:
                outcomes.append("fault")
    assert faults[0].fired == 60
    assert 8 <= outcomes.count("fault") <= 30


async def test_faults_fire_on_every_nth_request_within_their_count() -> None:
    fault = Fault(kind="error", code="InternalError", every=3, count=2)
    async with running_emulator(faults=[fault]) as emu, fast_transport() as transport:
        client = taskwatch_client(emu, transport)
        seen = []
        for _ in range(12):
            try:
                await client.call("mps", "DescribeTasks", {"Status": "WAITING"})
                seen.append(0)
            except te.ServerError:
                seen.append(1)
    assert seen == [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]


async def test_the_log_records_caller_identity_code_and_request_id() -> None:
    async with running_emulator() as emu, fast_transport() as transport:
        client = taskwatch_client(emu, transport, client_suffix="replica-a")
        resp = await client.call("mps", "DescribeTasks", {"Status": "WAITING"})
        async with aiohttp.ClientSession() as s, s.get(emu.url + "/_emulator/log") as r:
            log = await r.json()
        async with aiohttp.ClientSession() as s, s.get(emu.url + "/_emulator/log?since=1") as r:
            tail = await r.json()
    (entry,) = log
    assert entry["client"].endswith("; replica-a")
    assert entry["code"] == "Success"
    assert entry["request_id"] == resp["RequestId"]
    assert entry["params"] == {"Status": "WAITING"}
    assert entry["secret_id"] == SECRET_ID
    assert tail == []


async def test_the_tasks_view_and_the_virtual_clock_advance_endpoint() -> None:
    async with running_emulator() as emu:
        now = emu.world.now()
        emu.world.add_mps(
            MpsTask(
                task_id="t-1",
                task_type="WorkflowTask",
                status="WAITING",
                created=now,
                plan=Plan(wait=10, run=10),
            )
        )
        async with aiohttp.ClientSession() as s:
            async with s.post(emu.url + "/_emulator/advance", json={"seconds": 15}) as r:
                assert r.status == 200
            async with s.get(emu.url + "/_emulator/tasks") as r:
                tasks = await r.json()
    assert tasks["mps"][0]["Status"] == "PROCESSING"


async def test_the_secret_key_never_appears_in_any_answer_or_the_log() -> None:
    async with running_emulator() as emu:
        docs = [await raw_call(emu, tamper=True), await raw_call(emu)]
        log = json.dumps(emu.log())
    assert SECRET_KEY not in log
    assert all(SECRET_KEY not in json.dumps(d) for d in docs)


async def test_an_independent_credentials_object_is_accepted() -> None:
    async with running_emulator() as emu, fast_transport() as transport:
        client = TencentClient(
            credentials=StaticCredentials(Credentials(SECRET_ID, SECRET_KEY)),
            transport=transport,
            endpoints=EndpointPolicy(override=emu.url),
            clock=emu.clock,
        )
        resp = await client.call("mps", "DescribeTasks", {"Status": "FINISH"})
    assert resp["TaskSet"] == []
