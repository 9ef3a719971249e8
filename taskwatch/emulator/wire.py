"""The emulator's side of the API 3.0 envelope: parameters in, ``Response`` out.

Every answer is HTTP 200 with ``Content-Type: application/json`` exactly (no charset: the official
Python SDK ignores error bodies otherwise) and a fresh lower-case uuid4 ``RequestId``. Errors go in
``Response.Error`` with messages in en-US or zh-CN after ``X-TC-Language``.

Parameters: POST bodies are JSON objects; GET queries use the flattened ``A.0.B`` form, unflattened
here. Each action declares its parameters (:class:`ParamSpec`); unknown top-level names give
``UnknownParameter``, missing required ones ``MissingParameter``, wrong types ``InvalidParameter``.
[inferred] Integer parameters given as numeric strings (``"Limit": "5"``, as in the official
tccli examples and every GET query) are accepted and converted; any other wrong type is refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

ParamType = Literal["str", "int", "bool", "list", "obj"]


class EmulatedError(Exception):
    """An API error the emulator answers with; ``message`` is en-US, ``message_zh`` optional."""

    def __init__(self, code: str, message: str, message_zh: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.message_zh = message_zh

    def text(self, language: str) -> str:
        return self.message_zh if language == "zh-CN" and self.message_zh else self.message


def missing(name: str) -> EmulatedError:
    return EmulatedError(
        "MissingParameter",
        f"The request is missing a required parameter `{name}`.",
        f"缺少必填参数`{name}`。",
    )


def unknown(name: str) -> EmulatedError:
    return EmulatedError(
        "UnknownParameter",
        f"The parameter `{name}` is not recognized.",
        f"参数`{name}`不能识别。",
    )


def type_error(name: str) -> EmulatedError:
    return EmulatedError(
        "InvalidParameter", f"Parameter `{name}` type error.", f"参数`{name}`类型错误。"
    )


def invalid_value(name: str, reason: str, code: str = "InvalidParameterValue") -> EmulatedError:
    return EmulatedError(code, f"Parameter `{name}` value is invalid: {reason}")


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """The top-level parameters of one action."""

    types: Mapping[str, ParamType]
    required: frozenset[str] = field(default_factory=frozenset)


def request_id() -> str:
    return str(uuid.uuid4())


def json_response(payload: Mapping[str, Any]) -> web.Response:
    """HTTP 200, ``application/json`` without a charset, compact UTF-8 JSON."""
    body = json.dumps({"Response": payload}, ensure_ascii=False, separators=(",", ":"))
    return web.Response(
        status=200,
        body=body.encode("utf-8"),
        headers={"Content-Type": "application/json", "Server": "nginx"},
    )


def error_payload(err: EmulatedError, language: str, rid: str) -> dict[str, Any]:
    return {"Error": {"Code": err.code, "Message": err.text(language)}, "RequestId": rid}


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``Filters.0.Values.0=1`` → ``{"Filters": [{"Values": ["1"]}]}``.

    Numeric path segments become list indexes; values stay strings (typed later by the spec).
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.split(".")
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt_is_index = not last and parts[i + 1].isdigit()
            if isinstance(node, list):
                idx = int(part) if part.isdigit() else -1
                if idx < 0:
                    raise type_error(key)
                while len(node) <= idx:
                    node.append(None)
                if last:
                    node[idx] = value
                else:
                    if node[idx] is None:
                        node[idx] = [] if nxt_is_index else {}
                    node = node[idx]
            else:
                if last:
                    node[part] = value
                else:
                    if part not in node:
                        node[part] = [] if nxt_is_index else {}
                    node = node[part]
    out: dict[str, Any] = _compact(root)
    return out


def _compact(value: Any) -> Any:
    if isinstance(value, list):
        return [_compact(v) for v in value if v is not None]
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    return value


def coerce(spec: ParamSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``params`` against ``spec``: unknown names, required names, types."""
    for name in params:
        if name not in spec.types:
            raise unknown(name)
    for name in sorted(spec.required):
        if params.get(name) in (None, ""):
            raise missing(name)
    out: dict[str, Any] = {}
    for name, value in params.items():
        out[name] = _coerce_one(name, spec.types[name], value)
    return out


def _coerce_one(name: str, kind: ParamType, value: Any) -> Any:
    if value is None:
        return None
    if kind == "str":
        if isinstance(value, str):
            return value
        raise type_error(name)
    if kind == "int":
        if isinstance(value, bool):
            raise type_error(name)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise type_error(name)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise type_error(name)
    if kind == "list":
        if isinstance(value, list):
            return value
        raise type_error(name)
    if isinstance(value, dict):
        return value
    raise type_error(name)
