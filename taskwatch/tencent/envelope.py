"""The API 3.0 envelope: how parameters go on the wire and how an answer is read back.

Requests: POST carries compact UTF-8 JSON (signed byte for byte, so its exact spelling does not
matter to the server); GET flattens nested objects and arrays into dotted keys
(``Filters.0.Values.0=1``) as the official SDK does, in insertion order.

Answers: the API answers HTTP 200 with ``{"Response": {..., "RequestId": ...}}`` even for errors, so
anything else is not an API answer: a non-200 status is an :class:`HttpStatusError`, a body that is
not that envelope a :class:`ProtocolError` (quoting at most 256 characters of it). Only a
well-formed ``Response.Error`` becomes an :class:`ApiError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from taskwatch.tencent.errors import (
    NOWHERE,
    CallSite,
    HttpStatusError,
    ProtocolError,
    api_error,
)
from taskwatch.tencent.transport import RawResponse

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def encode_body(params: Mapping[str, Any]) -> bytes:
    """The POST body: compact JSON, UTF-8, keys in the caller's order."""
    return json.dumps(params, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def flatten(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested objects and arrays as dotted keys, the GET form of the API."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        _flatten_into(out, f"{prefix}{key}", value)
    return out


def _flatten_into(out: list[tuple[str, str]], key: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten_into(out, f"{key}.{k}", v)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _flatten_into(out, f"{key}.{i}", v)
    elif isinstance(value, bool):
        out.append((key, "true" if value else "false"))
    elif value is not None:
        out.append((key, str(value)))


def encode_query(params: Mapping[str, Any]) -> str:
    """The GET query string, exactly as it will be sent and signed."""
    return urlencode(flatten(params))


def parse_response(raw: RawResponse, *, site: CallSite = NOWHERE) -> dict[str, Any]:
    """The ``Response`` object of a successful call; raises for everything else."""
    if raw.status != 200:
        raise HttpStatusError(raw.status, raw.body, site=site)
    try:
        doc = json.loads(raw.body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # Recursion: nested too deep
        raise ProtocolError("body is not JSON", raw.body, site=site) from exc  # where it broke
    response = doc.get("Response") if isinstance(doc, dict) else None
    if not isinstance(response, dict):
        raise ProtocolError("no Response object in the body", raw.body, site=site)
    request_id = response.get("RequestId")
    if not isinstance(request_id, str) or not request_id:
        raise ProtocolError("Response has no RequestId", raw.body, site=site)
    error = response.get("Error")
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("Code"), str):
            raise ProtocolError("Response.Error is malformed", raw.body, site=site)
        message = error.get("Message")
        raise api_error(
            error["Code"],
            message if isinstance(message, str) else "",
            request_id,
            site=site,
        )
    return response
