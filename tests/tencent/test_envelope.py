"""The API 3.0 envelope as pure functions: how parameters are spelled on the wire, and how any
answer, however garbled, becomes either the ``Response`` object or a TencentError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskwatch.tencent.envelope import encode_body, encode_query, flatten, parse_response
from taskwatch.tencent.errors import (
    ApiError,
    CallSite,
    HttpStatusError,
    ProtocolError,
    ServerError,
    TencentError,
    ThrottledError,
)
from taskwatch.tencent.transport import RawResponse

SITE = CallSite("dlc", "DescribeTasks", "ap-guangzhou")


def ok(body: bytes | str, status: int = 200) -> RawResponse:
    data = body.encode() if isinstance(body, str) else body
    return RawResponse(status=status, content_type="application/json", body=data)


def envelope(response: Any) -> RawResponse:
    return ok(json.dumps({"Response": response}))


# --- encode_body -----------------------------------------------------------------------------


def test_the_body_is_compact_json_in_the_callers_key_order() -> None:
    body = encode_body({"Status": "PROCESSING", "Limit": 10, "Filters": [{"Name": "x"}]})
    assert body == b'{"Status":"PROCESSING","Limit":10,"Filters":[{"Name":"x"}]}'


def test_non_ascii_text_is_sent_as_utf8_not_escaped() -> None:
    body = encode_body({"Name": "未命名", "Emoji": "✓"})
    assert body == '{"Name":"未命名","Emoji":"✓"}'.encode()
    assert b"\\u" not in body


def test_an_empty_parameter_set_is_an_empty_object() -> None:
    assert encode_body({}) == b"{}"


def test_the_body_round_trips_through_json() -> None:
    params = {"a": [1, 2.5, None, True], "b": {"c": 'd\n"e"'}}
    assert json.loads(encode_body(params)) == params


# --- flatten / encode_query ------------------------------------------------------------------


def test_nested_objects_and_arrays_become_dotted_keys_in_insertion_order() -> None:
    params = {
        "Filters": [{"Name": "task-state", "Values": ["1", "2"]}],
        "Limit": 10,
        "Sort": {"By": "create-time", "Desc": True},
    }
    assert flatten(params) == [
        ("Filters.0.Name", "task-state"),
        ("Filters.0.Values.0", "1"),
        ("Filters.0.Values.1", "2"),
        ("Limit", "10"),
        ("Sort.By", "create-time"),
        ("Sort.Desc", "true"),
    ]


def test_booleans_are_spelled_true_and_false() -> None:
    assert flatten({"Yes": True, "No": False}) == [("Yes", "true"), ("No", "false")]


def test_none_is_dropped_wherever_it_appears() -> None:
    assert flatten({"A": None, "B": {"C": None}, "D": [None, 1]}) == [("D.1", "1")]


def test_tuples_flatten_like_lists_and_empty_containers_vanish() -> None:
    assert flatten({"T": (1, 2), "E": [], "O": {}}) == [("T.0", "1"), ("T.1", "2")]


def test_numbers_are_spelled_as_python_prints_them() -> None:
    assert flatten({"I": 0, "F": 1.5, "N": -3}) == [("I", "0"), ("F", "1.5"), ("N", "-3")]


def test_a_prefix_goes_in_front_of_every_key() -> None:
    assert flatten({"A": 1}, prefix="X.") == [("X.A", "1")]


def test_the_query_string_is_url_encoded_in_insertion_order() -> None:
    query = encode_query({"Status": "PROCESSING", "Limit": 10, "Filters": [{"Values": ["1"]}]})
    assert query == "Status=PROCESSING&Limit=10&Filters.0.Values.0=1"


def test_the_query_string_escapes_reserved_characters_and_utf8() -> None:
    assert encode_query({"T": "2026-01-01T00:00:00Z", "N": "a b,c", "U": "未"}) == (
        "T=2026-01-01T00%3A00%3A00Z&N=a+b%2Cc&U=%E6%9C%AA"
    )


def test_an_empty_parameter_set_is_an_empty_query() -> None:
    assert encode_query({}) == ""


# --- parse_response --------------------------------------------------------------------------


def test_a_success_returns_the_response_object_with_its_request_id() -> None:
    assert parse_response(envelope({"TotalCount": 1, "RequestId": "r-1"})) == {
        "TotalCount": 1,
        "RequestId": "r-1",
    }


def test_a_null_error_is_a_success() -> None:
    assert parse_response(envelope({"Error": None, "RequestId": "r"}))["RequestId"] == "r"


@pytest.mark.parametrize("status", [201, 204, 301, 400, 403, 404, 500, 502, 503, 504])
def test_any_status_but_200_is_an_http_status_error_even_with_a_valid_envelope(
    status: int,
) -> None:
    raw = ok(json.dumps({"Response": {"RequestId": "r"}}), status=status)
    with pytest.raises(HttpStatusError) as caught:
        parse_response(raw, site=SITE)
    assert caught.value.status == status
    assert caught.value.site == SITE


def test_an_http_status_error_quotes_at_most_256_characters_of_the_body() -> None:
    with pytest.raises(HttpStatusError) as caught:
        parse_response(ok("é" * 10_000, status=502))
    assert caught.value.body == "é" * 256 + "…"


def test_a_short_body_is_quoted_whole() -> None:
    with pytest.raises(HttpStatusError) as caught:
        parse_response(ok("x" * 256, status=502))
    assert caught.value.body == "x" * 256


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"", "body is not JSON", id="empty"),
        pytest.param(b"<html>502</html>", "body is not JSON", id="html"),
        pytest.param(b'{"Response": ', "body is not JSON", id="truncated"),
        pytest.param(b"\xff\xfe\xfa", "body is not JSON", id="not-utf8"),
        pytest.param(b"\xef\xbb\xbf{}", "no Response object in the body", id="utf8-bom"),
        pytest.param(b"1" * 5000, "body is not JSON", id="int-beyond-the-digit-limit"),
        pytest.param(b"[" * 100_000, "body is not JSON", id="nested-too-deep"),
        pytest.param(b'{"Response":' * 100_000, "body is not JSON", id="objects-nested-too-deep"),
        pytest.param(b"null", "no Response object in the body", id="null"),
        pytest.param(b'"Response"', "no Response object in the body", id="string"),
        pytest.param(b"[]", "no Response object in the body", id="array"),
        pytest.param(b"{}", "no Response object in the body", id="no-response"),
        pytest.param(b'{"Response": []}', "no Response object in the body", id="response-array"),
        pytest.param(b'{"Response": null}', "no Response object in the body", id="response-null"),
        pytest.param(b'{"Response": {}}', "Response has no RequestId", id="no-request-id"),
        pytest.param(
            b'{"Response": {"RequestId": ""}}', "Response has no RequestId", id="empty-id"
        ),
        pytest.param(b'{"Response": {"RequestId": 7}}', "Response has no RequestId", id="int-id"),
        pytest.param(
            b'{"Response": {"Error": {"Code": "InternalError"}}}',
            "Response has no RequestId",
            id="error-without-request-id",
        ),
        pytest.param(
            b'{"Response": {"Error": [], "RequestId": "r"}}',
            "Response.Error is malformed",
            id="error-array",
        ),
        pytest.param(
            b'{"Response": {"Error": {}, "RequestId": "r"}}',
            "Response.Error is malformed",
            id="error-empty",
        ),
        pytest.param(
            b'{"Response": {"Error": {"Code": null, "Message": "m"}, "RequestId": "r"}}',
            "Response.Error is malformed",
            id="error-code-null",
        ),
    ],
)
def test_anything_but_the_envelope_is_a_protocol_error(body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_response(ok(body), site=SITE)
    exc = caught.value
    assert exc.reason == reason
    assert exc.site == SITE
    assert len(exc.body) <= 257
    assert str(exc).startswith(f"dlc.DescribeTasks@ap-guangzhou: {reason}: ")


def test_an_api_error_gets_the_class_its_code_picks() -> None:
    raw = envelope({"Error": {"Code": "InternalError.DBError", "Message": "m"}, "RequestId": "r"})
    with pytest.raises(ServerError) as caught:
        parse_response(raw, site=SITE)
    assert (caught.value.code, caught.value.message, caught.value.request_id) == (
        "InternalError.DBError",
        "m",
        "r",
    )
    assert caught.value.site == SITE


@pytest.mark.parametrize("message", [None, 42, ["m"]], ids=["missing", "number", "list"])
def test_a_message_that_is_not_text_becomes_empty(message: Any) -> None:
    error: dict[str, Any] = {"Code": "RequestLimitExceeded"}
    if message is not None:
        error["Message"] = message
    with pytest.raises(ThrottledError) as caught:
        parse_response(envelope({"Error": error, "RequestId": "r"}))
    assert caught.value.message == ""


# --- nothing else ever escapes ---------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["Response", "Error", "Code", "Message", "RequestId"])
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


def envelope_like() -> st.SearchStrategy[Any]:
    """Documents shaped almost like the envelope, so parsing gets past the first checks."""
    error = st.one_of(
        json_values,
        st.fixed_dictionaries({}, optional={"Code": json_values, "Message": json_values}),
    )
    response = st.fixed_dictionaries(
        {},
        optional={
            "RequestId": st.one_of(st.text(max_size=8), json_values),
            "Error": error,
            "TotalCount": json_values,
        },
    )
    return st.one_of(json_values, st.fixed_dictionaries({"Response": response}))


def outcome(raw: RawResponse) -> dict[str, Any] | TencentError:
    try:
        return parse_response(raw)
    except TencentError as exc:
        return exc


@given(body=st.binary(max_size=512), status=st.sampled_from([200, 200, 200, 404, 502]))
def test_arbitrary_bytes_give_a_response_or_a_tencent_error(body: bytes, status: int) -> None:
    result = outcome(RawResponse(status=status, content_type="", body=body))
    assert isinstance(result, dict | TencentError)


@given(doc=envelope_like())
def test_arbitrary_json_gives_a_response_or_a_tencent_error(doc: Any) -> None:
    result = outcome(ok(json.dumps(doc)))
    if isinstance(result, dict):
        assert isinstance(result.get("RequestId"), str)
        assert result["RequestId"]
        assert result.get("Error") is None
    else:
        assert isinstance(result, ApiError | ProtocolError)


@given(
    extra=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    code=st.text(min_size=1, max_size=40),
    message=json_values,
)
def test_a_well_formed_error_always_becomes_an_api_error(
    extra: dict[str, Any], code: str, message: Any
) -> None:
    response = {**extra, "RequestId": "r", "Error": {"Code": code, "Message": message}}
    result = outcome(envelope(response))
    assert isinstance(result, ApiError)
    assert result.code == code
    assert result.message == (message if isinstance(message, str) else "")
