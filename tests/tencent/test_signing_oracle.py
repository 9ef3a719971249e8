"""taskwatch's signer and verifier against the official Python SDK, over generated requests.

The SDK runs its real code path offline (``tests/tencent/sdk_oracle.py``: frozen SDK clock, a
recording ``requests`` adapter). taskwatch then signs exactly what the SDK put on the wire
(method, ``Host``, ``Content-Type``, body bytes, raw query, timestamp) and must produce the
identical ``Authorization`` header; taskwatch's verifier must accept the SDK's request as received.

Generated hosts are lower-case: for an upper-case endpoint the SDK signs the ``Host`` verbatim while
taskwatch lower-cases it as the specification says (reference §2.2), so the two differ there.
"""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import parse_qsl

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tencentcloud.common.credential import Credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.dlc.v20210125 import dlc_client
from tencentcloud.dlc.v20210125 import models as dlc_models
from tencentcloud.live.v20180801 import live_client
from tencentcloud.live.v20180801 import models as live_models
from tencentcloud.mps.v20190612 import models as mps_models
from tencentcloud.mps.v20190612 import mps_client

from taskwatch.tencent.signing import (
    parse_authorization,
    scope_date,
    sign_tc3,
    sign_v1,
    v1_string_to_sign,
    verify_tc3,
)
from tests.tencent.sdk_oracle import capture_sdk_call, common_client, sdk_wire

ORACLE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
DAY = 86_400

services = st.sampled_from(["mps", "dlc", "live"])
regions = st.sampled_from(
    ["", "ap-guangzhou", "ap-shanghai", "ap-shanghai-fsi", "ap-singapore", "na-siliconvalley"]
)
actions = st.one_of(
    st.sampled_from(
        [
            "DescribeTasks",
            "DescribeTaskDetail",
            "ManageTask",
            "CancelTask",
            "DescribeLivePullStreamTasks",
            "DeleteLivePullStreamTask",
        ]
    ),
    st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,30}", fullmatch=True),
)
secret_ids = st.from_regex(r"AKID[A-Za-z0-9]{1,40}", fullmatch=True)
# The SDK's Credential rejects empty keys and keys with surrounding whitespace; anything else goes.
secret_keys = st.text(min_size=1, max_size=64).filter(lambda k: k.strip() == k and k != "")
tokens = st.none() | st.from_regex(r"[A-Za-z0-9_+/=.-]{1,200}", fullmatch=True)
# Plain seconds (2000..2100), and seconds right around a UTC midnight, where the scope date flips.
seconds = st.one_of(
    st.integers(946_684_800, 4_102_444_800),
    st.builds(lambda day, off: day * DAY + off, st.integers(10_957, 47_481), st.integers(-3, 3)),
)
# The SDK reads int(time.time()): a fractional clock must truncate to the signed second.
fractions = st.sampled_from([0.0, 0.25, 0.999999])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),  # any unicode: the SDK sends it \\u-escaped (json.dumps ensure_ascii)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
params_strategy = st.dictionaries(st.text(min_size=1, max_size=15), json_values, max_size=6)
# Legacy v1: keys without "_", which the SDK turns into "." in the string to sign only (not on the
# wire); real API parameter names never contain one.
v1_keys = st.text(string.ascii_letters + string.digits + ".", min_size=1, max_size=12)
v1_params = st.dictionaries(
    v1_keys,
    st.recursive(
        json_scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(v1_keys, inner, max_size=3),
        max_leaves=8,
    ),
    max_size=6,
)


@st.composite
def access_points(draw: st.DrawFn, service: str) -> dict[str, Any]:
    """How a user points the SDK at a host: ``common_client`` keywords, and the signed host."""
    port = draw(st.integers(1, 65_535))
    region = draw(st.sampled_from(["ap-guangzhou", "ap-shanghai-fsi", "eu-frankfurt"]))
    shapes = [
        ({}, f"{service}.tencentcloudapi.com"),
        ({"root_domain": "intl.tencentcloudapi.com"}, f"{service}.intl.tencentcloudapi.com"),
        ({"endpoint": f"{service}.{region}.tencentcloudapi.com"}, None),
        ({"endpoint": f"{service}.intl.tencentcloudapi.com"}, None),
        ({"endpoint": f"127.0.0.1:{port}", "scheme": "http"}, None),
        ({"endpoint": f"localhost:{port}", "scheme": "http"}, None),
    ]
    kwargs, host = draw(st.sampled_from(shapes))
    return {"kwargs": kwargs, "host": host or kwargs["endpoint"]}


@st.composite
def sdk_calls(draw: st.DrawFn) -> dict[str, Any]:
    service = draw(services)
    return {
        "service": service,
        "access": draw(access_points(service)),
        "region": draw(regions),
        "action": draw(actions),
        "secret_id": draw(secret_ids),
        "secret_key": draw(secret_keys),
        "token": draw(tokens),
        "language": draw(st.sampled_from(["zh-CN", "en-US"])),
        "params": draw(params_strategy),
        "timestamp": draw(seconds),
        "fraction": draw(fractions),
    }


@ORACLE
@given(call=sdk_calls(), method=st.sampled_from(["POST", "GET"]), unsigned=st.booleans())
def test_taskwatch_signs_every_sdk_tc3_request_exactly_as_the_sdk_does(
    call: dict[str, Any], method: str, unsigned: bool
) -> None:
    client = common_client(
        service=call["service"],
        secret_id=call["secret_id"],
        secret_key=call["secret_key"],
        token=call["token"],
        region=call["region"],
        method=method,
        unsigned_payload=unsigned,
        language=call["language"],
        **call["access"]["kwargs"],
    )
    sent = capture_sdk_call(
        client, call["action"], call["params"], now=call["timestamp"] + call["fraction"]
    )

    assert sent.method == method
    assert sent.host == call["access"]["host"]
    assert sent.timestamp == call["timestamp"]
    if method == "POST":
        assert sent.body == json.dumps(call["params"]).encode("ascii")
        assert sent.query == ""
    else:
        assert sent.body == b""
    ours = sign_tc3(
        secret_id=call["secret_id"],
        secret_key=call["secret_key"],
        service=call["service"],
        host=sent.host,
        method=sent.method,
        content_type=sent.content_type,
        timestamp=sent.timestamp,
        body=sent.body,
        query=sent.query,
        unsigned_payload=unsigned,
    )
    assert ours.authorization == sent.authorization
    assert ours.scope.startswith(scope_date(call["timestamp"]))

    parsed = parse_authorization(sent.authorization)
    assert parsed is not None
    assert verify_tc3(
        parsed,
        secret_key=call["secret_key"],
        method=sent.method,
        query=sent.query,
        headers=dict(sent.headers),
        body=sent.body,
        timestamp=sent.timestamp,
    )


@ORACLE
@given(
    call=sdk_calls(),
    method=st.sampled_from(["POST", "GET"]),
    params=v1_params,
)
def test_taskwatch_reproduces_every_sdk_legacy_v1_hmac_sha256_signature(
    call: dict[str, Any], method: str, params: dict[str, Any]
) -> None:
    client = common_client(
        service=call["service"],
        secret_id=call["secret_id"],
        secret_key=call["secret_key"],
        token=call["token"],
        region=call["region"],
        method=method,
        sign_method="HmacSHA256",
        language=call["language"],
        **call["access"]["kwargs"],
    )
    sent = capture_sdk_call(client, call["action"], params, now=call["timestamp"])

    form = sent.body.decode("ascii") if method == "POST" else sent.query
    received = dict(parse_qsl(form, keep_blank_values=True))
    sdk_signature = received.pop("Signature")
    assert received["Timestamp"] == str(call["timestamp"])
    to_sign = v1_string_to_sign(method, sent.host, received)
    assert sign_v1(call["secret_key"], to_sign, "HmacSHA256") == sdk_signature


@ORACLE
@given(
    secret_id=secret_ids,
    secret_key=secret_keys,
    service=st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    host=st.text(min_size=1, max_size=60),
    method=st.sampled_from(["POST", "GET"]),
    content_type=st.text(min_size=1, max_size=60),
    timestamp=seconds,
    body=st.binary(min_size=1, max_size=512),
    query=st.text(max_size=120),
    data=st.data(),
)
def test_verify_accepts_what_sign_produces_and_rejects_any_flipped_body_byte(
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    method: str,
    content_type: str,
    timestamp: int,
    body: bytes,
    query: str,
    data: st.DataObject,
) -> None:
    signed = sign_tc3(
        secret_id=secret_id,
        secret_key=secret_key,
        service=service,
        host=host,
        method=method,
        content_type=content_type,
        timestamp=timestamp,
        body=body,
        query=query,
    )
    parsed = parse_authorization(signed.authorization)
    assert parsed is not None
    headers = {"host": host, "content-type": content_type, "x-tc-timestamp": str(timestamp)}

    def verify(received_body: bytes) -> bool:
        return verify_tc3(
            parsed,
            secret_key=secret_key,
            method=method,
            query=query,
            headers=headers,
            body=received_body,
            timestamp=timestamp,
        )

    assert verify(body)
    index = data.draw(st.integers(0, len(body) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    flipped = body[:index] + bytes([body[index] ^ mask]) + body[index + 1 :]
    assert not verify(flipped)


@ORACLE
@given(
    secret_key=secret_keys,
    timestamp=seconds,
    body=st.binary(max_size=256),
    other_body=st.binary(max_size=256),
)
def test_an_unsigned_payload_signature_verifies_for_any_body_but_only_with_the_header(
    secret_key: str, timestamp: int, body: bytes, other_body: bytes
) -> None:
    signed = sign_tc3(
        secret_id=SECRET_ID,
        secret_key=secret_key,
        service="mps",
        host="mps.tencentcloudapi.com",
        method="POST",
        content_type="application/json",
        timestamp=timestamp,
        body=body,
        unsigned_payload=True,
    )
    parsed = parse_authorization(signed.authorization)
    assert parsed is not None
    headers = {"host": "mps.tencentcloudapi.com", "content-type": "application/json"}
    switched = headers | {"x-tc-content-sha256": "UNSIGNED-PAYLOAD"}

    def verify(received_headers: dict[str, str], received_body: bytes) -> bool:
        return verify_tc3(
            parsed,
            secret_key=secret_key,
            method="POST",
            query="",
            headers=received_headers,
            body=received_body,
            timestamp=timestamp,
        )

    assert verify(switched, other_body)
    assert not verify(headers, body)


# --- product clients (not CommonClient) reproduce the reference KATs -----------------------------


def _credential() -> Credential:
    return Credential(SECRET_ID, SECRET_KEY)


def test_the_sdk_mps_client_sends_kat_2_and_taskwatch_verifies_it() -> None:
    client = mps_client.MpsClient(_credential(), "ap-guangzhou", ClientProfile())
    request = mps_models.DescribeTasksRequest()
    request.Status = "PROCESSING"
    request.Limit = 10
    with sdk_wire(client, now=1_700_000_000) as sent:
        client.DescribeTasks(request)
    (wire,) = sent
    assert wire.body == b'{"Status": "PROCESSING", "Limit": 10}'
    assert wire.headers["x-tc-region"] == "ap-guangzhou"
    assert wire.authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2023-11-14/mps/"
        "tc3_request, SignedHeaders=content-type;host, "
        "Signature=5395f10e39591a77cd6ae561ab547091398ff3a0b1bd3c259358847227169d03"
    )
    parsed = parse_authorization(wire.authorization)
    assert parsed is not None
    assert verify_tc3(
        parsed,
        secret_key=SECRET_KEY,
        method="POST",
        query=wire.query,
        headers=dict(wire.headers),
        body=wire.body,
        timestamp=wire.timestamp,
    )


def test_the_sdk_mps_client_sends_kat_4_without_a_region_header() -> None:
    client = mps_client.MpsClient(_credential(), "", ClientProfile())
    request = mps_models.ManageTaskRequest()
    request.OperationType = "Abort"
    request.TaskId = "2459149217-procedure-live-xxx51da009t0"
    with sdk_wire(client, now=1_700_000_000) as sent:
        client.ManageTask(request)
    (wire,) = sent
    assert "x-tc-region" not in wire.headers
    assert wire.authorization.endswith(
        "Signature=918bec896368e71b68433726dd02aa706d08a8c10c4a40c749dda6d06420ca2d"
    )


def test_the_sdk_dlc_client_sends_kat_5_and_kat_6() -> None:
    client = dlc_client.DlcClient(_credential(), "ap-guangzhou", ClientProfile())
    cancel = dlc_models.CancelTaskRequest()
    cancel.TaskId = "4ad30ca9-8b0e-499f-b4e1-d6e43ba0e564"
    describe = dlc_models.DescribeTasksRequest()
    describe.Limit = 100
    describe.Offset = 0
    state = dlc_models.Filter()
    state.Name = "task-state"
    state.Values = ["1"]
    describe.Filters = [state]
    describe.SortBy = "create-time"
    describe.Sorting = "desc"
    with sdk_wire(client, now=1_700_000_000) as sent:
        client.CancelTask(cancel)
        client.DescribeTasks(describe)
    assert [wire.authorization[-64:] for wire in sent] == [
        "7224cdbb597b1de133b9473640748b13716dd2059420537466f52b5ba7cea3b1",
        "cb61e19649100b84178b50682a3b26ac61b6973d0a0a864ed3c2f909f38a6bf1",
    ]
    assert all("/2023-11-14/dlc/tc3_request," in wire.authorization for wire in sent)


def test_the_sdk_live_client_sends_kat_7() -> None:
    client = live_client.LiveClient(_credential(), "ap-guangzhou", ClientProfile())
    request = live_models.DeleteLivePullStreamTaskRequest()
    request.TaskId = "10054"
    request.Operator = "taskwatch"
    with sdk_wire(client, now=1_700_000_000) as sent:
        client.DeleteLivePullStreamTask(request)
    (wire,) = sent
    assert wire.body == b'{"TaskId": "10054", "Operator": "taskwatch"}'
    assert wire.authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2023-11-14/live/"
        "tc3_request, SignedHeaders=content-type;host, "
        "Signature=786ed12b12b35406781019d4f379a9e2f13c56ea98f993b32b014dec159a7ea7"
    )


def test_the_sdk_signs_with_a_session_token_without_signing_the_token() -> None:
    with_token = common_client(
        service="mps", secret_id=SECRET_ID, secret_key=SECRET_KEY, token="EXAMPLETOKEN"
    )
    sent = capture_sdk_call(
        with_token, "DescribeTasks", {"Status": "PROCESSING", "Limit": 10}, now=1_700_000_000
    )
    assert sent.headers["x-tc-token"] == "EXAMPLETOKEN"
    assert sent.authorization.endswith(
        "Signature=5395f10e39591a77cd6ae561ab547091398ff3a0b1bd3c259358847227169d03"
    )
