"""Known-answer tests for taskwatch.tencent.signing: reference §2.6 (KAT-1..8) and §2.8 (KAT-9).

Every expected value below is copied from the reference (produced there by the official SDK and
an independent implementation); nothing is recomputed with the code under test. Intermediate
values are checked wherever the reference gives them, so a failure names the step that went wrong.
The verifier tests replay each KAT request "as received" and then change one thing at a time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, replace

import pytest

from taskwatch.tencent.signing import (
    ParsedAuthorization,
    canonical_request,
    parse_authorization,
    sign_tc3,
    sign_v1,
    signature,
    signing_key,
    string_to_sign,
    v1_string_to_sign,
    verify_tc3,
)

SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Kat:
    """One TC3 vector; the optional fields are the intermediates the reference gives."""

    name: str
    service: str
    host: str
    method: str
    content_type: str
    timestamp: int
    date: str
    body: bytes
    signature: str
    query: str = ""
    region: str | None = "ap-guangzhou"
    payload_sha256: str | None = None
    canonical_request: str | None = None
    canonical_request_sha256: str | None = None
    string_to_sign: str | None = None

    @property
    def authorization(self) -> str:
        """The header in the exact format of reference §2.5 (spelt out here, not via taskwatch)."""
        return (
            f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{self.date}/{self.service}/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={self.signature}"
        )

    def received_headers(self) -> dict[str, str]:
        """The headers a server receives for this request, names lower-cased."""
        headers = {
            "host": self.host,
            "content-type": self.content_type,
            "x-tc-action": "Whatever",
            "x-tc-timestamp": str(self.timestamp),
            "x-tc-version": "2019-06-12",
            "x-tc-language": "zh-CN",
            "x-tc-requestclient": "SDK_PYTHON_3.1.195",
            "authorization": self.authorization,
        }
        if self.region:
            headers["x-tc-region"] = self.region
        return headers


KAT_1 = Kat(
    name="KAT-1 official doc example (CVM)",
    service="cvm",
    host="cvm.tencentcloudapi.com",
    method="POST",
    content_type="application/json; charset=utf-8",
    timestamp=1551113065,
    date="2019-02-25",
    body=rb'{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}',
    payload_sha256="35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064",
    canonical_request_sha256="5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031",
    signature="72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
)
KAT_2 = Kat(
    name="KAT-2 MPS DescribeTasks POST",
    service="mps",
    host="mps.tencentcloudapi.com",
    method="POST",
    content_type=JSON,
    timestamp=1700000000,
    date="2023-11-14",
    body=b'{"Status": "PROCESSING", "Limit": 10}',
    payload_sha256="7d48d0b045ff2376e87f25b654ac6bf0b73564c8b473783947e226e3feb011e5",
    canonical_request=(
        "POST\n/\n\ncontent-type:application/json\nhost:mps.tencentcloudapi.com\n\n"
        "content-type;host\n7d48d0b045ff2376e87f25b654ac6bf0b73564c8b473783947e226e3feb011e5"
    ),
    canonical_request_sha256="7d13d7c72c6d7652d43c8c7b72bbe18b70b9a6def25062e796b12f609376a507",
    string_to_sign=(
        "TC3-HMAC-SHA256\n1700000000\n2023-11-14/mps/tc3_request\n"
        "7d13d7c72c6d7652d43c8c7b72bbe18b70b9a6def25062e796b12f609376a507"
    ),
    signature="5395f10e39591a77cd6ae561ab547091398ff3a0b1bd3c259358847227169d03",
)
KAT_3 = Kat(
    name="KAT-3 MPS DescribeTasks GET",
    service="mps",
    host="mps.tencentcloudapi.com",
    method="GET",
    content_type=FORM,
    timestamp=1700000000,
    date="2023-11-14",
    body=b"",
    query="Status=PROCESSING&Limit=10",
    payload_sha256=EMPTY_SHA256,
    canonical_request=(
        "GET\n/\nStatus=PROCESSING&Limit=10\ncontent-type:application/x-www-form-urlencoded\n"
        "host:mps.tencentcloudapi.com\n\ncontent-type;host\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    ),
    canonical_request_sha256="e7c607d9b7cd3bed2274daaedb47207d99ad0e5d756da87a4b395b1d0dd4a4f2",
    signature="ea7463a3f61d5899acb1214fde8e6e6b54fbba5c7004d26e626e1fafa8fdf9b4",
)
KAT_4 = Kat(
    name="KAT-4 MPS ManageTask, no region",
    service="mps",
    host="mps.tencentcloudapi.com",
    method="POST",
    content_type=JSON,
    timestamp=1700000000,
    date="2023-11-14",
    region=None,
    body=b'{"OperationType": "Abort", "TaskId": "2459149217-procedure-live-xxx51da009t0"}',
    signature="918bec896368e71b68433726dd02aa706d08a8c10c4a40c749dda6d06420ca2d",
)
KAT_5 = Kat(
    name="KAT-5 DLC CancelTask",
    service="dlc",
    host="dlc.tencentcloudapi.com",
    method="POST",
    content_type=JSON,
    timestamp=1700000000,
    date="2023-11-14",
    body=b'{"TaskId": "4ad30ca9-8b0e-499f-b4e1-d6e43ba0e564"}',
    signature="7224cdbb597b1de133b9473640748b13716dd2059420537466f52b5ba7cea3b1",
)
KAT_6 = Kat(
    name="KAT-6 DLC DescribeTasks",
    service="dlc",
    host="dlc.tencentcloudapi.com",
    method="POST",
    content_type=JSON,
    timestamp=1700000000,
    date="2023-11-14",
    body=(
        b'{"Limit": 100, "Offset": 0, "Filters": [{"Name": "task-state", "Values": ["1"]}], '
        b'"SortBy": "create-time", "Sorting": "desc"}'
    ),
    signature="cb61e19649100b84178b50682a3b26ac61b6973d0a0a864ed3c2f909f38a6bf1",
)
KAT_7 = Kat(
    name="KAT-7 Live DeleteLivePullStreamTask",
    service="live",
    host="live.tencentcloudapi.com",
    method="POST",
    content_type=JSON,
    timestamp=1700000000,
    date="2023-11-14",
    body=b'{"TaskId": "10054", "Operator": "taskwatch"}',
    signature="786ed12b12b35406781019d4f379a9e2f13c56ea98f993b32b014dec159a7ea7",
)
KAT_8 = Kat(
    name="KAT-8 MPS DescribeTaskDetail on the intl host",
    service="mps",
    host="mps.intl.tencentcloudapi.com",
    method="POST",
    content_type=JSON,
    timestamp=1700000000,
    date="2023-11-14",
    body=b'{"TaskId": "2600011633-WorkflowTask-80108cc3380155d98b2e3573a48at7"}',
    signature="74a810ed9ed1344da5bf8b70fb76dbc1bf6e89157441df96820e8c652ce341f6",
)
TC3_KATS = [KAT_1, KAT_2, KAT_3, KAT_4, KAT_5, KAT_6, KAT_7, KAT_8]


def _kats(kats: list[Kat]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("kat", kats, ids=[k.name.split()[0] for k in kats])


by_name = _kats(TC3_KATS)
with_payload_hash = _kats([k for k in TC3_KATS if k.payload_sha256])
with_canonical_request = _kats(
    [k for k in TC3_KATS if k.canonical_request or k.canonical_request_sha256]
)


def _flip(text: str) -> str:
    """The same text with its last character replaced by a different, non-case-variant one."""
    return text[:-1] + ("x" if text[-1] != "x" else "y")


# --- signing: every step of every TC3 vector ---------------------------------------------------


@with_payload_hash
def test_the_payload_hash_is_the_sha256_of_the_exact_body_bytes(kat: Kat) -> None:
    signed = sign_tc3(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service=kat.service,
        host=kat.host,
        method=kat.method,
        content_type=kat.content_type,
        timestamp=kat.timestamp,
        body=kat.body,
        query=kat.query,
    )
    assert hashlib.sha256(kat.body).hexdigest() == kat.payload_sha256
    assert signed.canonical_request.endswith(f"\ncontent-type;host\n{kat.payload_sha256}")


@with_canonical_request
def test_the_canonical_request_matches_the_reference(kat: Kat) -> None:
    signed = sign_tc3(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service=kat.service,
        host=kat.host,
        method=kat.method,
        content_type=kat.content_type,
        timestamp=kat.timestamp,
        body=kat.body,
        query=kat.query,
    )
    if kat.canonical_request is not None:
        assert signed.canonical_request == kat.canonical_request
    if kat.canonical_request_sha256 is not None:
        digest = hashlib.sha256(signed.canonical_request.encode()).hexdigest()
        assert digest == kat.canonical_request_sha256


@by_name
def test_the_string_to_sign_names_the_timestamp_the_utc_date_and_the_service(kat: Kat) -> None:
    signed = sign_tc3(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service=kat.service,
        host=kat.host,
        method=kat.method,
        content_type=kat.content_type,
        timestamp=kat.timestamp,
        body=kat.body,
        query=kat.query,
    )
    head = f"TC3-HMAC-SHA256\n{kat.timestamp}\n{kat.date}/{kat.service}/tc3_request\n"
    assert signed.string_to_sign.startswith(head)
    assert signed.scope == f"{kat.date}/{kat.service}/tc3_request"
    if kat.string_to_sign is not None:
        assert signed.string_to_sign == kat.string_to_sign


@by_name
def test_the_signature_and_the_authorization_header_match_the_reference(kat: Kat) -> None:
    signed = sign_tc3(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service=kat.service,
        host=kat.host,
        method=kat.method,
        content_type=kat.content_type,
        timestamp=kat.timestamp,
        body=kat.body,
        query=kat.query,
    )
    assert signed.signature == kat.signature
    assert signed.authorization == kat.authorization


def test_kat_2_authorization_header_is_byte_identical_to_what_the_sdk_sent() -> None:
    signed = sign_tc3(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service="mps",
        host="mps.tencentcloudapi.com",
        method="POST",
        content_type="application/json",
        timestamp=1700000000,
        body=b'{"Status": "PROCESSING", "Limit": 10}',
    )
    assert signed.authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2023-11-14/mps/"
        "tc3_request, SignedHeaders=content-type;host, "
        "Signature=5395f10e39591a77cd6ae561ab547091398ff3a0b1bd3c259358847227169d03"
    )


def test_kat_2_key_derivation_steps_match_the_reference() -> None:
    secret_date = hmac.new(b"TC3" + SECRET_KEY.encode(), b"2023-11-14", hashlib.sha256).digest()
    secret_service = hmac.new(secret_date, b"mps", hashlib.sha256).digest()
    secret_signing = hmac.new(secret_service, b"tc3_request", hashlib.sha256).digest()
    assert secret_date.hex() == "887d0077ac19ed5cba18590a4fe79f7e1d851a9b05bd4e02a3af730156456978"
    assert secret_service.hex() == (
        "e478d6b17de1d081435413fcb2156ea4385781842e67cf448b74c010cea9ba9a"
    )
    assert secret_signing.hex() == (
        "1eb04ec4af9d7e2b0d4b77596855aae95dd3c63a8afd0c9a0bccf8cfcbdd9a7f"
    )
    assert signing_key(SECRET_KEY, "2023-11-14", "mps") == secret_signing


def test_kat_2_low_level_steps_compose_to_the_reference_signature() -> None:
    body_hash = "7d48d0b045ff2376e87f25b654ac6bf0b73564c8b473783947e226e3feb011e5"
    canonical = canonical_request(
        method="POST",
        query="",
        headers={"content-type": "application/json", "host": "mps.tencentcloudapi.com"},
        signed_headers="content-type;host",
        payload_hash=body_hash,
    )
    to_sign = string_to_sign(1700000000, "2023-11-14/mps/tc3_request", canonical)
    key = signing_key(SECRET_KEY, "2023-11-14", "mps")
    assert to_sign == KAT_2.string_to_sign
    assert signature(key, to_sign) == KAT_2.signature


def test_kat_1_body_is_what_json_dumps_sends_for_the_chinese_instance_name() -> None:
    params = {"Limit": 1, "Filters": [{"Values": ["未命名"], "Name": "instance-name"}]}
    assert json.dumps(params).encode("ascii") == KAT_1.body


def test_the_session_token_does_not_change_the_signature() -> None:
    without = sign_tc3(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service="mps",
        host="mps.tencentcloudapi.com",
        method="POST",
        content_type="application/json",
        timestamp=1700000000,
        body=b'{"Status": "PROCESSING", "Limit": 10}',
    )
    received = KAT_2.received_headers() | {"x-tc-token": "EXAMPLETOKEN"}
    parsed = parse_authorization(without.authorization)
    assert parsed is not None
    assert without.signature == KAT_2.signature
    assert verify_tc3(
        parsed,
        secret_key=SECRET_KEY,
        method="POST",
        query="",
        headers=received,
        body=KAT_2.body,
        timestamp=1700000000,
    )


def test_the_compact_body_gives_the_other_signature_because_bytes_are_signed() -> None:
    signed = sign_tc3(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service="mps",
        host="mps.tencentcloudapi.com",
        method="POST",
        content_type="application/json",
        timestamp=1700000000,
        body=b'{"Status":"PROCESSING","Limit":10}',
    )
    assert signed.signature == "a1ba0c5172602705c4f036cb02d316c1e922a52dfa5e5adef32877c99fdee10e"
    assert signed.signature != KAT_2.signature


def test_the_scope_date_is_the_utc_date_even_when_it_is_already_tomorrow_in_beijing() -> None:
    # 1700000000 is 2023-11-14T22:13:20Z, i.e. 2023-11-15 06:13 in UTC+8.
    signed = sign_tc3(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service="mps",
        host="mps.tencentcloudapi.com",
        method="POST",
        content_type="application/json",
        timestamp=1700000000,
        body=b"{}",
    )
    assert signed.scope == "2023-11-14/mps/tc3_request"


# --- KAT-9: legacy v1 -----------------------------------------------------------------------------

KAT_9_PARAMS = {
    "Action": "ManageTask",
    "Language": "zh-CN",
    "Nonce": "11886",
    "OperationType": "Abort",
    "Region": "ap-guangzhou",
    "RequestClient": "SDK_PYTHON_3.1.195",
    "SecretId": SECRET_ID,
    "SignatureMethod": "HmacSHA256",
    "TaskId": "2459149217-procedure-live-xxx51da009t0",
    "Timestamp": "1700000000",
    "Version": "2019-06-12",
}
KAT_9_QUERY = (
    "?Action=ManageTask&Language=zh-CN&Nonce=11886&OperationType=Abort&Region=ap-guangzhou"
    "&RequestClient=SDK_PYTHON_3.1.195&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
    "&SignatureMethod=HmacSHA256&TaskId=2459149217-procedure-live-xxx51da009t0"
    "&Timestamp=1700000000&Version=2019-06-12"
)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("POST", "0RSBUYDmYD1aJ2rxp9tw2bQw0OmH0iMmuobwt7UpMAU="),
        ("GET", "kq0VEeRrFCbyT3j7H9w/7HO9ylaLs0gNhAMa21smQY8="),
    ],
)
def test_kat_9_legacy_v1_hmac_sha256_matches_the_reference(method: str, expected: str) -> None:
    # Insertion order is deliberately not sorted: the string to sign sorts by key itself.
    params = dict(reversed(list(KAT_9_PARAMS.items())))
    to_sign = v1_string_to_sign(method, "mps.tencentcloudapi.com", params)
    assert to_sign == f"{method}mps.tencentcloudapi.com/{KAT_9_QUERY}"
    assert sign_v1(SECRET_KEY, to_sign, "HmacSHA256") == expected


def test_legacy_v1_hmac_sha1_is_base64_of_a_20_byte_mac() -> None:
    to_sign = v1_string_to_sign("POST", "mps.tencentcloudapi.com", KAT_9_PARAMS)
    mac = sign_v1(SECRET_KEY, to_sign, "HmacSHA1")
    assert len(mac) == 28
    assert mac != "0RSBUYDmYD1aJ2rxp9tw2bQw0OmH0iMmuobwt7UpMAU="


# --- the verifier --------------------------------------------------------------------------------


@by_name
def test_the_verifier_accepts_each_kat_request_as_received(kat: Kat) -> None:
    parsed = parse_authorization(kat.authorization)
    assert parsed is not None
    assert verify_tc3(
        parsed,
        secret_key=SECRET_KEY,
        method=kat.method,
        query=kat.query,
        headers=kat.received_headers(),
        body=kat.body,
        timestamp=kat.timestamp,
    )


def _one_byte_changed(body: bytes) -> bytes:
    if not body:
        return b" "  # a GET with a body it did not sign
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]


@by_name
@pytest.mark.parametrize(
    "tamper",
    ["body", "query", "host", "content-type", "timestamp", "wrong key"],
)
def test_the_verifier_rejects_a_kat_request_with_one_thing_changed(kat: Kat, tamper: str) -> None:
    parsed = parse_authorization(kat.authorization)
    assert parsed is not None
    headers = kat.received_headers()
    body, query, timestamp, secret_key = kat.body, kat.query, kat.timestamp, SECRET_KEY
    if tamper == "body":
        body = _one_byte_changed(body)
    elif tamper == "query":
        query = _flip(query) if query else "a"
    elif tamper == "host":
        headers["host"] = _flip(headers["host"])
    elif tamper == "content-type":
        headers["content-type"] = _flip(headers["content-type"])
    elif tamper == "timestamp":
        timestamp += 1
    elif tamper == "wrong key":
        secret_key = _flip(secret_key)
    assert not verify_tc3(
        parsed,
        secret_key=secret_key,
        method=kat.method,
        query=query,
        headers=headers,
        body=body,
        timestamp=timestamp,
    )


def test_the_verifier_rejects_the_other_method() -> None:
    parsed = parse_authorization(KAT_2.authorization)
    assert parsed is not None
    assert not verify_tc3(
        parsed,
        secret_key=SECRET_KEY,
        method="GET",
        query="",
        headers=KAT_2.received_headers(),
        body=KAT_2.body,
        timestamp=KAT_2.timestamp,
    )


def test_the_verifier_rejects_a_signature_for_another_service_or_date() -> None:
    parsed = parse_authorization(KAT_2.authorization)
    assert parsed is not None
    for changed in (replace(parsed, service="dlc"), replace(parsed, date="2023-11-15")):
        assert not verify_tc3(
            changed,
            secret_key=SECRET_KEY,
            method="POST",
            query="",
            headers=KAT_2.received_headers(),
            body=KAT_2.body,
            timestamp=KAT_2.timestamp,
        )


def test_header_values_are_compared_trimmed_and_case_insensitively_as_the_spec_says() -> None:
    parsed = parse_authorization(KAT_2.authorization)
    assert parsed is not None
    headers = KAT_2.received_headers() | {
        "host": " MPS.TencentCloudAPI.com ",
        "content-type": "Application/JSON",
    }
    assert verify_tc3(
        parsed,
        secret_key=SECRET_KEY,
        method="POST",
        query="",
        headers=headers,
        body=KAT_2.body,
        timestamp=KAT_2.timestamp,
    )


def test_the_verifier_rejects_a_scope_date_that_is_not_the_utc_date_of_the_timestamp() -> None:
    # A client that used Beijing time: 2023-11-15 instead of 2023-11-14, correctly HMAC'd.
    canonical = canonical_request(
        method="POST",
        query="",
        headers={"content-type": JSON, "host": KAT_2.host},
        signed_headers="content-type;host",
        payload_hash=hashlib.sha256(KAT_2.body).hexdigest(),
    )
    to_sign = string_to_sign(1700000000, "2023-11-15/mps/tc3_request", canonical)
    sig = signature(signing_key(SECRET_KEY, "2023-11-15", "mps"), to_sign)
    parsed = ParsedAuthorization(SECRET_ID, "2023-11-15", "mps", "content-type;host", sig)
    assert not verify_tc3(
        parsed,
        secret_key=SECRET_KEY,
        method="POST",
        query="",
        headers=KAT_2.received_headers(),
        body=KAT_2.body,
        timestamp=1700000000,
    )


def test_unsigned_payload_is_accepted_only_with_the_x_tc_content_sha256_header() -> None:
    signed = sign_tc3(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service="mps",
        host="mps.tencentcloudapi.com",
        method="POST",
        content_type="application/json",
        timestamp=1700000000,
        body=KAT_2.body,
        unsigned_payload=True,
    )
    parsed = parse_authorization(signed.authorization)
    assert parsed is not None
    assert signed.canonical_request.endswith(hashlib.sha256(b"UNSIGNED-PAYLOAD").hexdigest())
    switched = KAT_2.received_headers() | {"x-tc-content-sha256": "UNSIGNED-PAYLOAD"}

    def verify(headers: dict[str, str], body: bytes) -> bool:
        return verify_tc3(
            parsed,
            secret_key=SECRET_KEY,
            method="POST",
            query="",
            headers=headers,
            body=body,
            timestamp=1700000000,
        )

    assert verify(switched, KAT_2.body)
    assert verify(switched, b"any other body at all")
    assert not verify(KAT_2.received_headers(), KAT_2.body)


def test_a_normally_signed_request_fails_when_the_unsigned_payload_header_is_added() -> None:
    parsed = parse_authorization(KAT_2.authorization)
    assert parsed is not None
    assert not verify_tc3(
        parsed,
        secret_key=SECRET_KEY,
        method="POST",
        query="",
        headers=KAT_2.received_headers() | {"x-tc-content-sha256": "UNSIGNED-PAYLOAD"},
        body=KAT_2.body,
        timestamp=1700000000,
    )


def _signature_over(signed_headers: str, headers: dict[str, str]) -> ParsedAuthorization:
    """A correctly computed signature over a chosen signed-header list for KAT-2's request."""
    canonical = canonical_request(
        method="POST",
        query="",
        headers=headers,
        signed_headers=signed_headers,
        payload_hash=hashlib.sha256(KAT_2.body).hexdigest(),
    )
    to_sign = string_to_sign(1700000000, "2023-11-14/mps/tc3_request", canonical)
    sig = signature(signing_key(SECRET_KEY, "2023-11-14", "mps"), to_sign)
    header = (
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2023-11-14/mps/tc3_request, "
        f"SignedHeaders={signed_headers}, Signature={sig}"
    )
    parsed = parse_authorization(header)
    assert parsed is not None
    return parsed


@pytest.mark.parametrize("signed_headers", ["host", "content-type", "x-tc-action;host"])
def test_a_signed_header_list_without_content_type_or_host_is_rejected(
    signed_headers: str,
) -> None:
    headers = KAT_2.received_headers()
    parsed = _signature_over(signed_headers, headers)
    assert not verify_tc3(
        parsed,
        secret_key=SECRET_KEY,
        method="POST",
        query="",
        headers=headers,
        body=KAT_2.body,
        timestamp=1700000000,
    )


def test_extra_signed_headers_are_accepted_when_they_were_received() -> None:
    headers = KAT_2.received_headers()
    parsed = _signature_over("content-type;host;x-tc-action", headers)
    assert verify_tc3(
        parsed,
        secret_key=SECRET_KEY,
        method="POST",
        query="",
        headers=headers,
        body=KAT_2.body,
        timestamp=1700000000,
    )
    missing = {k: v for k, v in headers.items() if k != "x-tc-action"}
    assert not verify_tc3(
        parsed,
        secret_key=SECRET_KEY,
        method="POST",
        query="",
        headers=missing,
        body=KAT_2.body,
        timestamp=1700000000,
    )


# --- parsing the Authorization header ------------------------------------------------------------

VALID_SIG = "5395f10e39591a77cd6ae561ab547091398ff3a0b1bd3c259358847227169d03"
VALID = (
    f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2023-11-14/mps/tc3_request, "
    f"SignedHeaders=content-type;host, Signature={VALID_SIG}"
)


@pytest.mark.parametrize(
    "header",
    [
        VALID,
        VALID.replace(", ", ","),
        f"  {VALID}\r\n",
    ],
    ids=["as-sent", "no-spaces-after-commas", "surrounding-whitespace"],
)
def test_parse_authorization_splits_a_valid_header(header: str) -> None:
    assert parse_authorization(header) == ParsedAuthorization(
        secret_id=SECRET_ID,
        date="2023-11-14",
        service="mps",
        signed_headers="content-type;host",
        signature=VALID_SIG,
    )


@pytest.mark.parametrize(
    "header",
    [
        "",
        "SKIP",
        "Bearer abc",
        VALID.replace("TC3-HMAC-SHA256", "TC3-HMAC-SHA1"),
        VALID.replace("TC3-HMAC-SHA256 ", ""),
        VALID.replace(f"{SECRET_ID}/", ""),
        VALID.replace(SECRET_ID, ""),
        VALID.replace(SECRET_ID, "AKID with space"),
        VALID.replace("2023-11-14", "20231114"),
        VALID.replace("/tc3_request", "/tc3"),
        VALID.replace("/mps/", "//"),
        VALID.replace("SignedHeaders=content-type;host, ", ""),
        VALID.replace("content-type;host", ""),
        VALID.replace(VALID_SIG, VALID_SIG.upper()),
        VALID.replace(VALID_SIG, VALID_SIG[:-1]),
        VALID.replace(VALID_SIG, VALID_SIG + "0"),
        VALID.replace(", Signature=", ", Sig="),
        VALID + ", Extra=1",
        VALID.replace(", ", ";  "),
    ],
    ids=[
        "empty",
        "skip",
        "bearer",
        "other-algorithm",
        "no-algorithm",
        "no-secret-id-segment",
        "empty-secret-id",
        "space-in-secret-id",
        "undashed-date",
        "not-tc3-request",
        "empty-service",
        "no-signed-headers",
        "empty-signed-headers",
        "upper-case-signature",
        "short-signature",
        "long-signature",
        "misspelt-signature-key",
        "trailing-garbage",
        "wrong-separators",
    ],
)
def test_parse_authorization_returns_none_for_a_malformed_header(header: str) -> None:
    assert parse_authorization(header) is None
